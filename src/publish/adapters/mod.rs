//! The platform adapters, behind one enum: each takes a claimed target and publishes it, or
//! says why it stopped. Every request goes through `net::outbound::Outbound` (guarded, no
//! redirects, a deadline per request and one for the whole attempt).

pub mod bluesky;
pub mod mastodon;

use std::cell::Cell;
use std::time::Duration;

use serde_json::Value;

use crate::domain::platform::Platform;
use crate::domain::publish::credentials::Credentials;
use crate::domain::publish::outcome::{self, AuthFailure, ErrorCode, Verdict};
use crate::domain::publish::retry;
use crate::net::outbound::{Answer, OutRequest, Outbound, OutboundError, ReadError, Redirects};
use crate::store::publishing::{Claimed, MediaRow};

use super::Config;

/// Everything one attempt works with.
pub struct Attempt<'a> {
    pub claimed: &'a Claimed,
    pub credentials: Credentials,
    /// The account's platform session (opened), if it has one.
    pub session: Option<String>,
    pub media: Vec<(MediaRow, Vec<u8>)>,
    pub http: Http,
    pub config: Config,
    /// When this attempt started.
    pub started_ms: i64,
}

/// A published post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub platform_post_id: String,
    pub url: String,
    /// A repeat found it already there.
    pub already: bool,
}

/// Why an attempt stopped short of publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Transient: try again (after `wait_s` if the platform said). `maybe_done`: the creating
    /// request failed in a way that leaves its outcome unknown.
    Retry {
        code: ErrorCode,
        wait_s: Option<u64>,
        maybe_done: bool,
        message: String,
    },
    /// The account's authorisation is gone.
    Auth(AuthFailure, String),
    /// A definitive failure (the platform refused the post, media gone, URL refused…).
    Failed(ErrorCode, String),
    /// A repeat could no longer be made safely (Mastodon, past the idempotency window).
    OutcomeUnknown,
}

/// What an adapter reports: the result, and a platform session to keep if it changed.
pub struct Report {
    pub result: Result<Published, Stop>,
    pub new_session: Option<String>,
}

/// The adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    Bluesky,
    Mastodon,
}

impl Adapter {
    pub fn for_platform(p: Platform) -> Option<Adapter> {
        match p {
            Platform::Bluesky => Some(Adapter::Bluesky),
            Platform::Mastodon => Some(Adapter::Mastodon),
            _ => None,
        }
    }

    pub async fn publish(self, a: &Attempt<'_>) -> Report {
        match self {
            Adapter::Bluesky => bluesky::publish(a).await,
            Adapter::Mastodon => mastodon::publish(a).await,
        }
    }
}

/// The outbound side of one attempt: every request guarded, none redirected, each with its
/// own timeout inside the attempt's budget; remembers the last status a platform answered.
pub struct Http {
    outbound: Outbound,
    call_timeout_ms: u64,
    deadline_ms: f64,
    pub last_status: Cell<Option<u16>>,
}

/// Bodies of platform answers are JSON documents: read at most this much.
const ANSWER_CAP: u64 = 1024 * 1024;

impl Http {
    pub fn new(outbound: Outbound, config: &Config) -> Self {
        Http {
            outbound,
            call_timeout_ms: config.call_timeout_ms,
            deadline_ms: crate::ctx::now_ms() + config.attempt_budget_ms as f64,
            last_status: Cell::new(None),
        }
    }

    /// A GET to `url`, once the guard admits it.
    pub fn get(&self, url: &str) -> Result<OutRequest, Stop> {
        Ok(OutRequest::get(self.guard(url)?))
    }

    /// A POST of `body` to `url`, once the guard admits it.
    pub fn post(&self, url: &str, content_type: &str, body: Vec<u8>) -> Result<OutRequest, Stop> {
        Ok(OutRequest::post(self.guard(url)?, content_type, body))
    }

    fn guard(&self, url: &str) -> Result<crate::domain::url_guard::SafeUrl, Stop> {
        self.outbound.guard(url).map_err(|r| {
            Stop::Failed(
                ErrorCode::UrlNotAllowed,
                format!("The account's URL cannot be reached: {}.", r.problem()),
            )
        })
    }

    /// Sends one request and reads its JSON answer. Network failures and timeouts become
    /// `Stop::Retry` (with `maybe_done` when `creating`); the status is left for the caller.
    pub async fn call(
        &self,
        req: OutRequest,
        creating: bool,
    ) -> Result<(u16, Answer, Value), Stop> {
        // A request that gets no answer leaves no status behind it.
        self.last_status.set(None);
        let left = self.deadline_ms - crate::ctx::now_ms();
        if left <= 0.0 {
            return Err(retry_stop(
                outcome::no_answer(creating),
                "the attempt ran out of time",
            ));
        }
        let timeout = Duration::from_millis((self.call_timeout_ms as f64).min(left) as u64);
        let mut answer = match self.outbound.send(req, Redirects::None, timeout).await {
            Ok(a) => a,
            Err(OutboundError::Refused(r)) => {
                return Err(Stop::Failed(
                    ErrorCode::UrlNotAllowed,
                    format!("The account's URL cannot be reached: {}.", r.problem()),
                ))
            }
            Err(e) => return Err(retry_stop(outcome::no_answer(creating), &e.problem())),
        };
        let status = answer.status();
        self.last_status.set(Some(status));
        let json = match answer.bytes_capped(ANSWER_CAP).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            // The status came but the body did not: for a creating call whose status says
            // it worked, the post exists; the caller reads the status first.
            Err(ReadError::TooLarge { .. }) => Value::Null,
            Err(_) if (200..300).contains(&status) && creating => {
                return Err(retry_stop(
                    outcome::no_answer(true),
                    "the answer was cut off",
                ))
            }
            Err(_) => Value::Null,
        };
        Ok((status, answer, json))
    }
}

/// How long the platform asked us to wait: `Retry-After`, else Bluesky's `ratelimit-reset`.
pub fn wait_s(answer: &Answer) -> Option<u64> {
    let now = crate::ctx::now_ms() as i64;
    answer
        .header("Retry-After")
        .and_then(|v| retry::retry_after_s(&v, now))
        .or_else(|| {
            answer
                .header("ratelimit-reset")
                .and_then(|v| retry::ratelimit_reset_s(&v, now))
        })
}

fn retry_stop(v: Verdict, why: &str) -> Stop {
    match v {
        Verdict::Retry {
            code,
            wait_s,
            maybe_done,
        } => Stop::Retry {
            code,
            wait_s,
            maybe_done,
            message: format!("The platform could not be reached: {why}."),
        },
        _ => Stop::Retry {
            code: ErrorCode::PlatformUnavailable,
            wait_s: None,
            maybe_done: false,
            message: why.to_owned(),
        },
    }
}

/// The platform's own words for an error, cut short (never echoed past 300 characters).
pub fn platform_says(json: &Value) -> String {
    let text = ["message", "error_description", "error", "detail"]
        .iter()
        .find_map(|k| json[*k].as_str())
        .unwrap_or("no details");
    let mut s: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if s.is_empty() {
        s.push_str("no details");
    }
    s
}

/// A non-2xx answer as a `Stop`.
pub fn stop_for(status: u16, wait_s: Option<u64>, creating: bool, json: &Value) -> Stop {
    let says = platform_says(json);
    match outcome::classify(status, wait_s, creating) {
        Verdict::Done => Stop::Failed(
            ErrorCode::PlatformRejected,
            format!("Unexpected answer {status}: {says}"),
        ),
        Verdict::Retry {
            code,
            wait_s,
            maybe_done,
        } => Stop::Retry {
            code,
            wait_s,
            maybe_done,
            message: format!("The platform answered {status}: {says}"),
        },
        Verdict::Auth(f) => Stop::Auth(f, format!("{status}: {says}")),
        Verdict::Refused => Stop::Failed(
            ErrorCode::PlatformRejected,
            format!("The platform refused the post ({status}): {says}"),
        ),
    }
}

/// Joins a base URL (no trailing `/`) and a path.
pub fn url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}
