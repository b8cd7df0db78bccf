//! Memberships of one workspace. Every function takes scope proof for that workspace, and
//! every change that could remove the last OWNER is guarded inside its own statement, so two
//! racing demotions cannot both win. A change also re-checks, in its statement, the role the
//! caller read, and bumps the member's auth epoch in the same batch (`store::principals`).

use serde::{Deserialize, Serialize};

use super::principals::{bump_stmt, bumped, Bumped};
use super::{changes, Arg, Db};
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

/// Adds an existing user; a second membership is `ALREADY_MEMBER` (the primary key). Returns
/// the new member's bumped epoch.
pub async fn add(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
    role: Role,
    now: &str,
) -> Result<Vec<Bumped>, ApiError> {
    let (w, u) = (ws.get().id.as_str(), user.as_str());
    let results = db
        .batch(
            "d1: add member",
            vec![
                db.stmt(
                    "INSERT INTO memberships (workspace_id, user_id, role, created_at, workspace_created_at)
                     SELECT ?1, ?2, ?3, ?4, created_at FROM workspaces WHERE id = ?1",
                    &[w.into(), u.into(), role.as_str().into(), now.into()],
                )?,
                bump_stmt(
                    db,
                    "id = ?2 AND EXISTS (SELECT 1 FROM memberships WHERE workspace_id = ?1 AND user_id = ?2)",
                    &[w.into(), u.into()],
                )?,
            ],
        )
        .await?;
    bumped(results.into_iter().nth(1))
}

// True when the row is not an OWNER, or another OWNER remains.
const KEEPS_AN_OWNER: &str =
    "(role != 'OWNER' OR (SELECT COUNT(*) FROM memberships WHERE workspace_id = ?1 AND role = 'OWNER') > 1)";

/// What a conditional change to a membership did: whether it won, and the epochs it bumped.
pub struct Changed {
    pub won: bool,
    pub bumps: Vec<Bumped>,
}

fn settle(results: Vec<worker::D1Result>, bump_at: usize) -> Result<Changed, ApiError> {
    let won = match results.first() {
        Some(r) => changes(r)? == 1,
        None => false,
    };
    Ok(Changed {
        won,
        bumps: if won {
            bumped(results.into_iter().nth(bump_at))?
        } else {
            Vec::new()
        },
    })
}

/// Sets a role if the row still holds `current` (the role the caller read and judged).
pub async fn set_role(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
    current: Role,
    to: Role,
) -> Result<Changed, ApiError> {
    let guard = if to == Role::Owner {
        "1"
    } else {
        KEEPS_AN_OWNER
    };
    let args = [
        ws.get().id.as_str().into(),
        user.as_str().into(),
        to.as_str().into(),
        Arg::Text(current.as_str()),
    ];
    let results = db
        .batch(
            "d1: set member role",
            vec![
                db.stmt(
                    &format!("UPDATE memberships SET role = ?3 WHERE workspace_id = ?1 AND user_id = ?2 AND role = ?4 AND {guard}"),
                    &args,
                )?,
                bump_stmt(
                    db,
                    "id = ?2 AND EXISTS (SELECT 1 FROM memberships WHERE workspace_id = ?1 AND user_id = ?2 AND role = ?3)",
                    &args[..3],
                )?,
            ],
        )
        .await?;
    settle(results, 1)
}

/// Removes a member if the row still holds `current` (the role the caller read and judged: an
/// ADMIN may remove a MEMBER, not the OWNER that member has just been made), and in the same
/// batch takes the workspace out of every scoped key of that user (API.md §2: leaving a
/// workspace removes it from every key), so a later re-invitation does not hand it back.
pub async fn remove(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    user: &UserId,
    current: Role,
) -> Result<Changed, ApiError> {
    let args = [
        ws.get().id.as_str().into(),
        user.as_str().into(),
        Arg::Text(current.as_str()),
    ];
    // Statements after the first apply only once the membership is gone.
    const GONE: &str =
        "NOT EXISTS (SELECT 1 FROM memberships WHERE workspace_id = ?1 AND user_id = ?2)";
    let results = db
        .batch(
            "d1: remove member",
            vec![
                db.stmt(
                    &format!("DELETE FROM memberships WHERE workspace_id = ?1 AND user_id = ?2 AND role = ?3 AND {KEEPS_AN_OWNER}"),
                    &args,
                )?,
                db.stmt(
                    &format!("UPDATE api_keys SET workspace_ids = (SELECT json_group_array(j.value) FROM json_each(api_keys.workspace_ids) j WHERE j.value != ?1)
                     WHERE user_id = ?2 AND access = 'scoped'
                       AND EXISTS (SELECT 1 FROM json_each(api_keys.workspace_ids) WHERE value = ?1) AND {GONE}"),
                    &args[..2],
                )?,
                bump_stmt(db, &format!("id = ?2 AND {GONE}"), &args[..2])?,
            ],
        )
        .await?;
    settle(results, 2)
}
