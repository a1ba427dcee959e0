//! The one compression of every request body: gzip framing (RFC 1952) around deflate data at
//! [`GZIP_LEVEL`], or around stored blocks for small bodies. Pure, no I/O; the deflate state
//! is reused per thread.

/// gzip level, chosen by measurement (release profile, miniz_oxide backend, 2-core x86_64;
/// real Python agent payloads from `tests/data/agent`, bytes compressed and µs per body):
///
/// | batch                        | raw    | level 1        | level 6        |
/// |------------------------------|--------|----------------|----------------|
/// | 1 payload                    | 2710   | 2071 B, 40 µs  | 2056 B, 45 µs  |
/// | payload + REPORT (one flush) | 3275   | 2421 B, 50 µs  | 2404 B, 50 µs  |
/// | 20 REPORT lines              | 5622   | 593 B, 20 µs   | 558 B, 30 µs   |
///
/// Agent payloads are base64 of gzip: level 6 finds almost nothing more (≤ 1 % smaller). In
/// instructions, which wall time is too noisy to show, level 1 is cheaper: deflate went from
/// 7.5 M to 4.1 M Ir over the same 20-invocation demo run under callgrind. Level 9 buys nothing.
pub const GZIP_LEVEL: u32 = 1;

thread_local! {
    /// The deflate state of this thread, reused: a fresh one is ~300 KB of zeroed tables, which
    /// cost more instructions than compressing a typical request (callgrind).
    static DEFLATE: std::cell::RefCell<Option<flate2::Compress>> = const { std::cell::RefCell::new(None) };
}

/// Telemetry bodies smaller than this are sent as stored (uncompressed) deflate blocks in the
/// gzip framing New Relic requires; larger ones are deflated. Measured with callgrind over a
/// 100-invocation busy run: level 1 cost ~600 K instructions per ~3.3 KB body (building Huffman
/// tables and resetting ~160 KB of match tables dominate at this size), a third of everything
/// the extension did, and its state adds ~300 KB to the resident set. Telemetry is mostly agent
/// payloads, which are base64 of gzip: deflate saves only the base64 overhead (~25 %: a typical
/// body is 3,350 bytes stored, ~2,420 deflated). Bodies of data queued during an outage, where
/// the 1,000,000-byte request limit matters, are still deflated.
pub const STORE_TELEMETRY_BELOW: usize = 256 * 1024;
/// The same for Log API bodies. Log lines are text and deflate to a fifth or less, so only a
/// few lines' worth (a body under 16 KiB saves at most a few KB) are sent stored.
pub const STORE_LOGS_BELOW: usize = 16 * 1024;

/// The one compression of every request body: gzip (RFC 1952: a 10-byte header, deflate data,
/// CRC-32 and length of the input), deflated at [`GZIP_LEVEL`], or stored when shorter than
/// `store_below`.
pub fn gzip(json: &[u8], store_below: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    gzip_into(json, store_below, &mut out)?;
    Ok(out)
}

/// [`gzip`] into `out` (cleared first, its capacity reused).
pub fn gzip_into(json: &[u8], store_below: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.clear();
    if json.len() < store_below {
        gzip_stored(json, out);
        return Ok(());
    }
    out.reserve(json.len() / 2 + 64);
    out.extend_from_slice(&GZIP_HEADER);
    DEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let deflate = slot.get_or_insert_with(|| flate2::Compress::new(flate2::Compression::new(GZIP_LEVEL), false));
        deflate.reset();
        loop {
            let consumed = usize::try_from(deflate.total_in()).unwrap_or(json.len()).min(json.len());
            out.reserve(json.len().saturating_sub(consumed) / 2 + 1024);
            let status = deflate
                .compress_vec(json.get(consumed..).unwrap_or_default(), out, flate2::FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            if status == flate2::Status::StreamEnd {
                return Ok::<(), std::io::Error>(());
            }
        }
    })?;
    gzip_trailer(json, out);
    Ok(())
}

/// Deflate method, no flags, no mtime, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// gzip of stored deflate blocks (RFC 1951 §3.2.4): per block of at most 65,535 bytes, a
/// header byte (BFINAL on the last, BTYPE 00), LEN and its complement, then the bytes.
pub(super) fn gzip_stored(json: &[u8], out: &mut Vec<u8>) {
    const BLOCK: usize = 65_535;
    out.reserve(json.len() + json.len() / BLOCK * 5 + 5 + 18);
    out.extend_from_slice(&GZIP_HEADER);
    let mut rest = json;
    loop {
        let (block, after) = rest.split_at(rest.len().min(BLOCK));
        let len = block.len() as u16;
        out.push(u8::from(after.is_empty()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
        if after.is_empty() {
            break;
        }
        rest = after;
    }
    gzip_trailer(json, out);
}

fn gzip_trailer(json: &[u8], out: &mut Vec<u8>) {
    let mut crc = flate2::Crc::new();
    crc.update(json);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
}
