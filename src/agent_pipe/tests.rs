use std::io::Write;
use std::time::Duration;

use super::*;

const FIRST: &[u8] = include_bytes!("../../tests/data/agent/python-v1-1.json");
const SECOND: &[u8] = include_bytes!("../../tests/data/agent/python-v1-2.json");
const WAIT: Duration = Duration::from_secs(10);

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nr-agent-pipe-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write_once(path: &Path, bytes: &[u8]) {
    // Opening for writing blocks until the reader thread has opened its end.
    let mut writer = fs::OpenOptions::new().write(true).open(path).unwrap();
    writer.write_all(bytes).unwrap();
}

fn next_payload(rx: &crossbeam_channel::Receiver<Event>) -> AgentPayload {
    match rx.recv_timeout(WAIT) {
        Ok(Event::AgentPayload(p)) => p,
        other => panic!("expected an agent payload, got {other:?}"),
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A FIFO in a fresh directory and a reader started on it (reading ids when `inspect`).
fn running(tag: &str, inspect: bool) -> (TempDir, PathBuf, crossbeam_channel::Receiver<Event>, Reader) {
    let dir = TempDir::new(tag);
    let fifo = dir.0.join("newrelic-telemetry");
    create(&fifo).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    let reader = spawn_reader(fifo.clone(), tx, inspect).unwrap();
    (dir, fifo, rx, reader)
}

#[test]
fn glued_payloads_in_one_write_become_two_events() {
    let (_dir, fifo, rx, _reader) = running("glued", true);
    write_once(&fifo, &[FIRST, b"\n", SECOND].concat());
    let (first, second) = (next_payload(&rx), next_payload(&rx));
    assert_eq!(first.text.as_bytes(), FIRST);
    assert_eq!(first.info.as_ref().and_then(|i| i.request_id.as_deref()), Some("7f1c0d2a-0001-4c5e-9a7b-000000000001"));
    assert_eq!(second.text.as_bytes(), SECOND);
    assert_eq!(
        second.info.as_ref().and_then(|i| i.request_id.as_deref()),
        Some("7f1c0d2a-0002-4c5e-9a7b-000000000002")
    );
    assert!(first.received_ms > 0 && second.received_ms >= first.received_ms);
}

#[test]
fn without_inspect_payloads_are_forwarded_unread() {
    let (_dir, fifo, rx, _reader) = running("unread", false);
    write_once(&fifo, FIRST);
    let first = next_payload(&rx);
    assert_eq!(first.text.as_bytes(), FIRST);
    assert!(first.info.is_none(), "the pipeline reads the ids when it needs them");
}

#[test]
fn a_writer_that_writes_nothing_sends_nothing() {
    let (_dir, fifo, rx, _reader) = running("empty", true);
    write_once(&fifo, b"");
    write_once(&fifo, b" \n");
    write_once(&fifo, FIRST);
    // Had the empty opens produced events, they would come first.
    assert_eq!(next_payload(&rx).text.as_bytes(), FIRST);
    assert!(rx.is_empty());
}

#[test]
fn reader_ends_when_the_channel_is_gone() {
    let (_dir, fifo, rx, reader) = running("disconnected", true);
    drop(rx);
    write_once(&fifo, FIRST);
    reader.thread.join().unwrap();
}

#[test]
fn reader_ends_when_the_fifo_is_missing_or_not_a_fifo() {
    let dir = TempDir::new("missing");
    let (tx, rx) = crossbeam_channel::bounded(16);
    spawn_reader(dir.0.join("absent"), tx, true).unwrap().thread.join().unwrap();
    // A regular file would read the same bytes forever: refused, nothing sent.
    let file = dir.0.join("regular");
    fs::write(&file, FIRST).unwrap();
    let (tx2, rx2) = crossbeam_channel::bounded(16);
    spawn_reader(file, tx2, true).unwrap().thread.join().unwrap();
    assert!(rx.is_empty() && rx2.is_empty());
}

#[test]
fn back_to_back_writers_lose_nothing() {
    // Each write is its own open/write/close, as fast as possible: with a reader that
    // reopened after every EOF, writes landing between its EOF and its close were lost.
    let (_dir, fifo, rx, _reader) = running("back-to-back", true);
    for _ in 0..300 {
        write_once(&fifo, FIRST);
    }
    for n in 0..300 {
        assert_eq!(next_payload(&rx).text.as_bytes(), FIRST, "payload {n}");
    }
}

#[test]
fn an_unfinished_write_is_forwarded_as_is_and_the_next_payload_survives() {
    let (_dir, fifo, rx, _reader) = running("truncated", true);
    write_once(&fifo, b"plain text from a confused agent");
    assert_eq!(next_payload(&rx).text, "plain text from a confused agent");
    let cut = &FIRST[..FIRST.len() / 2];
    write_once(&fifo, &[cut, SECOND].concat());
    assert_eq!(next_payload(&rx).text.as_bytes(), cut);
    assert_eq!(next_payload(&rx).text.as_bytes(), SECOND);
}

#[test]
fn a_broken_write_does_not_hold_back_a_busy_agents_payloads() {
    let (_dir, fifo, rx, _reader) = running("busy-after-broken", true);
    write_once(&fifo, br#"{"broken": "#);
    // The scenario: an agent writing a good payload every 40 ms, so the pipe is never
    // quiet for TAIL_TIMEOUT. The tail must still be settled TAIL_TIMEOUT after it began.
    for _ in 0..19 {
        write_once(&fifo, FIRST);
        thread::sleep(Duration::from_millis(40));
    }
    let early = rx.len();
    write_once(&fifo, FIRST);
    assert!(early > 0, "nothing came out during 760 ms of writes after a broken one");
    assert_eq!(next_payload(&rx).text, r#"{"broken":"#);
    for n in 0..20 {
        assert_eq!(next_payload(&rx).text.as_bytes(), FIRST, "payload {n}");
    }
}

#[test]
fn a_drain_hands_over_a_held_tail_before_its_marker() {
    let (_dir, fifo, rx, reader) = running("drain", true);
    write_once(&fifo, &[FIRST, b"[1,\"NR_LAMBDA_MONITORING\",\"cut"].concat());
    assert_eq!(next_payload(&rx).text.as_bytes(), FIRST);
    assert!(reader.drain.request());
    assert_eq!(next_payload(&rx).text, "[1,\"NR_LAMBDA_MONITORING\",\"cut");
    assert!(matches!(rx.recv_timeout(WAIT), Ok(Event::PipeDrained)));
    // Nothing held: a drain answers at once, and the reader keeps working afterwards.
    assert!(reader.drain.request());
    assert!(matches!(rx.recv_timeout(WAIT), Ok(Event::PipeDrained)));
    write_once(&fifo, SECOND);
    assert_eq!(next_payload(&rx).text.as_bytes(), SECOND);
}

#[test]
fn a_payload_in_two_writes_arrives_whole() {
    let (_dir, fifo, rx, _reader) = running("two-writes", true);
    let mut writer = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let (a, b) = FIRST.split_at(100);
    writer.write_all(a).unwrap();
    writer.write_all(b).unwrap();
    assert_eq!(next_payload(&rx).text.as_bytes(), FIRST);
}

#[test]
fn stale_file_is_replaced_by_a_fifo_with_mode_0666() {
    let dir = TempDir::new("stale");
    let path = dir.0.join("newrelic-telemetry");
    fs::write(&path, b"stale").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    create(&path).unwrap();
    assert!(fs::metadata(&path).unwrap().file_type().is_fifo());
    assert_eq!(mode(&path), 0o666);
    // Re-creating over a FIFO and over a dangling symlink works too.
    create(&path).unwrap();
    assert_eq!(mode(&path), 0o666);
    fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(dir.0.join("nowhere"), &path).unwrap();
    create(&path).unwrap();
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_fifo());
    remove(&path);
    assert!(!path.exists());
}
