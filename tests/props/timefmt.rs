//! Timestamps (`timefmt`): formatting then parsing gives back every millisecond from 1970 to
//! 9999; every valid calendar time written by hand parses to what formatting writes; offsets
//! and extra fraction digits are applied as written; any other text is `None`, never a panic.

use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::timefmt::{format_rfc3339_ms, parse_iso8601_ms};

use crate::json_gen::text;
use crate::support::config;

/// The last millisecond of year 9999: four-digit years end there.
const MAX_MS: u64 = 253_402_300_799_999;

fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A valid calendar time from 1970 to 9999, as `(year, month, day, hour, minute, second, ms)`.
fn civil() -> impl Strategy<Value = (u64, u64, u64, u64, u64, u64, u64)> {
    (1970u64..=9999, 1u64..=12)
        .prop_flat_map(|(y, m)| (Just(y), Just(m), 1..=days_in_month(y, m), 0u64..24, 0u64..60, 0u64..60, 0u64..1000))
}

/// The property of any text: no panic, and a parsed time formats and parses back to itself.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    if let Some(ms) = parse_iso8601_ms(text) {
        if ms <= MAX_MS {
            prop_assert_eq!(parse_iso8601_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn format_then_parse_gives_back_every_millisecond(ms in 0..=MAX_MS) {
        let text = format_rfc3339_ms(ms);
        prop_assert_eq!(text.len(), 24, "{}", text);
        prop_assert_eq!(parse_iso8601_ms(&text), Some(ms));
    }

    #[test]
    fn any_calendar_time_parses_to_what_formatting_writes(t in civil(), extra_digits in "[0-9]{0,6}", zulu in prop::sample::select(vec!["Z", "z", ""]), sep in prop::sample::select(vec!["T", "t", " "])) {
        let (y, mo, d, h, mi, s, ms) = t;
        let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}.{ms:03}{extra_digits}{zulu}");
        let parsed = parse_iso8601_ms(&text);
        prop_assert!(parsed.is_some(), "{}", text);
        let canonical = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z");
        prop_assert_eq!(parsed.map(format_rfc3339_ms), Some(canonical));
    }

    #[test]
    fn offsets_are_applied(t in civil(), east in any::<bool>(), oh in 0u64..24, om in 0u64..60) {
        let (y, mo, d, h, mi, s, ms) = t;
        let local = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}");
        let utc = parse_iso8601_ms(&format!("{local}Z")).unwrap_or_default();
        let offset = (oh * 60 + om) * 60_000;
        let sign = if east { '+' } else { '-' };
        let expected = if east { utc.checked_sub(offset) } else { Some(utc + offset) };
        prop_assert_eq!(parse_iso8601_ms(&format!("{local}{sign}{oh:02}:{om:02}")), expected);
    }

    #[test]
    fn any_text_is_a_time_or_none(text in text(32)) {
        check_text(&text)?;
    }

    #[test]
    fn timestamp_shaped_text_is_a_time_or_none(chars in vec(prop::sample::select(vec!['0', '1', '2', '9', '-', ':', 'T', '.', 'Z', '+', ' ', 'x']), 0..32)) {
        let text: String = chars.into_iter().collect();
        check_text(&text)?;
    }
}
