use super::*;
use std::time::Instant;

fn entry(n: u64, id: Option<&str>) -> LogEntry {
    LogEntry::text(n, format!("line {n}"), id)
}

fn seqs(items: &[Queued]) -> Vec<u64> {
    items.iter().map(|q| q.seq).collect()
}

#[test]
fn drops_oldest_beyond_the_bound_and_keeps_the_newest() {
    let one = cost(&entry(0, None));
    let mut queue = LogQueue::new(one * 3);
    assert_eq!((0..3).map(|n| queue.push(entry(n, None), Instant::now())).sum::<usize>(), 0);
    assert_eq!(queue.push(entry(3, None), Instant::now()), 1);
    assert_eq!(queue.front_seq(), Some(1));
    assert_eq!((queue.len(), queue.bytes()), (3, one * 3));
    // One entry larger than the whole bound still stays (alone).
    assert_eq!(queue.push(LogEntry::text(9, "x".repeat(one * 10), None), Instant::now()), 3);
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.next_seq(), 5);
}

#[test]
fn takes_by_bytes_at_least_one_and_requeues_in_order() {
    let one = cost(&entry(0, None));
    let mut queue = LogQueue::new(usize::MAX);
    for n in 0..5 {
        queue.push(entry(n, None), Instant::now());
    }
    let first = queue.take(one * 2);
    assert_eq!(seqs(&first), [0, 1]);
    let second = queue.take(1);
    assert_eq!(seqs(&second), [2]);
    // Later takes go back first, so the older ones end up in front of them.
    assert_eq!(queue.requeue(second), 0);
    assert_eq!(queue.requeue(first), 0);
    assert_eq!(queue.front_seq(), Some(0));
    let all = queue.take(usize::MAX);
    assert_eq!(seqs(&all), [0, 1, 2, 3, 4]);
    assert!(queue.is_empty() && queue.bytes() == 0);
    // Requeue into a full queue drops the oldest.
    let mut small = LogQueue::new(one * 2);
    assert_eq!(small.requeue(all), 3);
    assert_eq!(small.front_seq(), Some(3));
}

#[test]
fn fills_trace_ids_late_and_only_where_missing() {
    let mut queue = LogQueue::new(usize::MAX);
    queue.push(entry(0, Some("a")), Instant::now());
    queue.push(entry(1, Some("b")), Instant::now());
    queue.push(entry(2, None), Instant::now());
    let mut traced = entry(3, Some("a"));
    traced.trace_id = Some("kept".into());
    queue.push(traced, Instant::now());
    let mut taken = queue.take(usize::MAX);
    fill_trace_ids(&mut taken, |id| (id == "a").then(|| "trace-a".to_string()));
    let traces: Vec<Option<&str>> = taken.iter().map(|q| q.item.trace_id.as_deref()).collect();
    assert_eq!(traces, [Some("trace-a"), None, None, Some("kept")]);
}
