//! New Relic's answers (`retry`): any `Retry-After` text is a bounded wait or nothing, never a
//! panic; delta-seconds read back (capped); every status has exactly one verdict consistent
//! with its class; every backoff lies within its step; the jitter generator never sticks.

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::retry::{
    backoff, classify_status, parse_retry_after, Verdict, XorShift, BACKOFF_BASE, BACKOFF_CAP, MAX_RETRY_AFTER,
};

use crate::json_gen::text;
use crate::support::config;

/// The property of any `Retry-After` value: at most the cap, and only from digits.
pub fn check_retry_after(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    if let Some(wait) = parse_retry_after(&text) {
        prop_assert!(wait <= MAX_RETRY_AFTER);
        let trimmed = text.trim();
        prop_assert!(!trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()), "{:?}", text);
    }
    for status in [429, 503] {
        let verdict = classify_status(status, Some(&text));
        prop_assert_eq!(verdict, Verdict::Retry { after: parse_retry_after(&text) });
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_retry_after_is_bounded(bytes in vec(any::<u8>(), 0..32)) {
        check_retry_after(&bytes)?;
    }

    #[test]
    fn any_retry_after_text_is_bounded(text in text(24)) {
        check_retry_after(text.as_bytes())?;
    }

    #[test]
    fn delta_seconds_read_back(secs in any::<u64>(), zeros in 0usize..3, pad in "[ \t]{0,2}") {
        let text = format!("{pad}{}{secs}{pad}", "0".repeat(zeros));
        prop_assert_eq!(parse_retry_after(&text), Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER)));
    }

    #[test]
    fn every_status_has_one_consistent_verdict(status in any::<u16>(), after in proptest::option::of("[0-9]{1,3}")) {
        let verdict = classify_status(status, after.as_deref());
        let expected = match status {
            200..=299 => Verdict::Delivered,
            408 | 429 | 500..=599 => Verdict::Retry { after: after.as_deref().and_then(parse_retry_after) },
            413 => Verdict::Split,
            other => Verdict::Drop(other),
        };
        prop_assert_eq!(verdict, expected);
    }

    #[test]
    fn backoff_stays_within_its_step(attempt in any::<u32>(), jitter in any::<u64>()) {
        let step = BACKOFF_BASE.saturating_mul(1 << attempt.min(16)).min(BACKOFF_CAP);
        let wait = backoff(attempt, jitter);
        prop_assert!(wait >= step / 2 && wait <= step, "attempt {} jitter {}: {:?}", attempt, jitter, wait);
    }

    #[test]
    fn jitter_never_sticks(seed in any::<u64>()) {
        let mut rng = XorShift::new(seed);
        let draws: Vec<u64> = (0..64).map(|_| rng.next_u64()).collect();
        prop_assert!(draws.iter().all(|&x| x != 0));
        prop_assert!(draws.windows(2).all(|w| w[0] != w[1]));
    }
}
