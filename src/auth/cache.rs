//! Credential hash → principal, resolved through three layers:
//!
//! 1. an in-isolate map, entries at most 10 s old (no I/O at all on a warm key);
//! 2. `AUTH_CACHE` in KV, entries expiring after 120 s (KV's floor is 60 s);
//! 3. D1, on a miss, which then fills both.
//!
//! Any change to keys, memberships, roles or workspaces calls `invalidate_*`: the KV entries
//! of the affected credentials are deleted and this isolate's copies dropped, so locally the
//! very next request sees the change. Other isolates see it within 10 s, other locations once
//! KV has propagated the delete (up to 60 s).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::credential::{Credential, CredentialKind, KeyHash};
use super::principal::{Access, Principal};
use crate::ctx::Ctx;
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::roles::Role;
use crate::http::error::{ApiError, Context as _};
use crate::store;
use crate::timing::now_ms;

pub const ISOLATE_TTL_MS: f64 = 10_000.0;
pub const KV_TTL_SECONDS: u64 = 120;
/// More live credentials than this in one isolate and the map is cleared rather than grown.
const ISOLATE_MAX_ENTRIES: usize = 10_000;

/// Shared, not cloned, per request: a principal of a user in hundreds of workspaces is hundreds
/// of strings, and copying it cost about as much as the rest of the request's tenancy work.
struct Entry {
    cached_at: f64,
    principal: Rc<Principal>,
}

thread_local! {
    static ISOLATE: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
}

fn kv_key(hash: &KeyHash) -> String {
    format!("principal:{}", hash.as_str())
}

pub async fn principal(ctx: &Ctx, credential: &Credential) -> Result<Rc<Principal>, ApiError> {
    let now = now_ms();
    let principal = match isolate_get(&credential.hash, now) {
        Some(p) => p,
        None => {
            // Not known here: charge the client IP before touching storage, so a flood of
            // well-formed but unknown credentials reaches KV and D1 a bounded number of times.
            crate::ratelimit::check(ctx, crate::ratelimit::Bucket::Ip(&ctx.client_ip)).await?;
            let p = match kv_get(ctx, &credential.hash).await? {
                Some(p) => p,
                None => {
                    let p = store::principals::resolve(&ctx.db, credential)
                        .await?
                        .ok_or(ApiError::Unauthorized)?;
                    kv_put(ctx, &credential.hash, &p).await?;
                    p
                }
            };
            isolate_put(&credential.hash, p, now)
        }
    };
    if principal.is_expired(now as i64) {
        return Err(ApiError::Unauthorized);
    }
    Ok(principal)
}

fn isolate_get(hash: &KeyHash, now: f64) -> Option<Rc<Principal>> {
    ISOLATE.with(|m| {
        let m = m.borrow();
        let e = m.get(hash.as_str())?;
        (now - e.cached_at < ISOLATE_TTL_MS).then(|| Rc::clone(&e.principal))
    })
}

fn isolate_put(hash: &KeyHash, p: Principal, now: f64) -> Rc<Principal> {
    let p = Rc::new(p);
    ISOLATE.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= ISOLATE_MAX_ENTRIES {
            m.retain(|_, e| now - e.cached_at < ISOLATE_TTL_MS);
            if m.len() >= ISOLATE_MAX_ENTRIES {
                m.clear();
            }
        }
        m.insert(
            hash.as_str().to_owned(),
            Entry {
                cached_at: now,
                principal: Rc::clone(&p),
            },
        );
    });
    p
}

async fn kv_get(ctx: &Ctx, hash: &KeyHash) -> Result<Option<Principal>, ApiError> {
    let kv = ctx.kv()?;
    let started = now_ms();
    let text = kv.get(&kv_key(hash)).text().await;
    {
        let mut t = ctx.timing.borrow_mut();
        t.kv_reads += 1;
        t.kv_ms += now_ms() - started;
    }
    // An entry we cannot read (an older format, say) is a miss, not an error.
    Ok(text
        .ctx("kv: get principal")?
        .and_then(|s| serde_json::from_str::<Stored>(&s).ok())
        .and_then(Stored::into_principal))
}

async fn kv_put(ctx: &Ctx, hash: &KeyHash, p: &Principal) -> Result<(), ApiError> {
    let json = serde_json::to_string(&Stored::from(p)).ctx("serialize principal")?;
    let started = now_ms();
    let put = ctx
        .kv()?
        .put(&kv_key(hash), json)
        .ctx("kv: put principal")?
        .expiration_ttl(KV_TTL_SECONDS)
        .execute()
        .await;
    let mut t = ctx.timing.borrow_mut();
    t.kv_writes += 1;
    t.kv_ms += now_ms() - started;
    put.ctx("kv: put principal")
}

/// Caches the principal of a credential just minted, so its first use needs no D1 read.
pub async fn remember(ctx: &Ctx, hash: &KeyHash, p: &Principal) -> Result<(), ApiError> {
    kv_put(ctx, hash, p).await?;
    isolate_put(hash, p.clone(), now_ms());
    Ok(())
}

/// Drops the cached principal of one credential (a revoked key, a logged-out session).
pub async fn invalidate_hash(ctx: &Ctx, hash: &KeyHash) -> Result<(), ApiError> {
    ISOLATE.with(|m| m.borrow_mut().remove(hash.as_str()));
    kv_delete(ctx, hash).await
}

/// Drops the cached principals of every live credential of these users (after a change to
/// their memberships, roles or workspaces).
pub async fn invalidate_users(ctx: &Ctx, users: &[UserId]) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    ISOLATE.with(|m| {
        m.borrow_mut()
            .retain(|_, e| !users.contains(&e.principal.user_id))
    });
    for hash in store::principals::live_credential_hashes(&ctx.db, users).await? {
        kv_delete(ctx, &hash).await?;
    }
    Ok(())
}

async fn kv_delete(ctx: &Ctx, hash: &KeyHash) -> Result<(), ApiError> {
    let started = now_ms();
    let out = ctx.kv()?.delete(&kv_key(hash)).await;
    let mut t = ctx.timing.borrow_mut();
    t.kv_writes += 1;
    t.kv_ms += now_ms() - started;
    out.ctx("kv: delete principal")
}

/// The principal as stored in KV: plain strings, parsed back into domain types on read.
#[derive(Serialize, Deserialize)]
struct Stored {
    user_id: String,
    email: String,
    name: String,
    kind: CredentialKind,
    credential_id: String,
    /// `None` for full access.
    allow_list: Option<Vec<String>>,
    workspaces: Vec<(String, String)>,
    expires_at: Option<i64>,
}

impl From<&Principal> for Stored {
    fn from(p: &Principal) -> Self {
        Stored {
            user_id: p.user_id.as_str().to_owned(),
            email: p.email.clone(),
            name: p.name.clone(),
            kind: p.kind,
            credential_id: p.credential_id.clone(),
            allow_list: match &p.access {
                Access::Full => None,
                Access::Scoped(l) => Some(l.iter().map(|w| w.as_str().to_owned()).collect()),
            },
            workspaces: p
                .workspaces
                .iter()
                .map(|(w, r)| (w.as_str().to_owned(), r.as_str().to_owned()))
                .collect(),
            expires_at: p.expires_at,
        }
    }
}

impl Stored {
    fn into_principal(self) -> Option<Principal> {
        let access = match self.allow_list {
            None => Access::Full,
            Some(l) => Access::Scoped(
                l.iter()
                    .map(|w| WorkspaceId::parse(w).ok())
                    .collect::<Option<_>>()?,
            ),
        };
        let workspaces = self
            .workspaces
            .iter()
            .map(|(w, r)| Some((WorkspaceId::parse(w).ok()?, Role::parse(r).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Principal {
            user_id: UserId::parse(&self.user_id).ok()?,
            email: self.email,
            name: self.name,
            kind: self.kind,
            credential_id: self.credential_id,
            access,
            workspaces,
            expires_at: self.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_principals_round_trip() {
        let ws = WorkspaceId::generate();
        let p = Principal {
            user_id: UserId::generate(),
            email: "a@example.com".into(),
            name: "A".into(),
            kind: CredentialKind::ApiKey,
            credential_id: "key_x".into(),
            access: Access::Scoped(vec![ws.clone()]),
            workspaces: vec![(ws, Role::Editor)],
            expires_at: Some(5),
        };
        let json = serde_json::to_string(&Stored::from(&p)).unwrap();
        let back = serde_json::from_str::<Stored>(&json)
            .unwrap()
            .into_principal()
            .unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn a_corrupt_entry_is_a_miss() {
        let json = r#"{"user_id":"nope","email":"","name":"","kind":"session","credential_id":"","allow_list":null,"workspaces":[],"expires_at":null}"#;
        assert!(serde_json::from_str::<Stored>(json)
            .unwrap()
            .into_principal()
            .is_none());
    }
}
