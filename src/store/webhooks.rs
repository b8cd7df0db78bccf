//! Webhook endpoints of a workspace. The signing secrets are stored sealed and never read back
//! here: only the delivery consumer opens them (`store::webhook_deliveries`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::D1PreparedStatement;

use super::{rows, Arg, Db};
use crate::domain::ids::WebhookId;
use crate::domain::webhooks::schedule::DisableReason;
use crate::http::error::{ApiError, Context as _};
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

/// An endpoint as the API shows it: never a secret, only when the previous one stops signing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    pub description: Option<String>,
    pub events: Box<RawValue>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }
}

/// A row as D1 returns it: the stored JSON array as text, the boolean as an integer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: String,
    workspace_id: String,
    url: String,
    description: Option<String>,
    events: String,
    #[serde(deserialize_with = "super::bool_from_int")]
    enabled: bool,
    disabled_reason: Option<String>,
    previous_secret_expires_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl TryFrom<Row> for EndpointView {
    type Error = ApiError;
    fn try_from(r: Row) -> Result<Self, ApiError> {
        Ok(EndpointView {
            events: RawValue::from_string(r.events).ctx("stored webhook events")?,
            id: r.id,
            workspace_id: r.workspace_id,
            url: r.url,
            description: r.description,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            previous_secret_expires_at: r.previous_secret_expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn views(rows: Vec<Row>) -> Result<Vec<EndpointView>, ApiError> {
    rows.into_iter().map(EndpointView::try_from).collect()
}

const SELECT: &str = "SELECT id, workspace_id AS workspaceId, url, description, events, enabled,
        disabled_reason AS disabledReason, previous_expires_at AS previousSecretExpiresAt,
        created_at AS createdAt, updated_at AS updatedAt
     FROM webhook_endpoints";

/// Deliveries still waiting on an endpoint that stops receiving: they fail with it, in the
/// batch that disables it (`?1` endpoint, `?2` workspace, `?3` now).
pub const FAIL_PENDING: &str = "UPDATE webhook_deliveries
     SET status = 'FAILED', next_attempt_at = NULL, last_error = 'endpoint disabled', updated_at = ?3
     WHERE endpoint_id = ?1 AND workspace_id = ?2 AND status = 'PENDING'";

fn view_stmt(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &WebhookId,
) -> Result<D1PreparedStatement, ApiError> {
    db.stmt(
        &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2"),
        &[id.as_str().into(), ws.get().id.as_str().into()],
    )
}

/// The view read as the last statement of a batch; `None` if the endpoint is not there.
fn last_view(
    results: Vec<worker::D1Result>,
    step: &'static str,
) -> Result<Option<EndpointView>, ApiError> {
    let last = results
        .into_iter()
        .last()
        .ok_or_else(|| ApiError::Internal(format!("{step}: short batch")))?;
    rows::<Row>(Ok(last), step)?
        .into_iter()
        .next()
        .map(EndpointView::try_from)
        .transpose()
}

pub struct NewEndpoint<'a> {
    pub id: &'a WebhookId,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events_json: &'a str,
    pub sealed_secret: &'a str,
}

pub async fn insert(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    e: NewEndpoint<'_>,
    now: &str,
) -> Result<EndpointView, ApiError> {
    db.run(
        "d1: insert webhook endpoint",
        "INSERT INTO webhook_endpoints (id, workspace_id, url, description, events, enabled, secret, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?7)",
        &[
            e.id.as_str().into(),
            ws.get().id.as_str().into(),
            e.url.into(),
            e.description.into(),
            e.events_json.into(),
            e.sealed_secret.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(EndpointView {
        id: e.id.as_str().to_owned(),
        workspace_id: ws.get().id.as_str().to_owned(),
        url: e.url.to_owned(),
        description: e.description.map(str::to_owned),
        events: RawValue::from_string(e.events_json.to_owned()).ctx("webhook events")?,
        enabled: true,
        disabled_reason: None,
        previous_secret_expires_at: None,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// The workspace's endpoints, newest first.
pub async fn list(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    page: &PageRequest,
) -> Result<Vec<EndpointView>, ApiError> {
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    let rows: Vec<Row> = db
        .all(
            "d1: list webhook endpoints",
            &format!(
                "{SELECT} WHERE workspace_id = ?1 AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
                 ORDER BY created_at DESC, id DESC LIMIT ?4"
            ),
            &[
                ws.get().id.as_str().into(),
                before_t.into(),
                before_id.into(),
                page.fetch().into(),
            ],
        )
        .await?;
    views(rows)
}

pub async fn get(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &WebhookId,
) -> Result<Option<EndpointView>, ApiError> {
    let row: Option<Row> = db
        .first(
            "d1: get webhook endpoint",
            &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2"),
            &[id.as_str().into(), ws.get().id.as_str().into()],
        )
        .await?;
    row.map(EndpointView::try_from).transpose()
}

/// The fields a PATCH may change; `None` leaves one as it is.
pub struct EndpointPatch<'a> {
    pub url: Option<&'a str>,
    pub description: Option<&'a str>,
    pub events_json: Option<&'a str>,
    pub enabled: Option<bool>,
}

/// Applies a patch. Enabling clears the reason and the failure run (a fresh start); disabling
/// records MANUAL and fails the deliveries still pending. `None` if there is no such endpoint.
pub async fn update(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &WebhookId,
    p: EndpointPatch<'_>,
    now: &str,
) -> Result<Option<EndpointView>, ApiError> {
    let enabled = p.enabled.map(i64::from);
    let mut stmts = vec![db.stmt(
        "UPDATE webhook_endpoints SET
            url = COALESCE(?3, url),
            description = COALESCE(?4, description),
            events = COALESCE(?5, events),
            enabled = COALESCE(?6, enabled),
            disabled_reason = CASE WHEN ?6 IS NULL THEN disabled_reason WHEN ?6 = 1 THEN NULL ELSE ?7 END,
            failing_since = CASE WHEN ?6 = 1 THEN NULL ELSE failing_since END,
            updated_at = ?8
         WHERE id = ?1 AND workspace_id = ?2",
        &[
            id.as_str().into(),
            ws.get().id.as_str().into(),
            p.url.into(),
            p.description.into(),
            p.events_json.into(),
            enabled.map_or(Arg::Null, Arg::Int),
            DisableReason::Manual.as_str().into(),
            now.into(),
        ],
    )?];
    if p.enabled == Some(false) {
        stmts.push(db.stmt(
            FAIL_PENDING,
            &[id.as_str().into(), ws.get().id.as_str().into(), now.into()],
        )?);
    }
    stmts.push(view_stmt(db, ws, id)?);
    let results = db.batch("d1: update webhook endpoint", stmts).await?;
    last_view(results, "d1: update webhook endpoint")
}

/// Replaces the secret: the current one becomes the previous, signing until `previous_expires_at`
/// (a previous one still in its overlap stops signing now). `None` if there is no such endpoint.
pub async fn rotate_secret(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &WebhookId,
    sealed_secret: &str,
    previous_expires_at: &str,
    now: &str,
) -> Result<Option<EndpointView>, ApiError> {
    let results = db
        .batch(
            "d1: rotate webhook secret",
            vec![
                db.stmt(
                    "UPDATE webhook_endpoints
                     SET previous_secret = secret, previous_expires_at = ?4, secret = ?3, updated_at = ?5
                     WHERE id = ?1 AND workspace_id = ?2",
                    &[
                        id.as_str().into(),
                        ws.get().id.as_str().into(),
                        sealed_secret.into(),
                        previous_expires_at.into(),
                        now.into(),
                    ],
                )?,
                view_stmt(db, ws, id)?,
            ],
        )
        .await?;
    last_view(results, "d1: rotate webhook secret")
}

/// Deletes the endpoint with its deliveries and their attempt log, in one batch. Queue
/// messages still on their way find no row and are dropped. False if there was no endpoint.
pub async fn delete(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &WebhookId,
) -> Result<bool, ApiError> {
    let args = [Arg::Text(id.as_str()), Arg::Text(ws.get().id.as_str())];
    let results = db
        .batch(
            "d1: delete webhook endpoint",
            vec![
                db.stmt(
                    "DELETE FROM webhook_attempts WHERE workspace_id = ?2
                       AND delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = ?1 AND workspace_id = ?2)",
                    &args,
                )?,
                db.stmt(
                    "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1 AND workspace_id = ?2",
                    &args,
                )?,
                db.stmt(
                    "DELETE FROM webhook_endpoints WHERE id = ?1 AND workspace_id = ?2",
                    &args,
                )?,
            ],
        )
        .await?;
    match results.last() {
        Some(r) => Ok(super::changes(r)? == 1),
        None => Err(ApiError::Internal(
            "d1: delete webhook endpoint: short batch".into(),
        )),
    }
}
