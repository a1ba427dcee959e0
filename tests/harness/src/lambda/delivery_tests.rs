use super::super::subscribe::{new_sub, SubSpec};
use super::*;
use std::net::SocketAddr;

fn sub(max_items: usize, max_bytes: usize, timeout_ms: u64) -> Sub {
    let spec = SubSpec {
        schema_version: "2022-12-13".into(),
        types: vec!["platform".into()],
        max_items,
        max_bytes,
        timeout_ms,
        port: 9,
        path: Some("/t".into()),
        destination: "http://sandbox:9/t".into(),
    };
    new_sub(1, "e", "n", spec)
}

fn sent(step: Step) -> Option<(String, usize)> {
    match step {
        Step::Send(_, body, items) => Some((body, items)),
        _ => None,
    }
}

#[test]
fn sends_when_max_items_reached() {
    let mut s = sub(2, 1 << 20, 10_000);
    let now = Instant::now();
    push(&mut s, "1", 100);
    assert!(sent(step(&mut s, now, false, Owner::Alive, 100)).is_none());
    push(&mut s, "2", 100);
    push(&mut s, "3", 100);
    assert_eq!(sent(step(&mut s, now, false, Owner::Alive, 100)), Some(("[1,2]".into(), 2)));
    assert_eq!(s.queue.len(), 1);
}

#[test]
fn sends_when_max_bytes_reached_or_timeout_passed() {
    let mut s = sub(100, 5, 10_000);
    let now = Instant::now();
    push(&mut s, "\"abc\"", 100);
    assert_eq!(sent(step(&mut s, now, false, Owner::Alive, 100)), Some(("[\"abc\"]".into(), 1)));
    let mut s = sub(100, 1 << 20, 25);
    push(&mut s, "1", 100);
    assert!(matches!(step(&mut s, now, false, Owner::Alive, 100), Step::Wait(_)));
    let later = now + Duration::from_secs(1);
    assert_eq!(sent(step(&mut s, later, false, Owner::Alive, 100)), Some(("[1]".into(), 1)));
}

#[test]
fn holds_while_frozen_and_redelivers_the_same_batch() {
    let mut s = sub(1, 1 << 20, 25);
    let now = Instant::now() + Duration::from_secs(1);
    push(&mut s, "1", 100);
    assert!(matches!(step(&mut s, now, true, Owner::Alive, 100), Step::Wait(_)));
    s.retry = Some(("[0]".into(), 1));
    s.retry_at = now + Duration::from_millis(50);
    assert!(matches!(step(&mut s, now, false, Owner::Alive, 100), Step::Wait(_)));
    let again = sent(step(&mut s, now + Duration::from_millis(60), false, Owner::Alive, 100));
    assert_eq!((again, s.redeliveries), (Some(("[0]".into(), 1)), 1));
}

#[test]
fn drops_on_overflow_and_reports_it() {
    let mut s = sub(1000, 1 << 20, 25);
    for i in 0..5 {
        push(&mut s, &i.to_string(), 3);
    }
    assert_eq!((s.queue.len(), s.dropped_records, s.unreported_drops), (3, 2, (2, 2)));
    let (body, items) = take_batch(&mut s, 3);
    assert_eq!((body.as_str(), items), ("[0,1,2]", 3));
    let notice = s.queue.front().map(|(_, t)| t.clone()).unwrap_or_default();
    assert!(notice.contains("platform.logsDropped") && notice.contains(r#""droppedRecords":2"#), "{notice}");
}

#[test]
fn tcp_batches_are_ndjson() {
    let mut s = sub(1000, 1 << 20, 25);
    s.target = Target::Tcp { addr: SocketAddr::from(([127, 0, 0, 1], 9)) };
    push(&mut s, "{}", 10);
    push(&mut s, "[]", 10);
    assert_eq!(take_batch(&mut s, 10), ("{}\n[]\n".to_string(), 2));
}

#[test]
fn drain_stops_when_owner_exits_or_deadline_passes() {
    let now = Instant::now();
    let mut s = sub(1000, 1 << 20, 10_000);
    s.drain_until = Some(now + Duration::from_secs(1));
    push(&mut s, "1", 10);
    assert_eq!(sent(step(&mut s, now, false, Owner::Alive, 10)), Some(("[1]".into(), 1)));
    assert!(matches!(step(&mut s, now, false, Owner::Exited, 10), Step::Stop));
    let mut s = sub(1000, 1 << 20, 10_000);
    s.drain_until = Some(now);
    push(&mut s, "1", 10);
    assert!(matches!(step(&mut s, now, false, Owner::Alive, 10), Step::Stop));
}
