//! Users and the sessions signup and login open.

use serde::{Deserialize, Serialize};

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

pub async fn insert_session(
    db: &Db,
    user: &UserId,
    session: NewSession<'_>,
    now: &str,
) -> Result<(), ApiError> {
    db.batch(
        "d1: insert session",
        vec![session_stmt(db, user, &session, now)?],
    )
    .await?;
    Ok(())
}

/// Ends a session by its token hash. The caller proved it holds the token.
pub async fn revoke_session(db: &Db, token_hash: &str, now: &str) -> Result<(), ApiError> {
    db.run(
        "d1: revoke session",
        "UPDATE sessions SET revoked_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
        &[now.into(), Arg::Text(token_hash)],
    )
    .await?;
    Ok(())
}

pub async fn find_by_email(db: &Db, email: &Email) -> Result<Option<UserView>, ApiError> {
    db.first(
        "d1: find user by e-mail",
        &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"),
        &[email.as_str().into()],
    )
    .await
}
