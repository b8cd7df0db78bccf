//! `POST /auth/signup`, `/auth/login`, `/auth/logout`: the session credential; and the
//! dashboard's `POST /dashboard/signup`, `/dashboard/login`, `/dashboard/logout`, the same
//! sessions carried in an `HttpOnly` cookie that script never sees (`domain::cookie`).

use serde_json::json;
use worker::Request;

use crate::api::idempotency::refuse_for_secrets;
use crate::auth::cache;
use crate::auth::credential::{Credential, CredentialKind, PlainToken};
use crate::auth::password;
use crate::auth::presented;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::cookie;
use crate::domain::ids::UserId;
use crate::domain::text::{Email, Name, Password};
use crate::domain::time::Timestamp;
use crate::domain::DomainError;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::Reply;
use crate::scope::require_session;
use crate::store::users::{self, NewSession, NewUser, UserView};

pub const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// A new session token, its hash and expiry.
struct Minted {
    token: PlainToken,
    expires_at: Timestamp,
}

fn mint_session(ctx: &Ctx) -> Minted {
    Minted {
        token: PlainToken::generate(CredentialKind::Session),
        expires_at: ctx.now().plus_millis(SESSION_TTL_MS),
    }
}

fn session_reply(status: u16, user: &UserView, m: Minted) -> Result<Reply, ApiError> {
    Reply::json(
        status,
        &json!({ "user": user, "token": m.token.reveal(), "expiresAt": m.expires_at.to_rfc3339() }),
    )
}

/// The dashboard's answer: the user and expiry in the body, the token only in the cookie.
fn cookie_reply(ctx: &Ctx, status: u16, user: &UserView, m: Minted) -> Result<Reply, ApiError> {
    let body = json!({ "user": user, "expiresAt": m.expires_at.to_rfc3339() });
    let set_cookie = cookie::set(&ctx.origin, &m.token.reveal(), SESSION_TTL_MS / 1000);
    Ok(Reply::json(status, &body)?.header("Set-Cookie", set_cookie))
}

/// The dashboard's session routes answer only their own origin: nobody else's page can sign a
/// browser in or out (login CSRF), and a request without `Origin` is refused too.
fn same_origin(ctx: &Ctx) -> Result<(), ApiError> {
    if cookie::same_origin(ctx.header("Origin").as_deref(), &ctx.origin) {
        Ok(())
    } else {
        Err(ApiError::OriginForbidden)
    }
}

pub async fn signup(ctx: &Ctx, req: &mut Request) -> Result<Reply, ApiError> {
    let (user, m) = create_user(ctx, req).await?;
    session_reply(201, &user, m)
}

pub async fn login(ctx: &Ctx, req: &mut Request) -> Result<Reply, ApiError> {
    let (user, m) = open_session(ctx, req).await?;
    session_reply(200, &user, m)
}

pub async fn dashboard_signup(ctx: &Ctx, req: &mut Request) -> Result<Reply, ApiError> {
    same_origin(ctx)?;
    let (user, m) = create_user(ctx, req).await?;
    cookie_reply(ctx, 201, &user, m)
}

pub async fn dashboard_login(ctx: &Ctx, req: &mut Request) -> Result<Reply, ApiError> {
    same_origin(ctx)?;
    let (user, m) = open_session(ctx, req).await?;
    cookie_reply(ctx, 200, &user, m)
}

/// Ends the cookie's session, if it holds a live one, and clears the cookie either way: a
/// browser whose session already expired can still sign out cleanly.
pub async fn dashboard_logout(ctx: &Ctx) -> Result<Reply, ApiError> {
    same_origin(ctx)?;
    // Only the cookie's session: a bearer token sent here is not the dashboard's to end.
    if ctx.authorization.is_none() {
        if let Ok(credential) = presented(ctx) {
            end_session(ctx, &credential).await?;
        }
    }
    Ok(Reply::no_content().header("Set-Cookie", cookie::clear(&ctx.origin)))
}

async fn create_user(ctx: &Ctx, req: &mut Request) -> Result<(UserView, Minted), ApiError> {
    refuse_for_secrets(ctx)?;
    let mut f = read_json(req).await?;
    let email = f.required("email", Email::parse);
    let name = f.required("name", |s| Name::parse(s, 100));
    let pass = f.required("password", Password::parse);
    let ok = f.finish()?;
    let (email, name, pass) = (email.take(&ok), name.take(&ok), pass.take(&ok));
    let password_hash = password::hash(&pass).await?;
    let m = mint_session(ctx);
    let now = ctx.now().to_rfc3339();
    let user = users::insert_user_with_session(
        &ctx.db,
        NewUser {
            email: &email,
            name: &name,
            password_hash: &password_hash,
        },
        NewSession {
            token_hash: m.token.hash().as_str(),
            expires_at: &m.expires_at.to_rfc3339(),
        },
        &now,
    )
    .await?;
    Ok((user, m))
}

async fn open_session(ctx: &Ctx, req: &mut Request) -> Result<(UserView, Minted), ApiError> {
    refuse_for_secrets(ctx)?;
    let mut f = read_json(req).await?;
    let email = f.required("email", Email::parse);
    let pass = f.required("password", |s| {
        if s.len() <= 1024 {
            Ok(s.to_owned())
        } else {
            Err(DomainError::new("is too long"))
        }
    });
    let ok = f.finish()?;
    let (email, pass) = (email.take(&ok), pass.take(&ok));
    let row = users::find_for_login(&ctx.db, &email).await?;
    // Hash even when the user is unknown, so timing does not tell which e-mails have accounts.
    let stored = row
        .as_ref()
        .map_or(password::DECOY, |r| r.password_hash.as_str());
    let matches = password::verify(&pass, stored).await?;
    let Some(row) = row.filter(|_| matches) else {
        return Err(ApiError::InvalidCredentials);
    };
    let m = mint_session(ctx);
    let user_id = UserId::parse(&row.id).ctx("stored user id")?;
    users::insert_session(
        &ctx.db,
        &user_id,
        NewSession {
            token_hash: m.token.hash().as_str(),
            expires_at: &m.expires_at.to_rfc3339(),
        },
        &ctx.now().to_rfc3339(),
    )
    .await?;
    let user = UserView {
        id: row.id,
        email: row.email,
        name: row.name,
        created_at: row.created_at,
    };
    Ok((user, m))
}

/// Ends the session that made the request.
pub async fn logout(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    require_session(p)?;
    end_session(ctx, &presented(ctx)?).await?;
    Ok(Reply::no_content())
}

/// Deletes the session and bumps its user's epoch in one batch, then publishes the bump, so no
/// cached copy of the session outlives it.
async fn end_session(ctx: &Ctx, credential: &Credential) -> Result<(), ApiError> {
    let bumps = users::revoke_session(&ctx.db, credential.hash.as_str()).await?;
    cache::publish(ctx, &bumps).await;
    Ok(())
}
