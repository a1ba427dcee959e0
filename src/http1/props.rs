//! Property tests of the request reader: any bytes, delivered in reads of any size, never
//! panic, never keep a body over the cap and read the same however they are cut into reads;
//! every well-formed request (either framing, pipelined, bare LF or CRLF, HTTP/1.0 or 1.1)
//! reads back exactly as written, and no prefix of one reads as a whole request. Inputs that
//! once failed live in `tests/data/regressions/http/` and are replayed here.

use std::io::{BufReader, Read};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::*;

const LIMITS: Limits = Limits { max_head_bytes: 512, max_headers: 8, max_body_bytes: 256 };

/// A fixed seed and `cases` cases unless `PROPTEST_RNG_SEED` / `PROPTEST_CASES` say otherwise.
fn config(cases: u32) -> Config {
    let set = |name: &str| std::env::var_os(name).is_some();
    let defaults = Config::default();
    Config {
        cases: if set("PROPTEST_CASES") { defaults.cases } else { cases },
        rng_seed: if set("PROPTEST_RNG_SEED") { defaults.rng_seed } else { RngSeed::Fixed(0x005e_ed0f_4a2d) },
        failure_persistence: None,
        ..defaults
    }
}

/// A reader handing out at most `step` bytes per read, so every buffer boundary is crossed.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        let (now, rest) = self.data.split_at(n);
        buf[..n].copy_from_slice(now);
        self.data = rest;
        Ok(n)
    }
}

/// One request as the reader saw it, or why it stopped.
#[derive(Debug, PartialEq)]
enum Seen {
    Request { method: String, target: String, keep_alive: bool, body: Option<Vec<u8>> },
    Stopped(String),
}

/// Reads requests until the first error (or a request that closes the connection).
fn read_all(reader: &mut impl BufRead) -> Vec<Seen> {
    let mut seen = Vec::new();
    loop {
        let head = match read_head(reader, &LIMITS) {
            Ok(head) => head,
            Err(e) => {
                seen.push(Seen::Stopped(format!("{e:?}")));
                return seen;
            }
        };
        let body = match read_body(reader, &head, &LIMITS) {
            Ok(Body::Complete(body)) => Some(body),
            Ok(Body::Oversized) => None,
            Err(e) => {
                seen.push(Seen::Stopped(format!("{e:?}")));
                return seen;
            }
        };
        let keep_alive = head.keep_alive;
        seen.push(Seen::Request { method: head.method, target: head.target, keep_alive, body });
        if !keep_alive {
            return seen;
        }
    }
}

/// The property of any input: no panic; no body over the cap; no more requests than the
/// input could frame; the same outcome whether read at once or a few bytes at a time.
fn check_input(input: &[u8], step: usize) -> Result<(), TestCaseError> {
    let whole = read_all(&mut &input[..]);
    for seen in &whole {
        if let Seen::Request { body: Some(body), .. } = seen {
            prop_assert!(body.len() <= LIMITS.max_body_bytes && body.len() <= input.len());
        }
    }
    // The shortest request, `M / HTTP/1.1\n\n`, is 16 bytes.
    prop_assert!(whole.len() <= input.len() / 16 + 1, "{} requests from {} bytes", whole.len(), input.len());
    let trickled = read_all(&mut BufReader::with_capacity(7, Trickle { data: input, step: step.max(1) }));
    prop_assert_eq!(whole, trickled);
    Ok(())
}

/// How a generated request frames its body.
#[derive(Debug, Clone)]
enum Framing2 {
    Length,
    /// Chunk sizes (split points), upper-case hex, an extension on each chunk, trailers.
    Chunked {
        cuts: Vec<usize>,
        upper: bool,
        extension: bool,
        trailers: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    http10: bool,
    close: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing2,
    lf_only: bool,
}

impl Request {
    fn encode(&self) -> Vec<u8> {
        let eol = if self.lf_only { "\n" } else { "\r\n" };
        let version = if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        let mut head = format!("{} {} {version}{eol}", self.method, self.target);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}{eol}"));
        }
        match (self.http10, self.close) {
            (false, true) => head.push_str(&format!("Connection: close{eol}")),
            (true, false) => head.push_str(&format!("Connection: keep-alive{eol}")),
            _ => {}
        }
        let mut out = match &self.framing {
            Framing2::Length => format!("{head}Content-Length: {}{eol}{eol}", self.body.len()).into_bytes(),
            Framing2::Chunked { .. } => format!("{head}Transfer-Encoding: chunked{eol}{eol}").into_bytes(),
        };
        match &self.framing {
            Framing2::Length => out.extend_from_slice(&self.body),
            Framing2::Chunked { cuts, upper, extension, trailers } => {
                let mut rest = self.body.as_slice();
                for &cut in cuts {
                    let (chunk, after) = rest.split_at(cut.clamp(1, rest.len().max(1)).min(rest.len()));
                    rest = after;
                    if !chunk.is_empty() {
                        push_chunk(&mut out, chunk, *upper, *extension, eol);
                    }
                }
                if !rest.is_empty() {
                    push_chunk(&mut out, rest, *upper, *extension, eol);
                }
                out.extend_from_slice(format!("0{eol}").as_bytes());
                for (name, value) in trailers {
                    out.extend_from_slice(format!("{name}: {value}{eol}").as_bytes());
                }
                out.extend_from_slice(eol.as_bytes());
            }
        }
        out
    }

    fn expected(&self) -> Seen {
        let body = (self.body.len() <= LIMITS.max_body_bytes).then(|| self.body.clone());
        Seen::Request { method: self.method.clone(), target: self.target.clone(), keep_alive: !self.close, body }
    }
}

fn push_chunk(out: &mut Vec<u8>, chunk: &[u8], upper: bool, extension: bool, eol: &str) {
    let size = if upper { format!("{:X}", chunk.len()) } else { format!("{:x}", chunk.len()) };
    let ext = if extension { ";name=\"v\"" } else { "" };
    out.extend_from_slice(format!("{size}{ext}{eol}").as_bytes());
    out.extend_from_slice(chunk);
    out.extend_from_slice(eol.as_bytes());
}

fn header() -> impl Strategy<Value = (String, String)> {
    ("[A-Za-z][A-Za-z0-9-]{0,12}", "[ -~]{0,24}")
        .prop_filter("a framing or connection header", |(name, _)| {
            !["content-length", "transfer-encoding", "connection", "expect"]
                .contains(&name.to_ascii_lowercase().as_str())
        })
        .prop_map(|(name, value)| (name, value.trim().to_string()))
}

fn request() -> impl Strategy<Value = Request> {
    let framing = prop_oneof![
        Just(Framing2::Length),
        (vec(1usize..80, 0..6), any::<bool>(), any::<bool>(), vec(header(), 0..2))
            .prop_map(|(cuts, upper, extension, trailers)| Framing2::Chunked { cuts, upper, extension, trailers }),
    ];
    let line = ("[A-Z]{1,7}", "/[!-~]{0,30}", any::<bool>(), any::<bool>());
    (line, vec(header(), 0..4), vec(any::<u8>(), 0..400), framing, any::<bool>()).prop_map(
        |((method, target, http10, close), headers, body, framing, lf_only)| Request {
            method,
            target,
            http10,
            close,
            headers,
            body,
            framing,
            lf_only,
        },
    )
}

/// Bytes built from the reader's own vocabulary, to reach deep into its states.
fn httpish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        &b"POST /telemetry HTTP/1.1"[..],
        b"GET / HTTP/1.0",
        b"\r\n",
        b"\n",
        b"\r",
        b"Content-Length: ",
        b"Transfer-Encoding: chunked",
        b"Transfer-Encoding: gzip, chunked",
        b"Connection: close",
        b"Expect: 100-continue",
        b"0",
        b"5",
        b"ff",
        b"18446744073709551616",
        b";x=y",
        b":",
        b" ",
        b"abc",
        b"[]",
        b"\xff",
    ]);
    vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_bytes_read_safely(input in vec(any::<u8>(), 0..600), step in 1usize..40) {
        check_input(&input, step)?;
    }

    #[test]
    fn httpish_bytes_read_safely(input in httpish(), step in 1usize..40) {
        check_input(&input, step)?;
    }

    #[test]
    fn pipelined_requests_read_back_as_written(requests in vec(request(), 1..4), step in 1usize..64) {
        let stream: Vec<u8> = requests.iter().flat_map(Request::encode).collect();
        check_input(&stream, step)?;
        let seen = read_all(&mut &stream[..]);
        // Reading stops after the first request that closes the connection.
        let last = requests.iter().position(|r| !matches!(r.expected(), Seen::Request { keep_alive: true, .. }));
        let expected: Vec<Seen> = requests.iter().take(last.map_or(requests.len(), |i| i + 1)).map(Request::expected).collect();
        prop_assert_eq!(&seen[..expected.len()], &expected[..]);
        if last.is_none() {
            prop_assert_eq!(seen.len(), expected.len() + 1);
            prop_assert_eq!(seen.last(), Some(&Seen::Stopped("Closed".into())));
        }
    }

    #[test]
    fn no_prefix_reads_as_a_whole_request(request in request(), cut in any::<prop::sample::Index>()) {
        let bytes = request.encode();
        let prefix = &bytes[..cut.index(bytes.len())];
        check_input(prefix, 5)?;
        let seen = read_all(&mut &prefix[..]);
        prop_assert!(matches!(seen.first(), Some(Seen::Stopped(_))), "{:?} from a prefix of {:?}", seen, String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn every_kept_failure_reads_safely() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/regressions/http");
    let Ok(files) = std::fs::read_dir(&dir) else { return };
    for file in files {
        let path = file.expect("readable fixture").path();
        let bytes = std::fs::read(&path).expect("readable fixture file");
        for step in [1, 3, 64] {
            if let Err(e) = check_input(&bytes, step) {
                panic!("{}: {e}", path.display());
            }
        }
    }
}
