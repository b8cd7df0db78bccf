//! RFC 3339 timestamps, kept as milliseconds since the Unix epoch.
//!
//! Stored and returned as `YYYY-MM-DDTHH:MM:SS.mmmZ`: fixed width, so D1 orders and compares
//! the TEXT columns correctly. Accepts any RFC 3339 offset on input and normalises to UTC.
//! Hand-written because the two conversions below are all the product needs, and the usual
//! crates bring clocks that panic on wasm or far more code than this.

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

const BAD: DomainError =
    DomainError::new("must be an RFC 3339 date-time, e.g. 2026-01-31T09:30:00Z");
const MS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0 + ms)
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(BAD);
        }
        let num = |from: usize, to: usize| -> Result<i64, DomainError> {
            let part = &s[from..to];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                Ok(part.parse::<i64>().map_err(|_| BAD)?)
            } else {
                Err(BAD)
            }
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
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
            let digits = &s[start..i.min(start + 3)];
            millis = digits.parse::<i64>().map_err(|_| BAD)? * 10_i64.pow(3 - digits.len() as u32);
        }
        let offset_minutes = match &s[i..] {
            "Z" | "z" => 0,
            off if off.len() == 6 && matches!(&off[..1], "+" | "-") && &off[3..4] == ":" => {
                let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
                if h > 23 || m > 59 {
                    return Err(BAD);
                }
                let sign = if off.starts_with('-') { -1 } else { 1 };
                sign * (h * 60 + m)
            }
            _ => return Err(BAD),
        };
        let days = days_from_civil(year, month, day);
        let ms = days * MS_PER_DAY
            + ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000
            + millis;
        Ok(Timestamp(ms))
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
            ("1969-12-31T23:59:59.999Z", -1),
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
        for ms in [
            0,
            1,
            951_827_696_789,
            1_795_604_400_500,
            4_102_444_800_000,
            -86_400_001,
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
            "tomorrow",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }
}
