//! The compressed part of an agent payload: base64 decoded only as far as it is read, and
//! gzip (one or more members) or zlib inflated in steps, with a look at the output after each
//! doubling, so that `inspect` can stop as soon as it has what it needs. Pure, no I/O.

use flate2::{Decompress, FlushDecompress, Status};

use super::MAX_INFLATED_BYTES;

/// What each base64 byte stands for: a sextet, or one of these.
const B64_INVALID: u8 = 0xff;
const B64_SKIP: u8 = 0xfe;
const B64_END: u8 = 0xfd;
#[cfg_attr(
    not(test),
    expect(clippy::indexing_slicing, reason = "evaluated by the compiler: a bad index fails the build")
)]
const B64: [u8; 256] = {
    let mut table = [B64_INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table[b'=' as usize] = B64_END;
    // What `u8::is_ascii_whitespace` accepts.
    table[b' ' as usize] = B64_SKIP;
    table[b'\t' as usize] = B64_SKIP;
    table[b'\n' as usize] = B64_SKIP;
    table[0x0c] = B64_SKIP;
    table[b'\r' as usize] = B64_SKIP;
    table
};

/// What `byte` stands for in base64 (see [`B64`]).
#[cfg_attr(not(test), expect(clippy::indexing_slicing, reason = "a byte always indexes a 256-entry table"))]
fn sextet(byte: u8) -> u8 {
    B64[usize::from(byte)]
}

/// Standard-alphabet base64, byte by byte (the end of a payload's base64, or base64 with line
/// breaks: [`Feed`] does the rest four bytes at a time). Whitespace is skipped, padding is
/// optional and ends the data; any other byte outside the alphabet makes the input invalid.
pub(super) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let sextet = sextet(c);
        match sextet {
            B64_END => break,
            B64_SKIP => continue,
            B64_INVALID => return None,
            _ => {}
        }
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Inflates gzip (what the agents write) or zlib whole, reading at most [`MAX_INFLATED_BYTES`].
#[cfg(test)]
pub(super) fn inflate(compressed: &[u8]) -> Option<Vec<u8>> {
    let mut out = None;
    inflate_until(Feed::raw(compressed), |json, whole| whole.then(|| out = Some(json.to_vec())));
    out
}

/// The compressed bytes of a payload, base64-decoded only as far as the inflater gets: a
/// payload whose first transaction event is early never has most of its base64 decoded.
pub(super) struct Feed<'a> {
    decoded: Vec<u8>,
    /// How much of `decoded` the inflater has taken.
    taken: usize,
    /// Base64 text not decoded yet.
    text: &'a [u8],
}

impl<'a> Feed<'a> {
    /// Decoded into the thread's reused buffer once inflating starts ([`inflate_until`]).
    pub(super) fn base64(text: &'a [u8]) -> Feed<'a> {
        Feed { decoded: Vec::new(), taken: 0, text }
    }

    #[cfg(test)]
    pub(super) fn raw(bytes: &[u8]) -> Feed<'static> {
        Feed { decoded: bytes.to_vec(), taken: 0, text: &[] }
    }

    /// At least `want` bytes not taken yet (fewer only at the end of the input); `None` if
    /// the base64 is invalid.
    fn ensure(&mut self, want: usize) -> Option<&[u8]> {
        let target = self.taken.saturating_add(want);
        if self.decoded.len() < target {
            // Four plain alphabet bytes at a time (all of an agent's base64 but its end),
            // written in place: the buffer is grown once for the whole step.
            let start = self.decoded.len();
            let quads = (target - start).div_ceil(3).min(self.text.len() / 4);
            self.decoded.resize(start + quads * 3, 0);
            let mut done = 0;
            let out = self.decoded.get_mut(start..).unwrap_or_default();
            for (out, quad) in out.chunks_exact_mut(3).zip(self.text.chunks_exact(4)) {
                let (&[a, b, c, d], &mut [ref mut x, ref mut y, ref mut z]) = (quad, out) else { break };
                let [a, b, c, d] = [a, b, c, d].map(sextet);
                if (a | b | c | d) >= 64 {
                    break;
                }
                let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
                [_, *x, *y, *z] = n.to_be_bytes();
                done += 1;
            }
            self.decoded.truncate(start + done * 3);
            self.text = self.text.get(done * 4..).unwrap_or_default();
        }
        if self.decoded.len() < target && !self.text.is_empty() {
            // The end, padding or whitespace: the careful decoder, for everything left.
            self.decoded.extend(base64_decode(self.text)?);
            self.text = &[];
        }
        self.decoded.get(self.taken..)
    }

    fn take(&mut self, n: usize) {
        self.taken = self.taken.saturating_add(n).min(self.decoded.len());
    }
}

/// Output inflated before the first look; each later look comes after twice as much, so the
/// looks cost at most about twice one pass over what was inflated.
const FIRST_LOOK_BYTES: usize = 2048;

/// What one thread reuses from payload to payload: the inflate state (a fresh one is ~40 KB
/// to allocate and zero, more than inflating a typical payload's first transaction event
/// costs) and the two buffers, so that inspecting a payload allocates nothing (musl's
/// allocator maps and unmaps pages for buffers of these sizes every time).
struct Scratch {
    state: Decompress,
    decoded: Vec<u8>,
    out: Vec<u8>,
}

/// Buffers that grew past this (a payload with megabytes before its first transaction) are
/// not kept.
const SCRATCH_KEEP_BYTES: usize = 64 << 10;

thread_local! {
    static SCRATCH: std::cell::RefCell<Option<Scratch>> = const { std::cell::RefCell::new(None) };
}

/// Compressed bytes handed to the inflater per step. It inflates as much as its 32 KiB window
/// takes from what it is given, so the input is what must be metered for the looks to save
/// work: 512 bytes of an agent's gzip are ~2–3 KB of JSON.
const INPUT_STEP: usize = 512;

/// Inflates gzip (one or more members) or zlib, calling `look(output so far, whole)` each time
/// the output has doubled and once at the end (`whole` = true), until `look` answers. `None`
/// if it never does: corrupt or truncated input, or more than [`MAX_INFLATED_BYTES`].
pub(super) fn inflate_until<T>(feed: Feed, look: impl FnMut(&[u8], bool) -> Option<T>) -> Option<T> {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => inflate_with(slot.get_or_insert_with(Scratch::new), feed, look),
        // Not reentrant; never happens, but a fresh state is always correct.
        Err(_) => inflate_with(&mut Scratch::new(), feed, look),
    })
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { state: Decompress::new(false), decoded: Vec::new(), out: Vec::new() }
    }
}

/// Lends `scratch`'s decoding buffer to `feed` (unless it brings its bytes), inflates, and
/// takes the buffers back, dropping any that grew past [`SCRATCH_KEEP_BYTES`].
fn inflate_with<T>(scratch: &mut Scratch, mut feed: Feed, mut look: impl FnMut(&[u8], bool) -> Option<T>) -> Option<T> {
    if feed.decoded.is_empty() {
        feed.decoded = std::mem::take(&mut scratch.decoded);
        feed.decoded.clear();
    }
    let found = inflate_steps(&mut scratch.state, &mut scratch.out, &mut feed, &mut look);
    scratch.decoded = std::mem::take(&mut feed.decoded);
    for buffer in [&mut scratch.decoded, &mut scratch.out] {
        if buffer.capacity() > SCRATCH_KEEP_BYTES {
            *buffer = Vec::new();
        }
    }
    found
}

fn inflate_steps<T>(
    state: &mut Decompress,
    out: &mut Vec<u8>,
    feed: &mut Feed,
    look: &mut impl FnMut(&[u8], bool) -> Option<T>,
) -> Option<T> {
    let gzip = feed.ensure(2)?.starts_with(&[0x1f, 0x8b]);
    if gzip {
        skip_gzip_header(feed)?;
    }
    state.reset(!gzip);
    // The output window ends at the next look, so that the inflater (which fills all the room
    // it is given) stops there; `filled` is how much of it holds this payload's output. The
    // buffer keeps its length from payload to payload (what lies past `filled` is stale), so
    // it is zeroed only when it grows.
    let mut filled = 0;
    let mut next_look = FIRST_LOOK_BYTES;
    loop {
        let window = next_look.max(filled + 1024);
        if out.len() < window {
            out.resize(window, 0);
        }
        let (in_before, out_before) = (state.total_in(), state.total_out());
        let input = feed.ensure(INPUT_STEP)?;
        let step = input.get(..input.len().min(INPUT_STEP))?;
        let status = state.decompress(step, out.get_mut(filled..window)?, FlushDecompress::None).ok()?;
        let consumed = usize::try_from(state.total_in() - in_before).ok()?;
        let produced = usize::try_from(state.total_out() - out_before).ok()?;
        feed.take(consumed);
        filled += produced;
        if filled as u64 > MAX_INFLATED_BYTES {
            return None;
        }
        if status == Status::StreamEnd {
            // Another gzip member may follow its 8-byte trailer (CRC-32 and size).
            let next = feed.ensure(8 + 2)?.get(8..).is_some_and(|rest| gzip && rest.starts_with(&[0x1f, 0x8b]));
            if !next {
                return look(out.get(..filled)?, true);
            }
            feed.take(8);
            skip_gzip_header(feed)?;
            state.reset(false);
            continue;
        }
        if consumed == 0 && produced == 0 && filled < window {
            // No progress with room to write: the input is cut short (or corrupt).
            return None;
        }
        if filled >= next_look {
            if let Some(found) = look(out.get(..filled)?, false) {
                return Some(found);
            }
            next_look = next_look.saturating_mul(2);
        }
    }
}

/// Takes one gzip member header from `feed` (almost always 10 bytes; names and comments are
/// read to their end).
fn skip_gzip_header(feed: &mut Feed) -> Option<()> {
    let length = match gzip_header_len(feed.ensure(64)?) {
        Some(length) => length,
        None => gzip_header_len(feed.ensure(usize::MAX)?)?,
    };
    feed.take(length);
    Some(())
}

/// The length of a gzip member's header (RFC 1952 §2.3): the fixed part and the optional
/// extra field, name, comment and header CRC its flags announce.
fn gzip_header_len(member: &[u8]) -> Option<usize> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let (&[0x1f, 0x8b, 8, flags], rest) = member.split_first_chunk::<4>()? else {
        return None;
    };
    // MTIME (4), XFL, OS.
    let mut rest = rest.get(6..)?;
    if flags & FEXTRA != 0 {
        let (&[lo, hi], after) = rest.split_first_chunk::<2>()?;
        rest = after.get(usize::from(u16::from_le_bytes([lo, hi]))..)?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            rest = rest.get(rest.iter().position(|&b| b == 0)? + 1..)?;
        }
    }
    if flags & FHCRC != 0 {
        rest = rest.get(2..)?;
    }
    Some(member.len() - rest.len())
}
