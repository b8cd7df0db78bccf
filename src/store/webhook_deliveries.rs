//! Webhook deliveries and their attempt log: what the API lists and redelivers, and what the
//! delivery consumer claims and records.
//!
//! A delivery's `seq` names the one attempt currently scheduled: every queue message carries it,
//! a claim needs it, and recording an attempt bumps it, so a duplicate or stale message finds a
//! number that is no longer the row's and does nothing. The claim takes a lease, so two
//! consumers holding the same message never attempt at once.

use serde::Deserialize;

use super::webhooks::{last_view, views, Row, View, FAIL_PENDING};
use super::{rows, Arg, Db};
use crate::domain::ids::{DeliveryId, WebhookId, WorkspaceId};
use crate::domain::webhooks::schedule::Decision;
use crate::http::error::ApiError;
use crate::http::page::PageRequest;
use crate::scope::{Authorized, Background, InWorkspace};

/// A delivery as the API lists it, with its latest 20 attempts in `attemptLog`, oldest first
/// (`attempts` counts them all).
const SELECT: &str = "SELECT d.id, d.created_at AS createdAt, json_object(
        'id', d.id, 'webhookId', d.endpoint_id, 'workspaceId', d.workspace_id,
        'eventId', d.event_id, 'eventType', d.event_type, 'status', d.status, 'attempts', d.attempts,
        'lastResponseStatus', d.last_status, 'lastDurationMs', d.last_duration_ms,
        'lastError', d.last_error, 'nextAttemptAt', d.next_attempt_at,
        'createdAt', d.created_at, 'updatedAt', d.updated_at,
        'attemptLog', json((SELECT json_group_array(json_object(
            'attempt', a.attempt, 'attemptedAt', a.attempted_at, 'responseStatus', a.response_status,
            'durationMs', a.duration_ms, 'responseBody', a.response_body, 'error', a.error))
         FROM (SELECT * FROM (SELECT * FROM webhook_attempts
                              WHERE workspace_id = d.workspace_id AND delivery_id = d.id
                              ORDER BY attempt DESC LIMIT 20)
               ORDER BY attempt) a))) AS json
     FROM webhook_deliveries d";

/// One endpoint's deliveries, newest first.
pub async fn list(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    endpoint: &WebhookId,
    page: &PageRequest,
) -> Result<Vec<View>, ApiError> {
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    let rows: Vec<Row> = db
        .all(
            "d1: list webhook deliveries",
            &format!(
                "{SELECT} WHERE d.workspace_id = ?1 AND d.endpoint_id = ?2
                   AND (?3 IS NULL OR (d.created_at, d.id) < (?3, ?4))
                 ORDER BY d.created_at DESC, d.id DESC LIMIT ?5"
            ),
            &[
                ws.get().id.as_str().into(),
                endpoint.as_str().into(),
                before_t.into(),
                before_id.into(),
                page.fetch().into(),
            ],
        )
        .await?;
    views(rows)
}

fn view_stmt(
    db: &Db,
    ws: &WorkspaceId,
    endpoint: &WebhookId,
    id: &DeliveryId,
) -> Result<worker::D1PreparedStatement, ApiError> {
    db.stmt(
        &format!("{SELECT} WHERE d.id = ?1 AND d.workspace_id = ?2 AND d.endpoint_id = ?3"),
        &[
            id.as_str().into(),
            ws.as_str().into(),
            endpoint.as_str().into(),
        ],
    )
}

pub async fn get(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    endpoint: &WebhookId,
    id: &DeliveryId,
) -> Result<Option<View>, ApiError> {
    let results = db
        .batch(
            "d1: get webhook delivery",
            vec![view_stmt(db, &ws.get().id, endpoint, id)?],
        )
        .await?;
    last_view(results, "d1: get webhook delivery")
}

/// A delivery that no outbox event carries (`webhook.test`), due now, for an endpoint that is
/// enabled. `None` if the endpoint is gone or disabled.
pub async fn insert_on_demand(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    endpoint: &WebhookId,
    id: &DeliveryId,
    event_type: &str,
    payload: &str,
    now: &str,
) -> Result<Option<View>, ApiError> {
    let results = db
        .batch(
            "d1: insert webhook delivery",
            vec![
                db.stmt(
                    "INSERT INTO webhook_deliveries (id, workspace_id, endpoint_id, event_type, payload, status, next_attempt_at, created_at, updated_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, 'PENDING', ?6, ?6, ?6
                     WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ?3 AND workspace_id = ?2 AND enabled = 1)",
                    &[
                        id.as_str().into(),
                        ws.get().id.as_str().into(),
                        endpoint.as_str().into(),
                        event_type.into(),
                        payload.into(),
                        now.into(),
                    ],
                )?,
                view_stmt(db, &ws.get().id, endpoint, id)?,
            ],
        )
        .await?;
    last_view(results, "d1: insert webhook delivery")
}

/// The outcome of asking for a redelivery.
pub enum Redelivery {
    /// Restarted: a new series of attempts, due now, under a new `seq`.
    Restarted {
        view: View,
        seq: i64,
    },
    NotFound,
    /// Still being attempted: its own schedule goes on.
    StillPending,
    /// The endpoint is disabled: enable it first.
    EndpointDisabled,
}

/// A delivery's `seq` and whether its endpoint is enabled.
#[derive(Deserialize)]
struct State {
    seq: i64,
    enabled: i64,
}

/// Restarts a finished delivery (DELIVERED or FAILED): same id and body, a fresh retry series.
pub async fn redeliver(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    endpoint: &WebhookId,
    id: &DeliveryId,
    now: &str,
) -> Result<Redelivery, ApiError> {
    let wsid = &ws.get().id;
    let results = db
        .batch(
            "d1: redeliver webhook delivery",
            vec![
                db.stmt(
                    "UPDATE webhook_deliveries
                     SET status = 'PENDING', series_attempts = 0, seq = seq + 1, next_attempt_at = ?4,
                         lease_until = NULL, updated_at = ?4
                     WHERE id = ?1 AND workspace_id = ?2 AND endpoint_id = ?3 AND status != 'PENDING'
                       AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ?3 AND workspace_id = ?2 AND enabled = 1)",
                    &[
                        id.as_str().into(),
                        wsid.as_str().into(),
                        endpoint.as_str().into(),
                        now.into(),
                    ],
                )?,
                db.stmt(
                    "SELECT d.seq, e.enabled FROM webhook_deliveries d
                     JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.workspace_id = d.workspace_id
                     WHERE d.id = ?1 AND d.workspace_id = ?2 AND d.endpoint_id = ?3",
                    &[id.as_str().into(), wsid.as_str().into(), endpoint.as_str().into()],
                )?,
                view_stmt(db, wsid, endpoint, id)?,
            ],
        )
        .await?;
    let won = results
        .first()
        .map(super::changes)
        .transpose()?
        .unwrap_or(0)
        == 1;
    let mut it = results.into_iter();
    let (_, Some(state), Some(view)) = (it.next(), it.next(), it.next()) else {
        return Err(ApiError::Internal("d1: redeliver: short batch".into()));
    };
    let state = rows::<State>(Ok(state), "d1: redeliver state")?
        .into_iter()
        .next();
    let view = last_view(vec![view], "d1: redeliver view")?;
    Ok(match (won, state, view) {
        (_, None, _) | (_, _, None) => Redelivery::NotFound,
        (true, Some(State { seq, .. }), Some(view)) => Redelivery::Restarted { view, seq },
        (false, Some(State { enabled: 0, .. }), _) => Redelivery::EndpointDisabled,
        (false, Some(_), _) => Redelivery::StillPending,
    })
}

// --- The delivery consumer's side: no principal, the workspace read from the delivery id. ---

/// What one attempt needs: the delivery, and its endpoint's URL, state and sealed secrets.
/// No `Debug`: it holds sealed secrets, which have no business in a log line.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptTarget {
    pub endpoint_id: String,
    pub payload: String,
    pub status: String,
    pub seq: i64,
    pub series_attempts: i64,
    pub next_attempt_at: Option<String>,
    pub lease_until: Option<i64>,
    pub url: String,
    #[serde(deserialize_with = "super::bool_from_int")]
    pub enabled: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_expires_at: Option<String>,
    pub failing_since: Option<String>,
}

pub async fn attempt_target(
    db: &Db,
    _bg: &Authorized<Background>,
    id: &DeliveryId,
) -> Result<Option<AttemptTarget>, ApiError> {
    db.first(
        "d1: load webhook delivery",
        "SELECT e.id AS endpointId, d.payload, d.status, d.seq, d.series_attempts AS seriesAttempts,
                d.next_attempt_at AS nextAttemptAt, d.lease_until AS leaseUntil,
                e.url, e.enabled AND w.deleted_at IS NULL AS enabled, e.secret,
                e.previous_secret AS previousSecret, e.previous_expires_at AS previousExpiresAt,
                e.failing_since AS failingSince
         FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.workspace_id = d.workspace_id
         JOIN workspaces w ON w.id = d.workspace_id
         WHERE d.id = ?1 AND d.workspace_id = ?2",
        &[id.as_str().into(), id.workspace().as_str().into()],
    )
    .await
}

/// Takes the attempt numbered `seq` for `lease_ms`: false if the delivery is no longer pending
/// under that number, or another consumer holds a live lease on it.
pub async fn claim(
    db: &Db,
    _bg: &Authorized<Background>,
    id: &DeliveryId,
    seq: i64,
    now_ms: i64,
    lease_ms: i64,
) -> Result<bool, ApiError> {
    let changed = db
        .run(
            "d1: claim webhook delivery",
            "UPDATE webhook_deliveries SET lease_until = ?4
             WHERE id = ?1 AND workspace_id = ?2 AND seq = ?3 AND status = 'PENDING'
               AND (lease_until IS NULL OR lease_until <= ?5)",
            &[
                id.as_str().into(),
                id.workspace().as_str().into(),
                seq.into(),
                (now_ms + lease_ms).into(),
                now_ms.into(),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// One attempt as it went.
pub struct AttemptRecord<'a> {
    pub endpoint: &'a str,
    pub seq: i64,
    pub attempted_at: &'a str,
    pub response_status: Option<u16>,
    pub duration_ms: i64,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
    pub decision: Decision,
    /// When the next attempt is due, for `Decision::RetryAt`.
    pub next_attempt_at: Option<&'a str>,
    /// The endpoint's failure run as it stands after this attempt.
    pub failing_since: Option<&'a str>,
}

/// Logs the attempt and applies its decision to the delivery and its endpoint, in one batch,
/// only if the delivery is still at `seq` (false otherwise: a redelivery or another consumer
/// moved it on, and this attempt changes nothing but the log it is not written to either).
pub async fn record<'a>(
    db: &Db,
    _bg: &Authorized<Background>,
    id: &'a DeliveryId,
    a: AttemptRecord<'a>,
) -> Result<bool, ApiError> {
    let ws = id.workspace();
    let (status, disable) = match a.decision {
        Decision::Delivered => ("DELIVERED", None),
        Decision::RetryAt(_) => ("PENDING", None),
        Decision::GiveUp => ("FAILED", None),
        Decision::Disable(reason) => ("FAILED", Some(reason.as_str())),
    };
    // Every statement but the last applies only while the delivery is at `seq`; the last moves
    // it on, so they all stand or fall with it.
    const AT_SEQ: &str = "EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?1 AND workspace_id = ?2 AND seq = ?3)";
    let with = |extra: Vec<Arg<'a>>| keyed(id, &ws, a.seq, extra);
    let mut stmts = vec![db.stmt(
        "INSERT INTO webhook_attempts (workspace_id, delivery_id, attempt, attempted_at, response_status, duration_ms, response_body, error)
         SELECT workspace_id, id, attempts + 1, ?4, ?5, ?6, ?7, ?8 FROM webhook_deliveries
         WHERE id = ?1 AND workspace_id = ?2 AND seq = ?3",
        &with(vec![
            a.attempted_at.into(),
            a.response_status.map_or(Arg::Null, |s| Arg::Int(i64::from(s))),
            a.duration_ms.into(),
            a.response_body.into(),
            a.error.into(),
        ]),
    )?];
    stmts.push(db.stmt(
        &format!(
            "UPDATE webhook_endpoints SET failing_since = ?5
             WHERE id = ?4 AND workspace_id = ?2 AND {AT_SEQ}"
        ),
        &with(vec![a.endpoint.into(), a.failing_since.into()]),
    )?);
    if let Some(reason) = disable {
        stmts.push(db.stmt(
            &format!(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?5, updated_at = ?6
                 WHERE id = ?4 AND workspace_id = ?2 AND enabled = 1 AND {AT_SEQ}"
            ),
            &with(vec![
                a.endpoint.into(),
                reason.into(),
                a.attempted_at.into(),
            ]),
        )?);
        // FAIL_PENDING takes (?1 endpoint, ?2 workspace, ?3 now); the delivery's own row is
        // set by the last statement.
        stmts.push(db.stmt(
            &format!("{FAIL_PENDING} AND id != ?4 AND EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?4 AND workspace_id = ?2 AND seq = ?5)"),
            &[
                a.endpoint.into(),
                ws.as_str().into(),
                a.attempted_at.into(),
                id.as_str().into(),
                a.seq.into(),
            ],
        )?);
    }
    stmts.push(db.stmt(
        "UPDATE webhook_deliveries
         SET attempts = attempts + 1, series_attempts = series_attempts + 1, seq = seq + 1,
             status = ?4, next_attempt_at = ?5, lease_until = NULL, last_status = ?6,
             last_duration_ms = ?7, last_error = ?8, updated_at = ?9
         WHERE id = ?1 AND workspace_id = ?2 AND seq = ?3",
        &with(vec![
            status.into(),
            a.next_attempt_at.into(),
            a.response_status.map_or(Arg::Null, |s| Arg::Int(i64::from(s))),
            a.duration_ms.into(),
            a.error.into(),
            a.attempted_at.into(),
        ]),
    )?);
    let results = db.batch("d1: record webhook attempt", stmts).await?;
    match results.last() {
        Some(r) => Ok(super::changes(r)? == 1),
        None => Err(ApiError::Internal(
            "d1: record webhook attempt: short batch".into(),
        )),
    }
}

/// `?1` delivery, `?2` workspace, `?3` seq, then `extra` from `?4` on.
fn keyed<'a>(
    id: &'a DeliveryId,
    ws: &'a WorkspaceId,
    seq: i64,
    extra: Vec<Arg<'a>>,
) -> Vec<Arg<'a>> {
    let mut v = vec![
        Arg::Text(id.as_str()),
        Arg::Text(ws.as_str()),
        Arg::Int(seq),
    ];
    v.extend(extra);
    v
}

/// Ends a pending delivery whose endpoint was disabled (or whose workspace was deleted) before
/// its attempt came up: FAILED, with no attempt made.
pub async fn drop_for_disabled_endpoint(
    db: &Db,
    _bg: &Authorized<Background>,
    id: &DeliveryId,
    seq: i64,
    now: &str,
) -> Result<(), ApiError> {
    db.run(
        "d1: drop webhook delivery",
        "UPDATE webhook_deliveries
         SET status = 'FAILED', next_attempt_at = NULL, lease_until = NULL, seq = seq + 1,
             last_error = 'endpoint disabled', updated_at = ?4
         WHERE id = ?1 AND workspace_id = ?2 AND seq = ?3 AND status = 'PENDING'",
        &[
            id.as_str().into(),
            id.workspace().as_str().into(),
            seq.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// A delivery to (re)announce on the queue.
#[derive(Debug, Deserialize)]
pub struct Due {
    pub id: String,
    pub seq: i64,
}

/// Pending deliveries due before `before` whose lease (if any) has lapsed: their queue message
/// was lost or its consumer died. Every workspace, oldest due first (the cron sweep).
pub async fn overdue(
    db: &Db,
    _bg: &Authorized<Background>,
    before: &str,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<Due>, ApiError> {
    db.all(
        "d1: overdue webhook deliveries",
        "SELECT id, seq FROM webhook_deliveries
         WHERE status = 'PENDING' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?2)
         ORDER BY next_attempt_at LIMIT ?3",
        &[before.into(), now_ms.into(), limit.into()],
    )
    .await
}
