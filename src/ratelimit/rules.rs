//! The rate-limit rules, pure and tested natively: quotas and fixed windows, the object's
//! reservations, an isolate's lease, the response headers, and which bucket a request is
//! charged to. No `worker` here: the object (`object.rs`) and the client (`client.rs`) are thin.

use serde::{Deserialize, Serialize};

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
        let mut out = String::new();
        self.write_policy_header(&mut out);
        out
    }

    /// [`Limits::policy_header`], written into the response's header buffer.
    pub fn write_policy_header(&self, out: &mut impl std::fmt::Write) {
        let _ = write!(
            out,
            "\"burst\";q={};w={BURST_WINDOW_S}, \"sustained\";q={};w={SUSTAINED_WINDOW_S}",
            self.burst, self.sustained
        );
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

/// The most requests one isolate reserves at once.
pub const LEASE_MAX: u32 = 100;
/// An isolate reserves this fraction (1/n) of what is left in the tighter window.
pub const LEASE_DIVISOR: u32 = 16;

/// How many requests to hand an isolate, given what is left in each window.
pub fn lease_size(burst_left: u32, sustained_left: u32) -> u32 {
    (burst_left.min(sustained_left) / LEASE_DIVISOR).clamp(1, LEASE_MAX)
}

/// The object's answer: how many requests it counted for the caller (0 on a refusal), and the
/// windows after counting them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub granted: u32,
    pub decision: Decision,
}

/// Counts a batch of requests (`lease_size` of what is left) against both windows, or none if
/// either window is exhausted.
pub fn reserve(c: &mut Counters, limits: Limits, now_ms: i64) -> Reservation {
    let probe = decide(c, limits, now_ms);
    if !probe.allowed {
        return Reservation {
            granted: 0,
            decision: probe,
        };
    }
    // `decide` counted one; the rest of the batch comes out of what is left after it.
    let extra = lease_size(probe.burst.remaining + 1, probe.sustained.remaining + 1) - 1;
    let extra = extra
        .min(probe.burst.remaining)
        .min(probe.sustained.remaining);
    c.burst_count += extra;
    c.sustained_count += extra;
    let mut decision = probe;
    decision.burst.remaining -= extra;
    decision.sustained.remaining -= extra;
    Reservation {
        granted: extra + 1,
        decision,
    }
}

/// One window as an isolate remembers it: the object's remaining count when it answered, and
/// when the window resets (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LeasedWindow {
    quota: u32,
    remaining: u32,
    reset_at: i64,
}

impl LeasedWindow {
    fn at(w: &WindowState, now_ms: i64) -> Self {
        LeasedWindow {
            quota: w.quota,
            remaining: w.remaining,
            reset_at: now_ms + w.reset_ms,
        }
    }

    fn state(&self, extra_left: u32, now_ms: i64) -> WindowState {
        WindowState {
            quota: self.quota,
            remaining: self.remaining.saturating_add(extra_left),
            reset_ms: self.reset_at - now_ms,
        }
    }
}

/// What an isolate holds for one bucket between calls to the object: requests reserved and not
/// yet spent, or a refusal that stands until its window resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    limits: Limits,
    /// Reserved here and not yet spent; 0 with `refused` set means refused until `until()`.
    left: u32,
    refused: bool,
    burst: LeasedWindow,
    sustained: LeasedWindow,
}

impl Lease {
    /// Turns the object's answer into a lease; a still-valid lease for the same windows (another
    /// request of this isolate reserved concurrently) adds its unspent requests.
    pub fn new(r: &Reservation, limits: Limits, now_ms: i64, previous: Option<&Lease>) -> Lease {
        let mut lease = Lease {
            limits,
            left: r.granted,
            refused: !r.decision.allowed,
            burst: LeasedWindow::at(&r.decision.burst, now_ms),
            sustained: LeasedWindow::at(&r.decision.sustained, now_ms),
        };
        if let Some(p) = previous {
            // Reset times are computed from each answer's arrival, so they differ by the
            // latency; two different windows of one bucket are a whole window length apart.
            let close = |a: i64, b: i64| a.abs_diff(b) < 1000;
            let same_windows = p.limits == limits
                && close(p.burst.reset_at, lease.burst.reset_at)
                && close(p.sustained.reset_at, lease.sustained.reset_at);
            if same_windows && !lease.refused && p.valid(now_ms) {
                lease.left += p.left;
            }
        }
        lease
    }

    /// The time after which this lease says nothing: a refusal lasts until every exhausted
    /// window has reset; reserved requests belong to the windows they were counted in.
    fn until(&self) -> i64 {
        if self.refused {
            [self.burst, self.sustained]
                .iter()
                .filter(|w| w.remaining == 0)
                .map(|w| w.reset_at)
                .max()
                .unwrap_or(self.burst.reset_at)
        } else {
            self.burst.reset_at.min(self.sustained.reset_at)
        }
    }

    fn valid(&self, now_ms: i64) -> bool {
        self.is_live(now_ms) && (self.refused || self.left > 0)
    }

    /// Whether the windows it was granted in are still open.
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.until()
    }

    /// Decides one request locally, if this lease can: a standing refusal, or one reserved
    /// request spent. `None` means ask the object.
    pub fn spend(&mut self, limits: Limits, now_ms: i64) -> Option<Decision> {
        if self.limits != limits || !self.valid(now_ms) {
            return None;
        }
        if !self.refused {
            self.left -= 1;
        }
        Some(Decision {
            allowed: !self.refused,
            burst: self.burst.state(self.left, now_ms),
            sustained: self.sustained.state(self.left, now_ms),
        })
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
        let mut out = String::new();
        self.write_ratelimit_header(&mut out);
        out
    }

    /// [`Decision::ratelimit_header`], written into the response's header buffer.
    pub fn write_ratelimit_header(&self, out: &mut impl std::fmt::Write) {
        let (name, w) = self.closest();
        let _ = write!(out, "\"{name}\";r={};t={}", w.remaining, w.reset_s());
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

/// Which counter a request is charged to. Per user, not per credential: minting keys or
/// opening sessions must not multiply a limit. The names hold ids and network prefixes, never
/// credentials.
pub enum Bucket<'a> {
    /// Every API key of this user (by user id), at the key limits.
    UserKeys(&'a str),
    /// Every session of this user (by user id), at `SESSION_FACTOR` times the key limits.
    UserSessions(&'a str),
    /// A client network, as [`client_ip`] names it.
    Ip(&'a str),
}

impl Bucket<'_> {
    pub fn name_and_limits(&self, base: Limits) -> (String, Limits) {
        match self {
            Bucket::UserKeys(user) => (format!("keys:{user}"), base),
            Bucket::UserSessions(user) => (format!("sessions:{user}"), base.scaled(SESSION_FACTOR)),
            Bucket::Ip(ip) => (format!("ip:{ip}"), base.scaled(IP_FACTOR)),
        }
    }
}

/// The client's bucket from the address the edge reports (`CF-Connecting-IP`): an IPv4 address
/// as it is; an IPv6 address by its /64, the block one subscriber usually holds (counting each
/// of its 2^64 addresses apart would give one client that many buckets); an IPv4-mapped IPv6
/// address as the IPv4 address. Anything else (absent, or not an address: the header comes from
/// the edge, so this should not happen) is `unknown`, one shared bucket. Total: `parse` reads
/// any text without panicking.
pub fn client_ip(header: Option<&str>) -> String {
    use std::net::IpAddr;
    let Some(addr) = header.and_then(|h| h.trim().parse::<IpAddr>().ok()) else {
        return "unknown".to_owned();
    };
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
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
    fn buckets_are_named_by_user_or_network_and_scaled() {
        let base = Limits::DEFAULT;
        assert_eq!(
            Bucket::UserKeys("usr_a").name_and_limits(base),
            ("keys:usr_a".into(), base)
        );
        let (n, l) = Bucket::UserSessions("usr_a").name_and_limits(base);
        assert_eq!((n.as_str(), l.burst), ("sessions:usr_a", 600));
        let (n, l) = Bucket::Ip("1.2.3.4").name_and_limits(base);
        assert_eq!((n.as_str(), l.sustained), ("ip:1.2.3.4", 10_000));
    }

    #[test]
    fn client_networks_are_ipv4_addresses_and_ipv6_slash_64s() {
        for (header, bucket) in [
            (Some("203.0.113.7"), "203.0.113.7"),
            (Some(" 203.0.113.7 "), "203.0.113.7"),
            (Some("2001:db8::1"), "2001:db8:0:0::/64"),
            (
                Some("2001:db8:0:0:ffff:ffff:ffff:ffff"),
                "2001:db8:0:0::/64",
            ),
            (Some("2001:DB8:a:b:1:2:3:4"), "2001:db8:a:b::/64"),
            (Some("2001:db8:a:c::1"), "2001:db8:a:c::/64"),
            (Some("::ffff:203.0.113.7"), "203.0.113.7"),
            (Some("::1"), "0:0:0:0::/64"),
            (None, "unknown"),
            (Some(""), "unknown"),
            (Some(" "), "unknown"),
            (Some("unknown"), "unknown"),
            (Some("203.0.113.7, 198.51.100.1"), "unknown"),
            (Some("2001:db8::1%eth0"), "unknown"),
            (Some("[2001:db8::1]"), "unknown"),
            (Some("203.0.113.256"), "unknown"),
            (Some("０.０.０.０"), "unknown"),
            (Some("2001:db8::é"), "unknown"),
        ] {
            assert_eq!(client_ip(header), bucket, "{header:?}");
        }
        // Two addresses of one /64 share a bucket; the next /64 is another.
        assert_eq!(
            client_ip(Some("2001:db8:1:2::1")),
            client_ip(Some("2001:db8:1:2:abcd::9"))
        );
        assert_ne!(
            client_ip(Some("2001:db8:1:2::1")),
            client_ip(Some("2001:db8:1:3::1"))
        );
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
    #[test]
    fn lease_sizes_are_a_sixteenth_of_the_tighter_window_within_bounds() {
        assert_eq!(lease_size(0, 0), 1);
        assert_eq!(lease_size(5, 1000), 1, "near the limit every request asks");
        assert_eq!(lease_size(60, 1000), 3);
        assert_eq!(lease_size(1000, 60), 3);
        assert_eq!(lease_size(1_000_000, 1_000_000), LEASE_MAX);
    }

    #[test]
    fn reservations_never_let_more_than_the_quota_through() {
        // However the isolates ask, the object grants at most the quota per window.
        let limits = Limits {
            burst: 60,
            sustained: 1000,
        };
        let mut c = Counters::default();
        let t0 = 1_800_000_000_000;
        let mut granted = Vec::new();
        loop {
            let r = reserve(&mut c, limits, t0);
            if r.granted == 0 {
                assert!(!r.decision.allowed);
                assert_eq!(r.decision.burst.remaining, 0);
                break;
            }
            assert!(r.decision.allowed);
            granted.push(r.granted);
        }
        assert_eq!(granted.iter().sum::<u32>(), 60);
        assert_eq!(granted[0], 3, "a sixteenth of 60 left");
        assert_eq!(*granted.last().unwrap(), 1, "one at a time near the end");
        assert_eq!(c.burst_count, 60);
        assert_eq!(c.sustained_count, 60);
        // The sustained window bounds the batch as well.
        let mut c = Counters::default();
        let tight = Limits {
            burst: 1000,
            sustained: 2,
        };
        assert_eq!(reserve(&mut c, tight, t0).granted, 1);
        assert_eq!(reserve(&mut c, tight, t0).granted, 1);
        assert_eq!(reserve(&mut c, tight, t0).granted, 0);
    }

    fn reservation(granted: u32, burst_left: u32, reset_ms: i64) -> Reservation {
        Reservation {
            granted,
            decision: Decision {
                allowed: granted > 0,
                burst: WindowState {
                    quota: 60,
                    remaining: burst_left,
                    reset_ms,
                },
                sustained: WindowState {
                    quota: 1000,
                    remaining: 900,
                    reset_ms: 600_000,
                },
            },
        }
    }

    const L60: Limits = Limits {
        burst: 60,
        sustained: 1000,
    };

    #[test]
    fn a_lease_spends_its_reserved_requests_then_asks_again() {
        let now = 1_000;
        // The object counted 3 for this isolate and has 50 left for everyone.
        let mut lease = Lease::new(&reservation(3, 50, 30_000), L60, now, None);
        let rs: Vec<u32> = (0..3)
            .map(|i| {
                let d = lease.spend(L60, now + i).expect("reserved");
                assert!(d.allowed);
                assert_eq!(d.burst.reset_ms, 30_000 - i);
                d.burst.remaining
            })
            .collect();
        assert_eq!(
            rs,
            [52, 51, 50],
            "what is left, counting the unspent reservation"
        );
        assert_eq!(lease.spend(L60, now + 3), None, "spent: ask the object");
    }

    #[test]
    fn a_lease_ends_with_its_window_or_a_change_of_limits() {
        let now = 1_000;
        let mut lease = Lease::new(&reservation(5, 50, 30_000), L60, now, None);
        assert!(lease.clone().spend(L60, now + 29_999).is_some());
        assert_eq!(
            lease.clone().spend(L60, now + 30_000),
            None,
            "window closed"
        );
        let other = Limits {
            burst: 61,
            sustained: 1000,
        };
        assert_eq!(lease.spend(other, now), None, "limits changed");
        assert!(!lease.is_live(now + 30_000));
    }

    #[test]
    fn a_refusal_stands_locally_until_its_window_resets() {
        let now = 1_000;
        let mut lease = Lease::new(&reservation(0, 0, 20_000), L60, now, None);
        for dt in [0, 10_000, 19_999] {
            let d = lease.spend(L60, now + dt).expect("refused locally");
            assert!(!d.allowed);
            assert_eq!(d.retry_after_ms(), Some(20_000 - dt));
        }
        assert_eq!(lease.spend(L60, now + 20_000), None, "then ask again");
    }

    #[test]
    fn concurrent_reservations_of_one_isolate_add_up() {
        let now = 1_000;
        let first = Lease::new(&reservation(3, 50, 30_000), L60, now, None);
        // Answered 7 ms later: the same windows, seen through a little latency.
        let mut second = Lease::new(&reservation(3, 47, 29_993), L60, now + 7, Some(&first));
        let spent = (0..6)
            .filter(|_| second.spend(L60, now + 7).is_some())
            .count();
        assert_eq!(spent, 6);
        // A lease of an older window is not carried into a new one.
        let mut fresh = Lease::new(&reservation(1, 59, 60_000), L60, now, Some(&first));
        assert!(fresh.spend(L60, now).is_some());
        assert_eq!(fresh.spend(L60, now), None);
    }

    #[test]
    fn reservations_round_trip_as_json() {
        let r = reservation(3, 50, 30_000);
        let back: Reservation = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
