//! Workspaces. Reads and writes take scope proof; creation takes a `Creator`.

use serde::{Deserialize, Serialize};

use super::principals::{bump_stmt, bumped, Bumped};
use super::{json_list, Arg, Db};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::roles::Role;
use crate::domain::slug::Slug;
use crate::domain::text::Name;
use crate::domain::timezone::Timezone;
use crate::http::error::ApiError;
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, Creator, InWorkspace, Memberships};

#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    name: String,
    slug: String,
    timezone: String,
    require_approval: i64,
    created_at: String,
    updated_at: String,
    role: String,
    joined_at: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub role: String,
    pub joined_at: String,
}

/// A workspace as the caller sees it, with the caller's own membership.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub timezone: String,
    pub require_approval: bool,
    pub created_at: String,
    pub updated_at: String,
    pub membership: Membership,
}

impl From<Row> for WorkspaceView {
    fn from(r: Row) -> Self {
        WorkspaceView {
            id: r.id,
            name: r.name,
            slug: r.slug,
            timezone: r.timezone,
            require_approval: r.require_approval != 0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            membership: Membership {
                role: r.role,
                joined_at: r.joined_at,
            },
        }
    }
}

impl WorkspaceView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }
}

/// The columns of a `Row`: a workspace and the caller's membership of it.
macro_rules! columns {
    () => {
        "SELECT w.id, w.name, w.slug, w.timezone, w.require_approval, w.created_at, w.updated_at,
            m.role, m.created_at AS joined_at"
    };
}

const SELECT: &str = concat!(
    columns!(),
    " FROM workspaces w JOIN memberships m ON m.workspace_id = w.id AND m.user_id = ?1
     WHERE w.deleted_at IS NULL"
);

/// A page of the caller's workspaces in workspace order, walked from the memberships index.
const LIST: &str = concat!(
    columns!(),
    " FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
     WHERE m.user_id = ?1 AND w.deleted_at IS NULL
       AND (?2 IS NULL OR m.workspace_id IN (SELECT value FROM json_each(?2)))
       AND (m.workspace_created_at, m.workspace_id) > (?3, ?4)
     ORDER BY m.workspace_created_at, m.workspace_id LIMIT ?5"
);

/// Oldest first: the caller's memberships walked in workspace order from an index (see
/// migration 0005), so a page costs about its own rows, whatever the number of workspaces; cut
/// to the scope's set when it has one (one statement, the set as a JSON array).
pub async fn list(
    db: &Db,
    scope: &Authorized<Memberships>,
    page: &PageRequest,
) -> Result<Vec<WorkspaceView>, ApiError> {
    let m = scope.get();
    let set = m
        .only
        .as_ref()
        .map(|ws| json_list(ws.iter().map(WorkspaceId::as_str)));
    let (after_t, after_id) = page
        .after
        .as_ref()
        .map_or(("", ""), |c| (c.created_at.as_str(), c.id.as_str()));
    let rows: Vec<Row> = db
        .all(
            "d1: list workspaces",
            LIST,
            &[
                m.user.as_str().into(),
                set.as_deref().into(),
                after_t.into(),
                after_id.into(),
                page.fetch().into(),
            ],
        )
        .await?;
    Ok(rows.into_iter().map(WorkspaceView::from).collect())
}

pub async fn get(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
) -> Result<Option<WorkspaceView>, ApiError> {
    let row: Option<Row> = db
        .first(
            "d1: get workspace",
            &format!("{SELECT} AND w.id = ?2"),
            &[user.as_str().into(), ws.get().id.as_str().into()],
        )
        .await?;
    Ok(row.map(WorkspaceView::from))
}

pub struct NewWorkspace {
    pub name: Name,
    pub slug: Slug,
    pub timezone: Timezone,
    pub require_approval: bool,
}

/// The workspace, its creator's OWNER membership and the creator's epoch bump, in one batch;
/// the view and the bump.
pub async fn insert(
    db: &Db,
    creator: &Authorized<Creator>,
    w: &NewWorkspace,
    now: &str,
) -> Result<(WorkspaceView, Vec<Bumped>), ApiError> {
    let id = WorkspaceId::generate();
    let user = &creator.get().0;
    let results = db.batch(
        "d1: insert workspace",
        vec![
            db.stmt(
                "INSERT INTO workspaces (id, name, slug, timezone, require_approval, created_by, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                &[
                    id.as_str().into(),
                    w.name.as_str().into(),
                    w.slug.as_str().into(),
                    w.timezone.as_str().into(),
                    i64::from(w.require_approval).into(),
                    user.as_str().into(),
                    now.into(),
                ],
            )?,
            db.stmt(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at, workspace_created_at) VALUES (?1, ?2, 'OWNER', ?3, ?3)",
                &[id.as_str().into(), user.as_str().into(), now.into()],
            )?,
            bump_stmt(db, "id = ?1", &[user.as_str().into()])?,
        ],
    )
    .await?;
    let bumps = bumped(results.into_iter().nth(2))?;
    let view = WorkspaceView {
        id: id.as_str().to_owned(),
        name: w.name.as_str().to_owned(),
        slug: w.slug.as_str().to_owned(),
        timezone: w.timezone.as_str().to_owned(),
        require_approval: w.require_approval,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        membership: Membership {
            role: Role::Owner.as_str().to_owned(),
            joined_at: now.to_owned(),
        },
    };
    Ok((view, bumps))
}

#[derive(Default)]
pub struct WorkspacePatch {
    pub name: Option<Name>,
    pub timezone: Option<Timezone>,
    pub require_approval: Option<bool>,
}

/// Changes only what the patch names; `COALESCE` keeps the rest.
pub async fn update(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    p: &WorkspacePatch,
    now: &str,
) -> Result<usize, ApiError> {
    db.run(
        "d1: update workspace",
        "UPDATE workspaces SET name = COALESCE(?2, name), timezone = COALESCE(?3, timezone),
             require_approval = COALESCE(?4, require_approval), updated_at = ?5
         WHERE id = ?1 AND deleted_at IS NULL",
        &[
            ws.get().id.as_str().into(),
            p.name.as_ref().map(Name::as_str).into(),
            p.timezone.as_ref().map(Timezone::as_str).into(),
            p.require_approval.map_or(Arg::Null, |b| Arg::Int(b.into())),
            now.into(),
        ],
    )
    .await
}

/// Soft-deletes the workspace and, in the same batch, bumps the epoch of every member, whose
/// cached principals must go; `None` if there was no live workspace to delete.
pub async fn soft_delete(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    now: &str,
) -> Result<Option<Vec<Bumped>>, ApiError> {
    let id = ws.get().id.as_str();
    let results = db
        .batch(
            "d1: delete workspace",
            vec![
                db.stmt("UPDATE workspaces SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND deleted_at IS NULL", &[id.into(), now.into()])?,
                // Only if this request deleted it (the time is this request's).
                bump_stmt(
                    db,
                    "id IN (SELECT user_id FROM memberships WHERE workspace_id = ?1)
                     AND EXISTS (SELECT 1 FROM workspaces WHERE id = ?1 AND deleted_at = ?2)",
                    &[id.into(), now.into()],
                )?,
            ],
        )
        .await?;
    let mut it = results.into_iter();
    let Some(update) = it.next() else {
        return Err(ApiError::Internal(
            "d1: delete workspace: short batch".into(),
        ));
    };
    if super::changes(&update)? == 0 {
        return Ok(None);
    }
    Ok(Some(bumped(it.next())?))
}
