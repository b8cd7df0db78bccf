//! Authentication: bearer token (or the dashboard's session cookie) → principal. Format and
//! checksum first (no storage), then the caches, then D1.

pub mod cache;
pub mod credential;
pub mod password;
pub mod principal;
pub mod usage;

use std::rc::Rc;

use crate::ctx::Ctx;
use crate::domain::cookie;
use crate::http::error::ApiError;
use crate::ratelimit::{self, Bucket};
use credential::{Credential, CredentialKind};
use principal::Principal;

pub async fn authenticate(ctx: &Ctx) -> Result<Rc<Principal>, ApiError> {
    let credential = presented(ctx)?;
    let principal = cache::principal(ctx, &credential).await?;
    // Charged after resolution, to the owner's bucket for this kind of credential (shared by all
    // their keys, or all their sessions); an unresolved credential was already charged to the
    // client IP before any KV or D1 read (in `cache::principal`).
    let user = principal.user_id.as_str();
    ratelimit::check(
        ctx,
        match principal.kind {
            CredentialKind::ApiKey => Bucket::UserKeys(user),
            CredentialKind::Session => Bucket::UserSessions(user),
        },
    )
    .await?;
    {
        let mut log = ctx.log.borrow_mut();
        log.principal = Some(match principal.kind {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Session => "session",
        });
        log.workspaces = principal.workspaces.len();
    }
    usage::authenticated(ctx, &principal);
    Ok(principal)
}

/// The credential the request presents. An `Authorization` header always wins, read exactly as
/// before the dashboard existed. Without one, the dashboard's session cookie: a session token
/// only (an API key there is refused like any bad credential), and for a method that changes
/// state only with the API's own `Origin` (decided before the token is even parsed, so a
/// cross-origin write costs no storage).
pub fn presented(ctx: &Ctx) -> Result<Credential, ApiError> {
    let cookie = match ctx.authorization {
        None => ctx.header("Cookie"),
        Some(_) => None,
    };
    let origin = cookie.as_ref().and_then(|_| ctx.header("Origin"));
    choose(Presented {
        authorization: ctx.authorization.as_deref(),
        cookie: cookie.as_deref(),
        method: &ctx.method,
        origin_header: origin.as_deref(),
        own_origin: &ctx.origin,
    })
}

/// What a request carries that can authenticate it.
struct Presented<'a> {
    authorization: Option<&'a str>,
    cookie: Option<&'a str>,
    method: &'a str,
    origin_header: Option<&'a str>,
    own_origin: &'a str,
}

fn choose(p: Presented<'_>) -> Result<Credential, ApiError> {
    let from_cookie = match (p.authorization, p.cookie) {
        (None, Some(header)) => cookie::read(header, cookie::name(p.own_origin)),
        _ => None,
    };
    let Some(token) = from_cookie else {
        return Credential::from_header(p.authorization).map_err(|_| ApiError::Unauthorized);
    };
    if !cookie::allows(p.method, p.origin_header, p.own_origin) {
        return Err(ApiError::OriginForbidden);
    }
    match Credential::parse(token) {
        Ok(c) if c.kind == CredentialKind::Session => Ok(c),
        _ => Err(ApiError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::credential::PlainToken;
    use super::*;

    const OWN: &str = "https://postbridge.example";

    fn token(kind: CredentialKind) -> String {
        PlainToken::generate(kind).reveal()
    }

    /// The code of the refusal, or the kind and token of the credential chosen.
    fn outcome(
        authorization: Option<&str>,
        cookie: Option<&str>,
        method: &str,
        origin: Option<&str>,
    ) -> Result<(CredentialKind, KeyHashOf), &'static str> {
        choose(Presented {
            authorization,
            cookie,
            method,
            origin_header: origin,
            own_origin: OWN,
        })
        .map(|c| (c.kind, KeyHashOf(c.hash.as_str().to_owned())))
        .map_err(|e| e.code())
    }

    #[derive(Debug, Clone, PartialEq)]
    struct KeyHashOf(String);

    fn hash(t: &str) -> KeyHashOf {
        KeyHashOf(credential::KeyHash::of(t).as_str().to_owned())
    }

    #[test]
    fn a_bearer_header_is_read_as_before_whatever_the_cookie_says() {
        let key = token(CredentialKind::ApiKey);
        let sess = token(CredentialKind::Session);
        let jar = format!("__Host-pb_session={sess}");
        let bearer = format!("Bearer {key}");
        for (cookie, method, origin) in [
            (None, "POST", None),
            (Some(jar.as_str()), "POST", None),
            (Some(jar.as_str()), "DELETE", Some("https://evil.example")),
        ] {
            assert_eq!(
                outcome(Some(&bearer), cookie, method, origin),
                Ok((CredentialKind::ApiKey, hash(&key)))
            );
        }
        // A bad bearer header is 401 even next to a good cookie: no fallback.
        assert_eq!(
            outcome(Some("Bearer nope"), Some(&jar), "GET", None),
            Err("UNAUTHORIZED")
        );
        assert_eq!(outcome(None, None, "GET", None), Err("UNAUTHORIZED"));
    }

    #[test]
    fn the_cookie_carries_sessions_and_writes_need_the_own_origin() {
        let sess = token(CredentialKind::Session);
        let key = token(CredentialKind::ApiKey);
        let jar = format!("theme=dark; __Host-pb_session={sess}");
        let key_jar = format!("__Host-pb_session={key}");
        let wrong_name = format!("pb_session={sess}");
        let session = Ok((CredentialKind::Session, hash(&sess)));
        for (cookie, method, origin, want) in [
            (jar.as_str(), "GET", None, session.clone()),
            (
                jar.as_str(),
                "HEAD",
                Some("https://evil.example"),
                session.clone(),
            ),
            (jar.as_str(), "POST", Some(OWN), session.clone()),
            (jar.as_str(), "DELETE", Some(OWN), session.clone()),
            (jar.as_str(), "POST", None, Err("ORIGIN_FORBIDDEN")),
            (jar.as_str(), "PATCH", Some("null"), Err("ORIGIN_FORBIDDEN")),
            (
                jar.as_str(),
                "POST",
                Some("https://evil.example"),
                Err("ORIGIN_FORBIDDEN"),
            ),
            // An API key is never accepted from a cookie, same origin or not.
            (key_jar.as_str(), "GET", None, Err("UNAUTHORIZED")),
            (key_jar.as_str(), "POST", Some(OWN), Err("UNAUTHORIZED")),
            (key_jar.as_str(), "POST", None, Err("ORIGIN_FORBIDDEN")),
            // Over HTTPS only the `__Host-` cookie counts.
            (wrong_name.as_str(), "GET", None, Err("UNAUTHORIZED")),
            (
                "__Host-pb_session=pb_sess_garbage",
                "GET",
                None,
                Err("UNAUTHORIZED"),
            ),
            ("theme=dark", "POST", None, Err("UNAUTHORIZED")),
        ] {
            assert_eq!(
                outcome(None, Some(cookie), method, origin),
                want,
                "{cookie} {method} {origin:?}"
            );
        }
    }
}
