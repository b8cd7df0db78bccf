//! Social accounts (channels) of a workspace.

use serde::{Deserialize, Serialize};

use super::{json_list, Arg, Db};
use crate::domain::ids::{SocialAccountId, WorkspaceId};
use crate::domain::platform::Platform;
use crate::http::error::ApiError;
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

/// An account as the API shows it: never its credentials, only whether it has some.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: String,
    pub workspace_id: String,
    pub platform: String,
    pub handle: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub status: String,
    #[serde(deserialize_with = "super::bool_from_int")]
    pub has_credentials: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl AccountView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }
}

const SELECT: &str =
    "SELECT id, workspace_id AS workspaceId, platform, handle, display_name AS displayName,
        external_id AS externalId, status, credentials IS NOT NULL AS hasCredentials,
        created_at AS createdAt, updated_at AS updatedAt
     FROM social_accounts";

pub struct NewAccount<'a> {
    pub id: &'a SocialAccountId,
    pub platform: Platform,
    pub handle: &'a str,
    pub display_name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub sealed_credentials: Option<&'a str>,
    /// What the platform said about its limits (JSON).
    pub platform_limits: Option<&'a str>,
}

/// A second live account on the same platform hits the partial unique index.
pub async fn insert(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    a: NewAccount<'_>,
    now: &str,
) -> Result<AccountView, ApiError> {
    db.run(
        "d1: insert social account",
        "INSERT INTO social_accounts (id, workspace_id, platform, handle, display_name, external_id, credentials, platform_limits, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, 'ACTIVE', ?8, ?8)",
        &[
            a.id.as_str().into(),
            ws.get().id.as_str().into(),
            a.platform.as_str().into(),
            a.handle.into(),
            a.display_name.into(),
            a.external_id.into(),
            a.sealed_credentials.into(),
            now.into(),
            a.platform_limits.into(),
        ],
    )
    .await?;
    Ok(AccountView {
        id: a.id.as_str().to_owned(),
        workspace_id: ws.get().id.as_str().to_owned(),
        platform: a.platform.as_str().to_owned(),
        handle: a.handle.to_owned(),
        display_name: a.display_name.map(str::to_owned),
        external_id: a.external_id.map(str::to_owned),
        status: "ACTIVE".to_owned(),
        has_credentials: a.sealed_credentials.is_some(),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// Newest first over the workspaces in scope, disconnected accounts hidden. One statement.
pub async fn list(
    db: &Db,
    scope: &Authorized<Vec<WorkspaceId>>,
    page: &PageRequest,
) -> Result<Vec<AccountView>, ApiError> {
    let set = json_list(scope.get().iter().map(WorkspaceId::as_str));
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    db.all(
        "d1: list social accounts",
        &format!(
            "{SELECT} WHERE workspace_id IN (SELECT value FROM json_each(?1)) AND status != 'DISCONNECTED'
               AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        ),
        &[Arg::Text(&set), before_t.into(), before_id.into(), page.fetch().into()],
    )
    .await
}

pub async fn get(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &SocialAccountId,
) -> Result<Option<AccountView>, ApiError> {
    db.first(
        "d1: get social account",
        &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2"),
        &[id.as_str().into(), ws.get().id.as_str().into()],
    )
    .await
}

/// What `PATCH /social-accounts/{id}` changes; `None` leaves a field as it is.
pub struct AccountChange<'a> {
    pub handle: Option<&'a str>,
    pub display_name: Option<&'a str>,
    /// New sealed credentials: they replace the old ones, and the platform session and limits
    /// learned with the old ones are dropped.
    pub sealed_credentials: Option<&'a str>,
    pub platform_limits: Option<&'a str>,
}

/// Applies the change and makes the account ACTIVE; the account as it is now, or `None` if it
/// is disconnected (or does not exist).
pub async fn update(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &SocialAccountId,
    c: AccountChange<'_>,
    now: &str,
) -> Result<Option<AccountView>, ApiError> {
    let (id, wid) = (id.as_str(), ws.get().id.as_str());
    let results = db
        .batch(
            "d1: update social account",
            vec![
                db.stmt(
                    "UPDATE social_accounts SET handle = COALESCE(?3, handle), display_name = COALESCE(?4, display_name),
                        credentials = COALESCE(?5, credentials),
                        platform_session = CASE WHEN ?5 IS NULL THEN platform_session END,
                        platform_limits = CASE WHEN ?5 IS NULL THEN platform_limits ELSE ?6 END,
                        status = 'ACTIVE', updated_at = ?7
                     WHERE id = ?1 AND workspace_id = ?2 AND status != 'DISCONNECTED'",
                    &[
                        id.into(),
                        wid.into(),
                        c.handle.into(),
                        c.display_name.into(),
                        c.sealed_credentials.into(),
                        c.platform_limits.into(),
                        now.into(),
                    ],
                )?,
                db.stmt(
                    &format!("{SELECT} WHERE id = ?1 AND workspace_id = ?2 AND status != 'DISCONNECTED'"),
                    &[id.into(), wid.into()],
                )?,
            ],
        )
        .await?;
    let read = results
        .into_iter()
        .nth(1)
        .ok_or_else(|| ApiError::Internal("d1: update social account: short batch".into()))?;
    Ok(
        super::rows::<AccountView>(Ok(read), "d1: read social account")?
            .into_iter()
            .next(),
    )
}

/// Disconnects: status flips, credentials (and the platform session) are erased, the
/// account's not-yet-published targets are cancelled, posts left with nothing to publish are
/// cancelled, and posts already publishing that are left with nothing open are settled (with
/// their event) — one batch.
/// Returns false if there was no live account.
pub async fn disconnect(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    id: &SocialAccountId,
    now: &str,
) -> Result<bool, ApiError> {
    let args = [
        Arg::Text(id.as_str()),
        Arg::Text(ws.get().id.as_str()),
        Arg::Text(now),
    ];
    let results = db
        .batch(
            "d1: disconnect social account",
            vec![
                db.stmt(
                    "UPDATE social_accounts SET status = 'DISCONNECTED', credentials = NULL, platform_session = NULL, updated_at = ?3
                     WHERE id = ?1 AND workspace_id = ?2 AND status != 'DISCONNECTED'",
                    &args,
                )?,
                db.stmt(
                    "UPDATE post_targets SET status = 'CANCELED'
                     WHERE account_id = ?1 AND workspace_id = ?2 AND status = 'PENDING'
                       AND EXISTS (SELECT 1 FROM social_accounts WHERE id = ?1 AND workspace_id = ?2 AND updated_at = ?3 AND status = 'DISCONNECTED')",
                    &args,
                )?,
                db.stmt(
                    "UPDATE posts SET status = 'CANCELED', updated_at = ?3
                     WHERE workspace_id = ?2 AND status IN ('SCHEDULED', 'NEEDS_APPROVAL') AND deleted_at IS NULL
                       AND id IN (SELECT post_id FROM post_targets WHERE account_id = ?1 AND workspace_id = ?2)
                       AND NOT EXISTS (SELECT 1 FROM post_targets t WHERE t.post_id = posts.id AND t.workspace_id = ?2 AND t.status != 'CANCELED')",
                    &args,
                )?,
            ]
            .into_iter()
            // A post already publishing whose last open target was canceled here is settled.
            .chain(super::publishing::settle_account_posts(
                db,
                ws.get().id.as_str(),
                id.as_str(),
                now,
                &crate::domain::ids::random_base62(24),
            )?)
            .collect(),
        )
        .await?;
    match results.first() {
        Some(r) => Ok(super::changes(r)? == 1),
        None => Err(ApiError::Internal("d1: disconnect: short batch".into())),
    }
}
