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
use crate::signals::Watch;
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
pub fn spawn_reader(path: PathBuf, tx: crossbeam_channel::Sender<Event>, inspect: bool) -> io::Result<Reader> {
    let (drain, prepared) = prepare_reader(path, tx, inspect)?;
    Ok(Reader { thread: prepared.start()?, drain })
}

/// A reader whose FIFO is open but whose thread is not started yet (see [`prepare_reader`]).
pub struct PreparedReader {
    path: PathBuf,
    opened: Option<File>,
    tx: crossbeam_channel::Sender<Event>,
    wake: UnixStream,
    inspect: bool,
    sigterm: Option<Watch>,
}

impl PreparedReader {
    /// The reader also watches for SIGTERM (see `signals`): one thread fewer to wake at every
    /// freeze and thaw.
    pub fn watch_sigterm(&mut self, watch: Watch) {
        self.sigterm = Some(watch);
    }

    /// Starts the named reader thread.
    pub fn start(self) -> io::Result<thread::JoinHandle<()>> {
        let PreparedReader { path, opened, tx, wake, inspect, sigterm } = self;
        let out = Out { tx, inspect };
        thread::Builder::new().name("agent-pipe".into()).spawn(move || {
            read_loop(&path, opened, &out, &wake, sigterm.as_ref());
            // Whoever watches for SIGTERM must outlive the reader.
            if let Some(watch) = sigterm {
                watch.spawn();
            }
        })
    }
}

/// Opens the FIFO now (so it has a reader from before the first `event/next`: a writer never
/// blocks on it, even while the sandbox is frozen) and returns the reader's drain handle and
/// the reader, whose thread another thread can start later, off the path to the first
/// `event/next`. If the open fails, the thread tries again itself. With `inspect`, the reader
/// reads every payload's ids itself (see [`AgentPayload::info`]).
pub fn prepare_reader(
    path: PathBuf,
    tx: crossbeam_channel::Sender<Event>,
    inspect: bool,
) -> io::Result<(Drain, PreparedReader)> {
    let (ours, theirs) = UnixStream::pair()?;
    let opened = open_fifo(&path).ok();
    Ok((Drain(ours), PreparedReader { path, opened, tx, wake: theirs, inspect, sigterm: None }))
}

/// Where payloads go, and whether the reader reads their ids first.
struct Out {
    tx: crossbeam_channel::Sender<Event>,
    inspect: bool,
}

/// The channel is gone: nobody will ever read what we send.
struct Disconnected;

fn read_loop(path: &Path, mut opened: Option<File>, tx: &Out, wake: &UnixStream, sigterm: Option<&Watch>) {
    let mut failures = 0;
    loop {
        match opened.take().map_or_else(|| open_fifo(path), Ok) {
            Ok(file) => {
                if let Err(e) = stream(file, tx, wake, sigterm) {
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
fn stream(mut file: File, tx: &Out, wake: &UnixStream, sigterm: Option<&Watch>) -> Result<(), StreamEnd> {
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
        let (data, mut drain, term) = wait(&file, wake_open.then_some(wake), sigterm, limit);
        if term {
            if let Some(watch) = sigterm {
                watch.fire();
            }
            if !data && !drain {
                continue;
            }
        }
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
                tx.tx.send(Event::PipeDrained).map_err(|_| StreamEnd::Disconnected)?;
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

/// Waits until the FIFO has bytes, a drain is requested or SIGTERM's pipe is readable, at
/// most `limit` (forever if `None`). Returns (FIFO readable, drain requested, SIGTERM).
fn wait(
    file: &File,
    wake: Option<&UnixStream>,
    sigterm: Option<&Watch>,
    limit: Option<Duration>,
) -> (bool, bool, bool) {
    use std::os::fd::AsRawFd;
    let mut fds = [
        libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        // A negative fd is ignored by poll.
        libc::pollfd { fd: wake.map_or(-1, AsRawFd::as_raw_fd), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: sigterm.map_or(-1, Watch::fd), events: libc::POLLIN, revents: 0 },
    ];
    let millis = limit.map_or(-1, |l| libc::c_int::try_from(l.as_millis()).unwrap_or(libc::c_int::MAX));
    // SAFETY: `fds` is an array of three valid pollfds that outlives the call; nfds matches it.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 3, millis) };
    if ready <= 0 {
        return (false, false, false);
    }
    let [fifo, drain, term] = fds;
    (
        fifo.revents & libc::POLLIN != 0,
        drain.revents & (libc::POLLIN | libc::POLLHUP) != 0,
        term.revents & libc::POLLIN != 0,
    )
}

/// One event per payload in `bytes`; whitespace-only input sends nothing.
fn forward(bytes: &[u8], tx: &Out) -> Result<(), Disconnected> {
    for piece in payload::split(bytes) {
        send(piece, tx)?;
    }
    Ok(())
}

fn send(piece: &[u8], out: &Out) -> Result<(), Disconnected> {
    let event = AgentPayload {
        // Validating is much cheaper than the lossy conversion, which is only for bad bytes.
        text: std::str::from_utf8(piece).map_or_else(|_| String::from_utf8_lossy(piece).into_owned(), str::to_owned),
        info: out.inspect.then(|| payload::inspect(piece)),
        received_ms: timefmt::now_ms(),
    };
    out.tx.send(Event::AgentPayload(event)).map_err(|_| Disconnected)
}

#[cfg(test)]
mod tests;
