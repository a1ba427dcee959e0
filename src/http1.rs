//! The minimal HTTP/1.1 message reader behind the Telemetry API listener (requests) and the
//! Extensions API client (responses): start line, headers, and a body framed by
//! `Content-Length` or `Transfer-Encoding: chunked` (or, for a response, the end of the
//! connection). Pure over any `BufRead`: it never writes, never touches sockets or clocks
//! (timeouts belong to the reader it is given), and never panics. Every size is capped by [`Limits`]; a body over the
//! cap is read and discarded so the connection stays usable and the sender sees a 200.

use std::io::{self, BufRead, Read};

/// Caps on what one request may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request line plus headers (and, separately, chunked trailers), in bytes.
    pub max_head_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
}

/// Request line and the headers that matter to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
    pub framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (no `Content-Length`, no `Transfer-Encoding`).
    Empty,
    Length(u64),
    Chunked,
    /// A response with neither: the body ends when the server closes the connection.
    UntilClose,
}

/// Status line and the headers a client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
    pub framing: Framing,
    /// The values of the headers asked for, in the order asked (`None` if absent).
    pub values: Vec<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Complete(Vec<u8>),
    /// Longer than `max_body_bytes`: fully read, then thrown away.
    Oversized,
}

#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or went idle) before sending a byte of a new request.
    Closed,
    /// Not `METHOD SP target SP HTTP/1.x`: nothing can be answered.
    BadRequestLine,
    /// A request line was read, but headers or body framing are invalid or over a cap.
    BadRequest(&'static str),
    /// I/O failure or timeout in the middle of a request.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        ReadError::Io(err)
    }
}

/// Empty lines tolerated before a request line (some clients send a CRLF after a body).
const MAX_LEADING_EMPTY_LINES: usize = 4;
/// A chunk-size line is hex digits plus optional extensions; nothing legitimate is longer.
const MAX_CHUNK_LINE: usize = 1024;

/// Reads one request head. `Closed` on a clean end of input before the request starts.
pub fn read_head(reader: &mut impl BufRead, limits: &Limits) -> Result<Head, ReadError> {
    let mut budget = limits.max_head_bytes;
    let mut line = Vec::new();
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        line = match read_line(reader, &mut budget) {
            Ok(Some(line)) => line,
            Ok(None) => return Err(ReadError::Closed),
            Err(ReadError::Io(e)) if is_idle(&e) => return Err(ReadError::Closed),
            Err(ReadError::BadRequest(_)) => return Err(ReadError::BadRequestLine),
            Err(e) => return Err(e),
        };
        if !line.is_empty() {
            break;
        }
    }
    let (method, target, http10) = parse_request_line(&line).ok_or(ReadError::BadRequestLine)?;
    let mut expect_continue = false;
    let fields = read_fields(reader, limits, &mut budget, http10, |name, value| {
        if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.trim().eq_ignore_ascii_case("100-continue");
        }
    })?;
    let framing = fields.framing.unwrap_or(Framing::Empty);
    Ok(Head { method, target, keep_alive: fields.keep_alive, expect_continue, framing })
}

/// What the headers of a message say about its framing and its connection.
struct Fields {
    /// `None`: neither `Content-Length` nor `Transfer-Encoding`.
    framing: Option<Framing>,
    keep_alive: bool,
}

/// Reads header lines up to the empty line; `other` sees every header but the framing and
/// connection ones.
fn read_fields(
    reader: &mut impl BufRead,
    limits: &Limits,
    budget: &mut usize,
    http10: bool,
    mut other: impl FnMut(&str, &str),
) -> Result<Fields, ReadError> {
    let mut keep_alive = !http10;
    let (mut length, mut chunked) = (None::<u64>, false);
    for _ in 0..=limits.max_headers {
        let line = read_line(reader, budget)?.ok_or(ReadError::BadRequest("eof in headers"))?;
        if line.is_empty() {
            // Both framings at once is a smuggling pattern: chunked wins, then close.
            keep_alive &= !(chunked && length.is_some());
            let framing = match (chunked, length) {
                (true, _) => Some(Framing::Chunked),
                (false, Some(n)) => Some(Framing::Length(n)),
                (false, None) => None,
            };
            return Ok(Fields { framing, keep_alive });
        }
        let (name, value) = split_header(&line).ok_or(ReadError::BadRequest("bad header"))?;
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(value).ok_or(ReadError::BadRequest("bad content-length"))?;
            if length.is_some_and(|old| old != n) {
                return Err(ReadError::BadRequest("conflicting content-length"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(ReadError::BadRequest("unsupported transfer-encoding"));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                    keep_alive = true;
                }
            }
        } else {
            other(name, value);
        }
    }
    Err(ReadError::BadRequest("too many headers"))
}

/// Reads one response head, with the values of the headers named in `wanted`. Interim `1xx`
/// answers are skipped. `Closed` if the connection ends before a byte of it.
pub fn read_response_head(
    reader: &mut impl BufRead,
    limits: &Limits,
    wanted: &[&str],
) -> Result<ResponseHead, ReadError> {
    loop {
        let mut budget = limits.max_head_bytes;
        let line = match read_line(reader, &mut budget) {
            Ok(Some(line)) => line,
            Ok(None) => return Err(ReadError::Closed),
            Err(ReadError::BadRequest(_)) => return Err(ReadError::BadRequestLine),
            Err(e) => return Err(e),
        };
        let (status, http10) = parse_status_line(&line).ok_or(ReadError::BadRequestLine)?;
        let mut values = vec![None; wanted.len()];
        let fields = read_fields(reader, limits, &mut budget, http10, |name, value| {
            if let Some(i) = wanted.iter().position(|w| name.eq_ignore_ascii_case(w)) {
                if let Some(slot) = values.get_mut(i) {
                    *slot = Some(value.to_string());
                }
            }
        })?;
        if (100..200).contains(&status) {
            continue;
        }
        // 204 and 304 never have a body (RFC 9112 §6.3).
        let framing = match fields.framing {
            _ if status == 204 || status == 304 => Framing::Empty,
            Some(framing) => framing,
            None => Framing::UntilClose,
        };
        let keep_alive = fields.keep_alive && framing != Framing::UntilClose;
        return Ok(ResponseHead { status, keep_alive, framing, values });
    }
}

/// `(status, is_http_1_0)` from `HTTP/1.x SP 3DIGIT [SP reason]`.
fn parse_status_line(line: &[u8]) -> Option<(u16, bool)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.splitn(3, ' ');
    let http10 = match parts.next()? {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return None,
    };
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, http10))
}

/// Reads the body `head` announces, keeping at most `limits.max_body_bytes` of it.
pub fn read_body(reader: &mut impl BufRead, head: &Head, limits: &Limits) -> Result<Body, ReadError> {
    read_framed(reader, head.framing, limits)
}

/// Reads a body framed as `framing`, keeping at most `limits.max_body_bytes` of it.
pub fn read_framed(reader: &mut impl BufRead, framing: Framing, limits: &Limits) -> Result<Body, ReadError> {
    match framing {
        Framing::Empty => Ok(Body::Complete(Vec::new())),
        Framing::UntilClose => {
            let mut body = Vec::new();
            let cap = limits.max_body_bytes as u64;
            reader.take(cap + 1).read_to_end(&mut body)?;
            if body.len() as u64 > cap {
                io::copy(reader, &mut io::sink())?;
                return Ok(Body::Oversized);
            }
            Ok(Body::Complete(body))
        }
        Framing::Length(n) if n > limits.max_body_bytes as u64 => {
            discard(reader, n)?;
            Ok(Body::Oversized)
        }
        Framing::Length(n) => {
            let mut body = Vec::new();
            reader.take(n).read_to_end(&mut body)?;
            if body.len() as u64 != n {
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(Body::Complete(body))
        }
        Framing::Chunked => read_chunked(reader, limits),
    }
}

fn read_chunked(reader: &mut impl BufRead, limits: &Limits) -> Result<Body, ReadError> {
    let mut body = Vec::new();
    let mut oversized = false;
    loop {
        let mut budget = MAX_CHUNK_LINE;
        let line = read_line(reader, &mut budget)?.ok_or(ReadError::BadRequest("eof in chunks"))?;
        let size = parse_chunk_size(&line).ok_or(ReadError::BadRequest("bad chunk size"))?;
        if size == 0 {
            break;
        }
        if !oversized && body.len() as u64 + size <= limits.max_body_bytes as u64 {
            let before = body.len();
            reader.take(size).read_to_end(&mut body)?;
            if (body.len() - before) as u64 != size {
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        } else {
            oversized = true;
            body = Vec::new(); // free the kept part at once
            discard(reader, size)?;
        }
        match read_line(reader, &mut budget)? {
            Some(end) if end.is_empty() => {}
            _ => return Err(ReadError::BadRequest("chunk not followed by CRLF")),
        }
    }
    // Trailers: header lines up to an empty line, under their own budget.
    let mut budget = limits.max_head_bytes;
    for _ in 0..=limits.max_headers {
        match read_line(reader, &mut budget)? {
            Some(line) if line.is_empty() => return Ok(if oversized { Body::Oversized } else { Body::Complete(body) }),
            Some(_) => {}
            None => return Err(ReadError::BadRequest("eof in trailers")),
        }
    }
    Err(ReadError::BadRequest("too many trailers"))
}

fn discard(reader: &mut impl BufRead, n: u64) -> Result<(), ReadError> {
    if io::copy(&mut reader.take(n), &mut io::sink())? != n {
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// One line without its `\n` / `\r\n`, charged to `budget`. `None` at a clean end of input.
fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    let limit = (*budget as u64).saturating_add(1);
    let n = reader.take(limit).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if n as u64 >= limit {
            ReadError::BadRequest("head too large")
        } else {
            ReadError::Io(io::ErrorKind::UnexpectedEof.into())
        });
    }
    *budget = budget.saturating_sub(n);
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn is_idle(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::ConnectionReset)
}

/// `(method, target, is_http_1_0)` from `METHOD SP target SP HTTP/1.x`.
fn parse_request_line(line: &[u8]) -> Option<(String, String, bool)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if parts.next().is_some() || method.is_empty() || !method.chars().all(token) {
        return None;
    }
    if target.is_empty() || target.chars().any(|c| c.is_control()) {
        return None;
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return None,
    };
    Some((method.to_string(), target.to_string(), http10))
}

fn split_header(line: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(line).ok()?;
    let (name, value) = text.split_once(':')?;
    // A name with whitespace (or an obs-fold continuation line) is rejected, as RFC 9112 asks.
    if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return None;
    }
    Some((name, value.trim()))
}

/// Digits only (`u64::from_str` would also take a leading `+`).
fn parse_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let digits = text.split(';').next()?.trim();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
