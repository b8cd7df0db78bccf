//! On time without a ticker: the `PublishScheduler` Durable Object (one, named `publish`)
//! keeps its alarm at the earliest time a scheduled post falls due.
//!
//! Every write that makes a target due (a post created with `scheduledFor`, schedule,
//! reschedule, approve, retry) tells it after the D1 write has committed (`notify`, after the
//! response). At its alarm it hands every due target to the publish queue and re-arms for the
//! next due time, which it reads from D1 — so it holds no schedule of its own that could drift
//! from D1, and a lost notification only delays a post until the next alarm or the cron
//! (`sweep`), which also asks it to `tick`.

use std::cell::Cell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use super::{db, log, QUEUE, SCHEDULER};
use crate::ctx::Ctx;
use crate::domain::time::Timestamp;
use crate::http::error::{ApiError, Context as _};
use crate::store::publishing as store;

/// The one scheduler object's name.
const NAME: &str = "publish";
/// Targets handed over per D1 read, and reads per alarm (more wait for an immediate alarm).
const PAGE: i64 = 500;
const PAGES_PER_TICK: usize = 10;
/// Queues accept at most 100 messages per `sendBatch`.
const SEND_BATCH: usize = 100;
/// A due target handed over this long ago and still PENDING is handed over again (its message
/// may be lost); a duplicate only loses the claim.
const STALE_MS: i64 = 120_000;

#[durable_object]
pub struct PublishScheduler {
    state: State,
    env: Env,
    /// The earliest time asked for while a tick was running, so the tick's own re-arm
    /// (from a D1 read that may predate the write) cannot push it back.
    asked: Cell<Option<i64>>,
}

impl DurableObject for PublishScheduler {
    fn new(state: State, env: Env) -> Self {
        PublishScheduler {
            state,
            env,
            asked: Cell::new(None),
        }
    }

    /// `POST /arm?at=<ms>`: make sure the alarm fires by then. `POST /tick`: hand over what is
    /// due now and re-arm (the cron).
    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let path = req.path();
        if path == "/tick" {
            return match self.tick().await {
                Ok(n) => Response::ok(n.to_string()),
                Err(e) => Response::error(super::cause(&e), 500),
            };
        }
        let at = req
            .url()?
            .query_pairs()
            .find(|(k, _)| k == "at")
            .and_then(|(_, v)| v.parse::<i64>().ok());
        match (path.as_str(), at) {
            ("/arm", Some(at)) => {
                self.arm(at).await?;
                Response::ok("")
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        match self.tick().await {
            Ok(_) => Response::ok(""),
            // Thrown, so the runtime retries the alarm.
            Err(e) => Err(worker::Error::RustError(super::cause(&e))),
        }
    }
}

impl PublishScheduler {
    async fn arm(&self, at: i64) -> worker::Result<()> {
        self.asked
            .set(Some(self.asked.get().map_or(at, |a| a.min(at))));
        let storage = self.state.storage();
        let current = storage.get_alarm().await?;
        if current.is_none_or(|c| at < c) {
            storage.set_alarm(when(at)).await?;
        }
        Ok(())
    }

    /// Hands every due target to the queue, then sets the alarm for the next due time.
    /// Returns how many were handed over.
    async fn tick(&self) -> Result<usize, ApiError> {
        self.asked.set(None);
        let db = db(&self.env)?;
        let queue = self.env.queue(QUEUE).ctx("binding PUBLISH_QUEUE")?;
        let now_ms = crate::ctx::now_ms() as i64;
        let now = Timestamp::from_millis(now_ms).to_rfc3339();
        let stale = Timestamp::from_millis(now_ms - STALE_MS).to_rfc3339();
        let mut handed = 0;
        let mut more = false;
        for _ in 0..PAGES_PER_TICK {
            let due = store::take_due(&db, &now, &stale, PAGE).await?;
            for chunk in due.chunks(SEND_BATCH) {
                queue
                    .send_batch(chunk.to_vec())
                    .await
                    .ctx("queue: send due targets")?;
            }
            store::mark_enqueued(&db, &due, &now).await?;
            handed += due.len();
            more = due.len() as i64 == PAGE;
            if !more {
                break;
            }
        }
        let next = if more {
            Some(now_ms)
        } else {
            store::next_due(&db, &now)
                .await?
                .and_then(|t| Timestamp::parse(&t).ok())
                .map(Timestamp::millis)
        };
        let next = match (next, self.asked.take()) {
            (Some(n), Some(a)) => Some(n.min(a)),
            (n, a) => n.or(a),
        };
        if let Some(at) = next {
            self.state
                .storage()
                .set_alarm(when(at.max(now_ms)))
                .await
                .ctx("scheduler: set alarm")?;
        }
        if handed > 0 {
            log(
                "info",
                "publish.due",
                serde_json::json!({ "handedOver": handed, "nextAlarm": next.map(|t| Timestamp::from_millis(t).to_rfc3339()) }),
            );
        }
        Ok(handed)
    }
}

/// An alarm time: `set_alarm` reads a bare integer as an offset from now, so the absolute time
/// goes in as a date.
fn when(at_ms: i64) -> worker::ScheduledTime {
    worker::ScheduledTime::new(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
        at_ms.max(0) as f64,
    )))
}

async fn call(env: &Env, path: &str) -> Result<(), ApiError> {
    let ns = env
        .durable_object(SCHEDULER)
        .ctx("binding PUBLISH_SCHEDULER")?;
    let stub = ns
        .id_from_name(NAME)
        .ctx("scheduler id")?
        .get_stub()
        .ctx("scheduler stub")?;
    let res = stub
        .fetch_with_request(
            Request::new_with_init(
                &format!("https://publish-scheduler{path}"),
                worker::RequestInit::new().with_method(worker::Method::Post),
            )
            .ctx("scheduler request")?,
        )
        .await
        .ctx("scheduler call")?;
    if res.status_code() != 200 {
        return Err(ApiError::Internal(format!(
            "scheduler answered {}",
            res.status_code()
        )));
    }
    Ok(())
}

/// Tells the scheduler a target falls due at `at` (RFC 3339), after the response: the D1
/// write has committed by then. A failure is logged; the cron re-arms the scheduler anyway.
pub fn notify(ctx: &Ctx, at: &str) {
    let Ok(at) = Timestamp::parse(at) else { return };
    let env = ctx.env.clone();
    let request_id = ctx.request_id.as_str().to_owned();
    ctx.wait.wait_until(async move {
        if let Err(e) = call(&env, &format!("/arm?at={}", at.millis())).await {
            log(
                "error",
                "publish.notify",
                serde_json::json!({ "requestId": request_id, "cause": super::cause(&e) }),
            );
        }
    });
}

/// The cron's part: hand over what is due (missed ones included) and re-arm.
pub async fn tick(env: &Env) -> Result<(), ApiError> {
    call(env, "/tick").await
}
