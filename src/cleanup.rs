//! What expires, cleared by the cron trigger (`#[event(scheduled)]` in `lib.rs`): sessions past
//! their expiry. Each run does a bounded amount of work; what is left waits for the next run.
//! Failures are logged, never thrown: the next run tries again.

use serde_json::json;
use worker::Env;

use crate::ctx::DB;
use crate::domain::time::Timestamp;
use crate::store::{users, Db};
use crate::timing::{now_ms, SharedTiming};

/// The most expired sessions one run deletes.
pub const SESSIONS_PER_RUN: i64 = 1_000;

pub async fn sweep(env: &Env) {
    let db = match env.d1(DB) {
        Ok(d1) => Db::new(d1, SharedTiming::default()),
        Err(e) => return log("error", json!({ "cause": format!("binding DB: {e}") })),
    };
    let now = Timestamp::from_millis(now_ms() as i64).to_rfc3339();
    match users::purge_expired_sessions(&db, &now, SESSIONS_PER_RUN).await {
        Ok(n) => log("info", json!({ "sessionsPurged": n })),
        Err(e) => log("error", json!({ "cause": format!("{e:?}") })),
    }
}

fn log(level: &str, mut fields: serde_json::Value) {
    fields["level"] = json!(level);
    fields["sweep"] = json!("cleanup");
    worker::console_log!("{fields}");
}
