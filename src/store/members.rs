//! Memberships of one workspace. Every function takes scope proof for that workspace, and
//! every change that could remove the last OWNER is guarded inside its own statement, so two
//! racing demotions cannot both win.

use serde::{Deserialize, Serialize};

use super::{Arg, Db};
use crate::domain::ids::UserId;
use crate::domain::roles::Role;
use crate::http::error::ApiError;
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined_at: String,
}

impl MemberView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.joined_at.clone(),
            id: self.user_id.clone(),
        }
    }
}

const SELECT: &str = "SELECT m.user_id AS userId, u.email, u.name, m.role, m.created_at AS joinedAt
     FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?1";

/// Oldest membership first.
pub async fn list(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    page: &PageRequest,
) -> Result<Vec<MemberView>, ApiError> {
    let (after_t, after_id) = page
        .after
        .as_ref()
        .map_or(("", ""), |c| (c.created_at.as_str(), c.id.as_str()));
    db.all(
        "d1: list members",
        &format!("{SELECT} AND (m.created_at, m.user_id) > (?2, ?3) ORDER BY m.created_at, m.user_id LIMIT ?4"),
        &[ws.get().id.as_str().into(), after_t.into(), after_id.into(), page.fetch().into()],
    )
    .await
}

pub async fn get(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
) -> Result<Option<MemberView>, ApiError> {
    db.first(
        "d1: get member",
        &format!("{SELECT} AND m.user_id = ?2"),
        &[ws.get().id.as_str().into(), user.as_str().into()],
    )
    .await
}

#[derive(Deserialize)]
pub struct Standing {
    pub role: String,
    pub owners: u32,
}

/// A member's current role and how many owners the workspace has.
pub async fn standing(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
) -> Result<Option<(Role, u32)>, ApiError> {
    let row: Option<Standing> = db
        .first(
            "d1: member standing",
            "SELECT role, (SELECT COUNT(*) FROM memberships WHERE workspace_id = ?1 AND role = 'OWNER') AS owners
             FROM memberships WHERE workspace_id = ?1 AND user_id = ?2",
            &[ws.get().id.as_str().into(), user.as_str().into()],
        )
        .await?;
    row.map(|s| {
        Ok((
            Role::parse(&s.role).map_err(|e| ApiError::Internal(format!("stored role: {e}")))?,
            s.owners,
        ))
    })
    .transpose()
}

/// Adds an existing user; a second membership is `ALREADY_MEMBER` (the primary key).
pub async fn add(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
    role: Role,
    now: &str,
) -> Result<(), ApiError> {
    db.run(
        "d1: add member",
        "INSERT INTO memberships (workspace_id, user_id, role, created_at, workspace_created_at)
         SELECT ?1, ?2, ?3, ?4, created_at FROM workspaces WHERE id = ?1",
        &[
            ws.get().id.as_str().into(),
            user.as_str().into(),
            role.as_str().into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

// True when the row is not an OWNER, or another OWNER remains.
const KEEPS_AN_OWNER: &str =
    "(role != 'OWNER' OR (SELECT COUNT(*) FROM memberships WHERE workspace_id = ?1 AND role = 'OWNER') > 1)";

/// Sets a role if the row still holds `current`; returns whether it changed.
pub async fn set_role(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
    current: Role,
    to: Role,
) -> Result<bool, ApiError> {
    let guard = if to == Role::Owner {
        "1"
    } else {
        KEEPS_AN_OWNER
    };
    let changed = db
        .run(
            "d1: set member role",
            &format!("UPDATE memberships SET role = ?3 WHERE workspace_id = ?1 AND user_id = ?2 AND role = ?4 AND {guard}"),
            &[ws.get().id.as_str().into(), user.as_str().into(), to.as_str().into(), Arg::Text(current.as_str())],
        )
        .await?;
    Ok(changed == 1)
}

pub async fn remove(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
) -> Result<bool, ApiError> {
    let changed = db
        .run(
            "d1: remove member",
            &format!("DELETE FROM memberships WHERE workspace_id = ?1 AND user_id = ?2 AND {KEEPS_AN_OWNER}"),
            &[ws.get().id.as_str().into(), user.as_str().into()],
        )
        .await?;
    Ok(changed == 1)
}
