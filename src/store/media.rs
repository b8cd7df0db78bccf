//! Media rows and folders. Objects live in R2; these rows say what they are and whose.

use serde::{Deserialize, Serialize};

use super::{json_list, Arg, Db};
use crate::domain::ids::{FolderId, MediaId};
use crate::http::error::ApiError;
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaView {
    pub id: String,
    pub workspace_id: String,
    pub folder_id: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub bytes: Option<i64>,
    pub status: String,
    pub alt_text: Option<String>,
    pub source_url: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing)]
    pub object_key: String,
}

impl MediaView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }
}

const SELECT: &str = "SELECT id, workspace_id AS workspaceId, folder_id AS folderId, filename, content_type AS contentType,
        bytes, status, alt_text AS altText, source_url AS sourceUrl, created_by AS createdBy,
        created_at AS createdAt, updated_at AS updatedAt, object_key AS objectKey
     FROM media";

pub struct NewMedia<'a> {
    pub id: &'a MediaId,
    pub folder: Option<&'a FolderId>,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub bytes: Option<i64>,
    pub status: &'a str,
    pub object_key: &'a str,
    pub alt_text: Option<&'a str>,
    pub source_url: Option<&'a str>,
    pub created_by: &'a str,
}

/// Inserts the row if its folder (when named) is a folder of the same workspace; `None` if not.
pub async fn insert(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    m: NewMedia<'_>,
    now: &str,
) -> Result<Option<MediaView>, ApiError> {
    let wid = ws.get().id.as_str();
    let changed = db
        .run(
            "d1: insert media",
            "INSERT INTO media (id, workspace_id, folder_id, filename, content_type, bytes, status, object_key, alt_text, source_url, created_by, created_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12
             WHERE ?3 IS NULL OR EXISTS (SELECT 1 FROM media_folders WHERE id = ?3 AND workspace_id = ?2)",
            &[
                m.id.as_str().into(),
                wid.into(),
                m.folder.map(FolderId::as_str).into(),
                m.filename.into(),
                m.content_type.into(),
                m.bytes.map_or(Arg::Null, Arg::Int),
                m.status.into(),
                m.object_key.into(),
                m.alt_text.into(),
                m.source_url.into(),
                m.created_by.into(),
                now.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    get(db, ws, m.id).await
}

pub async fn get(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &MediaId,
) -> Result<Option<MediaView>, ApiError> {
    db.first(
        "d1: get media",
        &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2"),
        &[id.as_str().into(), ws.get().id.as_str().into()],
    )
    .await
}

/// The row behind an upload or download capability: the token named the workspace and
/// media, and was verified; the query still filters by both.
pub async fn get_for_capability(
    db: &Db,
    workspace: &str,
    id: &str,
) -> Result<Option<MediaView>, ApiError> {
    db.first(
        "d1: get media for capability",
        &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2"),
        &[id.into(), workspace.into()],
    )
    .await
}

/// Newest first in one workspace, optionally one folder.
pub async fn list(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    folder: Option<&FolderId>,
    page: &PageRequest,
) -> Result<Vec<MediaView>, ApiError> {
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    db.all(
        "d1: list media",
        &format!(
            "{SELECT} WHERE workspace_id = ?1 AND (?2 IS NULL OR folder_id = ?2)
               AND (?3 IS NULL OR (created_at, id) < (?3, ?4))
             ORDER BY created_at DESC, id DESC LIMIT ?5"
        ),
        &[
            ws.get().id.as_str().into(),
            folder.map(FolderId::as_str).into(),
            before_t.into(),
            before_id.into(),
            page.fetch().into(),
        ],
    )
    .await
}

/// PENDING → READY with the real size and type; false if not PENDING any more.
pub async fn mark_ready(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &MediaId,
    bytes: i64,
    content_type: &str,
    now: &str,
) -> Result<bool, ApiError> {
    let changed = db
        .run(
            "d1: media ready",
            "UPDATE media SET status = 'READY', bytes = ?3, content_type = ?4, updated_at = ?5 WHERE id = ?1 AND workspace_id = ?2 AND status = 'PENDING'",
            &[id.as_str().into(), ws.get().id.as_str().into(), Arg::Int(bytes), content_type.into(), now.into()],
        )
        .await?;
    Ok(changed == 1)
}

pub async fn update(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &MediaId,
    alt_text: Option<&str>,
    filename: Option<&str>,
    now: &str,
) -> Result<bool, ApiError> {
    let changed = db
        .run(
            "d1: update media",
            "UPDATE media SET alt_text = COALESCE(?3, alt_text), filename = COALESCE(?4, filename), updated_at = ?5 WHERE id = ?1 AND workspace_id = ?2",
            &[id.as_str().into(), ws.get().id.as_str().into(), alt_text.into(), filename.into(), now.into()],
        )
        .await?;
    Ok(changed == 1)
}

/// Moves to a folder of the same workspace (or out of any folder); false if the media or
/// the folder is not there.
pub async fn move_to(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &MediaId,
    folder: Option<&FolderId>,
    now: &str,
) -> Result<bool, ApiError> {
    let changed = db
        .run(
            "d1: move media",
            "UPDATE media SET folder_id = ?3, updated_at = ?4 WHERE id = ?1 AND workspace_id = ?2
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM media_folders WHERE id = ?3 AND workspace_id = ?2))",
            &[id.as_str().into(), ws.get().id.as_str().into(), folder.map(FolderId::as_str).into(), now.into()],
        )
        .await?;
    Ok(changed == 1)
}

pub async fn delete(db: &Db, ws: &Authorized<InWorkspace>, id: &MediaId) -> Result<bool, ApiError> {
    let changed = db
        .run(
            "d1: delete media",
            "DELETE FROM media WHERE id = ?1 AND workspace_id = ?2",
            &[id.as_str().into(), ws.get().id.as_str().into()],
        )
        .await?;
    Ok(changed == 1)
}

/// A PENDING asset whose upload window has closed, for the sweep.
#[derive(Debug, Deserialize)]
pub struct Expired {
    pub id: String,
    pub object_key: String,
}

/// PENDING assets created before `before` (uploads never completed), oldest first, at most
/// `limit`. The cron sweep's, not a request's: it spans workspaces, so it takes no scope proof.
pub async fn expired_pending(db: &Db, before: &str, limit: i64) -> Result<Vec<Expired>, ApiError> {
    db.all(
        "d1: expired pending media",
        "SELECT id, object_key FROM media WHERE status = 'PENDING' AND created_at < ?1 ORDER BY created_at LIMIT ?2",
        &[before.into(), Arg::Int(limit)],
    )
    .await
}

/// Deletes those of `ids` still PENDING and created before `before` (an asset completed
/// meanwhile is kept); how many went.
pub async fn delete_expired_pending(
    db: &Db,
    ids: &[&str],
    before: &str,
) -> Result<usize, ApiError> {
    let list = json_list(ids.iter().copied());
    db.run(
        "d1: delete expired pending media",
        "DELETE FROM media WHERE status = 'PENDING' AND created_at < ?2 AND id IN (SELECT value FROM json_each(?1))",
        &[Arg::Text(&list), before.into()],
    )
    .await
}

/// The ids among a JSON list (`?2`) that are READY media of the workspace (`?1`): posts may
/// only use those.
pub const READY_AMONG: &str =
    "SELECT id FROM media WHERE workspace_id = ?1 AND status = 'READY' AND id IN (SELECT value FROM json_each(?2))";

// --- folders ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

impl FolderView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }
}

const FOLDER_SELECT: &str = "SELECT id, workspace_id AS workspaceId, name, created_at AS createdAt, updated_at AS updatedAt FROM media_folders";

pub async fn insert_folder(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    name: &str,
    now: &str,
) -> Result<FolderView, ApiError> {
    let id = FolderId::generate_in(&ws.get().id);
    db.run(
        "d1: insert folder",
        "INSERT INTO media_folders (id, workspace_id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        &[id.as_str().into(), ws.get().id.as_str().into(), name.into(), now.into()],
    )
    .await?;
    Ok(FolderView {
        id: id.as_str().to_owned(),
        workspace_id: ws.get().id.as_str().to_owned(),
        name: name.to_owned(),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// Oldest first, like a file browser's stable order.
pub async fn list_folders(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    page: &PageRequest,
) -> Result<Vec<FolderView>, ApiError> {
    let (after_t, after_id) = page
        .after
        .as_ref()
        .map_or(("", ""), |c| (c.created_at.as_str(), c.id.as_str()));
    db.all(
        "d1: list folders",
        &format!("{FOLDER_SELECT} WHERE workspace_id = ?1 AND (created_at, id) > (?2, ?3) ORDER BY created_at, id LIMIT ?4"),
        &[ws.get().id.as_str().into(), after_t.into(), after_id.into(), page.fetch().into()],
    )
    .await
}

pub async fn rename_folder(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &FolderId,
    name: &str,
    now: &str,
) -> Result<Option<FolderView>, ApiError> {
    db.run(
        "d1: rename folder",
        "UPDATE media_folders SET name = ?3, updated_at = ?4 WHERE id = ?1 AND workspace_id = ?2",
        &[
            id.as_str().into(),
            ws.get().id.as_str().into(),
            name.into(),
            now.into(),
        ],
    )
    .await?;
    db.first(
        "d1: read folder",
        &format!("{FOLDER_SELECT} WHERE id = ?1 AND workspace_id = ?2"),
        &[id.as_str().into(), ws.get().id.as_str().into()],
    )
    .await
}

#[derive(Deserialize)]
pub struct Contained {
    pub id: String,
    pub object_key: String,
}

/// What a folder holds, for a recursive delete or to refuse a plain one.
pub async fn folder_contents(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &FolderId,
) -> Result<Option<Vec<Contained>>, ApiError> {
    #[derive(Deserialize)]
    struct Exists {
        n: i64,
    }
    let results = db
        .batch(
            "d1: folder contents",
            vec![
                db.stmt(
                    "SELECT COUNT(*) AS n FROM media_folders WHERE id = ?1 AND workspace_id = ?2",
                    &[id.as_str().into(), ws.get().id.as_str().into()],
                )?,
                db.stmt(
                    "SELECT id, object_key FROM media WHERE folder_id = ?1 AND workspace_id = ?2",
                    &[id.as_str().into(), ws.get().id.as_str().into()],
                )?,
            ],
        )
        .await?;
    let mut it = results.into_iter();
    let (Some(exists), Some(contents)) = (it.next(), it.next()) else {
        return Err(ApiError::Internal(
            "d1: folder contents: short batch".into(),
        ));
    };
    if super::rows::<Exists>(Ok(exists), "d1: folder exists")?
        .first()
        .is_none_or(|e| e.n == 0)
    {
        return Ok(None);
    }
    Ok(Some(super::rows(Ok(contents), "d1: folder media")?))
}

/// Deletes the folder if it holds no media; false if it does (or is gone).
pub async fn delete_empty_folder(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &FolderId,
) -> Result<bool, ApiError> {
    let changed = db
        .run(
            "d1: delete empty folder",
            "DELETE FROM media_folders WHERE id = ?1 AND workspace_id = ?2
               AND NOT EXISTS (SELECT 1 FROM media WHERE folder_id = ?1 AND workspace_id = ?2)",
            &[id.as_str().into(), ws.get().id.as_str().into()],
        )
        .await?;
    Ok(changed == 1)
}

/// Deletes the listed media rows and the folder in one batch; media moved in after the
/// listing are moved out of the folder rather than deleted (their objects were not).
pub async fn delete_folder_with(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &FolderId,
    media: &[&str],
) -> Result<(), ApiError> {
    let list = json_list(media.iter().copied());
    let args = [Arg::Text(id.as_str()), Arg::Text(ws.get().id.as_str())];
    db.batch(
        "d1: delete folder",
        vec![
            db.stmt(
                "DELETE FROM media WHERE folder_id = ?1 AND workspace_id = ?2 AND id IN (SELECT value FROM json_each(?3))",
                &[Arg::Text(id.as_str()), Arg::Text(ws.get().id.as_str()), Arg::Text(&list)],
            )?,
            db.stmt("UPDATE media SET folder_id = NULL WHERE folder_id = ?1 AND workspace_id = ?2", &args)?,
            db.stmt("DELETE FROM media_folders WHERE id = ?1 AND workspace_id = ?2", &args)?,
        ],
    )
    .await?;
    Ok(())
}
