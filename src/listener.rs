//! The Telemetry API listener: a tiny `std::net` HTTP/1.1 server on an ephemeral port. It
//! answers every request it can frame with `200 OK` as soon as the body is read, before
//! parsing (Lambda redelivers a rejected batch forever), then parses it with
//! [`parse_batch`] and sends [`Event::Telemetry`] to the pipeline. One accept thread; each
//! connection gets its own short-lived thread, a slot under a cap, an idle timeout and a
//! per-request deadline. When every slot is taken, the connection that made progress least
//! recently (idle, or stuck in a request) is closed to make room, so clients that hold
//! connections open can never lock Lambda's deliveries out. Bodies are parsed one at a time,
//! so memory is bounded by the cap on connections times the cap on a body. It never logs per
//! batch: with an `extension` subscription its own output would come back as telemetry.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::event::Event;
use crate::http1::{read_body, read_head, Body, Framing, Limits, ReadError};
use crate::telemetry::{parse_batch, Batch};

/// Largest request body accepted; larger bodies are answered 200, discarded and counted.
/// Lambda's batches stay near the `maxBytes` we subscribe with (256 KiB), and 1 MiB is the
/// largest `maxBytes` it allows at all: this is four times ours, with room for metadata.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Lambda uses one or two connections; the cap only bounds what hostile clients can hold.
const MAX_CONNECTIONS: usize = 32;
/// Silence allowed between requests on a kept-alive connection, and between reads.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request budget (head and body): a few MiB over loopback takes milliseconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the accept loop waits for an evicted connection's thread to free its slot.
const EVICTION_WAIT: Duration = Duration::from_millis(50);
/// How long a connection thread with nothing to serve waits for a new connection before it
/// exits. Idle threads are never more than the most connections that were open at once.
const WORKER_IDLE: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
const READ_BUFFER_BYTES: usize = 64 * 1024;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Binds `0.0.0.0:0` (never 9001). Returns the listener so the caller can read the port
/// before subscribing.
pub fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind("0.0.0.0:0")
}

/// Starts the accept loop on a thread named `telemetry-listener`. It runs for the life of
/// the process; a closed channel only means batches are dropped, requests are still answered.
pub fn spawn(listener: TcpListener, tx: Sender<Event>) -> io::Result<thread::JoinHandle<()>> {
    spawn_with(listener, tx, Settings::default())
}

/// Caps and timeouts of one listener; tests shrink them.
#[derive(Debug, Clone, Copy)]
struct Settings {
    limits: Limits,
    max_connections: usize,
    idle: Duration,
    request: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits { max_head_bytes: 16 * 1024, max_headers: 100, max_body_bytes: MAX_BODY_BYTES },
            max_connections: MAX_CONNECTIONS,
            idle: IDLE_TIMEOUT,
            request: REQUEST_TIMEOUT,
        }
    }
}

fn spawn_with(listener: TcpListener, tx: Sender<Event>, settings: Settings) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name("telemetry-listener".into()).spawn(move || accept_loop(&listener, &tx, settings))
}

/// Releases a connection slot when dropped, whichever way the connection ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// When a connection last made progress (accepted, or a request answered), as a tick of the
/// listener's progress clock: a counter, so no two events tie. Shared by the connection's
/// thread and the accept loop.
struct Progress {
    clock: Arc<AtomicU64>,
    at: Arc<AtomicU64>,
}

impl Progress {
    fn mark(&self) {
        self.at.store(self.clock.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// A served connection as the accept loop sees it: a handle to close it (which does not keep
/// the socket open once its thread is done with it), and its progress.
struct Tracked {
    stream: Weak<TcpStream>,
    at: Arc<AtomicU64>,
}

/// One accepted connection and what serving it needs.
struct Connection {
    stream: Arc<TcpStream>,
    slot: Slot,
    progress: Progress,
}

fn accept_loop(listener: &TcpListener, tx: &Sender<Event>, settings: Settings) {
    // Only this thread increments, so check-then-increment cannot race.
    let active = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(AtomicU64::new(0));
    let parse_turn = Arc::new(Mutex::new(()));
    let mut tracked: Vec<Tracked> = Vec::new();
    // Rendezvous: a send succeeds only when a finished connection thread is waiting.
    let (handoff, idle) = crossbeam_channel::bounded::<Connection>(0);
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            thread::sleep(ACCEPT_BACKOFF);
            continue;
        };
        tracked.retain(|t| t.stream.strong_count() > 0);
        if active.load(Ordering::SeqCst) >= settings.max_connections {
            evict_stalest(&mut tracked);
            // A closed connection's thread frees its slot within moments; should one be stuck
            // (a parse in progress), twice the cap still bounds the threads.
            let until = Instant::now() + EVICTION_WAIT;
            while active.load(Ordering::SeqCst) >= settings.max_connections && Instant::now() < until {
                thread::sleep(Duration::from_millis(1));
            }
            if active.load(Ordering::SeqCst) >= 2 * settings.max_connections {
                drop(stream);
                continue;
            }
        }
        let stream = Arc::new(stream);
        let at = Arc::new(AtomicU64::new(clock.fetch_add(1, Ordering::SeqCst)));
        tracked.push(Tracked { stream: Arc::downgrade(&stream), at: Arc::clone(&at) });
        active.fetch_add(1, Ordering::SeqCst);
        let connection = Connection {
            stream,
            slot: Slot(Arc::clone(&active)),
            progress: Progress { clock: Arc::clone(&clock), at },
        };
        let Err(crossbeam_channel::TrySendError::Full(connection)) = handoff.try_send(connection) else {
            continue;
        };
        let (tx, turn, idle) = (tx.clone(), Arc::clone(&parse_turn), idle.clone());
        // On spawn failure the closure is dropped: the slot is released, the stream closed.
        let _ = thread::Builder::new().name("telemetry-conn".into()).spawn(move || {
            // One read buffer per thread, kept across its connections (Lambda's deliveries
            // often come on a new connection each).
            let mut buffer = vec![0u8; READ_BUFFER_BYTES];
            let mut next = Some(connection);
            while let Some(Connection { stream, slot, progress }) = next {
                serve(&stream, &tx, &settings, &progress, &turn, &mut buffer);
                // Free the slot before closing, so a peer that sees the close can reconnect.
                drop(slot);
                drop(stream);
                next = idle.recv_timeout(WORKER_IDLE).ok();
            }
        });
    }
}

/// Closes the connection that made progress least recently: a new connection is far more
/// likely to be Lambda's next delivery than an idle or stuck one is to ever finish. Its
/// thread sees the close on its next read, answers nothing and frees its slot.
fn evict_stalest(tracked: &mut Vec<Tracked>) {
    let stalest = tracked.iter().enumerate().min_by_key(|(_, t)| t.at.load(Ordering::SeqCst)).map(|(i, _)| i);
    let Some(index) = stalest else { return };
    let evicted = tracked.swap_remove(index);
    if let Some(stream) = evicted.stream.upgrade() {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// Reads with the socket timeout set to the idle limit, cut short by the request deadline.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    idle: Duration,
    until: Instant,
    /// The read timeout last set on the socket.
    set: Option<Duration>,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // A system call only when the timeout must change: the idle limit while the request's
        // deadline is further away (every read of a healthy connection), then what is left.
        let wanted = left.min(self.idle);
        if self.set != Some(wanted) {
            self.stream.set_read_timeout(Some(wanted))?;
            self.set = Some(wanted);
        }
        let mut stream = self.stream;
        stream.read(buf)
    }
}

/// `BufReader` over a borrowed buffer, so a connection thread reuses one buffer for all its
/// connections instead of allocating (and, with musl, mapping) 64 KiB for each.
struct Buffered<'b, R> {
    inner: R,
    buffer: &'b mut [u8],
    /// Bytes read but not consumed yet: `buffer[start..end]`.
    start: usize,
    end: usize,
}

impl<R: Read> Read for Buffered<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // Large reads with nothing buffered bypass the buffer, as `BufReader` does.
        if self.start == self.end && out.len() >= self.buffer.len() {
            return self.inner.read(out);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out.get_mut(..n).unwrap_or_default().copy_from_slice(available.get(..n).unwrap_or_default());
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Buffered<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.end = self.inner.read(self.buffer)?;
            self.start = 0;
        }
        Ok(self.buffer.get(self.start..self.end).unwrap_or_default())
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.end);
    }
}

/// What one framed request delivered.
enum Delivery {
    Body(Vec<u8>),
    Oversized,
    Malformed,
}

/// Serves requests on one connection until it closes, fails, times out or asks to close.
/// Bodies are parsed in turn with the other connections: parsing allocates a few times a
/// body's size, and one parse at a time keeps that from multiplying by the connections.
fn serve(
    stream: &TcpStream,
    tx: &Sender<Event>,
    settings: &Settings,
    progress: &Progress,
    parse_turn: &Mutex<()>,
    buffer: &mut [u8],
) {
    let _ = stream.set_write_timeout(Some(settings.idle));
    let _ = stream.set_nodelay(true);
    let reader =
        DeadlineReader { stream, idle: settings.idle.max(Duration::from_millis(1)), until: Instant::now(), set: None };
    let mut reader = Buffered { inner: reader, buffer, start: 0, end: 0 };
    loop {
        reader.inner.until = Instant::now() + settings.request;
        let Some((delivery, keep_alive)) = next_request(&mut reader, stream, &settings.limits) else {
            return;
        };
        progress.mark();
        let batch = match delivery {
            // An empty body delivered nothing (e.g. a probe); there is nothing to count.
            Delivery::Body(body) if body.is_empty() => Batch::default(),
            Delivery::Body(body) => {
                let _turn = parse_turn.lock().unwrap_or_else(PoisonError::into_inner);
                parse_batch(&body)
            }
            Delivery::Oversized => Batch { oversized: 1, ..Batch::default() },
            Delivery::Malformed => Batch { malformed: 1, ..Batch::default() },
        };
        let carries_something = !batch.records.is_empty() || batch.malformed + batch.unknown + batch.oversized > 0;
        if carries_something {
            // A closed channel means the pipeline is gone; keep answering Lambda anyway.
            let _ = tx.send(Event::Telemetry(batch));
        }
        if !keep_alive {
            return;
        }
    }
}

/// Reads one request and answers it (200, or 100 then 200). `None` when the connection
/// must close without an answer: clean close, timeout, I/O error, unreadable request line,
/// or a failed write (the sender will redeliver, so the body must not be processed twice).
fn next_request(
    reader: &mut Buffered<DeadlineReader>,
    stream: &TcpStream,
    limits: &Limits,
) -> Option<(Delivery, bool)> {
    let mut writer = stream;
    let head = match read_head(reader, limits) {
        Ok(head) => head,
        Err(ReadError::BadRequest(_)) => {
            writer.write_all(OK_CLOSE).ok()?;
            return Some((Delivery::Malformed, false));
        }
        Err(ReadError::Closed | ReadError::BadRequestLine | ReadError::Io(_)) => return None,
    };
    if head.expect_continue && head.framing != Framing::Empty {
        writer.write_all(CONTINUE).ok()?;
    }
    let delivery = match read_body(reader, &head, limits) {
        Ok(Body::Complete(body)) => Delivery::Body(body),
        Ok(Body::Oversized) => Delivery::Oversized,
        Err(ReadError::BadRequest(_)) => {
            writer.write_all(OK_CLOSE).ok()?;
            return Some((Delivery::Malformed, false));
        }
        Err(_) => return None,
    };
    let answer = if head.keep_alive { OK } else { OK_CLOSE };
    writer.write_all(answer).ok()?;
    Some((delivery, head.keep_alive))
}

#[cfg(test)]
mod tests;
