//! Webhook endpoints of a workspace. The signing secrets are stored sealed and never read back
//! here: only the delivery consumer opens them (`store::webhook_deliveries`).

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use worker::D1PreparedStatement;

use super::{rows, Arg, Db};
use crate::domain::ids::WebhookId;
use crate::domain::webhooks::schedule::DisableReason;
use crate::http::error::{ApiError, Context as _};
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

/// A resource as the API shows it, built as JSON by SQLite (`json_object`) and passed through
/// as it is: endpoints and deliveries are read and shown, never worked on field by field, so
/// they need no Rust struct of their own (nor its decoding code in the wasm).
#[derive(Debug)]
pub struct View {
    pub id: String,
    pub created_at: String,
    pub json: Box<RawValue>,
}

impl View {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }

    /// The view with one more field: the secret, in the two responses that show it.
    pub fn with_secret(&self, secret: &str) -> Result<Box<RawValue>, ApiError> {
        let object = self.json.get().trim_end();
        let fields = object
            .strip_suffix('}')
            .ok_or_else(|| ApiError::Internal("view: not an object".into()))?;
        let secret = serde_json::to_string(secret).ctx("secret")?;
        RawValue::from_string(format!("{fields},\"secret\":{secret}}}")).ctx("view with secret")
    }
}

impl Serialize for View {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

/// A view as D1 returns it: the keyset columns and the JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    id: String,
    created_at: String,
    json: String,
}

impl TryFrom<Row> for View {
    type Error = ApiError;
    fn try_from(r: Row) -> Result<Self, ApiError> {
        Ok(View {
            json: RawValue::from_string(r.json).ctx("stored view")?,
            id: r.id,
            created_at: r.created_at,
        })
    }
}

pub fn views(rows: Vec<Row>) -> Result<Vec<View>, ApiError> {
    rows.into_iter().map(View::try_from).collect()
}

/// The view read by the last statement of a batch; `None` if there is no such row.
pub fn last_view(
    results: Vec<worker::D1Result>,
    step: &'static str,
) -> Result<Option<View>, ApiError> {
    let last = results
        .into_iter()
        .last()
        .ok_or_else(|| ApiError::Internal(format!("{step}: short batch")))?;
    rows::<Row>(Ok(last), step)?
        .into_iter()
        .next()
        .map(View::try_from)
        .transpose()
}

/// An endpoint as the API shows it: never a secret, only when the previous one stops signing.
const SELECT: &str = "SELECT id, created_at AS createdAt, json_object(
        'id', id, 'workspaceId', workspace_id, 'url', url, 'description', description,
        'events', json(events), 'enabled', json(CASE WHEN enabled THEN 'true' ELSE 'false' END),
        'disabledReason', disabled_reason, 'previousSecretExpiresAt', previous_expires_at,
        'createdAt', created_at, 'updatedAt', updated_at) AS json
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
) -> Result<View, ApiError> {
    let results = db
        .batch(
            "d1: insert webhook endpoint",
            vec![
                db.stmt(
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
                )?,
                view_stmt(db, ws, e.id)?,
            ],
        )
        .await?;
    last_view(results, "d1: insert webhook endpoint")?
        .ok_or_else(|| ApiError::Internal("d1: insert webhook endpoint: no row".into()))
}

/// The workspace's endpoints, newest first.
pub async fn list(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    page: &PageRequest,
) -> Result<Vec<View>, ApiError> {
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
) -> Result<Option<View>, ApiError> {
    let row: Option<Row> = db
        .first(
            "d1: get webhook endpoint",
            &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2"),
            &[id.as_str().into(), ws.get().id.as_str().into()],
        )
        .await?;
    row.map(View::try_from).transpose()
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
) -> Result<Option<View>, ApiError> {
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
) -> Result<Option<View>, ApiError> {
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
