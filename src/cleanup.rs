//! What expires, cleared by the cron trigger (`#[event(scheduled)]` in `lib.rs`): sessions past
//! their expiry, and uploads never completed (PENDING media whose upload URL expired, with their
//! staged objects, and staged objects a finished upload left behind). Each run does a bounded
//! amount of work; what is left waits for the next run. Failures are logged, never thrown: the
//! next run tries again.

use serde_json::json;
use worker::Env;

use crate::api::media::objects::{staging_key, STAGING_PREFIX};
use crate::api::media::{MEDIA_BUCKET, URL_TTL_SECONDS};
use crate::ctx::DB;
use crate::domain::time::Timestamp;
use crate::store::{media, users, Db};
use crate::timing::SharedTiming;

/// The most expired sessions one run deletes.
pub const SESSIONS_PER_RUN: i64 = 1_000;
/// The most PENDING media one run deletes (R2 deletes up to 1,000 keys a call).
pub const MEDIA_PER_RUN: i64 = 500;
/// How long after its upload URL expired a PENDING asset may still be completed (an upload
/// that ended just in time needs a moment to call `complete`); then the sweep takes it.
pub const PENDING_GRACE_SECONDS: i64 = 15 * 60;
/// Pages of staged objects one run looks through (1,000 keys each).
pub const STAGING_PAGES_PER_RUN: usize = 3;

/// One run, as of `at` (the time the run was scheduled for).
pub async fn sweep(env: &Env, at: Timestamp) {
    let db = match env.d1(DB) {
        Ok(d1) => Db::new(d1, SharedTiming::default()),
        Err(e) => return log("error", json!({ "cause": format!("binding DB: {e}") })),
    };
    let now = at.millis();
    let stamp = |ms: i64| Timestamp::from_millis(ms).to_rfc3339();
    match users::purge_expired_sessions(&db, &stamp(now), SESSIONS_PER_RUN).await {
        Ok(n) => log("info", json!({ "sessionsPurged": n })),
        Err(e) => log("error", json!({ "cause": format!("{e:?}") })),
    }
    let closed = now - (URL_TTL_SECONDS + PENDING_GRACE_SECONDS) * 1000;
    match sweep_media(env, &db, &stamp(closed), closed).await {
        Ok((rows, staged)) => log(
            "info",
            json!({ "pendingMediaDeleted": rows, "stagedObjectsDeleted": staged }),
        ),
        Err(cause) => log("error", json!({ "cause": cause })),
    }
}

/// PENDING assets created before `closed` go, their staged objects first; then staged objects
/// uploaded before it (left by an upload URL used after `complete`, or a failed delete).
async fn sweep_media(
    env: &Env,
    db: &Db,
    closed: &str,
    closed_ms: i64,
) -> Result<(usize, usize), String> {
    let bucket = env
        .bucket(MEDIA_BUCKET)
        .map_err(|e| format!("binding MEDIA: {e}"))?;
    let expired = media::expired_pending(db, closed, MEDIA_PER_RUN)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut staged_deleted = 0;
    if !expired.is_empty() {
        let keys: Vec<String> = expired.iter().map(|m| staging_key(&m.object_key)).collect();
        bucket
            .delete_multiple(keys)
            .await
            .map_err(|e| format!("r2: delete expired uploads: {e}"))?;
    }
    let ids: Vec<&str> = expired.iter().map(|m| m.id.as_str()).collect();
    let rows = if ids.is_empty() {
        0
    } else {
        media::delete_expired_pending(db, &ids, closed)
            .await
            .map_err(|e| format!("{e:?}"))?
    };
    let mut cursor: Option<String> = None;
    for _ in 0..STAGING_PAGES_PER_RUN {
        let mut list = bucket.list().prefix(STAGING_PREFIX).limit(1000);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list
            .execute()
            .await
            .map_err(|e| format!("r2: list staged: {e}"))?;
        let old: Vec<String> = page
            .objects()
            .iter()
            .filter(|o| (o.uploaded().as_millis() as i64) < closed_ms)
            .map(|o| o.key())
            .collect();
        if !old.is_empty() {
            staged_deleted += old.len();
            bucket
                .delete_multiple(old)
                .await
                .map_err(|e| format!("r2: delete staged: {e}"))?;
        }
        match page.cursor() {
            Some(c) if page.truncated() => cursor = Some(c),
            _ => break,
        }
    }
    Ok((rows, staged_deleted))
}

fn log(level: &str, mut fields: serde_json::Value) {
    fields["level"] = json!(level);
    fields["sweep"] = json!("cleanup");
    worker::console_log!("{fields}");
}
