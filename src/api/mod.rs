//! Handlers, one file per URL resource. Each states its need on its first lines (a principal,
//! a scope check), then calls the store; the rules live in `domain` and `scope`.

pub mod api_keys;
pub mod auth;
pub mod comments;
pub mod idempotency;
pub mod me;
pub mod media;
pub mod members;
pub mod posts;
pub mod publishable;
pub mod service;
pub mod social_accounts;
pub mod webhooks;
pub mod workspaces;

use crate::auth::authenticate;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::WorkspaceId;
use crate::http::error::ApiError;
use crate::http::incoming::Incoming;
use crate::http::page::{next_link, Cursor, PageRequest};
use crate::http::respond::Reply;
use crate::http::router::{Matched, Route};
use crate::ratelimit::{self, Bucket};
use crate::scope::{named_workspace, Named};

pub async fn dispatch(ctx: &Ctx, incoming: &mut Incoming, m: Matched) -> Result<Reply, ApiError> {
    let p = &m.params;
    // Never limited: liveness and the contract.
    match m.route {
        Route::Health => return service::health(),
        Route::OpenApi => return service::openapi(),
        _ => {}
    }
    // The other routes that need no credential are charged to the client IP.
    if matches!(
        m.route,
        Route::Signup
            | Route::Login
            | Route::UploadMedia
            | Route::DownloadMedia
            | Route::DashboardSignup
            | Route::DashboardLogin
            | Route::DashboardLogout
    ) {
        ratelimit::check(ctx, Bucket::Ip(&ctx.client_ip)).await?;
    }
    // Routes that need no credential.
    match m.route {
        Route::Signup => return auth::signup(ctx, incoming.request()).await,
        Route::Login => return auth::login(ctx, incoming.request()).await,
        Route::UploadMedia => {
            return media::upload_with_capability(ctx, incoming.request(), &p[0]).await
        }
        Route::DownloadMedia => return media::download_with_capability(ctx, &p[0]).await,
        Route::DashboardSignup => return auth::dashboard_signup(ctx, incoming.request()).await,
        Route::DashboardLogin => return auth::dashboard_login(ctx, incoming.request()).await,
        Route::DashboardLogout => return auth::dashboard_logout(ctx).await,
        _ => {}
    }
    let principal = authenticate(ctx).await?;
    dispatch_as(ctx, incoming, m, &principal).await
}

/// The routes behind a credential, for a principal already authenticated: REST's, and each
/// MCP tool call's (authenticated once per `POST /mcp`).
pub async fn dispatch_as(
    ctx: &Ctx,
    incoming: &mut Incoming,
    m: Matched,
    who: &Principal,
) -> Result<Reply, ApiError> {
    let p = &m.params;
    match m.route {
        // Answered above, before authentication.
        Route::Health
        | Route::OpenApi
        | Route::Signup
        | Route::Login
        | Route::UploadMedia
        | Route::DownloadMedia
        | Route::DashboardSignup
        | Route::DashboardLogin
        | Route::DashboardLogout => Err(ApiError::Internal(
            "public route after authentication".into(),
        )),
        Route::Logout => auth::logout(ctx, who).await,
        Route::Me => me::get_me(who),
        Route::ListApiKeys => api_keys::list_api_keys(ctx, who).await,
        Route::CreateApiKey => api_keys::create_api_key(ctx, incoming.request(), who).await,
        Route::RevokeApiKey => api_keys::revoke_api_key(ctx, who, &p[0]).await,
        Route::CreateWorkspaceApiKey => {
            api_keys::create_workspace_api_key(ctx, incoming.request(), who, &p[0]).await
        }
        Route::RevokeWorkspaceApiKey => {
            api_keys::revoke_workspace_api_key(ctx, who, &p[0], &p[1]).await
        }
        Route::ListWorkspaces => workspaces::list_workspaces(ctx, who).await,
        Route::CreateWorkspace => workspaces::create_workspace(ctx, incoming.request(), who).await,
        Route::GetWorkspace => workspaces::get_workspace(ctx, who, &p[0]).await,
        Route::UpdateWorkspace => {
            workspaces::update_workspace(ctx, incoming.request(), who, &p[0]).await
        }
        Route::DeleteWorkspace => workspaces::delete_workspace(ctx, who, &p[0]).await,
        Route::ListMembers => members::list_members(ctx, who, &p[0]).await,
        Route::AddMember => members::add_member(ctx, incoming.request(), who, &p[0]).await,
        Route::UpdateMember => {
            members::update_member(ctx, incoming.request(), who, &p[0], &p[1]).await
        }
        Route::RemoveMember => members::remove_member(ctx, who, &p[0], &p[1]).await,
        Route::ListSocialAccounts => social_accounts::list_social_accounts(ctx, who).await,
        Route::CreateSocialAccount => {
            social_accounts::create_social_account(ctx, incoming.request(), who).await
        }
        Route::GetSocialAccount => social_accounts::get_social_account(ctx, who, &p[0]).await,
        Route::UpdateSocialAccount => {
            social_accounts::update_social_account(ctx, incoming.request(), who, &p[0]).await
        }
        Route::DisconnectSocialAccount => {
            social_accounts::disconnect_social_account(ctx, who, &p[0]).await
        }
        Route::ListPosts => posts::list_posts(ctx, who).await,
        Route::CreatePost => posts::create_post(ctx, incoming.request(), who).await,
        Route::GetPost => posts::get_post(ctx, who, &p[0]).await,
        Route::UpdatePost => posts::update_post(ctx, incoming.request(), who, &p[0]).await,
        Route::DeletePost => posts::delete_post(ctx, who, &p[0]).await,
        Route::SchedulePost => posts::schedule_post(ctx, incoming.request(), who, &p[0]).await,
        Route::ReschedulePost => posts::reschedule_post(ctx, incoming.request(), who, &p[0]).await,
        Route::CancelPost => posts::cancel_post(ctx, who, &p[0]).await,
        Route::RetryPost => posts::retry_post(ctx, who, &p[0]).await,
        Route::ListPostAttempts => posts::list_attempts(ctx, who, &p[0]).await,
        Route::ApprovePost => posts::approve_post(ctx, who, &p[0]).await,
        Route::RequestChanges => posts::request_changes(ctx, incoming.request(), who, &p[0]).await,
        Route::ListComments => comments::list_comments(ctx, who).await,
        Route::CommentOnPost => {
            comments::comment_on_post(ctx, incoming.request(), who, &p[0]).await
        }
        Route::ReplyToComment => {
            comments::reply_to_comment(ctx, incoming.request(), who, &p[0]).await
        }
        Route::MarkCommentRead => comments::mark_comment_read(ctx, who, &p[0]).await,
        Route::PresignMedia => media::presign_upload(ctx, incoming.request(), who).await,
        Route::IngestMedia => media::ingest_from_url(ctx, incoming.request(), who).await,
        Route::ListFolders => media::list_folders(ctx, who).await,
        Route::CreateFolder => media::create_folder(ctx, incoming.request(), who).await,
        Route::RenameFolder => media::rename_folder(ctx, incoming.request(), who, &p[0]).await,
        Route::DeleteFolder => media::delete_folder(ctx, who, &p[0]).await,
        Route::ListMedia => media::list_media(ctx, who).await,
        Route::GetMedia => media::get_media(ctx, who, &p[0]).await,
        Route::UpdateMedia => media::update_media(ctx, incoming.request(), who, &p[0]).await,
        Route::DeleteMedia => media::delete_media(ctx, who, &p[0]).await,
        Route::CompleteMedia => media::complete_upload(ctx, who, &p[0]).await,
        Route::MoveMedia => media::move_media(ctx, incoming.request(), who, &p[0]).await,
        Route::ListWebhooks => webhooks::list_webhooks(ctx, who).await,
        Route::CreateWebhook => webhooks::create_webhook(ctx, incoming.request(), who).await,
        Route::GetWebhook => webhooks::get_webhook(ctx, who, &p[0]).await,
        Route::UpdateWebhook => webhooks::update_webhook(ctx, incoming.request(), who, &p[0]).await,
        Route::DeleteWebhook => webhooks::delete_webhook(ctx, who, &p[0]).await,
        Route::RotateWebhookSecret => webhooks::rotate_webhook_secret(ctx, who, &p[0]).await,
        Route::TestWebhook => webhooks::test_webhook(ctx, who, &p[0]).await,
        Route::ListWebhookDeliveries => webhooks::list_webhook_deliveries(ctx, who, &p[0]).await,
        Route::RedeliverWebhookDelivery => {
            webhooks::redeliver_webhook_delivery(ctx, who, &p[0], &p[1]).await
        }
    }
}

/// The workspace a request names, if any: `path` is the `{workspaceId}` segment or the
/// workspace read out of a workspace-owned id; query, header and body may name it too, but
/// all must agree.
pub fn named(
    ctx: &Ctx,
    path: Option<&str>,
    body: Option<&str>,
) -> Result<Option<WorkspaceId>, ApiError> {
    named_workspace(Named {
        path,
        query: ctx.query("workspaceId")?,
        header: ctx.workspace_header.as_deref(),
        body,
    })
}

/// The workspace of a path-scoped request.
pub fn path_workspace(ctx: &Ctx, path: &str, body: Option<&str>) -> Result<WorkspaceId, ApiError> {
    named(ctx, Some(path), body)?.ok_or(ApiError::NotFound)
}

/// `limit` and `cursor` from the query.
pub fn page_request(ctx: &Ctx) -> Result<PageRequest, ApiError> {
    PageRequest::parse(ctx.query("limit")?, ctx.query("cursor")?)
}

/// A page of rows as a bare JSON array, with `Link: rel="next"` when more follow.
pub fn page_reply<T: serde::Serialize>(
    ctx: &Ctx,
    page: &PageRequest,
    rows: Vec<T>,
    key: impl Fn(&T) -> Cursor,
) -> Result<Reply, ApiError> {
    let (rows, next) = page.split(rows, key);
    let reply = Reply::json(200, &rows)?;
    Ok(match next {
        Some(c) => reply.header("Link", next_link(&ctx.origin, &ctx.path, &ctx.query, &c)),
        None => reply,
    })
}
