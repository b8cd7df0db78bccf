//! Resolving a credential hash into a principal (the D1 layer under `auth::cache`), and
//! finding the credentials whose cached principals a change makes stale.

use serde::Deserialize;

use super::{json_list, rows, Arg, Db};
use crate::auth::credential::{Credential, CredentialKind, KeyHash};
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
}

#[derive(Deserialize)]
struct MembershipRow {
    workspace_id: String,
    role: String,
}

const KEY_SQL: &str = "SELECT k.id AS credential_id, k.user_id, u.email, u.name, k.access, k.workspace_ids, k.expires_at
     FROM api_keys k JOIN users u ON u.id = k.user_id
     WHERE k.key_hash = ?1 AND k.revoked_at IS NULL";
const SESSION_SQL: &str = "SELECT s.id AS credential_id, s.user_id, u.email, u.name, 'full' AS access, '[]' AS workspace_ids, s.expires_at
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

/// One round trip: the credential row and its owner's memberships, in one batch.
pub async fn resolve(db: &Db, credential: &Credential) -> Result<Option<Principal>, ApiError> {
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
    Ok(Some(Principal::resolve(
        UserId::parse(&row.user_id).ctx("stored user id")?,
        row.email,
        row.name,
        credential.kind,
        row.credential_id,
        access,
        memberships,
        expires_at,
    )))
}

#[derive(Deserialize)]
struct HashRow {
    hash: String,
}

/// Hashes of every unrevoked key and session of these users.
pub async fn live_credential_hashes(db: &Db, users: &[UserId]) -> Result<Vec<KeyHash>, ApiError> {
    let list = json_list(users.iter().map(UserId::as_str));
    let hashes: Vec<HashRow> = db
        .all(
            "d1: credentials of users",
            "SELECT key_hash AS hash FROM api_keys WHERE user_id IN (SELECT value FROM json_each(?1)) AND revoked_at IS NULL
             UNION ALL
             SELECT token_hash AS hash FROM sessions WHERE user_id IN (SELECT value FROM json_each(?1)) AND revoked_at IS NULL",
            &[Arg::Text(&list)],
        )
        .await?;
    Ok(hashes
        .into_iter()
        .map(|h| KeyHash::from_stored(h.hash))
        .collect())
}
