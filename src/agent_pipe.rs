//! The agent FIFO: creation (the one place that needs `unsafe`) and the reader thread, which
//! turns every read-to-EOF into one `Event::AgentPayload` per payload. It never parses
//! beyond what `payload` does, never drops bytes it read, and never holds the process up:
//! the thread is detached and ends when the channel closes or the FIFO disappears.
// FFI to libc::mkfifo, which std does not offer.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::event::{AgentPayload, Event};
use crate::{payload, timefmt};

/// Most bytes held from one open before they are forwarded. Real payloads are ~2 KB; a text
/// above ~1.3 MB cannot fit a 1,000,000-byte compressed request anyway, so 16 MiB loses
/// nothing deliverable and bounds memory on a 128 MB function. Beyond it, what was read is
/// forwarded and reading goes on in further chunks of this size.
pub const MAX_READ_BYTES: u64 = 16 << 20;

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

/// Starts the named reader thread: open, read to EOF, split, send one `Event::AgentPayload`
/// per payload, repeat. It never keeps the process alive (the process exits around it).
pub fn spawn_reader(
    path: PathBuf,
    tx: crossbeam_channel::Sender<Event>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("agent-pipe".into()).spawn(move || read_loop(&path, &tx))
}

/// The channel is gone: nobody will ever read what we send.
struct Disconnected;

fn read_loop(path: &Path, tx: &crossbeam_channel::Sender<Event>) {
    let mut failures = 0;
    let mut buf = Vec::new();
    loop {
        match open_fifo(path) {
            Ok(file) => {
                failures = 0;
                if drain(file, &mut buf, MAX_READ_BYTES, tx).is_err() {
                    return;
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

/// Opens for reading (blocks until a writer opens). Anything but a FIFO is refused: a regular
/// file would be read again and again, forwarding the same bytes forever.
fn open_fifo(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    if !file.metadata()?.file_type().is_fifo() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a FIFO"));
    }
    Ok(file)
}

/// Reads one open to EOF, forwarding every `cap` bytes ([`MAX_READ_BYTES`]) and at the end.
fn drain(
    mut file: File,
    buf: &mut Vec<u8>,
    cap: u64,
    tx: &crossbeam_channel::Sender<Event>,
) -> Result<(), Disconnected> {
    loop {
        buf.clear();
        let result = (&mut file).take(cap).read_to_end(buf);
        let full = buf.len() as u64 >= cap;
        forward(buf, tx)?;
        if let Err(e) = &result {
            crate::warn!("agent pipe read failed: {e}");
        }
        if result.is_err() || !full {
            break;
        }
    }
    // Don't keep a huge buffer for the life of the process after one huge payload.
    if buf.capacity() > 1 << 20 {
        *buf = Vec::new();
    }
    Ok(())
}

/// One event per payload in `bytes`; empty and whitespace-only reads send nothing.
fn forward(bytes: &[u8], tx: &crossbeam_channel::Sender<Event>) -> Result<(), Disconnected> {
    for piece in payload::split(bytes) {
        let event = AgentPayload {
            text: String::from_utf8_lossy(piece).into_owned(),
            info: payload::inspect(piece),
            received_ms: timefmt::now_ms(),
        };
        tx.send(Event::AgentPayload(event)).map_err(|_| Disconnected)?;
    }
    Ok(())
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
        reader.join().unwrap();
    }

    #[test]
    fn reader_ends_when_the_fifo_is_missing_or_not_a_fifo() {
        let dir = TempDir::new("missing");
        let (tx, rx) = crossbeam_channel::bounded(16);
        spawn_reader(dir.0.join("absent"), tx).unwrap().join().unwrap();
        // A regular file would read the same bytes forever: refused, nothing sent.
        let file = dir.0.join("regular");
        fs::write(&file, FIRST).unwrap();
        let (tx2, rx2) = crossbeam_channel::bounded(16);
        spawn_reader(file, tx2).unwrap().join().unwrap();
        assert!(rx.is_empty() && rx2.is_empty());
    }

    #[test]
    fn beyond_the_cap_everything_read_is_still_forwarded() {
        let dir = TempDir::new("cap");
        let path = dir.0.join("big");
        let written = [FIRST, SECOND].concat();
        fs::write(&path, &written).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut buf = Vec::new();
        assert!(drain(File::open(&path).unwrap(), &mut buf, 1000, &tx).is_ok());
        drop(tx);
        let texts: Vec<String> = rx
            .iter()
            .map(|event| match event {
                Event::AgentPayload(p) => p.text,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        // Cut every 1000 bytes: no payload survives whole, but no byte is lost.
        assert!(texts.len() >= written.len() / 1000);
        assert_eq!(texts.concat().as_bytes(), &written[..]);
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
