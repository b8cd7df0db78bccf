//! Resolving a credential hash into a principal (the D1 layer under `auth::cache`), and the
//! users' auth epochs that make cached principals stale: every change to what a user's
//! credentials reach bumps the user's epoch in the same batch as the change.

use serde::Deserialize;

use super::{json_list, rows, Arg, Db};
use crate::auth::credential::{Credential, CredentialKind};
use crate::auth::principal::{Access, Principal};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::roles::Role;
use crate::domain::time::Timestamp;
use crate::http::error::{ApiError, Context as _};

#[derive(Deserialize)]
struct CredentialRow {
    credential_id: String,
    user_id: String,
    email: String,
    name: String,
    access: String,
    workspace_ids: String,
    expires_at: Option<String>,
    epoch: i64,
}

#[derive(Deserialize)]
struct MembershipRow {
    workspace_id: String,
    role: String,
}

const KEY_SQL: &str = "SELECT k.id AS credential_id, k.user_id, u.email, u.name, k.access, k.workspace_ids, k.expires_at, u.auth_epoch AS epoch
     FROM api_keys k JOIN users u ON u.id = k.user_id
     WHERE k.key_hash = ?1 AND k.revoked_at IS NULL";
const SESSION_SQL: &str = "SELECT s.id AS credential_id, s.user_id, u.email, u.name, 'full' AS access, '[]' AS workspace_ids, s.expires_at, u.auth_epoch AS epoch
     FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.token_hash = ?1 AND s.revoked_at IS NULL";
// Live memberships only: a deleted workspace is reachable by no credential.
const KEY_MEMBERSHIPS_SQL: &str =
    "SELECT m.workspace_id, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
     WHERE w.deleted_at IS NULL AND m.user_id = (SELECT user_id FROM api_keys WHERE key_hash = ?1)
     ORDER BY m.created_at, m.workspace_id";
const SESSION_MEMBERSHIPS_SQL: &str =
    "SELECT m.workspace_id, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
     WHERE w.deleted_at IS NULL AND m.user_id = (SELECT user_id FROM sessions WHERE token_hash = ?1)
     ORDER BY m.created_at, m.workspace_id";

/// A principal as D1 has it now, with its owner's auth epoch read in the same batch: a cached
/// copy is good while no newer epoch is known.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub principal: Principal,
    pub epoch: i64,
}

/// One round trip: the credential row (with its owner's epoch) and the owner's memberships,
/// in one batch, so the epoch and the memberships are one snapshot.
pub async fn resolve(db: &Db, credential: &Credential) -> Result<Option<Resolved>, ApiError> {
    let (cred_sql, members_sql) = match credential.kind {
        CredentialKind::ApiKey => (KEY_SQL, KEY_MEMBERSHIPS_SQL),
        CredentialKind::Session => (SESSION_SQL, SESSION_MEMBERSHIPS_SQL),
    };
    let hash = [Arg::Text(credential.hash.as_str())];
    let results = db
        .batch(
            "d1: resolve principal",
            vec![db.stmt(cred_sql, &hash)?, db.stmt(members_sql, &hash)?],
        )
        .await?;
    let mut results = results.into_iter();
    let (Some(cred), Some(members)) = (results.next(), results.next()) else {
        return Err(ApiError::Internal(
            "d1: resolve principal: short batch".into(),
        ));
    };
    let Some(row) = rows::<CredentialRow>(Ok(cred), "d1: read credential")?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let memberships = rows::<MembershipRow>(Ok(members), "d1: read memberships")?
        .into_iter()
        .map(|m| {
            Ok((
                WorkspaceId::parse(&m.workspace_id).ctx("stored workspace id")?,
                Role::parse(&m.role).ctx("stored role")?,
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let access = match row.access.as_str() {
        "scoped" => {
            let ids: Vec<String> =
                serde_json::from_str(&row.workspace_ids).ctx("stored allow-list")?;
            Access::Scoped(
                ids.iter()
                    .map(|w| WorkspaceId::parse(w).ctx("stored allow-list"))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => Access::Full,
    };
    let expires_at = row
        .expires_at
        .as_deref()
        .map(|t| {
            Timestamp::parse(t)
                .ctx("stored expiry")
                .map(Timestamp::millis)
        })
        .transpose()?;
    let principal = Principal::resolve(
        UserId::parse(&row.user_id).ctx("stored user id")?,
        row.email,
        row.name,
        credential.kind,
        row.credential_id,
        access,
        memberships,
        expires_at,
    );
    Ok(Some(Resolved {
        principal,
        epoch: row.epoch,
    }))
}

/// A user's auth epoch just after a bump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bumped {
    pub user: UserId,
    pub epoch: i64,
}

#[derive(Deserialize)]
struct BumpRow {
    id: String,
    auth_epoch: i64,
}

/// A statement that bumps the epoch of the users `condition` selects (an SQL condition on
/// `users`, with `args`), for the batch that makes the change; read back with [`bumped`].
pub fn bump_stmt(
    db: &Db,
    condition: &str,
    args: &[Arg<'_>],
) -> Result<worker::D1PreparedStatement, ApiError> {
    db.stmt(
        &format!("UPDATE users SET auth_epoch = auth_epoch + 1 WHERE {condition} RETURNING id, auth_epoch"),
        args,
    )
}

/// The epochs a [`bump_stmt`] left, from its place in a batch's results.
pub fn bumped(result: Option<worker::D1Result>) -> Result<Vec<Bumped>, ApiError> {
    let result = result.ok_or_else(|| ApiError::Internal("d1: epoch bump: short batch".into()))?;
    rows::<BumpRow>(Ok(result), "d1: read bumped epochs")?
        .into_iter()
        .map(|r| {
            Ok(Bumped {
                user: UserId::parse(&r.id).ctx("stored user id")?,
                epoch: r.auth_epoch,
            })
        })
        .collect()
}

/// Bumps these users' epochs in a statement of its own, for a change made outside a batch.
pub async fn bump(db: &Db, users: &[UserId]) -> Result<Vec<Bumped>, ApiError> {
    let list = json_list(users.iter().map(UserId::as_str));
    let results = db
        .batch(
            "d1: bump epochs",
            vec![bump_stmt(
                db,
                "id IN (SELECT value FROM json_each(?1))",
                &[Arg::Text(&list)],
            )?],
        )
        .await?;
    bumped(results.into_iter().next())
}
