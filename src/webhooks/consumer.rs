//! The webhook Queue's consumer: each message names a delivery and the attempt it is for. The
//! attempt is made only if that is still the delivery's pending attempt, it is due, its
//! endpoint is enabled, and this consumer wins the claim; then its outcome is recorded and the
//! next attempt, if any, announced. The messages of a batch are handled concurrently, so one
//! slow receiver holds up only its own attempt.

use futures_util::future::join_all;
use worker::{Env, MessageBatch, MessageExt, RawMessage};

use super::attempt;
use super::{announce, background_db, log_error, Announcement, Settings};
use crate::ctx::now_ms;
use crate::domain::ids::DeliveryId;
use crate::domain::time::Timestamp;
use crate::domain::webhooks::schedule::{
    decide, failing_since_after, previous_still_signs, Decision,
};
use crate::domain::webhooks::signing::SigningKey;
use crate::http::error::ApiError;
use crate::scope::background;
use crate::seal;
use crate::store::webhook_deliveries::{self as deliveries, AttemptRecord, AttemptTarget};
use crate::store::Db;

/// How long a claim holds an attempt: the 10 s exchange and the writes around it, with room.
const LEASE_MS: i64 = 60_000;
/// A message that arrives this early still counts as on time (queue delays are whole seconds).
const EARLY_MS: i64 = 1_000;

/// Whether a batch came from the webhook Queue (the queue handler serves every queue).
pub fn consumes(queue: &str) -> bool {
    queue == super::QUEUE_NAME
}

/// Handles a batch. Never fails outward: a message whose handling failed for an infrastructure
/// reason is retried by the Queue; any other is acknowledged.
pub async fn consume<T>(batch: MessageBatch<T>, env: &Env) {
    let settings = Settings::from_env(env);
    let db = match background_db(env) {
        Ok(db) => db,
        Err(e) => {
            log_error("webhook consumer", &e);
            batch.retry_all();
            return;
        }
    };
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    join_all(messages.iter().map(|m| handle(m, env, &db, &settings))).await;
}

async fn handle(message: &RawMessage, env: &Env, db: &Db, settings: &Settings) {
    let announcement = message
        .body()
        .as_string()
        .and_then(|text| serde_json::from_str::<Announcement>(&text).ok());
    let Some(a) = announcement else {
        log_error(
            "webhook consumer",
            &ApiError::Internal("a message that is not an announcement, dropped".into()),
        );
        message.ack();
        return;
    };
    match attempt_due(&a, env, db, settings).await {
        Ok(()) => message.ack(),
        Err(e) => {
            log_error("webhook attempt", &e);
            message.retry();
        }
    }
}

fn millis(t: Option<&str>) -> Option<i64> {
    t.and_then(|s| Timestamp::parse(s).ok())
        .map(Timestamp::millis)
}

async fn attempt_due(
    a: &Announcement,
    env: &Env,
    db: &Db,
    settings: &Settings,
) -> Result<(), ApiError> {
    // Ids and numbers the consumer did not write itself mean nothing to do.
    let Ok(id) = DeliveryId::parse(&a.id) else {
        return Ok(());
    };
    let bg = background();
    let Some(target) = deliveries::attempt_target(db, &bg, &id).await? else {
        return Ok(()); // deleted with its endpoint
    };
    if target.status != "PENDING" || target.seq != a.seq {
        return Ok(()); // stale: delivered, given up, or moved on to a later attempt
    }
    let now = now_ms() as i64;
    let due = millis(target.next_attempt_at.as_deref()).unwrap_or(now);
    if due > now + EARLY_MS {
        // Longer than one queue delay: take another leg.
        return announce(env, &[(a.clone(), due)]).await;
    }
    if !target.enabled {
        let now = Timestamp::from_millis(now).to_rfc3339();
        return deliveries::drop_for_disabled_endpoint(db, &bg, &id, a.seq, &now).await;
    }
    if !deliveries::claim(db, &bg, &id, a.seq, now, LEASE_MS).await? {
        return Ok(()); // another consumer holds it
    }
    let keys = signing_keys(env, &target, now).await?;
    let started = Timestamp::from_millis(now).to_rfc3339();
    let sent = attempt::send(
        &settings.outbound,
        &target.url,
        id.as_str(),
        &keys,
        &target.payload,
    )
    .await;
    let after = now_ms() as i64;
    let since = millis(target.failing_since.as_deref());
    let series = u32::try_from(target.series_attempts + 1).unwrap_or(u32::MAX);
    let decision = decide(sent.answer, series, since, after, settings.pace);
    let next = match decision {
        Decision::RetryAt(at) => Some(at),
        _ => None,
    };
    let next_text = next.map(|t| Timestamp::from_millis(t).to_rfc3339());
    let failing_text =
        failing_since_after(decision, since, after).map(|t| Timestamp::from_millis(t).to_rfc3339());
    let recorded = deliveries::record(
        db,
        &bg,
        &id,
        AttemptRecord {
            endpoint: &target.endpoint_id,
            seq: a.seq,
            attempted_at: &started,
            response_status: sent.status(),
            duration_ms: sent.duration_ms,
            response_body: sent.response_body.as_deref(),
            error: sent.error.as_deref(),
            decision,
            next_attempt_at: next_text.as_deref(),
            failing_since: failing_text.as_deref(),
        },
    )
    .await?;
    log_attempt(&id, &target, &sent, decision, recorded);
    if let (true, Some(at)) = (recorded, next) {
        let following = Announcement {
            id: a.id.clone(),
            seq: a.seq + 1,
        };
        // A lost announcement is found by the cron sweep; the attempt itself is recorded.
        if let Err(e) = announce(env, &[(following, at)]).await {
            log_error("webhook retry announcement", &e);
        }
    }
    Ok(())
}

/// The keys that sign now: the current secret, and the previous one during its overlap.
async fn signing_keys(env: &Env, t: &AttemptTarget, now: i64) -> Result<Vec<SigningKey>, ApiError> {
    let key = seal::key_from(
        env.var(seal::KEY_VAR)
            .ok()
            .map(|v| v.to_string())
            .as_deref(),
    )?;
    let mut sealed = vec![t.secret.as_str()];
    if let Some(previous) = &t.previous_secret {
        if previous_still_signs(millis(t.previous_expires_at.as_deref()), now) {
            sealed.push(previous);
        }
    }
    let mut keys = Vec::with_capacity(sealed.len());
    for s in sealed {
        let plain = seal::open(&key, s, &t.endpoint_id)
            .await?
            .map_err(|e| ApiError::Internal(format!("webhook secret: unseal: {e:?}")))?;
        let text = String::from_utf8(plain)
            .map_err(|_| ApiError::Internal("webhook secret: not UTF-8".into()))?;
        keys.push(
            SigningKey::from_secret(&text)
                .map_err(|e| ApiError::Internal(format!("webhook secret: {e}")))?,
        );
    }
    Ok(keys)
}

/// One line per attempt: which delivery, how it went. Never the URL (customers put tokens in
/// them) nor anything of the secrets.
fn log_attempt(
    id: &DeliveryId,
    t: &AttemptTarget,
    sent: &attempt::Sent,
    d: Decision,
    recorded: bool,
) {
    let decision = match d {
        Decision::Delivered => "delivered",
        Decision::RetryAt(_) => "retry",
        Decision::GiveUp => "gave_up",
        Decision::Disable(r) => r.as_str(),
    };
    worker::console_log!(
        "{}",
        serde_json::json!({
            "level": "info",
            "step": "webhook attempt",
            "deliveryId": id.as_str(),
            "webhookId": t.endpoint_id,
            "workspaceId": id.workspace().as_str(),
            "attempt": t.series_attempts + 1,
            "status": sent.status(),
            "durationMs": sent.duration_ms,
            "decision": decision,
            "recorded": recorded,
        })
    );
}
