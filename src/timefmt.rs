//! Wall-clock time as text: RFC 3339 formatting of epoch milliseconds and a tolerant
//! ISO-8601 parser for Telemetry API `time` fields. Pure; no clock is read here except in
//! [`now_ms`].

use std::time::{SystemTime, UNIX_EPOCH};

/// Current wall-clock time, Unix epoch milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `1666361103165` → `2022-10-21T14:05:03.165Z`.
pub fn format_rfc3339_ms(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let ms = epoch_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// Parses `2022-10-21T14:05:03.165Z` (any number of fraction digits, `Z` or `±hh:mm`,
/// `T` or space) into epoch milliseconds. `None` for anything else; never panics.
pub fn parse_iso8601_ms(text: &str) -> Option<u64> {
    let b = text.trim().as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T' | b't' | b' ', h0, h1, b':', mi0, mi1, b':', s0, s1, rest @ ..] =
        b
    else {
        return None;
    };
    let (y, mo, d) = (num(&[*y0, *y1, *y2, *y3])?, num(&[*mo0, *mo1])?, num(&[*d0, *d1])?);
    let (h, mi, s) = (num(&[*h0, *h1])?, num(&[*mi0, *mi1])?, num(&[*s0, *s1])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = rest;
    let mut millis = 0i64;
    if let Some((&b'.', frac)) = rest.split_first() {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for i in 0..3 {
            millis = millis * 10 + frac.get(i).filter(|_| i < digits).map_or(0, |c| (c - b'0') as i64);
        }
        rest = frac.get(digits..).unwrap_or_default();
    }
    let offset_s = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), hh1, hh2, b':', mm1, mm2] => {
            let off = num(&[*hh1, *hh2])? * 3600 + num(&[*mm1, *mm2])? * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let total = (days * 86_400 + h * 3600 + mi * 60 + s - offset_s) * 1000 + millis;
    u64::try_from(total).ok()
}

// Howard Hinnant's civil-date algorithms (public-domain arithmetic).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
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
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Option<u64>) {
        assert_eq!(parse_iso8601_ms(text), expected, "{text}");
    }

    #[test]
    fn parses_telemetry_times() {
        check("2022-10-21T14:05:03.165Z", Some(1_666_361_103_165));
        check("2022-10-21T14:05:03Z", Some(1_666_361_103_000));
        check("2022-10-21T14:05:03.1654321Z", Some(1_666_361_103_165));
        check("2022-10-21T14:05:03.1Z", Some(1_666_361_103_100));
        check("2022-10-21T16:05:03.165+02:00", Some(1_666_361_103_165));
        check("1970-01-01T00:00:00.000Z", Some(0));
        check("2024-02-29T00:00:00Z", Some(1_709_164_800_000));
        check("", None);
        check("2022-13-21T14:05:03Z", None);
        check("2022-10-21T14:05:03.Z", None);
        check("1969-12-31T23:59:59Z", None);
        check("2022-10-21T14:05:03.165Zjunk", None);
        check("２０２２-10-21T14:05:03Z", None);
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1_666_361_103_165, 1_709_164_800_000, 4_102_444_800_999] {
            assert_eq!(parse_iso8601_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
        assert_eq!(format_rfc3339_ms(1_666_361_103_165), "2022-10-21T14:05:03.165Z");
    }
}
