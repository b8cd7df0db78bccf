//! Media: presigned uploads (real R2 presigned URLs when S3 credentials are configured, else
//! the worker's own capability-authorised upload route), URL ingest, reads, moves, folders.
//!
//! `uploads` (presign, the capability routes, complete), `ingest` (from a URL), `assets` (read,
//! list, edit, move, delete) and `folders`; what they share is here.

mod assets;
mod folders;
mod ingest;
pub mod objects;
mod uploads;

pub use assets::{delete_media, get_media, list_media, move_media, update_media};
pub use folders::{create_folder, delete_folder, list_folders, rename_folder};
pub use ingest::{ingest_from_url, INGEST_MAX_BYTES_DEFAULT, INGEST_TIMEOUT, MAX_REDIRECTS};
pub use uploads::{
    complete_upload, download_with_capability, presign_upload, upload_with_capability,
};

use crate::api::{named, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::{FolderId, MediaId, WorkspaceId};
use crate::domain::roles::Action;
use crate::domain::DomainError;
use crate::http::error::{ApiError, Context as _};
use crate::scope::{self, Authorized, InWorkspace};

pub const URL_TTL_SECONDS: i64 = 15 * 60;
pub const MEDIA_BUCKET: &str = "MEDIA";

fn bucket(ctx: &Ctx) -> Result<worker::Bucket, ApiError> {
    ctx.env.bucket(MEDIA_BUCKET).ctx("binding MEDIA")
}

/// The workspace a media request names; required.
fn required_workspace(ctx: &Ctx, body: Option<&str>) -> Result<WorkspaceId, ApiError> {
    named(ctx, None, body)?.ok_or(ApiError::WorkspaceRequired)
}

fn folder_id(s: &str) -> Result<FolderId, DomainError> {
    FolderId::parse(s).map_err(|_| DomainError::new("is not a folder id"))
}

fn same_workspace_folder(
    folder: Option<&FolderId>,
    ws: &Authorized<InWorkspace>,
) -> Result<(), ApiError> {
    match folder {
        Some(f) if f.workspace() != ws.get().id => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

fn media_id(s: &str) -> Result<MediaId, ApiError> {
    MediaId::parse(s).map_err(|_| ApiError::NotFound)
}

fn authorize(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
    action: Action,
) -> Result<(MediaId, Authorized<InWorkspace>), ApiError> {
    let id = media_id(id)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    Ok((id, scope::check(p, &ws, action)?))
}
