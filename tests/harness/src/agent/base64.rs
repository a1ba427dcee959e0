//! Standard-alphabet base64 (RFC 4648 §4), the encoding of the gzip blob in
//! agent payloads. Encoding always pads; decoding tolerates missing padding
//! and ASCII whitespace, and rejects anything else instead of guessing.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes with `=` padding.
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let [b0, b1, b2] = [chunk.first(), chunk.get(1), chunk.get(2)].map(|x| x.copied().unwrap_or(0));
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextets = [n >> 18, n >> 12, n >> 6, n].map(|s| (s & 63) as usize);
        // `chunk.len() + 1` output characters carry data; the rest is padding.
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET.get(*s).copied().map(char::from).unwrap_or('A'));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes; `None` on a character outside the alphabet, data after padding,
/// or a length that cannot be base64 (one leftover character).
pub fn decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let (mut acc, mut bits, mut padded) = (0u32, 0u32, false);
    for &c in input.as_bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padded = true;
            continue;
        }
        if padded {
            return None;
        }
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // 6 leftover bits means a lone trailing character: not decodable.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, encoded: &str) {
        assert_eq!(encode(raw.as_bytes()), encoded);
        assert_eq!(decode(encoded).as_deref(), Some(raw.as_bytes()));
        let unpadded = encoded.trim_end_matches('=');
        assert_eq!(decode(unpadded).as_deref(), Some(raw.as_bytes()));
    }

    #[test]
    fn rfc4648_vectors() {
        check("", "");
        check("f", "Zg==");
        check("fo", "Zm8=");
        check("foo", "Zm9v");
        check("foob", "Zm9vYg==");
        check("fooba", "Zm9vYmE=");
        check("foobar", "Zm9vYmFy");
    }

    #[test]
    fn rejects_garbage_and_round_trips_bytes() {
        assert_eq!(decode("Zm9v!"), None);
        assert_eq!(decode("Zg==Zg"), None);
        assert_eq!(decode("Z"), None);
        assert_eq!(decode("Zm9v\nYmFy").as_deref(), Some(&b"foobar"[..]));
        let bytes: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decode(&encode(&bytes)), Some(bytes));
    }
}
