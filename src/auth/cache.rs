//! Credential hash → principal, resolved through three layers:
//!
//! 1. an in-isolate map, entries at most 10 s old (no I/O at all on a warm key);
//! 2. `AUTH_CACHE` in KV, entries expiring after 120 s (KV's floor is 60 s);
//! 3. D1, on a miss, which then fills both.
//!
//! **Invalidation by epoch.** Every user has an auth epoch in D1, bumped in the same batch as
//! any change to what their credentials reach (memberships, roles, workspaces, a revoked key, an
//! ended session). A principal is cached with the epoch it was resolved under, and a copy is
//! used only while no newer epoch is known: this isolate remembers the newest epoch it has seen
//! per user (`FLOORS`), and KV holds `epoch:<user>` for the other isolates and locations. So
//! invalidating a user is one KV write, however many keys and sessions they hold, and a
//! resolution racing the change cannot re-cache the old principal for long: its copy carries
//! the old epoch. A copy from KV costs a second KV read (its user's epoch).
//!
//! KV is a cache here, never the truth: a failed KV read is a miss (D1 answers), a failed KV
//! write is logged and the request goes on.

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
use crate::store::principals::Bumped;
use crate::timing::now_ms;

pub const ISOLATE_TTL_MS: f64 = 10_000.0;
pub const KV_TTL_SECONDS: u64 = 120;
/// An epoch record must outlive every principal entry that could be stale against it (their
/// TTL is `KV_TTL_SECONDS`); a missing record reads as epoch 0.
pub const EPOCH_TTL_SECONDS: u64 = 3_600;
/// The most users whose new epoch one request writes to KV (deleting a workspace bumps every
/// member): the KV operations of a request stay far below the platform's 1,000. Past it, the
/// other members' copies in KV expire on their own (`KV_TTL_SECONDS`).
pub const KV_EPOCH_WRITES_MAX: usize = 100;
/// More live credentials than this in one isolate and the map is cleared rather than grown.
const ISOLATE_MAX_ENTRIES: usize = 10_000;
/// More users than this in the epoch map and it is cleared (it only ever makes copies older).
const FLOORS_MAX: usize = 10_000;

/// Shared, not cloned, per request: a principal of a user in hundreds of workspaces is hundreds
/// of strings, and copying it cost about as much as the rest of the request's tenancy work.
struct Entry {
    cached_at: f64,
    epoch: i64,
    principal: Rc<Principal>,
}

thread_local! {
    static ISOLATE: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    /// The newest auth epoch this isolate has seen per user (from D1, a bump it made, or a copy
    /// it accepted): a copy older than this is stale.
    static FLOORS: RefCell<HashMap<String, i64>> = RefCell::new(HashMap::new());
}

fn principal_key(hash: &KeyHash) -> String {
    format!("principal:{}", hash.as_str())
}

fn epoch_key(user: &UserId) -> String {
    format!("epoch:{}", user.as_str())
}

fn floor(user: &UserId) -> i64 {
    FLOORS.with(|m| m.borrow().get(user.as_str()).copied().unwrap_or(0))
}

/// Records that `user`'s epoch is at least `epoch` (epochs only grow).
fn learn(user: &UserId, epoch: i64) {
    FLOORS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= FLOORS_MAX && !m.contains_key(user.as_str()) {
            m.clear();
        }
        let e = m.entry(user.as_str().to_owned()).or_insert(epoch);
        *e = (*e).max(epoch);
    });
}

pub async fn principal(ctx: &Ctx, credential: &Credential) -> Result<Rc<Principal>, ApiError> {
    let now = now_ms();
    let principal = match isolate_get(&credential.hash, now) {
        Some(p) => p,
        None => {
            // Not known here: charge the client IP before touching storage, so a flood of
            // well-formed but unknown credentials reaches KV and D1 a bounded number of times.
            crate::ratelimit::check(ctx, crate::ratelimit::Bucket::Ip(&ctx.client_ip)).await?;
            let (p, epoch) = match fresh_from_kv(ctx, &credential.hash).await {
                Some(found) => found,
                None => {
                    let r = store::principals::resolve(&ctx.db, credential)
                        .await?
                        .ok_or(ApiError::Unauthorized)?;
                    learn(&r.principal.user_id, r.epoch);
                    kv_put(ctx, &credential.hash, &r.principal, r.epoch).await;
                    (r.principal, r.epoch)
                }
            };
            isolate_put(&credential.hash, p, epoch, now)
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
        let fresh = now - e.cached_at < ISOLATE_TTL_MS && e.epoch >= floor(&e.principal.user_id);
        fresh.then(|| Rc::clone(&e.principal))
    })
}

fn isolate_put(hash: &KeyHash, p: Principal, epoch: i64, now: f64) -> Rc<Principal> {
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
                epoch,
                principal: Rc::clone(&p),
            },
        );
    });
    p
}

/// KV's copy of the principal, if no newer epoch of its user is known here or in KV. Any KV
/// failure is a miss: D1 answers instead.
async fn fresh_from_kv(ctx: &Ctx, hash: &KeyHash) -> Option<(Principal, i64)> {
    let text = kv_get(ctx, &principal_key(hash), "kv: get principal").await?;
    // An entry we cannot read (an older format, say) is a miss, not an error.
    let (p, epoch) = serde_json::from_str::<Stored>(&text)
        .ok()
        .and_then(Stored::into_principal)?;
    let published = match kv_get(ctx, &epoch_key(&p.user_id), "kv: get epoch").await {
        None => 0,
        Some(text) => text.parse::<i64>().ok()?,
    };
    if epoch < published.max(floor(&p.user_id)) {
        return None;
    }
    learn(&p.user_id, epoch);
    Some((p, epoch))
}

/// A KV read, counted; `None` for a missing key and, logged, for a failure.
async fn kv_get(ctx: &Ctx, key: &str, step: &'static str) -> Option<String> {
    let kv = ctx.kv().map_err(|e| warn(ctx, &e)).ok()?;
    let started = now_ms();
    let text = kv.get(key).text().await;
    {
        let mut t = ctx.timing.borrow_mut();
        t.kv_reads += 1;
        t.kv_ms += now_ms() - started;
    }
    text.ctx(step).map_err(|e| warn(ctx, &e)).ok().flatten()
}

/// A KV write, counted; a failure is logged, never the request's.
async fn kv_write(ctx: &Ctx, key: &str, value: String, ttl: u64, step: &'static str) {
    let started = now_ms();
    let put = match ctx.kv() {
        Ok(kv) => match kv.put(key, value) {
            Ok(b) => b.expiration_ttl(ttl).execute().await.ctx(step),
            Err(e) => Err(e).ctx(step),
        },
        Err(e) => Err(e),
    };
    {
        let mut t = ctx.timing.borrow_mut();
        t.kv_writes += 1;
        t.kv_ms += now_ms() - started;
    }
    if let Err(e) = put {
        warn(ctx, &e);
    }
}

async fn kv_put(ctx: &Ctx, hash: &KeyHash, p: &Principal, epoch: i64) {
    // A copy already older than an epoch known here is not worth writing.
    if epoch < floor(&p.user_id) {
        return;
    }
    match serde_json::to_string(&Stored::new(p, epoch)) {
        Ok(json) => {
            kv_write(
                ctx,
                &principal_key(hash),
                json,
                KV_TTL_SECONDS,
                "kv: put principal",
            )
            .await
        }
        Err(e) => warn(
            ctx,
            &ApiError::Internal(format!("serialize principal: {e}")),
        ),
    }
}

/// One log line for a cache failure the request survived.
fn warn(ctx: &Ctx, e: &ApiError) {
    let cause = match e {
        ApiError::Internal(c) => c.as_str(),
        other => other.code(),
    };
    worker::console_error!(
        "{}",
        serde_json::json!({ "level": "warn", "requestId": ctx.request_id.as_str(), "cause": cause })
    );
}

/// Caches the principal of a credential just minted, so its first use needs no D1 read. The
/// minting session's user was resolved in this isolate, so its epoch is known here.
pub async fn remember(ctx: &Ctx, hash: &KeyHash, p: &Principal) -> Result<(), ApiError> {
    let epoch = floor(&p.user_id);
    kv_put(ctx, hash, p, epoch).await;
    isolate_put(hash, p.clone(), epoch, now_ms());
    Ok(())
}

/// After a change that bumped these users' epochs has committed: this isolate stops using
/// their cached principals at once, and KV learns the new epochs for every other isolate and
/// location (for at most `KV_EPOCH_WRITES_MAX` users; the rest expire with their TTL). Never
/// fails: D1 has committed, and a KV failure only leaves copies to expire on their own.
pub async fn publish(ctx: &Ctx, bumps: &[Bumped]) {
    for b in bumps {
        learn(&b.user, b.epoch);
    }
    for b in bumps.iter().take(KV_EPOCH_WRITES_MAX) {
        kv_write(
            ctx,
            &epoch_key(&b.user),
            b.epoch.to_string(),
            EPOCH_TTL_SECONDS,
            "kv: put epoch",
        )
        .await;
    }
    if bumps.len() > KV_EPOCH_WRITES_MAX {
        warn(
            ctx,
            &ApiError::Internal(format!(
                "{} users' epochs left to the principal TTL ({KV_TTL_SECONDS} s) in KV",
                bumps.len() - KV_EPOCH_WRITES_MAX
            )),
        );
    }
}

/// Invalidates every cached principal of these users, for a change made outside a batch that
/// bumps their epochs itself: one D1 statement, then [`publish`].
pub async fn invalidate_users(ctx: &Ctx, users: &[UserId]) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let bumps = store::principals::bump(&ctx.db, users).await?;
    publish(ctx, &bumps).await;
    Ok(())
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
    /// The user's auth epoch when this was resolved (0 in entries written before epochs).
    #[serde(default)]
    epoch: i64,
}

impl Stored {
    fn new(p: &Principal, epoch: i64) -> Self {
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
            epoch,
        }
    }

    fn into_principal(self) -> Option<(Principal, i64)> {
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
        let p = Principal {
            user_id: UserId::parse(&self.user_id).ok()?,
            email: self.email,
            name: self.name,
            kind: self.kind,
            credential_id: self.credential_id,
            access,
            workspaces,
            expires_at: self.expires_at,
        };
        Some((p, self.epoch))
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
        let json = serde_json::to_string(&Stored::new(&p, 7)).unwrap();
        let back = serde_json::from_str::<Stored>(&json)
            .unwrap()
            .into_principal()
            .unwrap();
        assert_eq!(back, (p, 7));
    }

    #[test]
    fn an_entry_written_before_epochs_reads_as_epoch_zero() {
        let json = r#"{"user_id":"usr_0123456789abcdef0123","email":"","name":"","kind":"session","credential_id":"sess_x","allow_list":null,"workspaces":[],"expires_at":null}"#;
        let stored = serde_json::from_str::<Stored>(json).unwrap();
        assert_eq!(stored.epoch, 0);
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
