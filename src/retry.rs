//! The one retry policy: which answers are delivered, retried, split or dropped, how long
//! `Retry-After` may make us wait, and the backoff schedule with jitter.
//!
//! Pure and table-tested: no clock, no sleep, no randomness of its own (the caller passes the
//! jitter value, drawn from [`XorShift`]). The deadline is the caller's business: it never sleeps
//! past it, whatever this module suggests.

use std::time::Duration;

/// What to do with one request after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done.
    Delivered,
    /// Worth another attempt; `after` is the server's `Retry-After`, if it gave a usable one.
    Retry { after: Option<Duration> },
    /// 413: the body is too large; split the events and send each half.
    Split,
    /// Retrying cannot help (bad key, bad request, redirect): drop and count under this status.
    Drop(u16),
    /// Retrying now cannot help, but the data is fine (the request could not even be built,
    /// e.g. an unusable endpoint URL): keep it queued and stop this flush.
    Hold,
}

/// Longest `Retry-After` we take into account; a longer one is capped (the caller's deadline
/// cuts it further).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// First backoff step; doubles per attempt up to [`BACKOFF_CAP`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(50);
pub const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Classifies an HTTP status.
///
/// 3xx: the sender follows no redirects (a POST body must not be silently re-sent elsewhere, and
/// New Relic's ingest never redirects), so a 3xx means a misconfigured endpoint: dropped, counted
/// under its status, and warned about, rather than retried until every flush budget is spent.
pub fn classify_status(status: u16, retry_after: Option<&str>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry { after: retry_after.and_then(parse_retry_after) },
        413 => Verdict::Split,
        _ => Verdict::Drop(status),
    }
}

/// Transport failures (refused, reset, timeout, TLS, DNS, a broken pooled connection) are
/// retried; errors that say the request itself cannot be built or sent anywhere are held.
pub fn classify_transport(err: &ureq::Error) -> Verdict {
    match err {
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::BodyExceedsLimit(_) => Verdict::Hold,
        _ => Verdict::Retry { after: None },
    }
}

/// `Retry-After` in delta-seconds, capped at [`MAX_RETRY_AFTER`]. An HTTP-date (needs a clock
/// we trust to agree with the server's) and anything unparsable give `None`.
pub fn parse_retry_after(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: only overflow can fail, and an overflowing value is "very long": cap it.
    let secs = text.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Wait before retry number `attempt + 1`: "equal jitter" — half of the exponential step is
/// fixed (so an instantly refused connection is never hammered), half is drawn from `jitter`
/// (so many sandboxes recovering together spread out).
pub fn backoff(attempt: u32, jitter: u64) -> Duration {
    let step = BACKOFF_BASE.saturating_mul(1u32 << attempt.min(16)).min(BACKOFF_CAP);
    let half_ms = (step.as_millis() / 2) as u64;
    Duration::from_millis(half_ms + jitter % (half_ms + 1))
}

/// xorshift64: a tiny, fast, non-cryptographic generator for backoff jitter.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Any seed works; zero (the one fixed point of xorshift) is replaced.
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 { 0x2545_f491_4f6c_dd1d } else { seed })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn statuses() {
        #[track_caller]
        fn check(status: u16, retry_after: Option<&str>, expected: Verdict) {
            assert_eq!(classify_status(status, retry_after), expected, "{status}");
        }
        let retry = |after| Verdict::Retry { after };
        check(200, None, Verdict::Delivered);
        check(202, Some("5"), Verdict::Delivered);
        check(299, None, Verdict::Delivered);
        check(408, None, retry(None));
        check(429, Some("1"), retry(secs(1)));
        check(429, Some("soon"), retry(None));
        check(500, None, retry(None));
        check(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), retry(None));
        check(599, Some("2"), retry(secs(2)));
        check(413, None, Verdict::Split);
        check(400, None, Verdict::Drop(400));
        check(401, None, Verdict::Drop(401));
        check(403, Some("1"), Verdict::Drop(403));
        check(404, None, Verdict::Drop(404));
        check(301, None, Verdict::Drop(301));
        check(307, None, Verdict::Drop(307));
        check(101, None, Verdict::Drop(101));
        check(0, None, Verdict::Drop(0));
        check(600, None, Verdict::Drop(600));
    }

    #[test]
    fn transport_errors() {
        #[track_caller]
        fn check(err: ureq::Error, expected: Verdict) {
            assert_eq!(classify_transport(&err), expected, "{err:?}");
        }
        let retry = Verdict::Retry { after: None };
        let io = |kind| ureq::Error::Io(std::io::Error::from(kind));
        check(io(std::io::ErrorKind::ConnectionRefused), retry);
        check(io(std::io::ErrorKind::ConnectionReset), retry);
        check(ureq::Error::Timeout(ureq::Timeout::Global), retry);
        check(ureq::Error::HostNotFound, retry);
        check(ureq::Error::ConnectionFailed, retry);
        check(ureq::Error::Tls("handshake"), retry);
        check(ureq::Error::BadUri("nope".into()), Verdict::Hold);
        check(ureq::Error::InvalidProxyUrl, Verdict::Hold);
    }

    #[test]
    fn retry_after_values() {
        #[track_caller]
        fn check(text: &str, expected: Option<Duration>) {
            assert_eq!(parse_retry_after(text), expected, "{text:?}");
        }
        check("0", secs(0));
        check("1", secs(1));
        check(" 7 ", secs(7));
        check("60", secs(60));
        check("61", secs(60));
        check("99999999999999999999999", secs(60));
        check("", None);
        check("-1", None);
        check("1.5", None);
        check("+3", None);
        check("٣", None);
        check("Fri, 31 Dec 1999 23:59:59 GMT", None);
    }

    #[test]
    fn backoff_schedule() {
        #[track_caller]
        fn check(attempt: u32, jitter: u64, expected_ms: u64) {
            assert_eq!(backoff(attempt, jitter), Duration::from_millis(expected_ms), "{attempt}/{jitter}");
        }
        check(0, 0, 25);
        check(0, 25, 50);
        check(0, 26, 25);
        check(1, 0, 50);
        check(1, u64::MAX, 50); // 2^64 - 1 is a multiple of 51
        check(2, 100, 200);
        check(5, 0, 800);
        check(6, 0, 1000);
        check(6, 1000, 2000);
        check(40, 7, 1007);
        check(u32::MAX, 0, 1000);
    }

    #[test]
    fn backoff_stays_within_its_bounds() {
        let mut rng = XorShift::new(0);
        for attempt in 0..20 {
            let step = BACKOFF_BASE.saturating_mul(1 << attempt.min(16)).min(BACKOFF_CAP);
            for _ in 0..100 {
                let wait = backoff(attempt, rng.next_u64());
                assert!(wait >= step / 2 && wait <= step, "{attempt}: {wait:?}");
            }
        }
    }

    #[test]
    fn xorshift_is_deterministic_and_never_stuck() {
        let mut a = XorShift::new(42);
        let mut b = XorShift::new(42);
        let xs: Vec<u64> = (0..50).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..50).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert!(xs.iter().all(|&x| x != 0));
        let mut zero = XorShift::new(0);
        assert_ne!(zero.next_u64(), 0);
    }
}
