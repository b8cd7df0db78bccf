//! Team comments: on a post, as a reply, marked read; listed across workspaces.

use worker::Request;

use crate::api::idempotency::once;
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::{CommentId, PostId};
use crate::domain::roles::Action;
use crate::domain::text::long_text;
use crate::http::body::read_json;
use crate::http::error::ApiError;
use crate::http::respond::Reply;
use crate::scope::{self, check_many};
use crate::store::comments::{self as store, CommentView, ListFilter, Parent};

pub const BODY_MAX: usize = 5_000;

/// No Location header: comments have no GET of their own; they are listed by GET /comments.
fn created(view: Option<CommentView>) -> Result<Reply, ApiError> {
    Reply::json(201, &view.ok_or(ApiError::NotFound)?)
}

pub async fn comment_on_post(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    post: &str,
) -> Result<Reply, ApiError> {
    let post = PostId::parse(post).map_err(|_| ApiError::NotFound)?;
    add(ctx, req, p, Parent::Post(post)).await
}

pub async fn reply_to_comment(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    parent: &str,
) -> Result<Reply, ApiError> {
    let parent = comment_id(parent)?;
    add(ctx, req, p, Parent::Comment(parent)).await
}

fn comment_id(s: &str) -> Result<CommentId, ApiError> {
    CommentId::parse(s).map_err(|_| ApiError::NotFound)
}

/// A comment on a post and a reply are made alike: scope from the parent's id, a
/// `{ "body" }`, once per Idempotency-Key.
async fn add(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    parent: Parent,
) -> Result<Reply, ApiError> {
    let ws = path_workspace(ctx, parent.workspace().as_str(), None)?;
    let ws = scope::check(p, &ws, Action::Comment)?;
    let mut f = read_json(req).await?;
    let body = f.required("body", |s| long_text(s, BODY_MAX));
    let ok = f.finish()?;
    let body = body.take(&ok);
    once(ctx, p, &ws, &ok, || async {
        let at = ctx.now().to_rfc3339();
        created(store::insert(&ctx.db, &ws, &parent, &p.user_id, &body, &at).await?)
    })
    .await
}

pub async fn mark_comment_read(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let id = comment_id(id)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    let ws = scope::check(p, &ws, Action::Comment)?;
    let view = store::mark_read(&ctx.db, &ws, &id, &p.user_id, &ctx.now().to_rfc3339())
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

/// `postId` names a workspace too (the post's), and must agree with any other name.
pub async fn list_comments(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let post = ctx
        .query("postId")?
        .map(|s| PostId::parse(s).map_err(|_| ApiError::NotFound))
        .transpose()?;
    let ws = named(
        ctx,
        post.as_ref()
            .map(|p| p.workspace())
            .as_ref()
            .map(|w| w.as_str()),
        None,
    )?;
    let scope = check_many(p, ws.as_ref())?;
    let unread = match ctx.query("unread")? {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::field("unread", "must be true or false")),
    };
    let page = page_request(ctx)?;
    let rows = store::list(
        &ctx.db,
        &scope,
        &ListFilter {
            post: post.as_ref(),
            unread,
        },
        &page,
    )
    .await?;
    page_reply(ctx, &page, rows, CommentView::cursor)
}
