//! When to try again: the platform's own word (`Retry-After`, Bluesky's `ratelimit-reset`),
//! else exponential backoff; and the bounds of a Queues delay.

use crate::domain::time::days_from_civil;

/// The longest delay Cloudflare Queues accepts for a message (12 hours).
pub const MAX_QUEUE_DELAY_S: u64 = 43_200;

/// `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, as seconds from `now_ms`
/// (0 for a date in the past). `None` for anything else. Total: any text is safe to pass.
pub fn retry_after_s(value: &str, now_ms: i64) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok();
    }
    let at = http_date_ms(v)?;
    Some(((at - now_ms).max(0) as u64).div_ceil(1000))
}

/// Bluesky's `ratelimit-reset`: the Unix time (seconds) when the window resets, as seconds
/// from `now_ms`.
pub fn ratelimit_reset_s(value: &str, now_ms: i64) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || v.len() > 15 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let at_s: i64 = v.parse().ok()?;
    Some(((at_s * 1000 - now_ms).max(0) as u64).div_ceil(1000))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime), as milliseconds.
pub fn http_date_ms(v: &str) -> Option<i64> {
    if !v.is_ascii() || v.len() > 64 {
        return None;
    }
    let words: Vec<&str> = v.split_ascii_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, m, y, t, "GMT"] => (*d, *m, y.parse::<i64>().ok()?, *t),
        // Sunday, 06-Nov-94 08:49:37 GMT
        [_, dmy, t, "GMT"] => {
            let mut p = dmy.split('-');
            let (d, m, y) = (p.next()?, p.next()?, p.next()?);
            if p.next().is_some() || y.len() != 2 {
                return None;
            }
            let yy: i64 = y.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
            (d, m, if yy < 70 { 2000 + yy } else { 1900 + yy }, *t)
        }
        // Sun Nov  6 08:49:37 1994
        [_, m, d, t, y] => (*d, *m, y.parse::<i64>().ok()?, *t),
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    if day.is_empty() || day.len() > 2 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: i64 = day.parse().ok()?;
    let hms: Vec<&str> = time.split(':').collect();
    let [h, mi, s] = hms.as_slice() else {
        return None;
    };
    let two = |x: &str| -> Option<i64> {
        (x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse().ok())
            .flatten()
    };
    let (h, mi, s) = (two(h)?, two(mi)?, two(s)?);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 59 || !(1900..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000)
}

/// Exponential backoff with equal jitter: the `attempt`-th retry (1, 2, …) waits between half
/// and all of `base_s × 2^(attempt-1)`, at most `cap_s`. `seed` picks the point in that range
/// (a hash of the target id and attempt, so it is stable and spreads targets apart).
pub fn backoff_s(attempt: u32, base_s: u64, cap_s: u64, seed: u64) -> u64 {
    let full = base_s
        .max(1)
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(32))
        .min(cap_s.max(1));
    let half = full / 2;
    (half + seed % (full - half + 1)).max(1)
}

/// What a platform asked for, clamped to what a queue can delay: at least 1 s, at most 12 h.
pub fn queue_delay_s(wait_s: u64) -> u32 {
    wait_s.clamp(1, MAX_QUEUE_DELAY_S) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    // 1994-11-06T08:49:37Z
    const RFC_EXAMPLE_MS: i64 = 784_111_777_000;

    #[test]
    fn http_dates_in_all_three_forms() {
        for (text, want) in [
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(RFC_EXAMPLE_MS)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(RFC_EXAMPLE_MS)),
            ("Sun Nov  6 08:49:37 1994", Some(RFC_EXAMPLE_MS)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Sun, 06 Nov 1994 08:49:37 UTC", None),
            ("Sun, 06 Foo 1994 08:49:37 GMT", None),
            ("Sun, 32 Nov 1994 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 8:49:37 GMT", None),
            ("Sun, 06 Nov 1994 08:49 GMT", None),
            ("Sun, 06 Nov 199x 08:49:37 GMT", None),
            ("Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT extra", None),
            ("Sunday, 06-Nov-1994 08:49:37 GMT", None),
            ("", None),
            ("Sun, ０6 Nov 1994 08:49:37 GMT", None),
        ] {
            assert_eq!(http_date_ms(text), want, "{text:?}");
        }
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = RFC_EXAMPLE_MS - 30_500;
        for (text, want) in [
            ("0", Some(0)),
            ("120", Some(120)),
            (" 7 ", Some(7)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(31)), // 30.5 s ahead, rounded up
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),  // in the past: now
            ("-1", None),
            ("1.5", None),
            ("soon", None),
            ("99999999999999999999999", None),
            ("٣", None),
        ] {
            assert_eq!(retry_after_s(text, now), want, "{text:?}");
        }
    }

    #[test]
    fn ratelimit_reset_is_a_unix_time_in_seconds() {
        let now = 1_700_000_000_000;
        assert_eq!(ratelimit_reset_s("1700000060", now), Some(60));
        assert_eq!(ratelimit_reset_s("1699999999", now), Some(0));
        assert_eq!(ratelimit_reset_s("x", now), None);
        assert_eq!(ratelimit_reset_s("", now), None);
        assert_eq!(ratelimit_reset_s("9999999999999999", now), None);
    }

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_at_the_cap() {
        for (attempt, lo, hi) in [
            (1, 2, 4),
            (2, 4, 8),
            (3, 8, 16),
            (4, 16, 32),
            (8, 150, 300),
            (40, 150, 300),
        ] {
            for seed in [0, 1, 7, 999, u64::MAX] {
                let d = backoff_s(attempt, 4, 300, seed);
                assert!((lo..=hi).contains(&d), "attempt {attempt} seed {seed}: {d}");
            }
            assert_eq!(backoff_s(attempt, 4, 300, 0), lo);
        }
        assert_eq!(backoff_s(1, 0, 0, 0), 1);
        assert_eq!(backoff_s(0, 1, 10, 0), 1);
    }

    #[test]
    fn queue_delays_are_between_one_second_and_twelve_hours() {
        assert_eq!(queue_delay_s(0), 1);
        assert_eq!(queue_delay_s(30), 30);
        assert_eq!(queue_delay_s(10_000_000), 43_200);
    }
}
