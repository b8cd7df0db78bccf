//! Webhook delivery: the dispatcher that turns outbox events into deliveries, the Queue that
//! says when each attempt is due, and the consumer that signs and sends them.
//!
//! D1 is the source of truth (`webhook_deliveries`); a queue message only names a delivery and
//! the attempt (`seq`) it is for, so a lost, late or duplicated message costs at most a wasted
//! read: the cron sweep re-announces what a lost message left behind. Webhooks have their own
//! Queue, so a slow or failing receiver delays no one's publishing.

pub mod attempt;
pub mod consumer;
pub mod dispatch;

use serde::{Deserialize, Serialize};
use worker::{Env, MessageBuilder, QueueContentType};

use crate::ctx::{now_ms, SharedTiming, DB};
use crate::domain::ids::DeliveryId;
use crate::domain::time::Timestamp;
use crate::domain::webhooks::schedule::{queue_delay_s, Pace};
use crate::http::error::{ApiError, Context as _};
use crate::net::outbound::Outbound;
use crate::store::webhook_deliveries::{self as deliveries, Due};
use crate::store::Db;

pub use dispatch::dispatch_events;

/// The producer binding (wrangler.toml `[[queues.producers]]`) and the queue's name, which the
/// queue handler uses to tell webhook batches from any other queue's.
pub const QUEUE_BINDING: &str = "WEBHOOK_QUEUE";
pub const QUEUE_NAME: &str = "postbridge-webhooks";
/// Speeds the retry schedule up for tests (README "Webhooks"); ignored in production.
pub const PACE_VAR: &str = "WEBHOOK_RETRY_SPEEDUP";
/// A queue message for a delivery overdue by this much is taken as lost, and sent again.
const LOST_AFTER_MS: i64 = 60_000;
/// Deliveries the cron sweep re-announces per run.
const SWEEP_LIMIT: i64 = 100;
/// Cloudflare Queues take at most 100 messages per `sendBatch`.
const SEND_BATCH_MAX: usize = 100;

/// What a queue message says: attempt number `seq` of delivery `id` is due.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Announcement {
    pub id: String,
    pub seq: i64,
}

/// The deployment as webhook delivery sees it.
pub struct Settings {
    pub outbound: Outbound,
    pub pace: Pace,
}

impl Settings {
    pub fn from_env(env: &Env) -> Self {
        let var = |k: &str| env.var(k).ok().map(|v| v.to_string());
        let production = var("ENVIRONMENT").as_deref() == Some("production");
        let pace = Pace::parse(var(PACE_VAR).as_deref(), production).unwrap_or_else(|e| {
            worker::console_error!(
                "{}",
                serde_json::json!({ "level": "warn", "cause": format!("{PACE_VAR} {e}: the real schedule applies") })
            );
            Pace::REAL
        });
        Settings {
            // Production demands https of every endpoint, at registration and at delivery.
            outbound: Outbound::from_env(env).https_only(production),
            pace,
        }
    }
}

/// A `Db` for work outside a request (its statement counts go nowhere).
pub fn background_db(env: &Env) -> Result<Db, ApiError> {
    Ok(Db::new(
        env.d1(DB).ctx("binding DB")?,
        SharedTiming::default(),
    ))
}

pub fn now() -> Timestamp {
    Timestamp::from_millis(now_ms() as i64)
}

/// Puts attempts on the queue, each delayed until it is due (in legs of at most the Queue's
/// longest delay). A failure here loses nothing: the cron sweep finds the pending rows.
pub async fn announce(env: &Env, due: &[(Announcement, i64)]) -> Result<(), ApiError> {
    if due.is_empty() {
        return Ok(());
    }
    let queue = env.queue(QUEUE_BINDING).ctx("binding WEBHOOK_QUEUE")?;
    let now = now_ms() as i64;
    for chunk in due.chunks(SEND_BATCH_MAX) {
        let mut messages = Vec::with_capacity(chunk.len());
        for (a, at) in chunk {
            let body = serde_json::to_string(a).ctx("announcement")?;
            messages.push(
                MessageBuilder::new(body)
                    .content_type(QueueContentType::Text)
                    .delay_seconds(queue_delay_s(*at, now))
                    .build(),
            );
        }
        queue
            .send_batch(messages)
            .await
            .ctx("queue: announce webhook attempts")?;
    }
    Ok(())
}

/// The cron entry: dispatch what the outbox holds (the safety net behind the publisher's own
/// call), then re-announce deliveries whose message was lost. Never fails outward; logs.
pub async fn on_cron(env: &Env) {
    dispatch_events(env).await;
    if let Err(e) = sweep(env).await {
        log_error("webhook sweep", &e);
    }
}

async fn sweep(env: &Env) -> Result<(), ApiError> {
    let db = background_db(env)?;
    let now = now_ms() as i64;
    let before = Timestamp::from_millis(now - LOST_AFTER_MS).to_rfc3339();
    let lost =
        deliveries::overdue(&db, &crate::scope::background(), &before, now, SWEEP_LIMIT).await?;
    let due: Vec<(Announcement, i64)> = lost
        .into_iter()
        .filter(|d| DeliveryId::parse(&d.id).is_ok())
        .map(|Due { id, seq }| (Announcement { id, seq }, now))
        .collect();
    announce(env, &due).await
}

/// One structured line for a failure outside a request (no request id to quote).
pub fn log_error(step: &str, e: &ApiError) {
    let cause = match e {
        ApiError::Internal(c) => c.as_str(),
        other => other.code(),
    };
    worker::console_error!(
        "{}",
        serde_json::json!({ "level": "error", "step": step, "cause": cause })
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_are_small_json() {
        let a = Announcement {
            id: "msg_x".into(),
            seq: 3,
        };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(text, r#"{"id":"msg_x","seq":3}"#);
        assert_eq!(serde_json::from_str::<Announcement>(&text).unwrap(), a);
    }
}
