//! Rate limits: two fixed windows per bucket — a burst of `RATE_LIMIT_PER_MINUTE` (default 60)
//! per 60 s and a sustained `RATE_LIMIT_PER_15_MINUTES` (default 1000) per 900 s.
//!
//! Each bucket (an API key, a session, or a client IP for credentials not yet resolved) is one
//! Durable Object, `RateLimiter`, so its counts are exact across isolates and locations: every
//! limited request makes one `fetch` to it and gets the decision back as JSON. The object keeps
//! its counters in memory and in durable storage, so an evicted object does not start over.
//!
//! The rules (`decide`, the headers) are pure and tested natively; the object and the client
//! (`check`) are thin. If the object cannot be reached the request goes through (fail open) and
//! the failure is logged: a limiter outage must not take the API down with it.

use serde::{Deserialize, Serialize};

pub const BINDING: &str = "RATE_LIMITER";
pub const BURST_WINDOW_S: u32 = 60;
pub const SUSTAINED_WINDOW_S: u32 = 900;
/// Sessions (the dashboard) get this many times the key limits, in a bucket of their own.
pub const SESSION_FACTOR: u32 = 10;
/// Credentials not in the isolate cache, and credential-less routes, are counted per client IP
/// with this many times the key limits, before any KV or D1 read.
pub const IP_FACTOR: u32 = 10;

/// The quotas of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub burst: u32,
    pub sustained: u32,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        burst: 60,
        sustained: 1000,
    };

    /// From the two wrangler vars; a missing, zero or unreadable value takes the default.
    pub fn from_vars(per_minute: Option<&str>, per_15_minutes: Option<&str>) -> Limits {
        let parse = |v: Option<&str>, default: u32| {
            v.and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        Limits {
            burst: parse(per_minute, Self::DEFAULT.burst),
            sustained: parse(per_15_minutes, Self::DEFAULT.sustained),
        }
    }

    pub fn scaled(self, factor: u32) -> Limits {
        Limits {
            burst: self.burst.saturating_mul(factor),
            sustained: self.sustained.saturating_mul(factor),
        }
    }

    /// `RateLimit-Policy: "burst";q=60;w=60, "sustained";q=1000;w=900`.
    pub fn policy_header(&self) -> String {
        format!(
            "\"burst\";q={};w={BURST_WINDOW_S}, \"sustained\";q={};w={SUSTAINED_WINDOW_S}",
            self.burst, self.sustained
        )
    }
}

/// What a bucket remembers: for each window, when it opened (ms since the epoch) and how many
/// requests it has let through. A window opens with the first request after the previous one
/// closed, so buckets do not all reset at the same instant and a client's window is its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub burst_start: i64,
    pub burst_count: u32,
    pub sustained_start: i64,
    pub sustained_count: u32,
}

/// One window's state after a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    pub quota: u32,
    pub remaining: u32,
    /// Milliseconds until this window resets.
    pub reset_ms: i64,
}

impl WindowState {
    /// Whole seconds to reset, rounded up, at least 1.
    pub fn reset_s(&self) -> i64 {
        ((self.reset_ms + 999) / 1000).max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub burst: WindowState,
    pub sustained: WindowState,
}

/// Rolls a fixed window over when it has run its length (or the clock went backwards).
fn roll(start: &mut i64, count: &mut u32, len_ms: i64, now_ms: i64) {
    if now_ms < *start || now_ms - *start >= len_ms {
        *start = now_ms;
        *count = 0;
    }
}

/// Counts one request against both fixed windows. A refused request is not counted, so a
/// client that waits for `Retry-After` gets through.
pub fn decide(c: &mut Counters, limits: Limits, now_ms: i64) -> Decision {
    let burst_len = i64::from(BURST_WINDOW_S) * 1000;
    let sustained_len = i64::from(SUSTAINED_WINDOW_S) * 1000;
    roll(&mut c.burst_start, &mut c.burst_count, burst_len, now_ms);
    roll(
        &mut c.sustained_start,
        &mut c.sustained_count,
        sustained_len,
        now_ms,
    );
    let allowed = c.burst_count < limits.burst && c.sustained_count < limits.sustained;
    if allowed {
        c.burst_count += 1;
        c.sustained_count += 1;
    }
    Decision {
        allowed,
        burst: WindowState {
            quota: limits.burst,
            remaining: limits.burst.saturating_sub(c.burst_count),
            reset_ms: c.burst_start + burst_len - now_ms,
        },
        sustained: WindowState {
            quota: limits.sustained,
            remaining: limits.sustained.saturating_sub(c.sustained_count),
            reset_ms: c.sustained_start + sustained_len - now_ms,
        },
    }
}

impl Decision {
    /// The window closest to exhaustion: the one with the fewest requests left; among
    /// exhausted windows (or on a tie) the one that resets last, since that is when the client
    /// may really send again.
    pub fn closest(&self) -> (&'static str, &WindowState) {
        let b = ("burst", &self.burst);
        let s = ("sustained", &self.sustained);
        match self.burst.remaining.cmp(&self.sustained.remaining) {
            std::cmp::Ordering::Less => b,
            std::cmp::Ordering::Greater => s,
            std::cmp::Ordering::Equal if self.burst.reset_ms > self.sustained.reset_ms => b,
            std::cmp::Ordering::Equal => s,
        }
    }

    /// `RateLimit: "burst";r=<remaining>;t=<seconds to reset>`.
    pub fn ratelimit_header(&self) -> String {
        let (name, w) = self.closest();
        format!("\"{name}\";r={};t={}", w.remaining, w.reset_s())
    }

    /// On a refusal, milliseconds until every exhausted window has reset.
    pub fn retry_after_ms(&self) -> Option<i64> {
        if self.allowed {
            return None;
        }
        [&self.burst, &self.sustained]
            .into_iter()
            .filter(|w| w.remaining == 0)
            .map(|w| w.reset_ms.max(1))
            .max()
            .or(Some(1000))
    }
}

/// `Retry-After` in whole seconds, rounded up.
pub fn retry_after_s(ms: i64) -> i64 {
    ((ms + 999) / 1000).max(1)
}

/// Which counter a request is charged to. The names hold hashes, never credentials.
pub enum Bucket<'a> {
    Key(&'a str),
    Session(&'a str),
    Ip(&'a str),
}

impl Bucket<'_> {
    pub fn name_and_limits(&self, base: Limits) -> (String, Limits) {
        match self {
            Bucket::Key(hash) => (format!("key:{hash}"), base),
            Bucket::Session(hash) => (format!("session:{hash}"), base.scaled(SESSION_FACTOR)),
            Bucket::Ip(ip) => (format!("ip:{ip}"), base.scaled(IP_FACTOR)),
        }
    }
}

/// The client address as the edge reports it; `unknown` when absent (all such requests then
/// share one bucket).
pub fn client_ip(header: Option<&str>) -> String {
    match header.map(str::trim) {
        Some(ip) if !ip.is_empty() && ip.len() <= 64 => ip.to_owned(),
        _ => "unknown".to_owned(),
    }
}

pub use edge::{check, RateLimiter};

/// The Durable Object and the worker's side of the call.
mod edge {
    use std::cell::RefCell;

    use worker::{durable_object, DurableObject, Env, Request, Response, State};

    use super::{decide, Bucket, Counters, Decision, Limits};
    use crate::ctx::{now_ms, Ctx};
    use crate::http::error::ApiError;

    const STORAGE_KEY: &str = "c";

    #[durable_object]
    pub struct RateLimiter {
        state: State,
        counters: RefCell<Option<Counters>>,
    }

    impl DurableObject for RateLimiter {
        fn new(state: State, _env: Env) -> Self {
            RateLimiter {
                state,
                counters: RefCell::new(None),
            }
        }

        /// `GET /?burst=<q>&sustained=<q>` counts one request and answers the `Decision`.
        async fn fetch(&self, req: Request) -> worker::Result<Response> {
            let url = req.url()?;
            let mut q = (None, None);
            for (k, v) in url.query_pairs() {
                match k.as_ref() {
                    "burst" => q.0 = Some(v.into_owned()),
                    "sustained" => q.1 = Some(v.into_owned()),
                    _ => {}
                }
            }
            let limits = Limits::from_vars(q.0.as_deref(), q.1.as_deref());
            if self.counters.borrow().is_none() {
                let stored: Option<Counters> = self.state.storage().get(STORAGE_KEY).await?;
                let mut slot = self.counters.borrow_mut();
                if slot.is_none() {
                    *slot = Some(stored.unwrap_or_default());
                }
            }
            let now = now_ms() as i64;
            let (decision, counters, new_window) = {
                let mut slot = self.counters.borrow_mut();
                let c = slot.get_or_insert_with(Counters::default);
                let before = c.sustained_start;
                let d = decide(c, limits, now);
                (d, c.clone(), before != c.sustained_start)
            };
            // Written whenever the counters change (a counted request, or a window that rolled
            // over), so an evicted object picks up where it was.
            if decision.allowed || new_window {
                let storage = self.state.storage();
                storage.put(STORAGE_KEY, &counters).await?;
                if new_window {
                    // Forget the bucket once its sustained window is over and nothing came.
                    let end =
                        counters.sustained_start + i64::from(super::SUSTAINED_WINDOW_S) * 1000;
                    storage.set_alarm(end + 1000).await?;
                }
            }
            Response::from_json(&decision)
        }

        async fn alarm(&self) -> worker::Result<Response> {
            let now = now_ms() as i64;
            let len = i64::from(super::SUSTAINED_WINDOW_S) * 1000;
            let stale = self
                .counters
                .borrow()
                .as_ref()
                .is_none_or(|c| now - c.sustained_start >= len);
            if stale {
                self.counters.borrow_mut().take();
                self.state.storage().delete_all().await?;
            }
            Response::ok("")
        }
    }

    /// Charges the request to `bucket`: records the decision for the response headers and the
    /// call in `Server-Timing`; `Err(RateLimited)` when over a limit.
    pub async fn check(ctx: &Ctx, bucket: Bucket<'_>) -> Result<(), ApiError> {
        let base = Limits::from_vars(
            ctx.var("RATE_LIMIT_PER_MINUTE").as_deref(),
            ctx.var("RATE_LIMIT_PER_15_MINUTES").as_deref(),
        );
        let (name, limits) = bucket.name_and_limits(base);
        let started = now_ms();
        let out = ask(ctx, &name, limits).await;
        {
            let mut t = ctx.timing.borrow_mut();
            t.rl_calls += 1;
            t.rl_ms += now_ms() - started;
        }
        match out {
            Ok(d) => {
                let retry = d.retry_after_ms();
                *ctx.rate.borrow_mut() = Some((limits, d));
                match retry {
                    None => Ok(()),
                    Some(ms) => Err(ApiError::RateLimited {
                        retry_after_ms: ms.max(0) as u64,
                    }),
                }
            }
            Err(e) => {
                // Fail open: the limiter being unreachable must not refuse every request.
                worker::console_error!(
                    "{}",
                    serde_json::json!({
                        "level": "error",
                        "requestId": ctx.request_id.as_str(),
                        "cause": format!("rate limiter: {e}"),
                    })
                );
                Ok(())
            }
        }
    }

    async fn ask(ctx: &Ctx, name: &str, limits: Limits) -> worker::Result<Decision> {
        let ns = ctx.env.durable_object(super::BINDING)?;
        let stub = ns.id_from_name(name)?.get_stub()?;
        let mut res = stub
            .fetch_with_str(&format!(
                "https://rate-limiter/?burst={}&sustained={}",
                limits.burst, limits.sustained
            ))
            .await?;
        if res.status_code() != 200 {
            return Err(worker::Error::RustError(format!(
                "status {}",
                res.status_code()
            )));
        }
        res.json::<Decision>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        burst: 3,
        sustained: 5,
    };

    #[test]
    fn limits_come_from_vars_with_defaults() {
        assert_eq!(Limits::from_vars(None, None), Limits::DEFAULT);
        assert_eq!(
            Limits::from_vars(Some("5"), Some(" 7 ")),
            Limits {
                burst: 5,
                sustained: 7
            }
        );
        assert_eq!(Limits::from_vars(Some("0"), Some("x")), Limits::DEFAULT);
        assert_eq!(
            Limits::DEFAULT.scaled(10),
            Limits {
                burst: 600,
                sustained: 10_000
            }
        );
        assert_eq!(Limits::DEFAULT.scaled(u32::MAX).burst, u32::MAX);
    }

    #[test]
    fn policy_header_names_both_windows() {
        assert_eq!(
            Limits::DEFAULT.policy_header(),
            "\"burst\";q=60;w=60, \"sustained\";q=1000;w=900"
        );
    }

    #[test]
    fn burst_refuses_past_the_quota_and_resets_with_the_window() {
        let mut c = Counters::default();
        let t0 = 1_800_000_000_000;
        assert_eq!(
            decide(&mut c, L, t0 - 10_000).burst.remaining,
            2,
            "opens the window"
        );
        for left in [1, 0] {
            let d = decide(&mut c, L, t0);
            assert!(d.allowed);
            assert_eq!(d.burst.remaining, left);
        }
        let d = decide(&mut c, L, t0 + 1);
        assert!(!d.allowed);
        assert_eq!(d.burst.remaining, 0);
        assert_eq!(d.burst.reset_ms, 50_000 - 1);
        assert_eq!(d.retry_after_ms(), Some(49_999));
        assert_eq!(retry_after_s(49_999), 50);
        assert_eq!(d.ratelimit_header(), "\"burst\";r=0;t=50");
        // Refusals are not counted against the sustained window.
        assert_eq!(c.sustained_count, 3);
        let d = decide(&mut c, L, t0 + 50_000);
        assert!(d.allowed, "a new minute");
        assert_eq!(d.burst.remaining, 2);
        assert_eq!(d.sustained.remaining, 1);
        assert_eq!(
            d.burst.reset_ms, 60_000,
            "the new window opened with this request"
        );
    }

    #[test]
    fn sustained_refuses_across_minutes() {
        let mut c = Counters::default();
        let t0 = 1_800_000_000_000;
        for i in 0..5 {
            assert!(decide(&mut c, L, t0 + i * 60_000).allowed);
        }
        let d = decide(&mut c, L, t0 + 5 * 60_000);
        assert!(!d.allowed);
        assert_eq!(d.burst.remaining, 3, "a fresh minute");
        assert_eq!(d.sustained.remaining, 0);
        assert_eq!(d.retry_after_ms(), Some(600_000));
        assert_eq!(d.ratelimit_header(), "\"sustained\";r=0;t=600");
        assert!(decide(&mut c, L, t0 + 900_000).allowed);
    }

    #[test]
    fn both_exhausted_retry_after_the_later_reset() {
        let mut c = Counters::default();
        let t0 = 1_800_000_000_000;
        let l = Limits {
            burst: 2,
            sustained: 2,
        };
        assert!(decide(&mut c, l, t0).allowed);
        assert!(decide(&mut c, l, t0).allowed);
        let d = decide(&mut c, l, t0 + 1000);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms(), Some(899_000));
        assert_eq!(d.closest().0, "sustained");
    }

    #[test]
    fn the_header_reports_the_window_closest_to_exhaustion() {
        let mut c = Counters::default();
        let t0 = 1_800_000_000_000;
        let d = decide(
            &mut c,
            Limits {
                burst: 60,
                sustained: 1000,
            },
            t0,
        );
        assert_eq!(d.ratelimit_header(), "\"burst\";r=59;t=60");
        assert_eq!(d.retry_after_ms(), None);
        let d = decide(
            &mut c,
            Limits {
                burst: 100,
                sustained: 10,
            },
            t0 + 1,
        );
        assert_eq!(d.closest().0, "sustained");
        assert_eq!(d.sustained.remaining, 8);
    }

    #[test]
    fn buckets_are_named_by_hash_and_scaled() {
        let base = Limits::DEFAULT;
        assert_eq!(
            Bucket::Key("ab").name_and_limits(base),
            ("key:ab".into(), base)
        );
        let (n, l) = Bucket::Session("ab").name_and_limits(base);
        assert_eq!((n.as_str(), l.burst), ("session:ab", 600));
        let (n, l) = Bucket::Ip("1.2.3.4").name_and_limits(base);
        assert_eq!((n.as_str(), l.sustained), ("ip:1.2.3.4", 10_000));
        assert_eq!(client_ip(None), "unknown");
        assert_eq!(client_ip(Some(" ")), "unknown");
        assert_eq!(client_ip(Some("2001:db8::1")), "2001:db8::1");
    }

    #[test]
    fn a_clock_going_backwards_opens_a_new_window() {
        let mut c = Counters::default();
        let l = Limits {
            burst: 1,
            sustained: 10,
        };
        assert!(decide(&mut c, l, 1_000_000).allowed);
        assert!(!decide(&mut c, l, 1_000_001).allowed);
        assert!(decide(&mut c, l, 999_000).allowed);
    }

    #[test]
    fn decisions_round_trip_as_json() {
        let mut c = Counters::default();
        let d = decide(&mut c, L, 5);
        let back: Decision = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
