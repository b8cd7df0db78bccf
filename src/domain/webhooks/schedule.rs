//! When a delivery is tried again, given up, or its endpoint disabled — decided from the answer
//! to one attempt and the endpoint's recent history, nothing else.
//!
//! A delivery is tried at once, then after about 5 s, 30 s, 2 min, 10 min, 1 h, 6 h and 24 h
//! (8 attempts over about 31 hours). Any 2xx is success; a 410 Gone disables the endpoint at
//! once; an endpoint whose every attempt has failed for 3 days is disabled. Cloudflare Queues
//! delay a message by at most 24 hours, so a longer wait would hop through the queue in legs
//! ([`queue_delay_s`]); the schedule's longest wait fits in one.

use crate::domain::DomainError;

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The wait before each retry: `RETRY_DELAYS_MS[n]` follows the (n+1)-th failed attempt.
pub const RETRY_DELAYS_MS: [i64; 7] = [
    5 * SECOND,
    30 * SECOND,
    2 * MINUTE,
    10 * MINUTE,
    HOUR,
    6 * HOUR,
    DAY,
];
/// Attempts in one series: the first and one per retry delay.
pub const ATTEMPTS_PER_SERIES: u32 = RETRY_DELAYS_MS.len() as u32 + 1;
/// An endpoint failing every attempt for this long is disabled.
pub const DISABLE_AFTER_FAILING_MS: i64 = 3 * DAY;
/// After a rotation the previous secret signs too, for this long.
pub const ROTATION_OVERLAP_MS: i64 = DAY;
/// One attempt's deadline: connect, answer, and the part of the body that is kept.
pub const ATTEMPT_TIMEOUT_MS: u64 = 10_000;
/// How much of a receiver's answer is kept in the attempt log.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;
/// Cloudflare Queues' longest `delaySeconds` (24 hours).
pub const QUEUE_MAX_DELAY_S: u32 = 86_400;

/// How fast the schedule's clock runs: 1 in production; tests make every wait (retry delays and
/// the 3-day window) N times shorter through `WEBHOOK_RETRY_SPEEDUP=N`, a setting ignored when
/// `ENVIRONMENT` is `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace(i64);

impl Pace {
    pub const REAL: Pace = Pace(1);

    /// The deployment's setting: absent, or a whole number from 1 to 10^9.
    pub fn parse(raw: Option<&str>, production: bool) -> Result<Pace, DomainError> {
        match raw {
            None => Ok(Pace::REAL),
            Some(_) if production => Err(DomainError::new("is ignored in production")),
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if (1..=1_000_000_000).contains(&n) => Ok(Pace(n)),
                _ => Err(DomainError::new(
                    "must be a whole number from 1 to 1000000000",
                )),
            },
        }
    }

    pub fn scale(self, ms: i64) -> i64 {
        ms / self.0
    }
}

/// Why an endpoint stopped receiving deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// It answered 410 Gone.
    Gone,
    /// Every attempt failed for [`DISABLE_AFTER_FAILING_MS`].
    Failing,
    /// The outbound guard refused its URL at delivery (e.g. https became required).
    UrlNotAllowed,
    /// A member set `enabled: false`.
    Manual,
}

impl DisableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisableReason::Gone => "GONE",
            DisableReason::Failing => "FAILING",
            DisableReason::UrlNotAllowed => "URL_NOT_ALLOWED",
            DisableReason::Manual => "MANUAL",
        }
    }
}

/// What one attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status (redirects are answers too: they are never followed).
    Status(u16),
    /// No answer: timeout, connection refused or reset.
    NoAnswer,
    /// The guard refused the URL before anything was sent.
    Refused,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again at this time (milliseconds since the epoch).
    RetryAt(i64),
    /// The series is over without success; the endpoint stays enabled.
    GiveUp,
    /// The delivery failed and the endpoint is disabled.
    Disable(DisableReason),
}

/// The decision after an attempt. `series_attempts` counts the attempts of this series,
/// this one included; `failing_since` is when the endpoint's current run of failures began
/// (`None` if its last attempt succeeded).
pub fn decide(
    answer: Answer,
    series_attempts: u32,
    failing_since: Option<i64>,
    now: i64,
    pace: Pace,
) -> Decision {
    match answer {
        Answer::Status(s) if (200..300).contains(&s) => return Decision::Delivered,
        Answer::Status(410) => return Decision::Disable(DisableReason::Gone),
        Answer::Refused => return Decision::Disable(DisableReason::UrlNotAllowed),
        Answer::Status(_) | Answer::NoAnswer => {}
    }
    let since = failing_since.unwrap_or(now);
    if now.saturating_sub(since) >= pace.scale(DISABLE_AFTER_FAILING_MS) {
        return Decision::Disable(DisableReason::Failing);
    }
    match retry_delay_ms(series_attempts, pace) {
        Some(delay) => Decision::RetryAt(now.saturating_add(delay)),
        None => Decision::GiveUp,
    }
}

/// The wait after the `failed`-th failed attempt of a series, if another attempt follows.
pub fn retry_delay_ms(failed: u32, pace: Pace) -> Option<i64> {
    let i = usize::try_from(failed.checked_sub(1)?).ok()?;
    RETRY_DELAYS_MS.get(i).map(|&d| pace.scale(d))
}

/// When the endpoint's run of failures began, after an attempt with this decision.
pub fn failing_since_after(decision: Decision, before: Option<i64>, now: i64) -> Option<i64> {
    match decision {
        Decision::Delivered => None,
        _ => Some(before.unwrap_or(now)),
    }
}

/// The `delaySeconds` of a queue message for an attempt due at `due`: whole seconds, rounded
/// up, at most the Queue's cap (a later attempt takes another leg when the message arrives).
pub fn queue_delay_s(due: i64, now: i64) -> u32 {
    let ms = due.saturating_sub(now).max(0);
    let secs = ms / SECOND + i64::from(ms % SECOND != 0);
    u32::try_from(secs).map_or(QUEUE_MAX_DELAY_S, |s| s.min(QUEUE_MAX_DELAY_S))
}

/// Whether the secret rotated out at `expires_at - ROTATION_OVERLAP_MS` still signs at `now`.
pub fn previous_still_signs(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|t| now < t)
}

/// The first [`RESPONSE_EXCERPT_BYTES`] of an answer, cut on a character boundary.
pub fn excerpt(text: &str) -> &str {
    if text.len() <= RESPONSE_EXCERPT_BYTES {
        return text;
    }
    let mut end = RESPONSE_EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn the_schedule_is_the_documented_one() {
        let waits: Vec<i64> = (1..=ATTEMPTS_PER_SERIES)
            .map_while(|n| retry_delay_ms(n, Pace::REAL))
            .collect();
        assert_eq!(
            waits,
            [5_000, 30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000]
        );
        assert_eq!(ATTEMPTS_PER_SERIES, 8);
        assert_eq!(retry_delay_ms(0, Pace::REAL), None);
        assert_eq!(retry_delay_ms(8, Pace::REAL), None);
        assert_eq!(retry_delay_ms(u32::MAX, Pace::REAL), None);
        // The whole series spans about 31 hours, well inside the 3 days that disable.
        let total: i64 = RETRY_DELAYS_MS.iter().sum();
        assert_eq!(total, 112_355_000);
        assert!(total < DISABLE_AFTER_FAILING_MS);
        // Every wait fits in one queue message.
        assert!(RETRY_DELAYS_MS
            .iter()
            .all(|&d| d <= QUEUE_MAX_DELAY_S as i64 * 1000));
    }

    #[test]
    fn decisions() {
        use Answer::*;
        use Decision::*;
        let p = Pace::REAL;
        let hour_ago = Some(NOW - HOUR);
        let three_days_ago = Some(NOW - 3 * DAY);
        let cases: &[(Answer, u32, Option<i64>, Decision)] = &[
            (Status(200), 1, None, Delivered),
            (Status(204), 5, three_days_ago, Delivered),
            (Status(299), 1, None, Delivered),
            (Status(410), 1, None, Disable(DisableReason::Gone)),
            (Refused, 1, None, Disable(DisableReason::UrlNotAllowed)),
            (Status(500), 1, None, RetryAt(NOW + 5_000)),
            (Status(301), 1, None, RetryAt(NOW + 5_000)),
            (Status(404), 2, hour_ago, RetryAt(NOW + 30_000)),
            (NoAnswer, 3, hour_ago, RetryAt(NOW + 120_000)),
            (Status(429), 7, hour_ago, RetryAt(NOW + 86_400_000)),
            (Status(503), 8, hour_ago, GiveUp),
            (NoAnswer, 1, three_days_ago, Disable(DisableReason::Failing)),
            (
                Status(500),
                1,
                Some(NOW - 3 * DAY + 1),
                RetryAt(NOW + 5_000),
            ),
        ];
        for &(answer, n, since, expected) in cases {
            assert_eq!(
                decide(answer, n, since, NOW, p),
                expected,
                "{answer:?} {n} {since:?}"
            );
        }
    }

    #[test]
    fn a_faster_pace_shortens_every_wait_and_the_window() {
        let fast = Pace::parse(Some("1000"), false).unwrap();
        assert_eq!(retry_delay_ms(1, fast), Some(5));
        assert_eq!(retry_delay_ms(7, fast), Some(86_400));
        assert_eq!(
            decide(Answer::NoAnswer, 1, Some(NOW - 260_000), NOW, fast),
            Decision::Disable(DisableReason::Failing)
        );
        assert_eq!(Pace::parse(None, false), Ok(Pace::REAL));
        assert_eq!(Pace::parse(None, true), Ok(Pace::REAL));
        assert!(Pace::parse(Some("1000"), true).is_err());
        for bad in ["0", "-5", "1.5", "", "fast", "10000000000"] {
            assert!(Pace::parse(Some(bad), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn failing_since_starts_at_the_first_failure_and_ends_with_a_success() {
        let first = failing_since_after(Decision::RetryAt(NOW + 5), None, NOW);
        assert_eq!(first, Some(NOW));
        assert_eq!(
            failing_since_after(Decision::GiveUp, Some(NOW - 9), NOW),
            Some(NOW - 9)
        );
        assert_eq!(
            failing_since_after(Decision::Delivered, Some(NOW - 9), NOW),
            None
        );
    }

    #[test]
    fn queue_delays_are_whole_seconds_within_the_cap() {
        assert_eq!(queue_delay_s(NOW, NOW), 0);
        assert_eq!(queue_delay_s(NOW - 5_000, NOW), 0);
        assert_eq!(queue_delay_s(NOW + 1, NOW), 1);
        assert_eq!(queue_delay_s(NOW + 5_000, NOW), 5);
        assert_eq!(queue_delay_s(NOW + 86_400_000, NOW), 86_400);
        assert_eq!(queue_delay_s(NOW + 3 * DAY, NOW), QUEUE_MAX_DELAY_S);
        assert_eq!(queue_delay_s(i64::MAX, 0), QUEUE_MAX_DELAY_S);
    }

    #[test]
    fn the_previous_secret_signs_until_its_expiry() {
        let expires = Some(NOW + ROTATION_OVERLAP_MS);
        assert!(previous_still_signs(expires, NOW));
        assert!(previous_still_signs(expires, NOW + ROTATION_OVERLAP_MS - 1));
        assert!(!previous_still_signs(expires, NOW + ROTATION_OVERLAP_MS));
        assert!(!previous_still_signs(None, NOW));
    }

    #[test]
    fn excerpts_stop_at_1_kb_on_a_character_boundary() {
        assert_eq!(excerpt("ok"), "ok");
        let long = "a".repeat(2000);
        assert_eq!(excerpt(&long).len(), 1024);
        // 1023 ASCII bytes then a 2-byte character straddling the limit.
        let straddle = format!("{}é{}", "a".repeat(1023), "b".repeat(10));
        assert_eq!(excerpt(&straddle).len(), 1023);
        let exact = "é".repeat(512);
        assert_eq!(excerpt(&exact), exact);
    }

    #[test]
    fn reasons_have_stable_names() {
        let names: Vec<&str> = [
            DisableReason::Gone,
            DisableReason::Failing,
            DisableReason::UrlNotAllowed,
            DisableReason::Manual,
        ]
        .iter()
        .map(|r| r.as_str())
        .collect();
        assert_eq!(names, ["GONE", "FAILING", "URL_NOT_ALLOWED", "MANUAL"]);
    }
}
