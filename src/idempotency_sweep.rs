//! The scheduled purge of expired idempotency records. A record is unusable 24 hours after its
//! first use (`api::idempotency::WINDOW_MS`), but without this sweep its row, with the stored
//! response body, would stay in D1 for good. Runs from the `scheduled` handler (every 5 minutes, see
//! wrangler.toml), so a row outlives its window by at most about 5 minutes; the request path pays
//! nothing for it.

use worker::Env;

use crate::api::idempotency::WINDOW_MS;
use crate::ctx::{now_ms, SharedTiming, DB};
use crate::domain::time::Timestamp;
use crate::http::error::{ApiError, Context as _};
use crate::store::{idempotency, Db};

/// Rows deleted per statement: small enough for one short write, so the sweep never holds
/// D1's single writer for long.
const BATCH: u32 = 500;
/// Statements per run: a backlog larger than this is finished by the next runs.
const MAX_BATCHES: u32 = 40;

/// Deletes the records older than the window, and logs one line with the count (or the cause).
pub async fn sweep(env: &Env) {
    let started = now_ms();
    let line = match purge(env, Timestamp::from_millis(started as i64)).await {
        Ok(deleted) => serde_json::json!({
            "level": "info", "job": "idempotency-sweep", "deleted": deleted,
            "durationMs": (now_ms() - started).round(),
        }),
        Err(e) => serde_json::json!({
            "level": "error", "job": "idempotency-sweep",
            "cause": match e { ApiError::Internal(c) => c, other => other.code().to_owned() },
        }),
    };
    worker::console_log!("{line}");
}

async fn purge(env: &Env, now: Timestamp) -> Result<u64, ApiError> {
    let db = Db::new(env.d1(DB).ctx("binding DB")?, SharedTiming::default());
    let cutoff = now.plus_millis(-WINDOW_MS).to_rfc3339();
    let mut deleted = 0;
    for _ in 0..MAX_BATCHES {
        let n = idempotency::delete_created_before(&db, &cutoff, BATCH).await?;
        deleted += n as u64;
        if n < BATCH as usize {
            break;
        }
    }
    Ok(deleted)
}
