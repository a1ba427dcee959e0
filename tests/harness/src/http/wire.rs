//! HTTP/1.1 framing shared by the test server and the test client: reading a
//! bounded message head, reading a body (Content-Length, chunked or to EOF) and
//! writing a response. It owns no sockets and never decides what to answer;
//! every limit here exists so garbage input ends in an error, never a panic.

use std::io::{self, BufRead, Read, Write};

/// Longest accepted start line or header line.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines accepted in one message head.
const MAX_HEADERS: usize = 128;
/// Largest body accepted (requests to the fake collector stay near 1 MB).
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;

/// A parsed message head: the start line and the header fields.
pub(crate) struct Head {
    pub start: String,
    pub headers: Vec<(String, String)>,
}

pub(crate) fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Case-insensitive header lookup over a header list.
pub(crate) fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Reads one line ending in LF (CR stripped), at most `MAX_LINE` bytes.
/// `Ok(None)` means a clean EOF before any byte.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(bad("line too long or truncated"));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|_| bad("line is not UTF-8"))
}

/// Reads a message head. `on_first` runs once the start line has arrived (the
/// server uses it to mark the connection busy). `Ok(None)` is a clean EOF.
pub(crate) fn read_head<R: BufRead>(r: &mut R, on_first: impl FnOnce()) -> io::Result<Option<Head>> {
    let mut start = match read_line(r)? {
        Some(line) => line,
        None => return Ok(None),
    };
    // RFC 9112 §2.2: ignore at least one empty line before the start line.
    if start.is_empty() {
        start = read_line(r)?.ok_or_else(|| bad("EOF after empty line"))?;
    }
    on_first();
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| bad("EOF inside head"))?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(bad("too many headers"));
        }
        let (name, value) = line.split_once(':').ok_or_else(|| bad("header without colon"))?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad("bad header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Some(Head { start, headers }))
}

/// How the body of a message is delimited.
pub(crate) enum Framing {
    Chunked,
    Length(usize),
    /// Responses only: the body runs until the peer closes.
    UntilEof,
    None,
}

/// Framing of a message with these headers; `eof_default` is the answer when
/// neither header is present (true for responses, false for requests).
pub(crate) fn framing(headers: &[(String, String)], eof_default: bool) -> io::Result<Framing> {
    if let Some(te) = find(headers, "transfer-encoding") {
        if te.to_ascii_lowercase().contains("chunked") {
            return Ok(Framing::Chunked);
        }
        return Err(bad("unsupported transfer-encoding"));
    }
    if let Some(cl) = find(headers, "content-length") {
        let n: usize = cl.trim().parse().map_err(|_| bad("bad content-length"))?;
        if n > MAX_BODY {
            return Err(bad("body too large"));
        }
        return Ok(Framing::Length(n));
    }
    Ok(if eof_default { Framing::UntilEof } else { Framing::None })
}

/// Reads a body with the given framing.
pub(crate) fn read_body<R: BufRead>(r: &mut R, framing: Framing) -> io::Result<Vec<u8>> {
    match framing {
        Framing::None => Ok(Vec::new()),
        Framing::Length(n) => {
            let mut body = vec![0u8; n];
            r.read_exact(&mut body)?;
            Ok(body)
        }
        Framing::UntilEof => {
            let mut body = Vec::new();
            r.by_ref().take(MAX_BODY as u64 + 1).read_to_end(&mut body)?;
            if body.len() > MAX_BODY {
                return Err(bad("body too large"));
            }
            Ok(body)
        }
        Framing::Chunked => read_chunked(r),
    }
}

fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?.ok_or_else(|| bad("EOF in chunk size"))?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            break;
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(bad("body too large"));
        }
        let at = body.len();
        body.resize(at + size, 0);
        r.read_exact(body.get_mut(at..).unwrap_or_default())?;
        if read_line(r)?.as_deref() != Some("") {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
    // Trailer fields, ignored, up to the empty line.
    for _ in 0..MAX_HEADERS {
        match read_line(r)? {
            Some(l) if !l.is_empty() => continue,
            _ => return Ok(body),
        }
    }
    Err(bad("too many trailer lines"))
}

/// The standard reason phrase for the statuses the harness uses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The status line and headers of a response, always with our own
/// Content-Length (a handler's framing headers are replaced) and
/// `Connection: close` when the server will close afterwards.
pub(crate) fn response_head(status: u16, headers: &[(String, String)], len: usize, close: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", status, reason(status));
    for (k, v) in headers {
        let framing = ["content-length", "transfer-encoding", "connection"];
        if framing.iter().any(|f| k.eq_ignore_ascii_case(f)) {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {len}\r\n"));
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Writes a whole response and flushes.
pub(crate) fn write_response<W: Write>(
    w: &mut W,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let mut bytes = response_head(status, headers, body.len(), close);
    bytes.extend_from_slice(body);
    w.write_all(&bytes)?;
    w.flush()
}
