//! Users and the sessions signup and login open.

use serde::{Deserialize, Serialize};

use super::principals::{bump_stmt, bumped, Bumped};
use super::{Arg, Db};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::text::{Email, Name};
use crate::http::error::ApiError;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: String,
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a Name,
    pub password_hash: &'a str,
}

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub expires_at: &'a str,
}

const USER_COLUMNS: &str = "id, email, name, created_at AS createdAt";

/// Creates the user and their first session in one batch: both or neither.
pub async fn insert_user_with_session(
    db: &Db,
    user: NewUser<'_>,
    session: NewSession<'_>,
    now: &str,
) -> Result<UserView, ApiError> {
    let id = UserId::generate();
    db.batch(
        "d1: insert user",
        vec![
            db.stmt(
                "INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                &[id.as_str().into(), user.email.as_str().into(), user.name.as_str().into(), user.password_hash.into(), now.into()],
            )?,
            session_stmt(db, &id, &session, now)?,
        ],
    )
    .await?;
    Ok(UserView {
        id: id.as_str().to_owned(),
        email: user.email.as_str().to_owned(),
        name: user.name.as_str().to_owned(),
        created_at: now.to_owned(),
    })
}

fn session_stmt(
    db: &Db,
    user: &UserId,
    s: &NewSession<'_>,
    now: &str,
) -> Result<worker::D1PreparedStatement, ApiError> {
    db.stmt(
        "INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[SessionId::generate().as_str().into(), user.as_str().into(), s.token_hash.into(), now.into(), s.expires_at.into()],
    )
}

#[derive(Deserialize)]
pub struct LoginRow {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    pub password_hash: String,
}

pub async fn find_for_login(db: &Db, email: &Email) -> Result<Option<LoginRow>, ApiError> {
    db.first(
        "d1: find user for login",
        &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?1"),
        &[email.as_str().into()],
    )
    .await
}

/// Opens a session, and purges the user's expired ones in the same batch, so a user who logs
/// in often does not pile them up.
pub async fn insert_session(
    db: &Db,
    user: &UserId,
    session: NewSession<'_>,
    now: &str,
) -> Result<(), ApiError> {
    db.batch(
        "d1: insert session",
        vec![
            db.stmt(
                "DELETE FROM sessions WHERE user_id = ?1 AND expires_at < ?2",
                &[user.as_str().into(), now.into()],
            )?,
            session_stmt(db, user, &session, now)?,
        ],
    )
    .await?;
    Ok(())
}

/// Ends a session by its token hash (the caller proved it holds the token): the row goes, and
/// the user's epoch is bumped in the same batch so no cached copy outlives it.
pub async fn revoke_session(db: &Db, token_hash: &str) -> Result<Vec<Bumped>, ApiError> {
    let results = db
        .batch(
            "d1: end session",
            vec![
                bump_stmt(
                    db,
                    "id = (SELECT user_id FROM sessions WHERE token_hash = ?1)",
                    &[Arg::Text(token_hash)],
                )?,
                db.stmt(
                    "DELETE FROM sessions WHERE token_hash = ?1",
                    &[Arg::Text(token_hash)],
                )?,
            ],
        )
        .await?;
    bumped(results.into_iter().next())
}

/// Deletes sessions that expired before `now`, at most `limit` of them, oldest first; how many.
pub async fn purge_expired_sessions(db: &Db, now: &str, limit: i64) -> Result<usize, ApiError> {
    db.run(
        "d1: purge expired sessions",
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)",
        &[now.into(), Arg::Int(limit)],
    )
    .await
}

pub async fn find_by_email(db: &Db, email: &Email) -> Result<Option<UserView>, ApiError> {
    db.first(
        "d1: find user by e-mail",
        &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"),
        &[email.as_str().into()],
    )
    .await
}
