//! `Idempotency-Key` on creating POSTs: the same key with the same body from the same
//! credential within 24 h replays the first response without doing the work again.
//!
//! It runs only after the scope check and body validation (the proof and `Checked` are
//! arguments), so a refused or invalid request reads nothing and stores nothing.

use std::future::Future;

use sha2::{Digest, Sha256};

use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::http::body::Checked;
use crate::http::error::ApiError;
use crate::http::respond::Reply;
use crate::scope::Authorized;
use crate::store::idempotency::{self as store, Claim};

pub const WINDOW_MS: i64 = 24 * 3600 * 1000;
/// A first request that has not finished after this long is taken to have died (a Worker's
/// request cannot run longer), so its key can be claimed again.
pub const IN_FLIGHT_MS: i64 = 5 * 60 * 1000;

fn valid_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
}

pub async fn once<T, F, Fut>(
    ctx: &Ctx,
    p: &Principal,
    scope: &Authorized<T>,
    body: &Checked,
    run: F,
) -> Result<Reply, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    once_storing(ctx, p, scope, body, str::to_owned, run).await
}

/// [`once`] for a response that holds a bearer URL (a presigned upload URL), which must never
/// be stored: `stored` makes the copy that is kept, without it, and the handler rebuilds the
/// URL when what comes back is a replay (`Reply::is_replay`).
pub async fn once_storing<T, F, Fut>(
    ctx: &Ctx,
    p: &Principal,
    _scope: &Authorized<T>,
    body: &Checked,
    stored: fn(&str) -> String,
    run: F,
) -> Result<Reply, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let Some(key) = ctx.idempotency_key.as_deref() else {
        return run().await;
    };
    if !valid_key(key) {
        return Err(ApiError::field(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters",
        ));
    }
    // Everything that can change what the request does: the route, the query and the
    // workspace header (either may name the workspace), and the body.
    let query: Vec<String> = ctx.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let fingerprint = hex::encode(Sha256::digest(format!(
        "{} {}?{}\n{}\n{}",
        ctx.method,
        ctx.path,
        query.join("&"),
        ctx.workspace_header.as_deref().unwrap_or(""),
        body.fingerprint
    )));
    let now = ctx.now();
    let claim = store::claim(
        &ctx.db,
        &p.credential_id,
        key,
        &fingerprint,
        &now.to_rfc3339(),
        &now.plus_millis(-WINDOW_MS).to_rfc3339(),
        &now.plus_millis(-IN_FLIGHT_MS).to_rfc3339(),
    )
    .await?;
    match claim {
        Claim::Replay {
            status,
            body,
            location,
        } => Ok(Reply::replay(status, body, location)),
        Claim::Mismatch => Err(ApiError::IdempotencyKeyReused),
        Claim::InFlight => Err(ApiError::IdempotencyKeyInUse),
        Claim::New => {
            let out = run().await;
            match &out {
                Ok(reply) if reply.status() < 300 => {
                    let kept = reply.body().map(stored);
                    store::complete(
                        &ctx.db,
                        &p.credential_id,
                        key,
                        reply.status(),
                        kept.as_deref(),
                        reply.location(),
                    )
                    .await?
                }
                _ => store::release(&ctx.db, &p.credential_id, key).await?,
            }
            out
        }
    }
}

/// For endpoints whose response holds a secret that must never be stored (key minting,
/// signup, login): a key is refused rather than silently ignored.
pub fn refuse_for_secrets(ctx: &Ctx) -> Result<(), ApiError> {
    match ctx.idempotency_key {
        Some(_) => Err(ApiError::field(
            "Idempotency-Key",
            "is not supported here: the response holds a secret that is never stored",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(valid_key("a"));
        assert!(valid_key(&"k".repeat(255)));
        assert!(valid_key("3f1c-uuid_like:key"));
        for bad in ["", " spaced key", "tab\tkey", "é", &"k".repeat(256)] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
