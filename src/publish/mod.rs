//! The publisher: due targets go out on their own, on time, once.
//!
//! - `scheduler`: the `PublishScheduler` Durable Object, whose alarm is set to the earliest due
//!   time. Every write that makes a target due tells it (after the D1 write); at its alarm it
//!   hands the due targets to the publish queue and re-arms for the next due time, read from D1.
//! - `consumer`: the publish queue's consumer. It claims each target with one conditional
//!   UPDATE (PENDING → PUBLISHING, with a lease), writes the attempt row, calls the platform's
//!   adapter, and settles the target and its post (with the outbox event) in one batch.
//!   Transient failures go back to the queue with a delay (the platform's `Retry-After`, else
//!   backoff); the dead-letter queue's consumer marks targets whose retries ran out FAILED.
//! - `sweep`: the cron safety net — expired leases back to PENDING, missed due targets handed
//!   over again, the scheduler re-armed.
//! - `adapters`: Bluesky and Mastodon, behind one enum.
//!
//! The rules (limits, facets, record keys, Retry-After, backoff, how answers read) are pure,
//! in `domain::publish`; the statements are in `store::publishing`.

pub mod adapters;
pub mod consumer;
pub mod scheduler;
pub mod sweep;

use worker::Env;

use crate::ctx::SharedTiming;
use crate::http::error::{ApiError, Context as _};
use crate::store::Db;

/// Binding names, named once.
pub const QUEUE: &str = "PUBLISH_QUEUE";
pub const SCHEDULER: &str = "PUBLISH_SCHEDULER";

/// The publisher's tunables, from wrangler vars (all optional; defaults in brackets).
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// `PUBLISH_CALL_TIMEOUT_MS` [15000]: each platform request's deadline.
    pub call_timeout_ms: u64,
    /// `PUBLISH_ATTEMPT_BUDGET_MS` [60000]: all the requests of one attempt.
    pub attempt_budget_ms: u64,
    /// `PUBLISH_LEASE_MS` [180000]: how long a claim holds a target (longer than an attempt).
    pub lease_ms: i64,
    /// `PUBLISH_RETRY_BASE_S` [5] and `PUBLISH_RETRY_CAP_S` [300]: the backoff.
    pub retry_base_s: u64,
    pub retry_cap_s: u64,
    /// `MASTODON_IDEMPOTENCY_WINDOW_S` [3000]: how long after a request of unknown outcome a
    /// repeat with the same `Idempotency-Key` is still safe (Mastodon keeps keys one hour).
    pub mastodon_window_ms: i64,
}

impl Config {
    pub fn from_env(env: &Env) -> Config {
        let num = |name: &str, default: u64| {
            env.var(name)
                .ok()
                .and_then(|v| v.to_string().trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let call = num("PUBLISH_CALL_TIMEOUT_MS", 15_000);
        let budget = num("PUBLISH_ATTEMPT_BUDGET_MS", 60_000).max(call);
        Config {
            call_timeout_ms: call,
            attempt_budget_ms: budget,
            lease_ms: num("PUBLISH_LEASE_MS", 180_000).max(budget + 30_000) as i64,
            retry_base_s: num("PUBLISH_RETRY_BASE_S", 5),
            retry_cap_s: num("PUBLISH_RETRY_CAP_S", 300),
            mastodon_window_ms: num("MASTODON_IDEMPOTENCY_WINDOW_S", 3_000) as i64 * 1000,
        }
    }
}

/// D1 outside a request (queue, alarm, cron): the same wrapper, its timing unread.
pub fn db(env: &Env) -> Result<Db, ApiError> {
    Ok(Db::new(
        env.d1(crate::ctx::DB).ctx("binding DB")?,
        SharedTiming::default(),
    ))
}

/// What went wrong, for a log line: the step and storage error of an internal failure, else
/// the error's code.
pub fn cause(e: &ApiError) -> String {
    match e {
        ApiError::Internal(c) => c.clone(),
        other => other.code().to_owned(),
    }
}

/// One JSON log line of the publisher (never a credential: only ids, codes and causes).
pub fn log(level: &str, event: &str, fields: serde_json::Value) {
    let mut line = serde_json::json!({ "level": level, "event": event });
    if let (Some(l), serde_json::Value::Object(f)) = (line.as_object_mut(), fields) {
        l.extend(f);
    }
    if level == "error" {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}
