//! Duration strings in the Go style the existing extensions accept: `500ms`, `2s`, `1m30s`,
//! `1.5s`, `2h`. Pure; a bare number or an unknown unit is rejected (the caller keeps its
//! default and warns), because guessing seconds versus milliseconds silently is worse.

use std::time::Duration;

pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest.get(..num_len)?.parse().ok()?;
        rest = rest.get(num_len..)?;
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match rest.get(..unit_len)? {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = rest.get(unit_len..)?;
        total_ns += value * scale;
    }
    // Cap far above any sensible setting so the conversion cannot overflow.
    if !total_ns.is_finite() || total_ns > 1e18 {
        return None;
    }
    // Rounded, not truncated: `32.407s` is 32406999999.999996 ns in binary floating point.
    Some(Duration::from_nanos(total_ns.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Option<u64>) {
        assert_eq!(parse_duration(text).map(|d| d.as_millis() as u64), expected, "{text:?}");
    }

    #[test]
    fn durations() {
        check("500ms", Some(500));
        check("2s", Some(2000));
        check("1m30s", Some(90_000));
        check("1.5s", Some(1500));
        check("32.407s", Some(32_407));
        check("1.001s", Some(1001));
        check(" 10s ", Some(10_000));
        check("2400ms", Some(2400));
        check("1h", Some(3_600_000));
        check("0", Some(0));
        check("10", None);
        check("", None);
        check("s", None);
        check("10 s", None);
        check("1.2.3s", None);
        check("-5s", None);
        check("5parsecs", None);
        check("99999999999999999999h", None);
    }
}
