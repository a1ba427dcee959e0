//! Tolerant field access on `miniserde::json::Value`: a missing or wrong-typed field is `None`,
//! never an error. Wire types are read through these, so unknown or odd input is tolerated.
//! And the one JSON string writer of every body we encode by hand ([`push_str`]).

use miniserde::json::{Number, Object, Value};

pub fn parse(bytes: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(bytes).ok()?;
    miniserde::json::from_str(text).ok()
}

pub fn object(value: &Value) -> Option<&Object> {
    match value {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

pub fn str_field<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    match obj.get(key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

pub fn f64_field(obj: &Object, key: &str) -> Option<f64> {
    match obj.get(key)? {
        Value::Number(Number::U64(n)) => Some(*n as f64),
        Value::Number(Number::I64(n)) => Some(*n as f64),
        Value::Number(Number::F64(n)) => Some(*n),
        _ => None,
    }
}

/// A non-negative integer field; floats are truncated, strings of digits accepted.
pub fn u64_field(obj: &Object, key: &str) -> Option<u64> {
    match obj.get(key)? {
        Value::Number(Number::U64(n)) => Some(*n),
        Value::Number(Number::I64(n)) => u64::try_from(*n).ok(),
        Value::Number(Number::F64(n)) if n.is_finite() && *n >= 0.0 => Some(*n as u64),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Appends `text` as a JSON string literal (RFC 8259: `"` `\\` and control characters
/// escaped, everything else, non-ASCII included, as it is).
///
/// Agent payloads are most of what is sent, written into a JSON string twice (the `entry` of a
/// telemetry body is itself a JSON string), so this copies the runs between escapes whole and
/// finds the next byte to escape eight bytes at a time.
pub fn push_str(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    push_escaped(out, text, "\\");
    out.push('"');
}

/// Appends what [`push_str`] would write for `text`, quotes left out, as it reads once that
/// is itself written into a JSON string: every escape's backslash is escaped in turn (`"` is
/// `\\\"`, a newline `\\n`). For JSON strings holding JSON, written in one pass.
pub fn push_str_twice_escaped(out: &mut String, text: &str) {
    out.reserve(text.len() + text.len() / 8);
    push_escaped(out, text, "\\\\");
}

/// Copies `text` with each character that JSON must escape written as `backslash` followed by
/// the escape's letter (`"` and `\\` themselves escaped once more when `backslash` is doubled).
fn push_escaped(out: &mut String, text: &str, backslash: &str) {
    let bytes = text.as_bytes();
    let twice = backslash.len() > 1;
    let mut start = 0;
    while let Some(at) = next_to_escape(bytes, start) {
        // Every byte escaped is ASCII, so `at` and `at + 1` are character boundaries.
        out.push_str(text.get(start..at).unwrap_or_default());
        out.push_str(backslash);
        match bytes.get(at).copied().unwrap_or_default() {
            b'"' if twice => out.push_str("\\\""),
            b'\\' if twice => out.push_str("\\\\"),
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'\n' => out.push('n'),
            b'\r' => out.push('r'),
            b'\t' => out.push('t'),
            byte => {
                out.push_str("u00");
                for nibble in [byte >> 4, byte & 0xf] {
                    out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                }
            }
        }
        start = at + 1;
    }
    out.push_str(text.get(start..).unwrap_or_default());
}

/// Index of the first `"`, `\\` or control character at or after `from`. In each word,
/// `(x - n·0x01…) & !x & 0x80…` flags the bytes below `n` (a zero byte after an xor is an
/// equal one); only the lowest flag is exact, and it is the one taken.
fn next_to_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut pos = from;
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let found = below(x, 0x20) | below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1);
        if found != 0 {
            return Some(pos + (found.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    let rest = bytes.get(pos..)?;
    rest.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').map(|offset| pos + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: &str) {
        let mut out = String::from("x");
        push_str(&mut out, text);
        assert_eq!(out, format!("x{expected}"));
    }

    #[test]
    fn escapes_quotes_backslashes_and_control_characters_only() {
        check("", r#""""#);
        check("plain text, long enough for a few words", r#""plain text, long enough for a few words""#);
        check(r#"a"b\c"#, r#""a\"b\\c""#);
        check("tab\there\nnl\rcr\u{1}\u{1f}\u{7f}", "\"tab\\there\\nnl\\rcr\\u0001\\u001f\u{7f}\"");
        check("é ü → \u{2028} 😀 \"", "\"é ü → \u{2028} 😀 \\\"\"");
        // Every position within and across the eight-byte steps.
        for len in 0..24 {
            for at in 0..len {
                let mut text = "a".repeat(len);
                text.replace_range(at..=at, "\"");
                let expected = format!("\"{}\\\"{}\"", "a".repeat(at), "a".repeat(len - at - 1));
                check(&text, &expected);
            }
        }
    }

    #[test]
    fn twice_escaped_is_escaping_the_escaped_text() {
        for text in ["", "plain", "q\"b\\n\nr\rt\t\u{1}\u{1f}é\u{2028}", "\"\"\\\\", "\u{0}x"] {
            let mut once = String::new();
            push_str(&mut once, text);
            let mut expected = String::new();
            push_str(&mut expected, &once[1..once.len() - 1]);
            let mut twice = String::new();
            push_str_twice_escaped(&mut twice, text);
            assert_eq!(format!("\"{twice}\""), expected, "{text:?}");
        }
    }

    #[test]
    fn agrees_with_miniserde_on_every_byte() {
        for c in (0u32..0x300).filter_map(char::from_u32) {
            let text = format!("ab{c}cdefghijkl{c}");
            let mut ours = String::new();
            push_str(&mut ours, &text);
            let back: String = miniserde::json::from_str(&ours).expect("valid JSON");
            assert_eq!(back, text, "{c:?}");
        }
    }
}
