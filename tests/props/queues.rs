//! The byte-bounded queues (`queue::Queue`, `logs::LogQueue`) and log delivery
//! (`logs::deliver`): under any sequence of pushes, takes and requeues, a queue stays within
//! its bound (or holds one item), drops only its oldest items and counts every one, and keeps
//! order; delivery accounts for every entry exactly once and hands back a suffix, in order.

use std::time::Instant;

use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::logs::deliver::deliver_with_limit;
use newrelic_lambda_extension::logs::queue::cost;
use newrelic_lambda_extension::logs::{Common, LogEntry, LogQueue, Queued};
use newrelic_lambda_extension::newrelic::TelemetryEvent;
use newrelic_lambda_extension::queue::Queue;
use newrelic_lambda_extension::sender::{Delivery, DropReason, PostResult};

use crate::support::config;

#[derive(Debug, Clone)]
enum Op {
    Push(usize),
    /// Take up to this many bytes, then put back all but the first `n` (delivered).
    TakeAndRequeue(usize, usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0usize..400).prop_map(Op::Push),
        1 => (1usize..2000, 0usize..4).prop_map(|(max, n)| Op::TakeAndRequeue(max, n)),
    ];
    vec(op, 0..60)
}

/// Book-keeping every queue must agree with: everything pushed is delivered, dropped or still
/// queued; nothing delivered or dropped is ever seen again.
#[derive(Default)]
struct Ledger {
    pushed: usize,
    delivered: usize,
    dropped: usize,
    /// Highest sequence number delivered or dropped so far, from the front.
    gone_below: Option<u64>,
}

impl Ledger {
    fn check(&self, len: usize, front: Option<u64>) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.pushed, self.delivered + self.dropped + len);
        if let (Some(front), Some(gone)) = (front, self.gone_below) {
            prop_assert!(front > gone, "seq {} came back after seq {} was gone", front, gone);
        }
        Ok(())
    }

    fn gone(&mut self, seq: u64) {
        self.gone_below = Some(self.gone_below.map_or(seq, |g| g.max(seq)));
    }
}

fn log_entry(size: usize) -> LogEntry {
    LogEntry::text(0, "x".repeat(size), None)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn log_queue_stays_bounded_drops_oldest_and_counts_all(max in 300usize..3000, ops in ops()) {
        let mut queue = LogQueue::new(max);
        let mut ledger = Ledger::default();
        for op in ops {
            match op {
                Op::Push(size) => {
                    let dropped = queue.push(log_entry(size), Instant::now());
                    ledger.pushed += 1;
                    ledger.dropped += dropped;
                    if let (true, Some(front)) = (dropped > 0, queue.front_seq()) {
                        // Only the oldest go: everything dropped was in front of the new front.
                        ledger.gone(front.saturating_sub(1));
                    }
                }
                Op::TakeAndRequeue(max_take, delivered) => {
                    let mut taken = queue.take(max_take);
                    prop_assert!(taken.len() <= 1 || taken.iter().map(|q| cost(&q.item)).sum::<usize>() <= max_take);
                    prop_assert!(taken.windows(2).all(|w| w[0].seq < w[1].seq));
                    let back = taken.split_off(delivered.min(taken.len()));
                    for q in &taken {
                        ledger.gone(q.seq);
                    }
                    ledger.delivered += taken.len();
                    ledger.dropped += queue.requeue(back);
                }
            }
            let bytes = queue.bytes();
            prop_assert!(bytes <= max || queue.len() <= 1, "{} bytes in {} entries over {}", bytes, queue.len(), max);
            ledger.check(queue.len(), queue.front_seq())?;
        }
        let rest = queue.take(usize::MAX);
        prop_assert!(rest.windows(2).all(|w| w[0].seq < w[1].seq), "order lost");
        prop_assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn telemetry_queue_stays_bounded_drops_oldest_and_counts_all(max in 300usize..3000, ops in ops()) {
        let mut queue = Queue::new(max);
        let mut ledger = Ledger::default();
        let now = Instant::now();
        let event = |size: usize| TelemetryEvent { id: "0123456789abcdef".into(), timestamp_ms: 0, message: "x".repeat(size) };
        for op in ops {
            match op {
                Op::Push(size) => {
                    let dropped = queue.push(event(size), now);
                    ledger.pushed += 1;
                    ledger.dropped += dropped;
                    if let (true, Some(front)) = (dropped > 0, queue.front_seq()) {
                        ledger.gone(front.saturating_sub(1));
                    }
                }
                Op::TakeAndRequeue(max_take, delivered) => {
                    let mut taken = queue.take(max_take);
                    prop_assert!(taken.windows(2).all(|w| w[0].seq < w[1].seq));
                    let back = taken.split_off(delivered.min(taken.len()));
                    for q in &taken {
                        ledger.gone(q.seq);
                    }
                    ledger.delivered += taken.len();
                    ledger.dropped += queue.requeue(back);
                }
            }
            prop_assert!(queue.bytes() <= max || queue.len() <= 1);
            ledger.check(queue.len(), queue.front_seq())?;
        }
        let rest = queue.take(usize::MAX);
        prop_assert!(rest.windows(2).all(|w| w[0].seq < w[1].seq), "order lost");
        prop_assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn delivery_accounts_for_every_entry_once(
        sizes in vec(0usize..300, 0..30),
        answers in vec(prop_oneof![
            4 => Just(Delivery::Delivered),
            1 => Just(Delivery::TooLarge),
            1 => (400u16..500).prop_map(Delivery::Rejected),
            1 => Just(Delivery::Undelivered),
        ], 1..10),
        limit in 200usize..2000,
    ) {
        let entries: Vec<Queued> = sizes.iter().enumerate().map(|(seq, &size)| Queued { seq: seq as u64, at: Instant::now(), item: log_entry(size) }).collect();
        let common = Common::new("f", "arn", &[], &[]);
        let mut posts = 0usize;
        let outcome = deliver_with_limit(&common, entries, limit, |_body| {
            let delivery = answers[posts % answers.len()];
            posts += 1;
            PostResult { delivery, requests: 1, retries: 0 }
        });
        let dropped: usize = outcome.dropped.iter().map(|(_, n)| n).sum();
        prop_assert_eq!(outcome.delivered + dropped + outcome.requeue.len(), sizes.len());
        prop_assert_eq!(outcome.requests as usize, posts);
        let expected: Vec<u64> = (sizes.len() - outcome.requeue.len()..sizes.len()).map(|s| s as u64).collect();
        prop_assert_eq!(outcome.requeue.iter().map(|q| q.seq).collect::<Vec<_>>(), expected, "requeued entries must be the undelivered suffix, in order");
        prop_assert!(outcome.dropped.iter().all(|(reason, n)| *n > 0 && matches!(reason, DropReason::TooLarge | DropReason::Rejected(_))));
        // Posts are bounded: every post delivers, drops, gives up or halves a run.
        prop_assert!(posts <= 2 * sizes.len() + 1, "{} posts for {} entries", posts, sizes.len());
    }
}
