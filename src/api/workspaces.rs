//! Workspaces: list (oldest first, only those in scope), create, read, edit, soft-delete.

use worker::Request;

use crate::api::idempotency::once;
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::cache;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::roles::Action;
use crate::domain::slug::Slug;
use crate::domain::text::Name;
use crate::domain::timezone::Timezone;
use crate::http::body::read_json;
use crate::http::error::ApiError;
use crate::http::respond::Reply;
use crate::scope::{self, check_memberships, may_create_workspace};
use crate::store::workspaces::{self as store, NewWorkspace, WorkspacePatch, WorkspaceView};

pub const NAME_MAX: usize = 100;

pub async fn list_workspaces(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    // Naming a workspace (query or header) narrows the list to it, and is refused if foreign.
    let named = named(ctx, None, None)?;
    let scope = check_memberships(p, named.as_ref())?;
    let page = page_request(ctx)?;
    let rows = store::list(&ctx.db, &scope, &page).await?;
    page_reply(ctx, &page, rows, WorkspaceView::cursor)
}

pub async fn create_workspace(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
) -> Result<Reply, ApiError> {
    let creator = may_create_workspace(p)?;
    let mut f = read_json(req).await?;
    let name = f.required("name", |s| Name::parse(s, NAME_MAX));
    let slug = f.optional("slug", Slug::parse);
    let timezone = f.optional("timezone", Timezone::parse);
    let require_approval = f.optional_bool("requireApproval");
    let ok = f.finish()?;
    let name = name.take(&ok);
    let slug = match slug {
        Some(s) => s,
        None => Slug::from_name(name.as_str()).map_err(|e| ApiError::field("slug", e.0))?,
    };
    let w = NewWorkspace {
        name,
        slug,
        timezone: timezone.unwrap_or_else(|| Timezone::parse("UTC").expect("UTC is a zone")),
        require_approval: require_approval.unwrap_or(false),
    };
    once(ctx, p, &creator, &ok, || async {
        let (view, bumps) = store::insert(&ctx.db, &creator, &w, &ctx.now().to_rfc3339()).await?;
        // The creator's credentials now reach one more workspace.
        cache::publish(ctx, &bumps).await;
        let location = format!("/api/v1/workspaces/{}", view.id);
        Ok(Reply::json(201, &view)?.header("Location", location))
    })
    .await
}

pub async fn get_workspace(ctx: &Ctx, p: &Principal, ws: &str) -> Result<Reply, ApiError> {
    let ws = path_workspace(ctx, ws, None)?;
    let ws = scope::check(p, &ws, Action::Read)?;
    let view = store::get(&ctx.db, &ws, &p.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

pub async fn update_workspace(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    ws: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = path_workspace(ctx, ws, f.workspace_id().as_deref())?;
    let ws = scope::check(p, &ws, Action::ManageWorkspace)?;
    let patch = WorkspacePatch {
        name: f.optional("name", |s| Name::parse(s, NAME_MAX)),
        timezone: f.optional("timezone", Timezone::parse),
        require_approval: f.optional_bool("requireApproval"),
    };
    f.forbid("slug", "cannot be changed after creation");
    f.finish()?;
    store::update(&ctx.db, &ws, &patch, &ctx.now().to_rfc3339()).await?;
    let view = store::get(&ctx.db, &ws, &p.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

pub async fn delete_workspace(ctx: &Ctx, p: &Principal, ws: &str) -> Result<Reply, ApiError> {
    let ws = path_workspace(ctx, ws, None)?;
    let ws = scope::check(p, &ws, Action::DeleteWorkspace)?;
    let bumps = store::soft_delete(&ctx.db, &ws, &ctx.now().to_rfc3339())
        .await?
        .ok_or(ApiError::NotFound)?;
    // No credential of any member may reach it from the next request on.
    cache::publish(ctx, &bumps).await;
    Ok(Reply::no_content())
}
