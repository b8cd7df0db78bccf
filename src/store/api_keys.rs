//! API keys of the session's user. Only hashes are stored; only the prefix is ever read back.

use serde::{Deserialize, Serialize};

use super::principals::{bump_stmt, bumped, Bumped};
use super::{Arg, Db};
use crate::auth::credential::KeyHash;
use crate::domain::ids::{KeyId, WorkspaceId};
use crate::domain::text::Name;
use crate::http::error::{ApiError, Context as _};
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, SessionUser};

#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    prefix: String,
    access: String,
    workspace_ids: String,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub access: String,
    pub workspace_ids: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl KeyView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }
}

impl TryFrom<Row> for KeyView {
    type Error = ApiError;
    fn try_from(r: Row) -> Result<Self, ApiError> {
        Ok(KeyView {
            workspace_ids: serde_json::from_str(&r.workspace_ids).ctx("stored allow-list")?,
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            access: r.access,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        })
    }
}

pub struct NewKey<'a> {
    pub name: &'a Name,
    pub prefix: &'a str,
    pub hash: &'a KeyHash,
    /// `None` for full access.
    pub allow_list: Option<&'a [WorkspaceId]>,
    pub expires_at: Option<&'a str>,
}

/// The most live (unrevoked, unexpired) keys one user may hold: a bound on what a user's
/// credentials cost, and on keys minted to multiply a rate limit.
pub const MAX_LIVE_KEYS: i64 = 100;

/// Inserts the key unless the user already holds `MAX_LIVE_KEYS` live keys
/// (`KEY_LIMIT_REACHED`).
pub async fn insert(
    db: &Db,
    owner: &Authorized<SessionUser>,
    k: NewKey<'_>,
    now: &str,
) -> Result<KeyView, ApiError> {
    let id = KeyId::generate();
    let ids: Vec<String> = k
        .allow_list
        .unwrap_or_default()
        .iter()
        .map(|w| w.as_str().to_owned())
        .collect();
    let ids_json = serde_json::to_string(&ids).ctx("serialize allow-list")?;
    let access = if k.allow_list.is_some() {
        "scoped"
    } else {
        "full"
    };
    // The cap is checked in the statement itself, so racing mints cannot pass it together.
    let inserted = db
        .run(
            "d1: insert api key",
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, access, workspace_ids, created_at, expires_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
             WHERE (SELECT COUNT(*) FROM api_keys WHERE user_id = ?2 AND revoked_at IS NULL
                      AND (expires_at IS NULL OR expires_at > ?8)) < ?10",
            &[
                id.as_str().into(),
                owner.get().0.as_str().into(),
                k.name.as_str().into(),
                k.prefix.into(),
                k.hash.as_str().into(),
                access.into(),
                Arg::Text(&ids_json),
                now.into(),
                k.expires_at.into(),
                Arg::Int(MAX_LIVE_KEYS),
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::KeyLimitReached {
            limit: MAX_LIVE_KEYS as u64,
        });
    }
    Ok(KeyView {
        id: id.as_str().to_owned(),
        name: k.name.as_str().to_owned(),
        prefix: k.prefix.to_owned(),
        access: access.to_owned(),
        workspace_ids: ids,
        created_at: now.to_owned(),
        expires_at: k.expires_at.map(str::to_owned),
        last_used_at: None,
    })
}

/// The user's unrevoked keys, newest first.
pub async fn list(
    db: &Db,
    owner: &Authorized<SessionUser>,
    page: &PageRequest,
) -> Result<Vec<KeyView>, ApiError> {
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    let rows: Vec<Row> = db
        .all(
            "d1: list api keys",
            "SELECT id, name, prefix, access, workspace_ids, created_at, expires_at, last_used_at FROM api_keys
             WHERE user_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
             ORDER BY created_at DESC, id DESC LIMIT ?4",
            &[owner.get().0.as_str().into(), before_t.into(), before_id.into(), page.fetch().into()],
        )
        .await?;
    rows.into_iter().map(KeyView::try_from).collect()
}

/// Revokes one of the user's keys; `only_in` limits it to keys scoped to that workspace (the
/// workspace shorthand). In the same batch the owner's epoch is bumped, so every cached copy of
/// the key's principal goes stale. Returns the bump, or `None` if no such live key is the user's.
pub async fn revoke(
    db: &Db,
    owner: &Authorized<SessionUser>,
    key: &KeyId,
    only_in: Option<&WorkspaceId>,
    now: &str,
) -> Result<Option<Vec<Bumped>>, ApiError> {
    let user = owner.get().0.as_str();
    let results = db
        .batch(
            "d1: revoke api key",
            vec![
                db.stmt(
                    "UPDATE api_keys SET revoked_at = ?1
                     WHERE id = ?2 AND user_id = ?3 AND revoked_at IS NULL
                       AND (?4 IS NULL OR (access = 'scoped' AND EXISTS (SELECT 1 FROM json_each(workspace_ids) WHERE value = ?4)))",
                    &[now.into(), key.as_str().into(), user.into(), only_in.map(WorkspaceId::as_str).into()],
                )?,
                bump_stmt(
                    db,
                    "id = ?3 AND EXISTS (SELECT 1 FROM api_keys WHERE id = ?2 AND user_id = ?3 AND revoked_at = ?1)",
                    &[now.into(), key.as_str().into(), user.into()],
                )?,
            ],
        )
        .await?;
    let mut it = results.into_iter();
    let revoked = match it.next() {
        Some(r) => super::changes(&r)? == 1,
        None => false,
    };
    if !revoked {
        return Ok(None);
    }
    Ok(Some(bumped(it.next())?))
}
