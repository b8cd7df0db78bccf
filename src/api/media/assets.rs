//! A media asset once it exists: read (with a short-lived download URL when READY), list,
//! edit, move between folders, delete.

use serde::Serialize;
use worker::Request;

use super::objects::staging_key;
use super::uploads::signed_url;
use super::{
    authorize, bucket, folder_id, required_workspace, same_workspace_folder, URL_TTL_SECONDS,
};
use crate::api::{page_reply, page_request};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::capability::Purpose;
use crate::domain::media::sanitize_filename;
use crate::domain::roles::Action;
use crate::domain::text::long_text;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::Reply;
use crate::scope;
use crate::store::media::{self as store, MediaView};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WithUrl {
    #[serde(flatten)]
    media: MediaView,
    url: Option<String>,
    url_expires_at: Option<String>,
}

pub async fn get_media(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::Read)?;
    let media = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let expires = ctx.now().plus_millis(URL_TTL_SECONDS * 1000);
    let url = match media.status.as_str() {
        "READY" => Some(signed_url(
            ctx,
            &media,
            Purpose::Download,
            &media.content_type.clone(),
            0,
            expires,
        )?),
        _ => None,
    };
    let url_expires_at = url.as_ref().map(|_| expires.to_rfc3339());
    Reply::json(
        200,
        &WithUrl {
            media,
            url,
            url_expires_at,
        },
    )
}

pub async fn list_media(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let ws = required_workspace(ctx, None)?;
    let ws = scope::check(p, &ws, Action::Read)?;
    let folder = ctx
        .query("folderId")?
        .map(|s| folder_id(s).map_err(|e| ApiError::field("folderId", e.0)))
        .transpose()?;
    same_workspace_folder(folder.as_ref(), &ws)?;
    let page = page_request(ctx)?;
    let rows = store::list(&ctx.db, &ws, folder.as_ref(), &page).await?;
    page_reply(ctx, &page, rows, MediaView::cursor)
}

pub async fn update_media(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let mut f = read_json(req).await?;
    let alt = f.optional("altText", |s| long_text(s, 1_500));
    let filename = f.optional("filename", sanitize_filename);
    f.finish()?;
    if !store::update(
        &ctx.db,
        &ws,
        &id,
        alt.as_deref(),
        filename.as_deref(),
        &ctx.now().to_rfc3339(),
    )
    .await?
    {
        return Err(ApiError::NotFound);
    }
    Reply::json(
        200,
        &store::get(&ctx.db, &ws, &id)
            .await?
            .ok_or(ApiError::NotFound)?,
    )
}

pub async fn delete_media(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let media = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // The objects first (the asset's and any staged upload): if R2 fails, the row stays and a
    // retry can finish the job; the other order could leave an object no row points to.
    let staged = staging_key(&media.object_key);
    bucket(ctx)?
        .delete_multiple(vec![media.object_key, staged])
        .await
        .ctx("r2: delete")?;
    store::delete(&ctx.db, &ws, &id).await?;
    Ok(Reply::no_content())
}

pub async fn move_media(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let mut f = read_json(req).await?;
    let folder = f.optional("folderId", folder_id);
    f.finish()?;
    // A folder of another workspace is simply not there: 404, before any storage.
    same_workspace_folder(folder.as_ref(), &ws)?;
    if !store::move_to(&ctx.db, &ws, &id, folder.as_ref(), &ctx.now().to_rfc3339()).await? {
        return Err(ApiError::NotFound);
    }
    Reply::json(
        200,
        &store::get(&ctx.db, &ws, &id)
            .await?
            .ok_or(ApiError::NotFound)?,
    )
}
