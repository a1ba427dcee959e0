//! A minimal HTTP/1.1 server and client for the simulators: one thread per
//! connection, keep-alive, Content-Length and chunked request bodies, and a
//! handler that decides per request whether to answer, wait, stall, close or
//! reset (fault injection lives in the callers, this module only obeys).
//! It never panics on what a peer sends: a malformed request closes that
//! connection and nothing else. No TLS, no pipelining guarantees, no HTTP/2.

mod client;
mod wire;

pub use client::{request, Answer};

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path plus any query string).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::find(&self.headers, name)
    }
}

/// One response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(status: u16, body: &str) -> Response {
        Response::new(status).with_header("Content-Type", "application/json").with_body(body.as_bytes())
    }

    /// A text body with `Content-Type: text/plain; charset=utf-8`.
    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status).with_header("Content-Type", "text/plain; charset=utf-8").with_body(body.as_bytes())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_body(mut self, body: &[u8]) -> Response {
        self.body = body.to_vec();
        self
    }
}

/// What the handler wants done with the connection.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond(Response),
    /// Wait, then respond (a slow server).
    Delayed(Duration, Response),
    /// Abort the connection with a TCP RST (SO_LINGER 0 then close), no answer.
    Reset,
    /// Close the connection without answering.
    Close,
    /// Send the status line and headers, then stall for the duration, then close (stall mid-response).
    StallMidResponse(Duration),
    /// Write these bytes verbatim (e.g. something that is not HTTP), then close.
    Raw(Vec<u8>),
}

/// The request handler; it may block (long polls block in the handler).
pub type Handler = Arc<dyn Fn(Request) -> Reply + Send + Sync>;

/// A connection the server can close from outside its thread.
struct Conn {
    stream: TcpStream,
    /// True while the connection waits for the start of its next request.
    /// A mutex, not an atomic: writing a response and becoming idle must be
    /// one step for `close_idle_connections`, or it could miss a connection
    /// whose client already has its answer.
    idle: Arc<Mutex<bool>>,
}

struct Shared {
    stopping: AtomicBool,
    conns: Mutex<HashMap<u64, Conn>>,
    next_id: AtomicU64,
}

impl Shared {
    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Conn>> {
        // A poisoned map is still a valid map: a panicking handler must not
        // take the whole server down with it.
        lock(&self.conns)
    }
}

/// Locks, ignoring poisoning: a panicking handler must not take the whole
/// server down with it, and the guarded data stays valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running server; dropping it shuts it down.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    /// Binds `bind` (e.g. "127.0.0.1:0") and serves `handler` until shut down.
    pub fn start(bind: &str, handler: Handler) -> io::Result<Server> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let sh = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("http-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, sh, handler))?;
        Ok(Server { addr, shared, accept: Mutex::new(Some(accept)) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every keep-alive connection that is waiting for its next
    /// request (what a freeze does to pooled connections). Connections whose
    /// request is being handled are left alone; new connections are still
    /// accepted.
    pub fn close_idle_connections(&self) {
        for conn in self.shared.conns().values() {
            if *lock(&conn.idle) {
                let _ = conn.stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Number of open connections (idle or busy).
    pub fn connection_count(&self) -> usize {
        self.shared.conns().len()
    }

    /// Stops accepting, closes the listening socket (so connects are refused
    /// and the port can be bound again) and closes every connection. Idempotent.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let handle = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            // Wake the blocking accept() so the thread sees `stopping` and
            // drops the listener; only join when the wake-up got through.
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            if TcpStream::connect_timeout(&wake, Duration::from_secs(2)).is_ok() {
                let _ = handle.join();
            }
        }
        for conn in self.shared.conns().values() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, handler: Handler) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let idle = Arc::new(Mutex::new(true));
        shared.conns().insert(id, Conn { stream: clone, idle: Arc::clone(&idle) });
        let (sh, h) = (Arc::clone(&shared), Arc::clone(&handler));
        let spawned = thread::Builder::new().name("http-conn".into()).spawn(move || {
            serve_connection(stream, &idle, &h);
            sh.conns().remove(&id);
        });
        if spawned.is_err() {
            shared.conns().remove(&id);
        }
    }
}

/// Serves requests on one connection until either side closes it or the
/// handler asks for the connection to end.
fn serve_connection(stream: TcpStream, idle: &Mutex<bool>, handler: &Handler) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let head = match wire::read_head(&mut reader, || *lock(idle) = false) {
            Ok(Some(head)) => head,
            _ => return,
        };
        let Some((req, keep_alive)) = read_request(&mut reader, &mut writer, head) else {
            return;
        };
        let reply = handler(req);
        if !send_reply(&mut writer, reply, keep_alive, idle) || !keep_alive {
            return;
        }
    }
}

/// Parses the rest of a request after its head; `None` means "close now".
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    head: wire::Head,
) -> Option<(Request, bool)> {
    let mut parts = head.start.split(' ');
    let (method, path, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || path.is_empty() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let connection = wire::find(&head.headers, "connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive =
        if version == "HTTP/1.0" { connection.contains("keep-alive") } else { !connection.contains("close") };
    let framing = wire::framing(&head.headers, false).ok()?;
    let expects = wire::find(&head.headers, "expect").unwrap_or("");
    if expects.eq_ignore_ascii_case("100-continue") {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let body = wire::read_body(reader, framing).ok()?;
    let req = Request { method: method.to_string(), path: path.to_string(), headers: head.headers, body };
    Some((req, keep_alive))
}

/// Carries out a reply; returns false when the connection must end.
fn send_reply(w: &mut TcpStream, reply: Reply, keep_alive: bool, idle: &Mutex<bool>) -> bool {
    let mut respond = |r: Response| {
        let mut idle = lock(idle);
        let sent = wire::write_response(w, r.status, &r.headers, &r.body, !keep_alive).is_ok();
        *idle = sent && keep_alive;
        sent
    };
    match reply {
        Reply::Respond(r) => respond(r),
        Reply::Delayed(d, r) => {
            thread::sleep(d);
            respond(r)
        }
        Reply::Reset => {
            reset(w);
            false
        }
        Reply::Close => {
            let _ = w.shutdown(Shutdown::Both);
            false
        }
        Reply::StallMidResponse(d) => {
            // Promise a body that never comes, so the client is left waiting.
            let json = [("Content-Type".to_string(), "application/json".to_string())];
            let _ = w.write_all(&wire::response_head(200, &json, 1024, true));
            let _ = w.flush();
            thread::sleep(d);
            let _ = w.shutdown(Shutdown::Both);
            false
        }
        Reply::Raw(bytes) => {
            let _ = w.write_all(&bytes);
            let _ = w.flush();
            let _ = w.shutdown(Shutdown::Both);
            false
        }
    }
}

/// Aborts the connection with a RST: SO_LINGER {on, 0} makes close() discard
/// the socket instead of the orderly FIN handshake.
#[allow(unsafe_code)] // reason: std has no stable set_linger; this is one setsockopt on a valid fd.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the fd is open for the lifetime of `stream`; the option value
    // points at a properly sized, initialised `linger` struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    // No shutdown() here: that would send a FIN. The RST goes out when the
    // last fd of the socket closes (the connection thread returning drops
    // its reader, writer and registry clones).
}
