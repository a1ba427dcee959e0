//! A blocking one-shot HTTP/1.1 client: one request per connection
//! (`Connection: close`), the whole exchange bounded by one total timeout.
//! It is for tests poking at servers; it never retries or follows redirects.

use super::wire;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A reader that re-arms the socket read timeout before every read so that
/// the total deadline holds however the server trickles its bytes.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = remaining(self.deadline)?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "request deadline passed"));
    }
    Ok(left)
}

/// A response as the client returns it: `(status, headers, body)`.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Sends one request and reads the whole response: `(status, headers, body)`.
/// `Host`, `Content-Length` and `Connection: close` are added.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Answer> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
    stream.set_nodelay(true)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(&bytes)?;
    stream.flush()?;
    let mut reader = BufReader::new(Deadlined { stream, deadline });
    read_response(&mut reader, method.eq_ignore_ascii_case("HEAD"))
}

fn read_response<R: BufRead>(r: &mut R, head_only: bool) -> io::Result<Answer> {
    loop {
        let head = wire::read_head(r, || {})?.ok_or_else(|| wire::bad("connection closed before a response"))?;
        let mut parts = head.start.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts.next().unwrap_or("").parse().map_err(|_| wire::bad("bad status line"))?;
        if !version.starts_with("HTTP/1.") || !(100..1000).contains(&status) {
            return Err(wire::bad("bad status line"));
        }
        if (100..200).contains(&status) {
            continue; // an interim response; the real one follows
        }
        let framing = if head_only || status == 204 || status == 304 {
            wire::Framing::None
        } else {
            wire::framing(&head.headers, true)?
        };
        let body = wire::read_body(r, framing)?;
        return Ok((status, head.headers, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<(u16, &str), ()>) {
        let got = read_response(&mut input.as_bytes(), false);
        match (got, expected) {
            (Ok((s, _, b)), Ok((es, eb))) => {
                assert_eq!((s, b.as_slice()), (es, eb.as_bytes()), "{input:?}")
            }
            (Err(_), Err(())) => {}
            (got, expected) => panic!("{input:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn parses_responses() {
        check("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", Ok((200, "{}")));
        check("HTTP/1.1 202 Accepted\r\n\r\nto eof", Ok((202, "to eof")));
        check("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", Ok((204, "")));
        check(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n",
            Ok((200, "abcde")),
        );
        check("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", Err(()));
        check("garbage\r\n\r\n", Err(()));
        check("HTTP/1.1 abc OK\r\n\r\n", Err(()));
        check("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Err(()));
        check("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Err(()));
        check("", Err(()));
    }
}
