//! Social accounts: register a channel in a workspace, list across workspaces, read, disconnect.

use worker::Request;

use crate::api::idempotency::once;
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::SocialAccountId;
use crate::domain::platform::Platform;
use crate::domain::roles::Action;
use crate::domain::text::Name;
use crate::domain::DomainError;
use crate::http::body::read_json;
use crate::http::error::ApiError;
use crate::http::respond::Reply;
use crate::scope::{self, check_many};
use crate::seal;
use crate::store::social_accounts::{self as store, AccountView, NewAccount};

const CREDENTIALS_MAX_BYTES: usize = 10_000;

fn bounded(max: usize) -> impl Fn(&str) -> Result<String, DomainError> {
    move |s| Name::parse(s, max).map(|n| n.as_str().to_owned())
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
        let sealed = match &credentials {
            None => None,
            Some(c) => {
                let key = seal::parse_key(ctx.var(seal::KEY_VAR).as_deref()).ok_or_else(|| {
                    ApiError::Internal(format!("{} is not set to 64 hex characters", seal::KEY_VAR))
                })?;
                Some(seal::seal(&key, c.to_string().as_bytes(), id.as_str()).await?)
            }
        };
        let account = NewAccount {
            id: &id,
            platform,
            handle: &handle,
            display_name: display_name.as_deref(),
            external_id: external_id.as_deref(),
            sealed_credentials: sealed.as_deref(),
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
