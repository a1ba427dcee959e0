//! One keep-alive HTTP/1.1 connection to the Extensions API on the local host, written with
//! `std::net` (responses read by `http1.rs`). The calls are few and small, always to one plain
//! HTTP address, so a general client's request building, pooling and buffer set-up (ureq
//! zero-fills 32 KiB per connection) would be most of the extension's cold start and of each
//! `event/next`. No proxy, no TLS, no redirects.

use std::fmt::Write as _;
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::http1::{read_framed, read_response_head, Body, Limits, ReadError};

/// The largest answer read (events and error bodies are well under a KB).
const MAX_BODY_BYTES: usize = 1024 * 1024;
const LIMITS: Limits = Limits { max_head_bytes: 16 * 1024, max_headers: 100, max_body_bytes: MAX_BODY_BYTES };
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// A response: status, the one header we read (`Lambda-Extension-Identifier`), the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub id: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub struct Conn {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` gives it.
    addr: String,
    user_agent: String,
    stream: Option<BufReader<TcpStream>>,
    /// The read and write timeout last set on `stream` (`None`: not set yet).
    timeout: Option<Option<Duration>>,
}

/// What a request sends besides its method and path.
pub struct Request<'a> {
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// Read and write timeout; `None` waits for ever (`event/next`).
    pub timeout: Option<Duration>,
}

impl Conn {
    pub fn new(addr: &str, user_agent: &str) -> Conn {
        Conn { addr: addr.to_string(), user_agent: user_agent.to_string(), stream: None, timeout: None }
    }

    /// Sends one request and reads its answer. A kept-alive connection that the server has
    /// closed (or that holds bytes nobody asked for) is replaced before the request is sent;
    /// a request is never sent twice.
    pub fn call(&mut self, method: &str, path: &str, request: &Request) -> io::Result<Answer> {
        let message = self.message(method, path, request);
        if self.stream.as_ref().is_some_and(|s| !idle_and_open(s.get_ref())) {
            self.stream = None;
        }
        self.exchange(&message, request.timeout)
    }

    fn message(&self, method: &str, path: &str, request: &Request) -> Vec<u8> {
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\n", self.addr, self.user_agent);
        for (name, value) in request.headers {
            // A value with a line break would end the head early; the API never needs one.
            let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if !request.body.is_empty() || method != "GET" {
            let _ = write!(head, "Content-Length: {}\r\n", request.body.len());
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(request.body);
        message
    }

    fn exchange(&mut self, message: &[u8], timeout: Option<Duration>) -> io::Result<Answer> {
        let reader = match &mut self.stream {
            Some(reader) => reader,
            slot @ None => {
                let stream = TcpStream::connect(&self.addr)?;
                let _ = stream.set_nodelay(true);
                self.timeout = None;
                slot.insert(BufReader::with_capacity(READ_BUFFER_BYTES, stream))
            }
        };
        // `event/next` after `event/next` keeps its (absent) timeout: no system calls.
        if self.timeout != Some(timeout) {
            let stream = reader.get_ref();
            stream.set_read_timeout(timeout)?;
            stream.set_write_timeout(timeout)?;
            self.timeout = Some(timeout);
        }
        let result = (|| {
            let mut writer = reader.get_ref();
            writer.write_all(message)?;
            let head = read_response_head(reader, &LIMITS, &["Lambda-Extension-Identifier"]).map_err(read_error)?;
            let body = match read_framed(reader, head.framing, &LIMITS).map_err(read_error)? {
                Body::Complete(body) => body,
                Body::Oversized => return Err(io::Error::other("answer larger than 1 MiB")),
            };
            let id = head.values.into_iter().next().flatten();
            Ok((Answer { status: head.status, id, body }, head.keep_alive))
        })();
        match result {
            Ok((answer, keep_alive)) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok(answer)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// A kept-alive connection can carry the next request only if nothing is waiting to be read
/// on it: readable means the server closed it (or sent bytes that answer nothing).
#[allow(unsafe_code, reason = "poll(2) with a zero timeout; std has no readiness check")]
fn idle_and_open(stream: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd that outlives the call; nfds is 1; a zero timeout never blocks.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 0
}

fn read_error(e: ReadError) -> io::Error {
    match e {
        ReadError::Io(e) => e,
        ReadError::Closed => io::ErrorKind::UnexpectedEof.into(),
        ReadError::BadRequestLine => io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP status line"),
        ReadError::BadRequest(why) => {
            io::Error::new(io::ErrorKind::InvalidData, format!("malformed HTTP answer: {why}"))
        }
    }
}

#[cfg(test)]
mod tests;
