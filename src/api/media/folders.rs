//! Media folders: list, create, rename, delete (recursively, objects first, on request).

use worker::Request;

use super::objects::staging_key;
use super::{bucket, required_workspace};
use crate::api::idempotency::once;
use crate::api::{page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::FolderId;
use crate::domain::roles::Action;
use crate::domain::text::Name;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::Reply;
use crate::scope::{self, Authorized, InWorkspace};
use crate::store::media::{self as store, FolderView};

pub async fn list_folders(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let ws = required_workspace(ctx, None)?;
    let ws = scope::check(p, &ws, Action::Read)?;
    let page = page_request(ctx)?;
    let rows = store::list_folders(&ctx.db, &ws, &page).await?;
    page_reply(ctx, &page, rows, FolderView::cursor)
}

pub async fn create_folder(ctx: &Ctx, req: &mut Request, p: &Principal) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = required_workspace(ctx, f.workspace_id().as_deref())?;
    let ws = scope::check(p, &ws, Action::WriteContent)?;
    let name = f.required("name", |s| Name::parse(s, 100));
    let ok = f.finish()?;
    let name = name.take(&ok);
    once(ctx, p, &ws, &ok, || async {
        let view =
            store::insert_folder(&ctx.db, &ws, name.as_str(), &ctx.now().to_rfc3339()).await?;
        let location = format!("/api/v1/media/folders/{}", view.id);
        Ok(Reply::json(201, &view)?.header("Location", location))
    })
    .await
}

fn authorize_folder(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
) -> Result<(FolderId, Authorized<InWorkspace>), ApiError> {
    let id = FolderId::parse(id).map_err(|_| ApiError::NotFound)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    Ok((id, scope::check(p, &ws, Action::WriteContent)?))
}

pub async fn rename_folder(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let (id, ws) = authorize_folder(ctx, p, id)?;
    let mut f = read_json(req).await?;
    let name = f.required("name", |s| Name::parse(s, 100));
    let ok = f.finish()?;
    let view = store::rename_folder(
        &ctx.db,
        &ws,
        &id,
        name.take(&ok).as_str(),
        &ctx.now().to_rfc3339(),
    )
    .await?
    .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

/// A non-empty folder is kept (409) unless `?recursive=true`, which deletes its media too.
pub async fn delete_folder(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize_folder(ctx, p, id)?;
    let recursive = match ctx.query("recursive")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("recursive", "must be true or false")),
    };
    let contents = store::folder_contents(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !recursive {
        // The statement re-checks emptiness, so media moved in meanwhile are never lost.
        return match store::delete_empty_folder(&ctx.db, &ws, &id).await? {
            true => Ok(Reply::no_content()),
            false => Err(ApiError::FolderNotEmpty),
        };
    }
    // Objects first (see delete_media), then the rows of exactly those media and the folder.
    if !contents.is_empty() {
        // R2 deletes at most 1,000 keys per call: each asset's object and its staged upload.
        for chunk in contents.chunks(500) {
            let keys: Vec<String> = chunk
                .iter()
                .flat_map(|c| [c.object_key.clone(), staging_key(&c.object_key)])
                .collect();
            bucket(ctx)?
                .delete_multiple(keys)
                .await
                .ctx("r2: delete folder objects")?;
        }
    }
    let ids: Vec<&str> = contents.iter().map(|c| c.id.as_str()).collect();
    store::delete_folder_with(&ctx.db, &ws, &id, &ids).await?;
    Ok(Reply::no_content())
}
