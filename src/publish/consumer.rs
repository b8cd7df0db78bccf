//! The publish queue's consumer, and its dead-letter queue's.
//!
//! A batch is split by social account: the accounts' targets go out concurrently, each
//! account's one after another (the claim also refuses a second target of an account while one
//! holds a live lease, so at most one request is in flight per account across consumers too).
//! For each target: claim it (one conditional UPDATE, with the attempt row and the inputs in
//! the same batch), call the adapter, and settle target, account and post in one batch.
//!
//! What becomes of a message: acknowledged when the target is settled or has nothing to do;
//! `retry(delaySeconds)` after a transient failure (the platform's `Retry-After`, else backoff),
//! so the queue's `max_retries` bounds the attempts and the dead-letter queue gets the rest;
//! sent again as a new message (not counted as a retry) when the account is busy or the retry
//! is not due yet.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use serde_json::Value;
use sha2::{Digest, Sha256};
use worker::{
    Env, Message, MessageBatch, MessageBuilder, MessageExt, Queue, QueueRetryOptionsBuilder,
};

use super::adapters::{Adapter, Attempt, Http, Published, Report, Stop};
use super::{log, Config, QUEUE};
use crate::domain::ids::{random_base62, AttemptId, WorkspaceId};
use crate::domain::platform::Platform;
use crate::domain::publish::credentials::{self, Credentials};
use crate::domain::publish::outcome::{ErrorCode, TargetError};
use crate::domain::publish::retry::{backoff_s, queue_delay_s};
use crate::domain::time::Timestamp;
use crate::http::error::{ApiError, Context as _};
use crate::net::outbound::Outbound;
use crate::seal;
use crate::store::publishing::{
    self as store, AccountFlag, AttemptOutcome, ClaimTimes, Claimed, Finish, Job, MediaRow,
    NotClaimed, TargetChange,
};
use crate::store::Db;

/// A claim accepts targets due up to this much ahead of the consumer's clock (the scheduler
/// and the consumer may run on machines whose clocks differ a little).
const SKEW_MS: i64 = 1_000;

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Ack,
    /// `retry()` after this many seconds (counts toward `max_retries`).
    Retry(u32),
    /// A fresh message after this many seconds (does not count).
    Resend(u32),
}

/// The account whose sealed session is kept under this additional data (not the
/// credentials' own, so one can never be opened as the other).
pub fn session_aad(account_id: &str) -> String {
    format!("{account_id}:session")
}

pub async fn run(batch: MessageBatch<Value>, env: Env) -> worker::Result<()> {
    let dead_letters = batch.queue().ends_with("-dlq");
    let publisher = match Publisher::new(&env) {
        Ok(p) => p,
        Err(e) => {
            log(
                "error",
                "publish.setup",
                serde_json::json!({ "cause": super::cause(&e) }),
            );
            batch.retry_all();
            return Ok(());
        }
    };
    let mut groups: BTreeMap<String, Vec<(Message<Value>, Job)>> = BTreeMap::new();
    for message in batch.iter() {
        let Ok(message) = message else { continue };
        match serde_json::from_value::<Job>(message.body().clone()) {
            Ok(job) => groups
                .entry(job.account.clone())
                .or_default()
                .push((message, job)),
            Err(_) => {
                log(
                    "error",
                    "publish.bad_message",
                    serde_json::json!({ "id": message.id() }),
                );
                message.ack();
            }
        }
    }
    if dead_letters {
        for (message, job) in groups.into_values().flatten() {
            match store::give_up(&publisher.db, &job, &now()).await {
                Ok(()) => message.ack(),
                Err(e) => {
                    log(
                        "error",
                        "publish.give_up",
                        serde_json::json!({ "target": job.target, "cause": super::cause(&e) }),
                    );
                    message.retry();
                }
            }
        }
        // Give-ups wrote post.* events: hand them to the webhooks now (cron is the safety net).
        crate::webhooks::dispatch_events(&env).await;
        return Ok(());
    }
    let publisher = &publisher;
    join_all(groups.into_values().map(|group| async move {
        for (message, job) in group {
            let action = publisher.publish(&job).await;
            publisher.apply(&message, &job, action).await;
        }
    }))
    .await;
    // Settled targets wrote post.* and social_account.* events: hand them to the webhooks now
    // (one indexed read when there are none; cron is the safety net).
    crate::webhooks::dispatch_events(&env).await;
    Ok(())
}

fn now() -> String {
    Timestamp::from_millis(crate::ctx::now_ms() as i64).to_rfc3339()
}

struct Publisher {
    db: Db,
    queue: Queue,
    bucket: worker::Bucket,
    outbound: Outbound,
    key: Option<[u8; 32]>,
    config: Config,
}

impl Publisher {
    fn new(env: &Env) -> Result<Self, ApiError> {
        Ok(Publisher {
            db: super::db(env)?,
            queue: env.queue(QUEUE).ctx("binding PUBLISH_QUEUE")?,
            bucket: env
                .bucket(crate::api::media::MEDIA_BUCKET)
                .ctx("binding MEDIA")?,
            outbound: Outbound::from_env(env),
            key: seal::parse_key(
                env.var(seal::KEY_VAR)
                    .ok()
                    .map(|v| v.to_string())
                    .as_deref(),
            ),
            config: Config::from_env(env),
        })
    }

    async fn apply(&self, message: &Message<Value>, job: &Job, action: Action) {
        match action {
            Action::Ack => message.ack(),
            Action::Retry(delay) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay)
                    .build(),
            ),
            Action::Resend(delay) => {
                let sent = self
                    .queue
                    .send(
                        MessageBuilder::new(job.clone())
                            .delay_seconds(delay)
                            .build(),
                    )
                    .await;
                match sent {
                    Ok(()) => message.ack(),
                    Err(_) => message.retry_with_options(
                        &QueueRetryOptionsBuilder::new()
                            .with_delay_seconds(delay)
                            .build(),
                    ),
                }
            }
        }
    }

    async fn publish(&self, job: &Job) -> Action {
        match self.try_publish(job).await {
            Ok(action) => action,
            Err(e) => {
                // Our own storage failed: the target is untouched or its lease will be swept.
                log(
                    "error",
                    "publish.internal",
                    serde_json::json!({ "target": job.target, "cause": super::cause(&e) }),
                );
                Action::Retry(5)
            }
        }
    }

    async fn try_publish(&self, job: &Job) -> Result<Action, ApiError> {
        let Ok(ws) = WorkspaceId::parse(&job.workspace) else {
            return Ok(Action::Ack);
        };
        let started = crate::ctx::now_ms() as i64;
        let at = |ms: i64| Timestamp::from_millis(ms).to_rfc3339();
        let (now, due_by, lease_until) = (
            at(started),
            at(started + SKEW_MS),
            at(started + self.config.lease_ms),
        );
        let lease = random_base62(24);
        let attempt_id = AttemptId::generate_in(&ws);
        let times = ClaimTimes {
            now: &now,
            due_by: &due_by,
            lease_until: &lease_until,
        };
        let claimed = store::claim(&self.db, job, &lease, attempt_id.as_str(), &times).await?;
        let Some(claimed) = claimed else {
            let why = store::why_not_claimed(&self.db, job, &now, &due_by).await?;
            let action = match &why {
                NotClaimed::Nothing => Action::Ack,
                NotClaimed::AccountBusy => Action::Resend(1),
                NotClaimed::NotBefore(t) => {
                    let wait = Timestamp::parse(t).map_or(1, |t| (t.millis() - started) / 1000 + 1);
                    Action::Resend(queue_delay_s(wait.max(1) as u64))
                }
            };
            log(
                "info",
                "publish.not_claimed",
                serde_json::json!({ "target": job.target, "workspaceId": job.workspace, "why": why.as_str() }),
            );
            return Ok(action);
        };
        let report = self.attempt(&claimed, started).await;
        let session = match (&report, &claimed.credentials) {
            (Ok((r, _)), Some(creds)) => match (&r.new_session, self.key) {
                (Some(s), Some(key)) => Some(
                    seal::seal(&key, s.as_bytes(), &session_aad(&claimed.account_id))
                        .await
                        .map(|sealed| (creds.clone(), sealed)),
                ),
                _ => None,
            },
            _ => None,
        };
        if let Some(Ok((creds, sealed))) = session {
            store::save_session(&self.db, job, Some(&creds), &sealed).await?;
        }
        let (result, http_status) = match report {
            Ok((r, status)) => (r.result, status),
            Err(stop) => (Err(stop), None),
        };
        self.settle(
            job,
            &claimed,
            &lease,
            attempt_id.as_str(),
            started,
            result,
            http_status,
        )
        .await
    }

    /// Runs the adapter, or says why it cannot run (a stop decided before any platform call).
    async fn attempt(&self, c: &Claimed, started: i64) -> Result<(Report, Option<u16>), Stop> {
        let platform = Platform::parse(&c.platform).ok();
        let Some(adapter) = platform.and_then(Adapter::for_platform) else {
            return Err(Stop::Failed(
                ErrorCode::PublishingNotSupported,
                format!("{} has no publisher.", c.platform),
            ));
        };
        if c.account_status != "ACTIVE" {
            return Err(Stop::Failed(
                ErrorCode::AccountNeedsReauth,
                TargetError::needs_reauth(&format!("the account is {}", c.account_status)).message,
            ));
        }
        let credentials = self
            .credentials(c, platform.unwrap_or(Platform::Bluesky))
            .await?;
        let session = match (&c.platform_session, self.key) {
            (Some(sealed), Some(key)) => seal::open(&key, sealed, &session_aad(&c.account_id))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|b| String::from_utf8(b).ok()),
            _ => None,
        };
        let media = self.media(c).await?;
        let a = Attempt {
            claimed: c,
            credentials,
            session,
            media,
            http: Http::new(self.outbound, &self.config),
            config: self.config,
            started_ms: started,
        };
        let report = adapter.publish(&a).await;
        Ok((report, a.http.last_status.get()))
    }

    async fn credentials(&self, c: &Claimed, platform: Platform) -> Result<Credentials, Stop> {
        let reauth = |why: &str| {
            Stop::Failed(
                ErrorCode::AccountNeedsReauth,
                TargetError::needs_reauth(why).message,
            )
        };
        let (Some(sealed), Some(key)) = (&c.credentials, self.key) else {
            return Err(reauth("it has no credentials"));
        };
        let opened = seal::open(&key, sealed, &c.account_id)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        match opened.map(|v| credentials::parse(platform, &v)) {
            Some(Ok(Some(creds))) => Ok(creds),
            _ => Err(reauth("its credentials cannot be read")),
        }
    }

    /// The target's media, from R2, in order.
    async fn media(&self, c: &Claimed) -> Result<Vec<(MediaRow, Vec<u8>)>, Stop> {
        let gone = |what: &str| Stop::Failed(ErrorCode::MediaUnavailable, what.to_owned());
        let rows: Vec<MediaRow> = serde_json::from_str(&c.media).unwrap_or_default();
        if rows.len() as i64 != c.media_count {
            return Err(gone(
                "A media asset of the post was deleted or is not ready.",
            ));
        }
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            let object = self.bucket.get(m.object_key.clone()).execute().await;
            let bytes = match object {
                Ok(Some(o)) => match o.body() {
                    Some(body) => body.bytes().await.ok(),
                    None => None,
                },
                Ok(None) => return Err(gone("A media asset's file is missing from storage.")),
                Err(_) => None,
            };
            let Some(bytes) = bytes else {
                return Err(Stop::Retry {
                    code: ErrorCode::MediaUnavailable,
                    wait_s: None,
                    maybe_done: false,
                    message: "A media asset could not be read from storage.".into(),
                });
            };
            out.push((m, bytes));
        }
        Ok(out)
    }

    /// Writes the attempt's end and decides the message's fate.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        job: &Job,
        c: &Claimed,
        lease: &str,
        attempt_id: &str,
        started: i64,
        result: Result<Published, Stop>,
        http_status: Option<u16>,
    ) -> Result<Action, ApiError> {
        let now_ms = crate::ctx::now_ms() as i64;
        let (outcome, error, change, account, action) = match result {
            Ok(p) => (
                if p.already {
                    AttemptOutcome::AlreadyPublished
                } else {
                    AttemptOutcome::Published
                },
                None,
                TargetChange::Published {
                    platform_post_id: p.platform_post_id,
                    url: p.url,
                },
                None,
                Action::Ack,
            ),
            Err(Stop::Retry {
                code,
                wait_s,
                maybe_done,
                message,
            }) => {
                let delay = match wait_s {
                    Some(w) => queue_delay_s(w),
                    None => queue_delay_s(backoff_s(
                        c.attempts.max(1) as u32,
                        self.config.retry_base_s,
                        self.config.retry_cap_s,
                        seed(&c.id, c.attempts),
                    )),
                };
                (
                    if maybe_done {
                        AttemptOutcome::Unknown
                    } else {
                        AttemptOutcome::Retrying
                    },
                    Some(TargetError::new(code, message)),
                    TargetChange::Retry {
                        next_attempt_at: Timestamp::from_millis(now_ms + i64::from(delay) * 1000)
                            .to_rfc3339(),
                    },
                    None,
                    Action::Retry(delay),
                )
            }
            Err(Stop::Auth(failure, why)) => (
                AttemptOutcome::Failed,
                Some(TargetError::needs_reauth(&why)),
                TargetChange::Failed,
                Some(AccountFlag {
                    status: failure.account_status(),
                    credentials: c.credentials.as_deref(),
                }),
                Action::Ack,
            ),
            Err(Stop::Failed(code, message)) => (
                AttemptOutcome::Failed,
                Some(TargetError::new(code, message)),
                TargetChange::Failed,
                None,
                Action::Ack,
            ),
            Err(Stop::OutcomeUnknown) => (
                AttemptOutcome::Failed,
                Some(TargetError::outcome_unknown()),
                TargetChange::Failed,
                None,
                Action::Ack,
            ),
        };
        log(
            "info",
            "publish.attempt",
            serde_json::json!({
                "target": job.target,
                "workspaceId": job.workspace,
                "platform": c.platform,
                "attempt": c.attempts,
                "outcome": outcome.as_str(),
                "code": error.as_ref().map(|e| e.code.as_str()),
                "httpStatus": http_status,
                "durationMs": now_ms - started,
            }),
        );
        let finish = Finish {
            job,
            claimed: c,
            lease,
            attempt_id,
            outcome,
            http_status,
            duration_ms: now_ms - started,
            error: error.as_ref(),
            change,
            account,
        };
        store::finish(
            &self.db,
            finish,
            &Timestamp::from_millis(now_ms).to_rfc3339(),
            &random_base62(24),
        )
        .await?;
        Ok(action)
    }
}

/// A stable spread for the backoff of one target's attempt.
fn seed(target: &str, attempt: i64) -> u64 {
    let h = Sha256::digest(format!("{target}:{attempt}").as_bytes());
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}
