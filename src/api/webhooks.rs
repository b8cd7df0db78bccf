//! Webhook endpoints and their deliveries: sessions only (an API key gets 403
//! `SESSION_REQUIRED` before anything is read), ADMIN or OWNER of the workspace.

use worker::Request;

use crate::api::idempotency::refuse_for_secrets;
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::{DeliveryId, WebhookId};
use crate::domain::roles::Action;
use crate::domain::text::long_text;
use crate::domain::url_guard::SafeUrl;
use crate::domain::webhooks::events::{self, EventType, Subscriptions, MAX_SUBSCRIPTIONS};
use crate::domain::webhooks::schedule::ROTATION_OVERLAP_MS;
use crate::domain::webhooks::signing::SigningKey;
use crate::domain::DomainError;
use crate::http::body::{read_json, Fields};
use crate::http::error::ApiError;
use crate::http::respond::Reply;
use crate::scope::{self, require_session, Authorized, InWorkspace};
use crate::seal;
use crate::store::webhook_deliveries::{self as deliveries, Redelivery};
use crate::store::webhooks::{self as store, EndpointPatch, NewEndpoint, View};
use crate::webhooks::{self as delivery, Announcement, Settings};

const URL_MAX_BYTES: usize = 2048;
const DESCRIPTION_MAX: usize = 500;

fn url_field(s: &str) -> Result<String, DomainError> {
    if s.len() <= URL_MAX_BYTES {
        Ok(s.to_owned())
    } else {
        Err(DomainError::new("is too long"))
    }
}

/// The endpoint URL through the outbound guard (https only in production), as every delivery
/// will see it again: 400 `URL_NOT_ALLOWED` for anything it refuses.
fn guarded(ctx: &Ctx, raw: &str) -> Result<SafeUrl, ApiError> {
    Settings::from_env(&ctx.env)
        .outbound
        .guard(raw)
        .map_err(|e| ApiError::UrlNotAllowed(e.problem().to_owned()))
}

fn subscriptions(list: Vec<EventType>) -> Result<String, ApiError> {
    Subscriptions::new(list)
        .map(|s| s.to_json())
        .map_err(|e| ApiError::field("events", e.0))
}

/// A new secret, sealed for the endpoint `id` (its id is the additional data: the sealed value
/// cannot be moved to another endpoint).
async fn new_secret(ctx: &Ctx, id: &WebhookId) -> Result<(String, String), ApiError> {
    let key = seal::key_from(ctx.var(seal::KEY_VAR).as_deref())?;
    let secret = SigningKey::generate().to_secret();
    let sealed = seal::seal(&key, secret.as_bytes(), id.as_str()).await?;
    Ok((secret, sealed))
}

/// The endpoint a path names, after the session and scope checks (nothing read yet).
fn endpoint_in_scope(
    ctx: &Ctx,
    p: &Principal,
    raw: &str,
    body_workspace: Option<&str>,
) -> Result<(WebhookId, Authorized<InWorkspace>), ApiError> {
    require_session(p)?;
    let id = WebhookId::parse(raw).map_err(|_| ApiError::NotFound)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), body_workspace)?;
    let ws = scope::check(p, &ws, Action::ManageWebhooks)?;
    Ok((id, ws))
}

pub async fn create_webhook(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
) -> Result<Reply, ApiError> {
    require_session(p)?;
    refuse_for_secrets(ctx)?;
    let mut f = read_json(req).await?;
    let ws = named(ctx, None, f.workspace_id().as_deref())?.ok_or(ApiError::WorkspaceRequired)?;
    let ws = scope::check(p, &ws, Action::ManageWebhooks)?;
    let url = f.required("url", url_field);
    let events = f.required_list("events", MAX_SUBSCRIPTIONS, EventType::parse_subscribable);
    let description = f.optional("description", |s| long_text(s, DESCRIPTION_MAX));
    let ok = f.finish()?;
    let url = guarded(ctx, &url.take(&ok))?;
    let events = subscriptions(events.take(&ok))?;
    let id = WebhookId::generate_in(&ws.get().id);
    let (secret, sealed) = new_secret(ctx, &id).await?;
    let endpoint = NewEndpoint {
        id: &id,
        url: url.as_str(),
        description: description.as_deref(),
        events_json: &events,
        sealed_secret: &sealed,
    };
    let view = store::insert(&ctx.db, &ws, endpoint, &ctx.now().to_rfc3339()).await?;
    // The secret is in this response and never again.
    let location = format!("/api/v1/webhooks/{}", view.id);
    Ok(Reply::json(201, &view.with_secret(&secret)?)?.header("Location", location))
}

pub async fn list_webhooks(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    require_session(p)?;
    let ws = named(ctx, None, None)?.ok_or(ApiError::WorkspaceRequired)?;
    let ws = scope::check(p, &ws, Action::ManageWebhooks)?;
    let page = page_request(ctx)?;
    let rows = store::list(&ctx.db, &ws, &page).await?;
    page_reply(ctx, &page, rows, View::cursor)
}

pub async fn get_webhook(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = endpoint_in_scope(ctx, p, id, None)?;
    let view = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

/// What a PATCH may change, as sent (`None`: leave it).
struct PatchInput {
    url: Option<String>,
    events: Option<Vec<EventType>>,
    description: Option<String>,
    enabled: Option<bool>,
}

impl PatchInput {
    fn read(f: &mut Fields) -> Self {
        PatchInput {
            url: f.optional("url", url_field),
            events: f.optional_list("events", MAX_SUBSCRIPTIONS, EventType::parse_subscribable),
            description: f.optional("description", |s| long_text(s, DESCRIPTION_MAX)),
            enabled: f.optional_bool("enabled"),
        }
    }
}

pub async fn update_webhook(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    require_session(p)?;
    let mut f = read_json(req).await?;
    let (id, ws) = endpoint_in_scope(ctx, p, id, f.workspace_id().as_deref())?;
    let input = PatchInput::read(&mut f);
    f.finish()?;
    let url = input.url.map(|u| guarded(ctx, &u)).transpose()?;
    let events = input.events.map(subscriptions).transpose()?;
    let patch = EndpointPatch {
        url: url.as_ref().map(SafeUrl::as_str),
        description: input.description.as_deref(),
        events_json: events.as_deref(),
        enabled: input.enabled,
    };
    let view = store::update(&ctx.db, &ws, &id, patch, &ctx.now().to_rfc3339())
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

pub async fn delete_webhook(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = endpoint_in_scope(ctx, p, id, None)?;
    if !store::delete(&ctx.db, &ws, &id).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Reply::no_content())
}

pub async fn rotate_webhook_secret(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = endpoint_in_scope(ctx, p, id, None)?;
    refuse_for_secrets(ctx)?;
    let (secret, sealed) = new_secret(ctx, &id).await?;
    let now = ctx.now();
    let expires = now.plus_millis(ROTATION_OVERLAP_MS).to_rfc3339();
    let view = store::rotate_secret(&ctx.db, &ws, &id, &sealed, &expires, &now.to_rfc3339())
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view.with_secret(&secret)?)
}

/// Announces an attempt that is due now. The delivery row is already written, so a failure here
/// is left to the cron sweep rather than reported as a failed request.
async fn announce_now(ctx: &Ctx, view: &View, seq: i64) {
    let due = [(
        Announcement {
            id: view.id.clone(),
            seq,
        },
        ctx.now().millis(),
    )];
    if let Err(e) = delivery::announce(&ctx.env, &due).await {
        delivery::log_error("webhook announcement", &e);
    }
}

/// 409 for an action on a disabled endpoint.
fn disabled() -> ApiError {
    ApiError::InvalidState {
        current: "DISABLED".into(),
    }
}

pub async fn test_webhook(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = endpoint_in_scope(ctx, p, id, None)?;
    let now = ctx.now().to_rfc3339();
    let data = serde_json::json!({ "webhookId": id.as_str(), "workspaceId": ws.get().id.as_str() });
    let body = events::payload(EventType::WebhookTest, &now, &data.to_string())
        .ok_or_else(|| ApiError::Internal("webhook.test payload".into()))?;
    let delivery_id = DeliveryId::generate_in(&ws.get().id);
    let created = deliveries::insert_on_demand(
        &ctx.db,
        &ws,
        &id,
        &delivery_id,
        EventType::WebhookTest.as_str(),
        &body,
        &now,
    )
    .await?;
    let Some(view) = created else {
        // No enabled endpoint: say whether there is a disabled one.
        return Err(match store::get(&ctx.db, &ws, &id).await? {
            Some(_) => disabled(),
            None => ApiError::NotFound,
        });
    };
    announce_now(ctx, &view, 0).await;
    Reply::json(202, &view)
}

pub async fn list_webhook_deliveries(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = endpoint_in_scope(ctx, p, id, None)?;
    let page = page_request(ctx)?;
    store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let rows = deliveries::list(&ctx.db, &ws, &id, &page).await?;
    page_reply(ctx, &page, rows, View::cursor)
}

pub async fn redeliver_webhook_delivery(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
    delivery_id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = endpoint_in_scope(ctx, p, id, None)?;
    // A delivery id naming another workspace cannot be this endpoint's: 404 without a read.
    let delivery_id = DeliveryId::parse(delivery_id)
        .ok()
        .filter(|d| d.workspace() == ws.get().id)
        .ok_or(ApiError::NotFound)?;
    let now = ctx.now().to_rfc3339();
    match deliveries::redeliver(&ctx.db, &ws, &id, &delivery_id, &now).await? {
        Redelivery::Restarted { view, seq } => {
            announce_now(ctx, &view, seq).await;
            Reply::json(202, &view)
        }
        Redelivery::NotFound => Err(ApiError::NotFound),
        Redelivery::StillPending => Err(ApiError::InvalidState {
            current: "PENDING".into(),
        }),
        Redelivery::EndpointDisabled => Err(disabled()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_bounded_before_the_guard_reads_them() {
        assert!(url_field(&"a".repeat(URL_MAX_BYTES)).is_ok());
        assert!(url_field(&"a".repeat(URL_MAX_BYTES + 1)).is_err());
    }
}
