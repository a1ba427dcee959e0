//! `deliver` against scripted New Relic answers: what is delivered, split, dropped and handed
//! back, and that order and sequence numbers survive.

use super::*;
use crate::logs::LogEntry;
use std::time::Instant;

fn run(count: u64) -> Vec<Queued> {
    (0..count)
        .map(|n| Queued {
            seq: 100 + n,
            at: Instant::now(),
            item: LogEntry::text(n, format!("line {n:04}"), Some("r")),
        })
        .collect()
}

fn common() -> Common {
    Common::new("fn", "arn", &[], &[])
}

fn result(delivery: Delivery) -> PostResult {
    PostResult { delivery, requests: 1, retries: 0 }
}

/// Number of log entries in a body (each starts with `{"timestamp":`).
fn entries_in(body: &[u8]) -> usize {
    String::from_utf8_lossy(body).matches(r#"{"timestamp":"#).count()
}

#[test]
fn delivers_everything_in_bodies_under_the_limit() {
    let mut bodies = Vec::new();
    let out = deliver_with_limit(&common(), run(50), 1_000, |body| {
        bodies.push(body.to_vec());
        result(Delivery::Delivered)
    });
    assert_eq!((out.delivered, out.requests, out.requeue.len()), (50, bodies.len() as u32, 0));
    assert!(bodies.len() > 1 && bodies.iter().all(|b| b.len() <= 1_000));
    assert_eq!(bodies.iter().map(|b| entries_in(b)).sum::<usize>(), 50);
}

#[test]
fn halves_on_413_until_accepted() {
    let mut sizes = Vec::new();
    let out = deliver(&common(), run(40), |body| {
        let n = entries_in(body);
        sizes.push(n);
        result(if n > 5 { Delivery::TooLarge } else { Delivery::Delivered })
    });
    assert_eq!(out.delivered, 40);
    assert!(out.dropped.is_empty());
    assert_eq!(sizes, [40, 20, 10, 5, 5, 10, 5, 5, 20, 10, 5, 5, 10, 5, 5]);
}

#[test]
fn drops_a_single_entry_still_too_large_and_counts_rejections() {
    let out = deliver(&common(), run(1), |_| result(Delivery::TooLarge));
    assert_eq!(out.dropped, [(DropReason::TooLarge, 1)]);
    let out = deliver_with_limit(&common(), run(30), 1_000, |_| result(Delivery::Rejected(403)));
    assert_eq!(out.dropped, [(DropReason::Rejected(403), 30)]);
    assert_eq!(out.delivered + out.requeue.len(), 0);
}

#[test]
fn hands_back_everything_from_the_first_undelivered_body_in_order() {
    let mut calls = 0;
    let out = deliver_with_limit(&common(), run(30), 1_000, |_| {
        calls += 1;
        result(if calls == 2 { Delivery::Undelivered } else { Delivery::Delivered })
    });
    assert_eq!(calls, 2, "no request after the first failure");
    assert_eq!(out.delivered + out.requeue.len(), 30);
    let seqs: Vec<u64> = out.requeue.iter().map(|q| q.seq).collect();
    let first = 100 + out.delivered as u64;
    assert_eq!(seqs, (first..130).collect::<Vec<_>>());
}

#[test]
fn a_five_megabyte_burst_becomes_valid_bodies_under_both_limits() {
    // 5,000 lines of 1,000 bytes, attributed like a real invocation.
    let burst: Vec<Queued> = (0..5_000)
        .map(|n| Queued {
            seq: n,
            at: Instant::now(),
            item: LogEntry::text(n, format!("{n:05}{}", "z".repeat(995)), Some("req")),
        })
        .collect();
    let mut seen = Vec::new();
    let out = deliver(&common(), burst, |body| {
        assert!(body.len() <= MAX_BODY_BYTES);
        let gz = crate::sender::gzip(body, crate::sender::STORE_LOGS_BELOW).unwrap_or_default();
        assert!(!gz.is_empty() && gz.len() <= crate::sender::MAX_COMPRESSED_BYTES);
        let text = String::from_utf8_lossy(body);
        let parsed: Result<miniserde::json::Value, _> = miniserde::json::from_str(&text);
        assert!(parsed.is_ok(), "body is JSON");
        seen.extend(text.match_indices(r#""message":""#).map(|(i, _)| text[i + 11..i + 16].to_string()));
        result(Delivery::Delivered)
    });
    assert_eq!(out.delivered, 5_000);
    assert!(out.requests >= 6, "{} requests", out.requests);
    let want: Vec<String> = (0..5_000).map(|n| format!("{n:05}")).collect();
    assert_eq!(seen, want);
}
