//! RFC 3339 timestamps, kept as milliseconds since the Unix epoch.
//!
//! Stored and returned as `YYYY-MM-DDTHH:MM:SS.mmmZ`: fixed width, so D1 orders and compares
//! the TEXT columns correctly. Accepts any RFC 3339 offset on input and normalises to UTC.
//! Hand-written because the two conversions below are all the product needs, and the usual
//! crates bring clocks that panic on wasm or far more code than this.
//!
//! Every accepted instant lies in [`MIN`]..=[`MAX`] (years 1970 to 9999 in UTC, after the
//! offset is applied), the range `to_rfc3339` writes in its fixed width: so whatever `parse`
//! accepts is written back in a form `parse` reads again. The grammar is ASCII; any other byte
//! is refused before anything is read, and the parser indexes bytes, never `str` slices, so no
//! input can make it panic.

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

const BAD: DomainError =
    DomainError::new("must be an RFC 3339 date-time, e.g. 2026-01-31T09:30:00Z");
const OUT_OF_RANGE: DomainError = DomainError::new(
    "must be a date-time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (in UTC, after its offset)",
);
const MS_PER_DAY: i64 = 86_400_000;
/// Longer than any sensible RFC 3339 text (nanoseconds and an offset take 35 bytes); bounds
/// the work on hostile input.
pub const MAX_LEN: usize = 64;

/// The earliest instant accepted: `1970-01-01T00:00:00.000Z`.
pub const MIN: Timestamp = Timestamp(0);
/// The latest instant accepted: `9999-12-31T23:59:59.999Z`.
pub const MAX: Timestamp = Timestamp(253_402_300_799_999);
/// How far ahead a time to act at may be: five years, one leap day included. Nothing the
/// product schedules needs more, and a bound far inside [`MAX`] keeps the arithmetic on it
/// (windows, reminders, retries) in range.
pub const HORIZON_DAYS: i64 = 5 * 365 + 1;

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Saturating, so no arithmetic on a timestamp can overflow.
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// An RFC 3339 date-time (`T` or `t`, `Z`, `z` or `±HH:MM`, any number of fraction digits,
    /// of which milliseconds are kept), normalised to UTC and within [`MIN`]..=[`MAX`].
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let b = s.as_bytes();
        // ASCII only, before anything is read: the positions below are then characters too.
        if b.len() < 20 || b.len() > MAX_LEN || !b.is_ascii() {
            return Err(BAD);
        }
        if b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(BAD);
        }
        let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
        let (hour, minute, second) = (
            digits(&b[11..13])?,
            digits(&b[14..16])?,
            digits(&b[17..19])?,
        );
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(BAD);
        }
        let mut i = 19;
        let mut millis = 0;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(BAD);
            }
            // Keep milliseconds; finer digits are truncated.
            let kept = &b[start..i.min(start + 3)];
            millis = digits(kept)? * 10_i64.pow(3 - kept.len() as u32);
        }
        let offset_minutes = match &b[i..] {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
                if h > 23 || m > 59 {
                    return Err(BAD);
                }
                let minutes = h * 60 + m;
                if *sign == b'-' {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => return Err(BAD),
        };
        let days = days_from_civil(year, month, day);
        let ms = days * MS_PER_DAY
            + ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000
            + millis;
        let t = Timestamp(ms);
        if t < MIN || t > MAX {
            return Err(OUT_OF_RANGE);
        }
        Ok(t)
    }

    /// A time to act at (a post's `scheduledFor`, a key's `expiresAt`): after `now` and at
    /// most [`HORIZON_DAYS`] after it.
    pub fn parse_ahead(s: &str, now: Timestamp) -> Result<Self, DomainError> {
        let t = Self::parse(s)?;
        if t <= now {
            return Err(DomainError::new("must be in the future"));
        }
        if t > now.plus_millis(HORIZON_DAYS * MS_PER_DAY) {
            return Err(DomainError::new(
                "must be at most 1826 days (five years) from now",
            ));
        }
        Ok(t)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(MS_PER_DAY);
        let rem = self.0.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let (ms, secs) = (rem % 1000, rem / 1000);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// A run of ASCII digits as a number; anything else (a sign, a space, an empty run) is refused.
/// Callers pass at most 4 bytes, so it cannot overflow.
fn digits(b: &[u8]) -> Result<i64, DomainError> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return Err(BAD);
    }
    Ok(b.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T12:34:56.789Z", 951_827_696_789),
            ("2026-11-25T12:00:00+01:00", 1_795_604_400_000),
            ("2026-11-25T11:00:00.5z", 1_795_604_400_500),
            ("2026-11-25T11:00:00.123456789Z", 1_795_604_400_123),
            // The bounds, reached through an offset too.
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T01:00:00+01:00", 0),
            ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
            ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999),
            ("9999-12-31T22:59:59.999-01:00", 253_402_300_799_999),
            ("1969-12-31T23:00:00-01:00", 0),
        ];
        for (s, ms) in cases {
            assert_eq!(Timestamp::parse(s).unwrap().millis(), ms, "{s}");
        }
    }

    #[test]
    fn formats_fixed_width_utc_and_round_trips() {
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(-1).to_rfc3339(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(MAX.to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(MIN.to_rfc3339(), "1970-01-01T00:00:00.000Z");
        for ms in [
            0,
            1,
            951_827_696_789,
            1_795_604_400_500,
            4_102_444_800_000,
            MAX.millis(),
        ] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(Timestamp::parse(&t.to_rfc3339()).unwrap(), t);
        }
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-11-25",
            "2026-11-25T12:00:00",
            "2026-11-25 12:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T12:00:00.Z",
            "2026-11-25T12:00:00+0100",
            "2026-11-25T12:00:00+25:00",
            "+026-11-25T12:00:00Z",
            "2026-11-25T12:00:00+01:00Z",
            "2026-11-25T12:00:00+1:00",
            "2026-11-25T12:00:00+01:0a",
            "2026-11-25T12:00:0+Z",
            "2026-1-25T12:00:00.0000Z",
            "tomorrow",
            // Non-ASCII where the old parser sliced a `str` by byte offsets (it panicked).
            "2026-11-25T12:00:0\u{e9}Z",
            "2026-11-25T12:00:00\u{e9}:00Z",
            "2026-11-25T12:00:00\u{e9}+1:00",
            "2026-11-25T12:00:00.1\u{e9}",
            "\u{e9}026-11-25T12:00:00Z",
            "2026-11-25T12:00:00.000Z\u{0}",
            // Over-long.
            &format!("2026-11-25T12:00:00.{}Z", "1".repeat(MAX_LEN)),
        ] {
            assert_eq!(Timestamp::parse(bad), Err(BAD), "{bad:?}");
        }
    }

    #[test]
    fn refuses_instants_outside_years_1970_to_9999_after_the_offset() {
        for out in [
            "9999-12-31T23:59:59-23:59",
            "9999-12-31T23:59:59-00:01",
            "9999-12-31T23:00:00-01:00",
            "1970-01-01T00:00:00+00:01",
            "1970-01-01T00:00:00.000+23:59",
            "1969-12-31T23:59:59.999Z",
            "0000-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(out), Err(OUT_OF_RANGE), "{out}");
        }
    }

    #[test]
    fn times_to_act_at_are_in_the_future_and_within_the_horizon() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let ok = |s: &str| Timestamp::parse_ahead(s, now).map(Timestamp::to_rfc3339);
        assert_eq!(
            ok("2026-01-01T00:00:00.001Z").unwrap(),
            "2026-01-01T00:00:00.001Z"
        );
        // 1826 days after 2026-01-01 is 2031-01-01 (one leap day, 2028, on the way).
        assert_eq!(
            ok("2031-01-01T00:00:00Z").unwrap(),
            "2031-01-01T00:00:00.000Z"
        );
        for (s, problem) in [
            ("2026-01-01T00:00:00Z", "must be in the future"),
            ("2025-12-31T23:59:59Z", "must be in the future"),
            (
                "2031-01-01T00:00:00.001Z",
                "must be at most 1826 days (five years) from now",
            ),
            (
                "9999-12-31T23:59:59Z",
                "must be at most 1826 days (five years) from now",
            ),
        ] {
            assert_eq!(ok(s).unwrap_err().0, problem, "{s}");
        }
        assert_eq!(ok("9999-12-31T23:59:59-23:59"), Err(OUT_OF_RANGE));
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            Timestamp::from_millis(i64::MAX).plus_millis(1).millis(),
            i64::MAX
        );
        assert_eq!(
            Timestamp::from_millis(i64::MIN).plus_millis(-1).millis(),
            i64::MIN
        );
    }
}
