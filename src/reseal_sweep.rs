//! The re-seal sweep of a `CREDENTIALS_KEY` rotation, run by the every-5-minutes cron trigger
//! (`#[event(scheduled)]` in `lib.rs`). It rewrites under the current key every sealed value
//! (src/store/sealed.rs lists the columns) that the previous key (`CREDENTIALS_KEY_PREVIOUS`)
//! sealed, and every `v1` value (from before values named their key), so that after a rotation
//! the previous key can be deleted without losing anything.
//!
//! - It finds those values by migration 0011's generated `*_sealed_by` columns, by index: when
//!   nothing is left it reads no row at all, and it never opens a value the current key sealed.
//! - Each run does a bounded amount of work ([`PER_COLUMN_PER_RUN`] values per column, in pages
//!   of [`PAGE`]); what is left waits for the next run.
//! - A value is replaced only if the row still holds exactly what was read (a conditional
//!   UPDATE), so a concurrent write (new credentials, a refreshed session, a rotated webhook
//!   secret) is never overwritten with older data; it is counted as `raced` and, if still
//!   needed, taken by a later run.
//! - One log line per run with the counts. `remaining` is what is not yet under the current key
//!   after the run: the rotation is complete when it is 0 (README, "Limits and guarantees").
//!   `unreadable` counts values no key of the deployment opens (sealed by a key it no longer
//!   has, or altered); they are left as they are, and stay in `remaining`.

use serde_json::json;
use worker::Env;

use crate::ctx::{now_ms, SharedTiming, DB};
use crate::http::error::{ApiError, Context as _};
use crate::seal::{self, Keyring};
use crate::store::sealed::{self as store, SealedColumn, SEALED_COLUMNS};
use crate::store::Db;

/// Values read per query (credentials are up to 10 kB, sealed twice that in hex).
pub const PAGE: i64 = 50;
/// Values read per column per run: at most 4 × 250 openings and sealings a run.
pub const PER_COLUMN_PER_RUN: i64 = 250;

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub resealed: usize,
    pub raced: usize,
    pub unreadable: usize,
    pub remaining: i64,
}

/// One run; logs one line with its counts (or the cause of its failure).
pub async fn sweep(env: &Env) {
    let started = now_ms();
    let line = match Keyring::from_env(env) {
        Err(e) => failure(e),
        Ok(keys) => match run(env, &keys).await {
            Ok(t) => json!({
                "level": "info", "job": "reseal-sweep",
                "resealed": t.resealed, "raced": t.raced, "unreadable": t.unreadable,
                "remaining": t.remaining,
                // Key ids (src/domain/sealed.rs) name the keys without revealing them.
                "currentKeyId": keys.current().to_hex(),
                "previousKeyId": keys.previous().map(|k| k.to_hex()),
                "durationMs": (now_ms() - started).round(),
            }),
            Err(e) => failure(e),
        },
    };
    worker::console_log!("{line}");
}

fn failure(e: ApiError) -> serde_json::Value {
    json!({
        "level": "error", "job": "reseal-sweep",
        "cause": match e { ApiError::Internal(c) => c, other => other.code().to_owned() },
    })
}

async fn run(env: &Env, keys: &Keyring) -> Result<Tally, ApiError> {
    let db = Db::new(env.d1(DB).ctx("binding DB")?, SharedTiming::default());
    // `v1` values show as '' (migration 0011); the previous key's by its id.
    let mut sources = vec![String::new()];
    sources.extend(keys.previous().map(|k| k.to_hex()));
    let mut tally = Tally::default();
    for col in &SEALED_COLUMNS {
        let mut budget = PER_COLUMN_PER_RUN;
        for source in &sources {
            budget = reseal_from(&db, keys, col, source, budget, &mut tally).await?;
        }
        tally.remaining += store::not_sealed_by(&db, col, &keys.current().to_hex()).await?;
    }
    Ok(tally)
}

/// Re-seals the values of `col` whose key shows as `source`, up to `budget` of them; returns
/// the budget left.
async fn reseal_from(
    db: &Db,
    keys: &Keyring,
    col: &SealedColumn,
    source: &str,
    mut budget: i64,
    tally: &mut Tally,
) -> Result<i64, ApiError> {
    // Within a run the cursor moves past unreadable values, so they cannot hold up the rest.
    let mut after = String::new();
    while budget > 0 {
        let limit = PAGE.min(budget);
        let rows = store::sealed_by(db, col, source, &after, limit).await?;
        budget -= rows.len() as i64;
        let mut resealed = Vec::with_capacity(rows.len());
        for row in &rows {
            let aad = col.aad.for_row(&row.id);
            match seal::open(keys, &row.sealed, &aad).await? {
                Ok(plain) => resealed.push((row, seal::seal(keys, &plain, &aad).await?)),
                Err(_) => tally.unreadable += 1,
            }
        }
        let written = store::replace_if_unchanged(db, col, &resealed).await?;
        tally.resealed += written;
        tally.raced += resealed.len() - written;
        match rows.last() {
            Some(last) if rows.len() as i64 == limit => after = last.id.clone(),
            _ => break,
        }
    }
    Ok(budget)
}
