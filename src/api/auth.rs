//! `POST /auth/signup`, `/auth/login`, `/auth/logout`: the session credential.

use serde_json::json;
use worker::Request;

use crate::api::idempotency::refuse_for_secrets;
use crate::auth::cache;
use crate::auth::credential::{Credential, CredentialKind, PlainToken};
use crate::auth::password;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
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

pub async fn signup(ctx: &Ctx, req: &mut Request) -> Result<Reply, ApiError> {
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
    session_reply(201, &user, m)
}

pub async fn login(ctx: &Ctx, req: &mut Request) -> Result<Reply, ApiError> {
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
    session_reply(200, &user, m)
}

/// Ends the session that made the request.
pub async fn logout(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    require_session(p)?;
    let credential = Credential::from_header(ctx.authorization.as_deref())
        .map_err(|_| ApiError::Unauthorized)?;
    let bumps = users::revoke_session(&ctx.db, credential.hash.as_str()).await?;
    cache::publish(ctx, &bumps).await;
    Ok(Reply::no_content())
}
