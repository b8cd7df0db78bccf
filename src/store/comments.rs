//! Team comments on posts, with replies and read marks.

use serde::{Deserialize, Serialize};

use super::{json_list, Arg, Db};
use crate::domain::ids::{CommentId, PostId, UserId, WorkspaceId};
use crate::http::error::ApiError;
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    pub id: String,
    pub workspace_id: String,
    pub post_id: String,
    pub parent_id: Option<String>,
    pub author_id: String,
    pub body: String,
    pub created_at: String,
    pub read_at: Option<String>,
    pub read_by: Option<String>,
}

impl CommentView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }
}

const SELECT: &str =
    "SELECT id, workspace_id AS workspaceId, post_id AS postId, parent_id AS parentId,
        author_id AS authorId, body, created_at AS createdAt, read_at AS readAt, read_by AS readBy
     FROM comments";

async fn read_back(
    db: &Db,
    ws: &WorkspaceId,
    id: &CommentId,
) -> Result<Option<CommentView>, ApiError> {
    db.first(
        "d1: read comment",
        &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2"),
        &[id.as_str().into(), ws.as_str().into()],
    )
    .await
}

/// What a new comment hangs from: a post, or a comment it answers (on that comment's post).
/// Either id names the workspace.
pub enum Parent {
    Post(PostId),
    Comment(CommentId),
}

impl Parent {
    pub fn workspace(&self) -> WorkspaceId {
        match self {
            Parent::Post(id) => id.workspace(),
            Parent::Comment(id) => id.workspace(),
        }
    }
}

/// A comment on a live post, or a reply on the same post as its parent comment; `None` if
/// there is no such post or comment.
pub async fn insert(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    parent: &Parent,
    author: &UserId,
    body: &str,
    now: &str,
) -> Result<Option<CommentView>, ApiError> {
    let wid = &ws.get().id;
    let id = CommentId::generate_in(wid);
    let (step, sql, parent_id) = match parent {
        Parent::Post(post) => (
            "d1: insert comment",
            "INSERT INTO comments (id, workspace_id, post_id, author_id, body, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM posts WHERE id = ?3 AND workspace_id = ?2 AND deleted_at IS NULL)",
            post.as_str(),
        ),
        Parent::Comment(comment) => (
            "d1: insert reply",
            "INSERT INTO comments (id, workspace_id, post_id, parent_id, author_id, body, created_at)
             SELECT ?1, c.workspace_id, c.post_id, c.id, ?4, ?5, ?6 FROM comments c
             JOIN posts p ON p.id = c.post_id AND p.workspace_id = c.workspace_id AND p.deleted_at IS NULL
             WHERE c.id = ?3 AND c.workspace_id = ?2",
            comment.as_str(),
        ),
    };
    let changed = db
        .run(
            step,
            sql,
            &[
                id.as_str().into(),
                wid.as_str().into(),
                parent_id.into(),
                author.as_str().into(),
                body.into(),
                now.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    read_back(db, wid, &id).await
}

/// Marks a comment read (the first mark stays); `None` if there is no such comment on a live post.
pub async fn mark_read(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &CommentId,
    reader: &UserId,
    now: &str,
) -> Result<Option<CommentView>, ApiError> {
    let wid = &ws.get().id;
    let changed = db.run(
        "d1: mark comment read",
        "UPDATE comments SET read_at = COALESCE(read_at, ?3), read_by = COALESCE(read_by, ?4) WHERE id = ?1 AND workspace_id = ?2
           AND EXISTS (SELECT 1 FROM posts p WHERE p.id = comments.post_id AND p.workspace_id = ?2 AND p.deleted_at IS NULL)",
        &[id.as_str().into(), wid.as_str().into(), now.into(), reader.as_str().into()],
    )
    .await?;
    if changed == 0 {
        return Ok(None);
    }
    read_back(db, wid, id).await
}

pub struct ListFilter<'a> {
    pub post: Option<&'a PostId>,
    pub unread: Option<bool>,
}

/// Newest first over the workspaces in scope: one statement.
pub async fn list(
    db: &Db,
    scope: &Authorized<Vec<WorkspaceId>>,
    f: &ListFilter<'_>,
    page: &PageRequest,
) -> Result<Vec<CommentView>, ApiError> {
    let set = json_list(scope.get().iter().map(WorkspaceId::as_str));
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    db.all(
        "d1: list comments",
        &format!(
            "{SELECT} WHERE workspace_id IN (SELECT value FROM json_each(?1))
               AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
               AND (?4 IS NULL OR post_id = ?4)
               AND EXISTS (SELECT 1 FROM posts p WHERE p.id = comments.post_id AND p.workspace_id = comments.workspace_id AND p.deleted_at IS NULL)
               AND (?5 IS NULL OR (?5 = 1) = (read_at IS NULL))
             ORDER BY created_at DESC, id DESC LIMIT ?6"
        ),
        &[
            Arg::Text(&set),
            before_t.into(),
            before_id.into(),
            f.post.map(PostId::as_str).into(),
            f.unread.map_or(Arg::Null, |u| Arg::Int(u.into())),
            page.fetch().into(),
        ],
    )
    .await
}
