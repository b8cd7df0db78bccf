//! API keys: minted, listed and revoked by sessions only (`SESSION_REQUIRED` for keys).

use serde::Serialize;
use worker::Request;

use crate::api::idempotency::refuse_for_secrets;
use crate::api::{page_reply, page_request, path_workspace};
use crate::auth::cache;
use crate::auth::credential::{CredentialKind, PlainToken};
use crate::auth::principal::{Access, Principal};
use crate::ctx::Ctx;
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::roles::Action;
use crate::domain::text::Name;
use crate::domain::time::Timestamp;
use crate::domain::DomainError;
use crate::http::body::{read_json, Fields};
use crate::http::error::ApiError;
use crate::http::respond::Reply;
use crate::scope::{self, require_session, Authorized, SessionUser};
use crate::store::api_keys::{self as store, KeyView, NewKey};

/// The create response: the key's listing plus, this once, its plaintext.
#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    view: KeyView,
    key: String,
}

const MAX_ALLOW_LIST: usize = 100;

fn expiry(ctx: &Ctx, f: &mut Fields) -> Option<Timestamp> {
    let now = ctx.now();
    f.optional("expiresAt", |s| Timestamp::parse_ahead(s, now))
}

async fn mint(
    ctx: &Ctx,
    session: &Principal,
    owner: &Authorized<SessionUser>,
    name: &Name,
    allow_list: Option<&[WorkspaceId]>,
    expires_at: Option<Timestamp>,
) -> Result<Reply, ApiError> {
    let token = PlainToken::generate(CredentialKind::ApiKey);
    let expires = expires_at.map(Timestamp::to_rfc3339);
    let view = store::insert(
        &ctx.db,
        owner,
        NewKey {
            name,
            prefix: token.display_prefix(),
            hash: &token.hash(),
            allow_list,
            expires_at: expires.as_deref(),
        },
        &ctx.now().to_rfc3339(),
    )
    .await?;
    // The session's principal holds the owner's live memberships, so the key's principal
    // follows without D1: cache it now and the key's first request is served from cache.
    let principal = Principal::resolve(
        session.user_id.clone(),
        session.email.clone(),
        session.name.clone(),
        CredentialKind::ApiKey,
        view.id.clone(),
        allow_list.map_or(Access::Full, |l| Access::Scoped(l.to_vec())),
        session.workspaces.clone(),
        expires_at.map(Timestamp::millis),
    );
    cache::remember(ctx, &token.hash(), &principal).await?;
    // No Location header: a key has no GET of its own; it is listed under GET /api-keys.
    Reply::json(
        201,
        &Created {
            view,
            key: token.reveal(),
        },
    )
}

pub async fn create_api_key(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
) -> Result<Reply, ApiError> {
    let owner = require_session(p)?;
    refuse_for_secrets(ctx)?;
    let mut f = read_json(req).await?;
    let name = f.required("name", |s| Name::parse(s, 100));
    let access = f.optional("access", |s| match s {
        "full" | "scoped" => Ok(s == "scoped"),
        _ => Err(DomainError::new("must be one of full, scoped")),
    });
    let ids = f.optional_list("workspaceIds", MAX_ALLOW_LIST, WorkspaceId::parse);
    let expires_at = expiry(ctx, &mut f);
    let ok = f.finish()?;
    let name = name.take(&ok);
    let allow_list = match (access.unwrap_or(false), ids) {
        (true, Some(ids)) if !ids.is_empty() => {
            let mut ids = ids;
            ids.sort();
            ids.dedup();
            // Every listed workspace must be one the owner reaches, decided before any storage.
            for ws in &ids {
                scope::check(p, ws, Action::Read)?;
            }
            Some(ids)
        }
        (true, _) => {
            return Err(ApiError::field(
                "workspaceIds",
                "is required, with at least one id, when access is scoped",
            ))
        }
        (false, Some(_)) => {
            return Err(ApiError::field(
                "workspaceIds",
                "is only allowed when access is scoped",
            ))
        }
        (false, None) => None,
    };
    mint(ctx, p, &owner, &name, allow_list.as_deref(), expires_at).await
}

/// `POST /workspaces/{id}/api-keys`: a key scoped to that one workspace.
pub async fn create_workspace_api_key(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    ws: &str,
) -> Result<Reply, ApiError> {
    let owner = require_session(p)?;
    refuse_for_secrets(ctx)?;
    let mut f = read_json(req).await?;
    let ws = path_workspace(ctx, ws, f.workspace_id().as_deref())?;
    scope::check(p, &ws, Action::Read)?;
    let name = f.required("name", |s| Name::parse(s, 100));
    let expires_at = expiry(ctx, &mut f);
    let ok = f.finish()?;
    mint(ctx, p, &owner, &name.take(&ok), Some(&[ws]), expires_at).await
}

pub async fn list_api_keys(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let owner = require_session(p)?;
    let page = page_request(ctx)?;
    let rows = store::list(&ctx.db, &owner, &page).await?;
    page_reply(ctx, &page, rows, KeyView::cursor)
}

async fn revoke(
    ctx: &Ctx,
    owner: &Authorized<SessionUser>,
    key: &str,
    only_in: Option<&WorkspaceId>,
) -> Result<Reply, ApiError> {
    let key = KeyId::parse(key).map_err(|_| ApiError::NotFound)?;
    let bumps = store::revoke(&ctx.db, owner, &key, only_in, &ctx.now().to_rfc3339())
        .await?
        .ok_or(ApiError::NotFound)?;
    cache::publish(ctx, &bumps).await;
    Ok(Reply::no_content())
}

pub async fn revoke_api_key(ctx: &Ctx, p: &Principal, key: &str) -> Result<Reply, ApiError> {
    let owner = require_session(p)?;
    revoke(ctx, &owner, key, None).await
}

pub async fn revoke_workspace_api_key(
    ctx: &Ctx,
    p: &Principal,
    ws: &str,
    key: &str,
) -> Result<Reply, ApiError> {
    let owner = require_session(p)?;
    let ws = path_workspace(ctx, ws, None)?;
    scope::check(p, &ws, Action::Read)?;
    revoke(ctx, &owner, key, Some(&ws)).await
}
