//! Social accounts: register a channel in a workspace, list across workspaces, read, update
//! (new credentials make a flagged account ACTIVE again), disconnect.

use worker::Request;

use crate::api::idempotency::once;
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::SocialAccountId;
use crate::domain::platform::{AccountStatus, Platform};
use crate::domain::publish::credentials;
use crate::domain::roles::Action;
use crate::domain::text::Name;
use crate::domain::DomainError;
use crate::http::body::read_json;
use crate::http::error::{ApiError, FieldError};
use crate::http::respond::Reply;
use crate::net::outbound::Outbound;
use crate::publish::adapters::mastodon;
use crate::scope::{self, check_many};
use crate::seal;
use crate::store::social_accounts::{self as store, AccountChange, AccountView, NewAccount};

const CREDENTIALS_MAX_BYTES: usize = 10_000;

fn bounded(max: usize) -> impl Fn(&str) -> Result<String, DomainError> {
    move |s| Name::parse(s, max).map(|n| n.as_str().to_owned())
}

/// Credentials as they are sealed, and what the platform said about its limits.
struct Prepared {
    json: String,
    limits: Option<String>,
}

/// Checks the credentials a publisher needs (their shape, and their URL against the outbound
/// guard, before anything is stored); other platforms' credentials are kept as given. For
/// Mastodon, asks the instance for its limits (none if it cannot say).
async fn prepare(
    ctx: &Ctx,
    platform: Platform,
    raw: &serde_json::Value,
) -> Result<Prepared, ApiError> {
    let creds = match credentials::parse(platform, raw) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Ok(Prepared {
                json: raw.to_string(),
                limits: None,
            })
        }
        Err(problems) => {
            return Err(ApiError::Validation(
                problems
                    .into_iter()
                    .map(|(field, problem)| {
                        let field = if field.is_empty() {
                            "credentials".to_owned()
                        } else {
                            format!("credentials.{field}")
                        };
                        FieldError::new(field, problem)
                    })
                    .collect(),
            ))
        }
    };
    let outbound = Outbound::from_env(&ctx.env);
    let safe = outbound
        .guard(creds.base_url())
        .map_err(|r| ApiError::UrlNotAllowed(r.problem().to_owned()))?;
    let creds = creds.with_base_url(safe.as_str().trim_end_matches('/').to_owned());
    let limits = match (&creds, platform) {
        (credentials::Credentials::Mastodon { instance_url, .. }, Platform::Mastodon) => {
            mastodon::instance_limits(&outbound, instance_url)
                .await
                .and_then(|l| serde_json::to_string(&l).ok())
        }
        _ => None,
    };
    Ok(Prepared {
        json: creds.to_json(),
        limits,
    })
}

async fn seal_for(ctx: &Ctx, id: &SocialAccountId, json: &str) -> Result<String, ApiError> {
    let key = seal::parse_key(ctx.var(seal::KEY_VAR).as_deref()).ok_or_else(|| {
        ApiError::Internal(format!("{} is not set to 64 hex characters", seal::KEY_VAR))
    })?;
    seal::seal(&key, json.as_bytes(), id.as_str()).await
}

pub async fn create_social_account(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = named(ctx, None, f.workspace_id().as_deref())?.ok_or(ApiError::WorkspaceRequired)?;
    let ws = scope::check(p, &ws, Action::ManageWorkspace)?;
    let platform = f.required("platform", Platform::parse);
    let handle = f.required("handle", bounded(100));
    let display_name = f.optional("displayName", bounded(100));
    let external_id = f.optional("externalId", bounded(200));
    let credentials = f.optional_json("credentials", CREDENTIALS_MAX_BYTES);
    let ok = f.finish()?;
    let (platform, handle) = (platform.take(&ok), handle.take(&ok));
    once(ctx, p, &ws, &ok, || async {
        let id = SocialAccountId::generate_in(&ws.get().id);
        let prepared = match &credentials {
            None => None,
            Some(c) => Some(prepare(ctx, platform, c).await?),
        };
        let sealed = match &prepared {
            None => None,
            Some(c) => Some(seal_for(ctx, &id, &c.json).await?),
        };
        let account = NewAccount {
            id: &id,
            platform,
            handle: &handle,
            display_name: display_name.as_deref(),
            external_id: external_id.as_deref(),
            sealed_credentials: sealed.as_deref(),
            platform_limits: prepared.as_ref().and_then(|c| c.limits.as_deref()),
        };
        let view = store::insert(&ctx.db, &ws, account, &ctx.now().to_rfc3339()).await?;
        let location = format!("/api/v1/social-accounts/{}", view.id);
        Ok(Reply::json(201, &view)?.header("Location", location))
    })
    .await
}

pub async fn list_social_accounts(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let ws = named(ctx, None, None)?;
    let scope = check_many(p, ws.as_ref())?;
    let page = page_request(ctx)?;
    let rows = store::list(&ctx.db, &scope, &page).await?;
    page_reply(ctx, &page, rows, AccountView::cursor)
}

fn account_id(s: &str) -> Result<SocialAccountId, ApiError> {
    SocialAccountId::parse(s).map_err(|_| ApiError::NotFound)
}

pub async fn get_social_account(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let id = account_id(id)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    let ws = scope::check(p, &ws, Action::Read)?;
    let view = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

/// `PATCH /social-accounts/{id}`: new `credentials` (replacing the old ones and any platform
/// session), `handle`, `displayName`; the account is ACTIVE again (after TOKEN_EXPIRED or
/// REVOKED). A disconnected account is 409 `INVALID_STATE`.
pub async fn update_social_account(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let body_ws = f.workspace_id();
    let handle = f.optional("handle", bounded(100));
    let display_name = f.optional("displayName", bounded(100));
    let credentials = f.optional_json("credentials", CREDENTIALS_MAX_BYTES);
    f.forbid("platform", "cannot change: register another account");
    f.finish()?;
    let id = account_id(id)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), body_ws.as_deref())?;
    let ws = scope::check(p, &ws, Action::ManageWorkspace)?;
    let current = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let disconnected = || ApiError::InvalidState {
        current: AccountStatus::Disconnected.as_str().to_owned(),
    };
    if current.status == AccountStatus::Disconnected.as_str() {
        return Err(disconnected());
    }
    let platform = Platform::parse(&current.platform)
        .map_err(|_| ApiError::Internal(format!("stored platform {}", current.platform)))?;
    let prepared = match &credentials {
        None => None,
        Some(c) => Some(prepare(ctx, platform, c).await?),
    };
    let sealed = match &prepared {
        None => None,
        Some(c) => Some(seal_for(ctx, &id, &c.json).await?),
    };
    let change = AccountChange {
        handle: handle.as_deref(),
        display_name: display_name.as_deref(),
        sealed_credentials: sealed.as_deref(),
        platform_limits: prepared.as_ref().and_then(|c| c.limits.as_deref()),
    };
    let view = store::update(&ctx.db, &ws, &id, change, &ctx.now().to_rfc3339())
        .await?
        .ok_or_else(disconnected)?;
    Reply::json(200, &view)
}

pub async fn disconnect_social_account(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let id = account_id(id)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    let ws = scope::check(p, &ws, Action::ManageWorkspace)?;
    if !store::disconnect(&ctx.db, &ws, &id, &ctx.now().to_rfc3339()).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Reply::no_content())
}
