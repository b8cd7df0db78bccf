//! The publisher's outbox (`events`, written in the same batch as the change that causes each
//! event), read by the webhook dispatcher: which events wait, which endpoints want them, and
//! the one batch that turns an event into deliveries and marks it dispatched.

use serde::Deserialize;

use super::{json_list, rows, Arg, Db};
use crate::http::error::ApiError;
use crate::scope::{Authorized, Background};

/// One outbox row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEvent {
    pub id: String,
    pub workspace_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: String,
    pub created_at: String,
}

/// Undispatched events, oldest first (a probe of a partial index: cheap when there are none).
pub async fn undispatched(
    db: &Db,
    _bg: &Authorized<Background>,
    limit: i64,
) -> Result<Vec<OutboxEvent>, ApiError> {
    db.all(
        "d1: undispatched events",
        "SELECT id, workspace_id AS workspaceId, type, data, created_at AS createdAt
         FROM events WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT ?1",
        &[limit.into()],
    )
    .await
}

/// An enabled endpoint in a live workspace, with the event types it subscribes to (JSON).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscriber {
    pub id: String,
    pub workspace_id: String,
    pub events: String,
}

/// Every enabled endpoint of these workspaces (one statement for the whole batch of events).
pub async fn subscribers(
    db: &Db,
    _bg: &Authorized<Background>,
    workspaces: &[&str],
) -> Result<Vec<Subscriber>, ApiError> {
    let set = json_list(workspaces.iter().copied());
    db.all(
        "d1: webhook subscribers",
        "SELECT e.id, e.workspace_id AS workspaceId, e.events FROM webhook_endpoints e
         JOIN workspaces w ON w.id = e.workspace_id AND w.deleted_at IS NULL
         WHERE e.workspace_id IN (SELECT value FROM json_each(?1)) AND e.enabled = 1",
        &[Arg::Text(&set)],
    )
    .await
}

/// One event's deliveries: `(delivery id, endpoint id)` pairs and the body they carry.
pub struct Fanout<'a> {
    pub event: &'a OutboxEvent,
    pub deliveries: Vec<(String, String)>,
    pub payload: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

/// In one batch: each event's deliveries, written only while the event is still undispatched
/// (and never twice for one endpoint: a unique index), then every event marked dispatched.
/// Returns the ids of the deliveries this call created; a dispatcher that lost the race to
/// another creates none. Endpoints deleted since they were read are skipped.
pub async fn commit(
    db: &Db,
    _bg: &Authorized<Background>,
    fanouts: &[Fanout<'_>],
    now: &str,
) -> Result<Vec<String>, ApiError> {
    let mut stmts = Vec::with_capacity(fanouts.len() + 2);
    let mut created = Vec::new();
    for f in fanouts {
        let Some(payload) = &f.payload else { continue };
        if f.deliveries.is_empty() {
            continue;
        }
        let pairs = serde_json::to_string(&f.deliveries)
            .map_err(|e| ApiError::Internal(format!("delivery pairs: {e}")))?;
        created.extend(f.deliveries.iter().map(|(d, _)| d.as_str()));
        stmts.push(db.stmt(
            "INSERT OR IGNORE INTO webhook_deliveries (id, workspace_id, endpoint_id, event_id, event_type, payload, status, next_attempt_at, created_at, updated_at)
             SELECT json_extract(j.value, '$[0]'), ?1, e.id, ?2, ?3, ?4, 'PENDING', ?5, ?5, ?5
             FROM json_each(?6) j
             JOIN webhook_endpoints e ON e.id = json_extract(j.value, '$[1]') AND e.workspace_id = ?1
             WHERE EXISTS (SELECT 1 FROM events WHERE id = ?2 AND workspace_id = ?1 AND dispatched_at IS NULL)",
            &[
                Arg::Text(&f.event.workspace_id),
                Arg::Text(&f.event.id),
                Arg::Text(&f.event.kind),
                Arg::Text(payload),
                Arg::Text(now),
                Arg::Owned(pairs),
            ],
        )?);
    }
    let events = json_list(fanouts.iter().map(|f| f.event.id.as_str()));
    stmts.push(db.stmt(
        "UPDATE events SET dispatched_at = ?2
         WHERE id IN (SELECT value FROM json_each(?1)) AND dispatched_at IS NULL",
        &[Arg::Text(&events), Arg::Text(now)],
    )?);
    let ids = json_list(created);
    stmts.push(db.stmt(
        "SELECT id FROM webhook_deliveries WHERE id IN (SELECT value FROM json_each(?1))",
        &[Arg::Text(&ids)],
    )?);
    let results = db.batch("d1: dispatch events", stmts).await?;
    let last = results
        .into_iter()
        .last()
        .ok_or_else(|| ApiError::Internal("d1: dispatch events: short batch".into()))?;
    Ok(rows::<Created>(Ok(last), "d1: dispatched deliveries")?
        .into_iter()
        .map(|c| c.id)
        .collect())
}
