//! The agent FIFO: creation (the one place that needs `unsafe`) and the reader thread, which
//! turns the byte stream into one `Event::AgentPayload` per top-level JSON value. It never parses
//! beyond what `payload` does, never drops bytes it read, and never holds the process up:
//! the thread is detached and ends when the channel closes or the FIFO disappears.
// FFI to libc::mkfifo and libc::poll, which std does not offer.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::event::{AgentPayload, Event};
use crate::{payload, timefmt};

/// Most bytes held from one open before they are forwarded. Real payloads are ~2 KB; a text
/// above ~1.3 MB cannot fit a 1,000,000-byte compressed request anyway, so 2 MiB loses nothing
/// deliverable. Beyond it, what was read is forwarded and reading goes on in further chunks of
/// this size. Kept small on purpose: every read rescans the unfinished tail (at 16 MiB, a
/// 24 MiB write took over 50 s to drain in a debug build), and one event larger than the
/// telemetry queue's bound would push every other queued event out.
pub const MAX_READ_BYTES: u64 = 2 << 20;

/// How long an unfinished tail (a write that is not whole JSON) waits to become whole before it
/// is forwarded as it is, split as well as it can be. A real payload arrives in one `write`, so
/// its bytes are all in the pipe together; only broken writes wait this long.
const TAIL_TIMEOUT: Duration = Duration::from_millis(200);

/// Failed opens in a row before the reader gives up (the FIFO was removed or replaced).
const OPEN_ATTEMPTS: u32 = 5;
/// First retry delay after a failed open; doubles per attempt (10+20+40+80 ms in all).
const OPEN_BACKOFF: Duration = Duration::from_millis(10);

/// Removes a stale file at `path` and creates a FIFO with mode 0666.
pub fn create(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        // A directory is only removed when empty: a tree is nobody's stale pipe.
        Ok(meta) if meta.is_dir() => fs::remove_dir(path)?,
        Ok(_) => fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `c_path` is a valid NUL-terminated string that lives across the call.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o666) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // mkfifo applies the umask; agents running as another user must still be able to write.
    fs::set_permissions(path, fs::Permissions::from_mode(0o666))
}

/// Removes the FIFO (best effort), e.g. when initialization fails after creating it.
pub fn remove(path: &Path) {
    let _ = fs::remove_file(path);
}

/// The running reader thread.
pub struct Reader {
    pub thread: thread::JoinHandle<()>,
    /// Asks the reader to forward everything it holds (see [`Drain`]).
    pub drain: Drain,
}

/// Wakes the reader: it forwards the bytes it holds back (an unfinished write), then sends
/// `Event::PipeDrained`. Everything written to the pipe before the call is then in the
/// channel ahead of that event: SHUTDOWN uses it as a barrier.
pub struct Drain(UnixStream);

impl Drain {
    pub fn request(&self) -> bool {
        (&self.0).write_all(b"!").is_ok()
    }
}

/// Starts the named reader thread. It never keeps the process alive (the process exits
/// around it).
pub fn spawn_reader(path: PathBuf, tx: crossbeam_channel::Sender<Event>) -> io::Result<Reader> {
    let (ours, theirs) = UnixStream::pair()?;
    let thread = thread::Builder::new().name("agent-pipe".into()).spawn(move || read_loop(&path, &tx, &theirs))?;
    Ok(Reader { thread, drain: Drain(ours) })
}

/// The channel is gone: nobody will ever read what we send.
struct Disconnected;

fn read_loop(path: &Path, tx: &crossbeam_channel::Sender<Event>, wake: &UnixStream) {
    let mut failures = 0;
    loop {
        match open_fifo(path) {
            Ok(file) => {
                if let Err(e) = stream(file, tx, wake) {
                    match e {
                        StreamEnd::Disconnected => return,
                        StreamEnd::Io(e) => crate::warn!("agent pipe read failed: {e}"),
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if failures >= OPEN_ATTEMPTS {
                    crate::warn!("agent pipe {}: {e}; reader stopped", path.display());
                    return;
                }
                thread::sleep(OPEN_BACKOFF * 2u32.pow(failures - 1));
            }
        }
    }
}

/// Opens the FIFO for reading *and* writing, so the pipe always has a reader and a writer:
/// the open never blocks, reads never see EOF, and the kernel never frees the pipe buffer.
/// Reopening after every EOF (what the agents' protocol suggests) loses any payload written
/// between the EOF and the close: the last reader's close discards it. Anything but a FIFO is
/// refused: a regular file would be read again and again.
fn open_fifo(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new().read(true).write(true).open(path)?;
    if !file.metadata()?.file_type().is_fifo() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a FIFO"));
    }
    Ok(file)
}

enum StreamEnd {
    Disconnected,
    Io(io::Error),
}

/// Reads the byte stream, forwarding every complete top-level JSON value as soon as it is
/// whole. An unfinished tail is kept until more bytes come; if none come within
/// [`TAIL_TIMEOUT`] (a truncated or non-JSON write), it is forwarded as it is.
fn stream(mut file: File, tx: &crossbeam_channel::Sender<Event>, wake: &UnixStream) -> Result<(), StreamEnd> {
    let disconnected = |_| StreamEnd::Disconnected;
    let mut pending: Vec<u8> = Vec::new();
    // Since when the bytes in `pending` have been waiting to become whole.
    let mut waiting_since = Instant::now();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut wake_open = true;
    loop {
        // Timed from when the tail started, not from the last byte: a busy agent writing good
        // payloads behind a broken one must not keep them waiting.
        let limit = (!pending.is_empty()).then(|| TAIL_TIMEOUT.saturating_sub(waiting_since.elapsed()));
        let (data, mut drain) = wait(&file, wake_open.then_some(wake), limit);
        if drain {
            let mut token = [0u8; 64];
            // EOF: the other side is gone (the pipeline ended); stop listening to it.
            if matches!((&*wake).read(&mut token), Ok(0) | Err(_)) {
                wake_open = false;
                drain = false;
            }
        }
        if drain || (!data && !pending.is_empty()) {
            // Whatever is in the pipe right now belongs before the drain barrier too.
            if drain && data {
                read_available(&mut file, &mut chunk, &mut pending).map_err(StreamEnd::Io)?;
            }
            forward(&pending, tx).map_err(disconnected)?;
            pending = Vec::new();
            if drain {
                tx.send(Event::PipeDrained).map_err(|_| StreamEnd::Disconnected)?;
            }
            continue;
        }
        if !data {
            continue;
        }
        if pending.is_empty() {
            waiting_since = Instant::now();
        }
        let read = read_available(&mut file, &mut chunk, &mut pending).map_err(StreamEnd::Io)?;
        if read == 0 {
            return Ok(());
        }
        // A value can only become whole with a closing bracket: without one in the new bytes,
        // rescanning what is held would find nothing new (and would cost quadratic time on a
        // large write that is not JSON).
        let may_close = chunk.get(..read).unwrap_or_default().iter().any(|b| matches!(b, b']' | b'}'));
        let consumed = if may_close {
            let (pieces, consumed) = payload::split_complete(&pending);
            for piece in pieces {
                send(piece, tx).map_err(disconnected)?;
            }
            consumed
        } else {
            0
        };
        if consumed > 0 {
            pending.drain(..consumed);
            waiting_since = Instant::now();
        }
        if pending.len() as u64 >= MAX_READ_BYTES {
            forward(&pending, tx).map_err(disconnected)?;
            pending = Vec::new();
        }
    }
}

/// One read of what the FIFO has, appended to `pending`; 0 only if the FIFO reports EOF.
fn read_available(file: &mut File, chunk: &mut [u8], pending: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        match file.read(chunk) {
            Ok(n) => {
                pending.extend_from_slice(chunk.get(..n).unwrap_or_default());
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Waits until the FIFO has bytes or a drain is requested, at most `limit` (forever if
/// `None`). Returns (FIFO readable, drain requested).
fn wait(file: &File, wake: Option<&UnixStream>, limit: Option<Duration>) -> (bool, bool) {
    use std::os::fd::AsRawFd;
    let mut fds = [
        libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        // A negative fd is ignored by poll.
        libc::pollfd { fd: wake.map_or(-1, AsRawFd::as_raw_fd), events: libc::POLLIN, revents: 0 },
    ];
    let millis = limit.map_or(-1, |l| libc::c_int::try_from(l.as_millis()).unwrap_or(libc::c_int::MAX));
    // SAFETY: `fds` is an array of two valid pollfds that outlives the call; nfds matches it.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, millis) };
    if ready <= 0 {
        return (false, false);
    }
    let [fifo, drain] = fds;
    (fifo.revents & libc::POLLIN != 0, drain.revents & (libc::POLLIN | libc::POLLHUP) != 0)
}

/// One event per payload in `bytes`; whitespace-only input sends nothing.
fn forward(bytes: &[u8], tx: &crossbeam_channel::Sender<Event>) -> Result<(), Disconnected> {
    for piece in payload::split(bytes) {
        send(piece, tx)?;
    }
    Ok(())
}

fn send(piece: &[u8], tx: &crossbeam_channel::Sender<Event>) -> Result<(), Disconnected> {
    let event = AgentPayload {
        text: String::from_utf8_lossy(piece).into_owned(),
        info: payload::inspect(piece),
        received_ms: timefmt::now_ms(),
    };
    tx.send(Event::AgentPayload(event)).map_err(|_| Disconnected)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    const FIRST: &[u8] = include_bytes!("../tests/data/agent/python-v1-1.json");
    const SECOND: &[u8] = include_bytes!("../tests/data/agent/python-v1-2.json");
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

    #[test]
    fn glued_payloads_in_one_write_become_two_events() {
        let dir = TempDir::new("glued");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(16);
        spawn_reader(fifo.clone(), tx).unwrap();
        write_once(&fifo, &[FIRST, b"\n", SECOND].concat());
        let (first, second) = (next_payload(&rx), next_payload(&rx));
        assert_eq!(first.text.as_bytes(), FIRST);
        assert_eq!(first.info.request_id.as_deref(), Some("7f1c0d2a-0001-4c5e-9a7b-000000000001"));
        assert_eq!(second.text.as_bytes(), SECOND);
        assert_eq!(second.info.request_id.as_deref(), Some("7f1c0d2a-0002-4c5e-9a7b-000000000002"));
        assert!(first.received_ms > 0 && second.received_ms >= first.received_ms);
    }

    #[test]
    fn a_writer_that_writes_nothing_sends_nothing() {
        let dir = TempDir::new("empty");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(16);
        spawn_reader(fifo.clone(), tx).unwrap();
        write_once(&fifo, b"");
        write_once(&fifo, b" \n");
        write_once(&fifo, FIRST);
        // Had the empty opens produced events, they would come first.
        assert_eq!(next_payload(&rx).text.as_bytes(), FIRST);
        assert!(rx.is_empty());
    }

    #[test]
    fn reader_ends_when_the_channel_is_gone() {
        let dir = TempDir::new("disconnected");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(16);
        let reader = spawn_reader(fifo.clone(), tx).unwrap();
        drop(rx);
        write_once(&fifo, FIRST);
        reader.thread.join().unwrap();
    }

    #[test]
    fn reader_ends_when_the_fifo_is_missing_or_not_a_fifo() {
        let dir = TempDir::new("missing");
        let (tx, rx) = crossbeam_channel::bounded(16);
        spawn_reader(dir.0.join("absent"), tx).unwrap().thread.join().unwrap();
        // A regular file would read the same bytes forever: refused, nothing sent.
        let file = dir.0.join("regular");
        fs::write(&file, FIRST).unwrap();
        let (tx2, rx2) = crossbeam_channel::bounded(16);
        spawn_reader(file, tx2).unwrap().thread.join().unwrap();
        assert!(rx.is_empty() && rx2.is_empty());
    }

    #[test]
    fn back_to_back_writers_lose_nothing() {
        // Each write is its own open/write/close, as fast as possible: with a reader that
        // reopened after every EOF, writes landing between its EOF and its close were lost.
        let dir = TempDir::new("back-to-back");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        spawn_reader(fifo.clone(), tx).unwrap();
        for _ in 0..300 {
            write_once(&fifo, FIRST);
        }
        for n in 0..300 {
            assert_eq!(next_payload(&rx).text.as_bytes(), FIRST, "payload {n}");
        }
    }

    #[test]
    fn an_unfinished_write_is_forwarded_as_is_and_the_next_payload_survives() {
        let dir = TempDir::new("truncated");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        spawn_reader(fifo.clone(), tx).unwrap();
        write_once(&fifo, b"plain text from a confused agent");
        assert_eq!(next_payload(&rx).text, "plain text from a confused agent");
        let cut = &FIRST[..FIRST.len() / 2];
        write_once(&fifo, &[cut, SECOND].concat());
        assert_eq!(next_payload(&rx).text.as_bytes(), cut);
        assert_eq!(next_payload(&rx).text.as_bytes(), SECOND);
    }

    #[test]
    fn a_broken_write_does_not_hold_back_a_busy_agents_payloads() {
        let dir = TempDir::new("busy-after-broken");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        spawn_reader(fifo.clone(), tx).unwrap();
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
        let dir = TempDir::new("drain");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let reader = spawn_reader(fifo.clone(), tx).unwrap();
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
        let dir = TempDir::new("two-writes");
        let fifo = dir.0.join("newrelic-telemetry");
        create(&fifo).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        spawn_reader(fifo.clone(), tx).unwrap();
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
}
