//! Byte-level JSON structure scanning for `payload`: where a value ends, and the byte ranges
//! of an array's elements or an object's members, without building any value. Linear, no
//! recursion, no allocation. It does not validate scalars or UTF-8: it only finds structure,
//! so that decoding can look at the few small pieces it needs.

pub(super) fn is_ws(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(text: &[u8], mut pos: usize) -> usize {
    while text.get(pos).is_some_and(|b| is_ws(*b)) {
        pos += 1;
    }
    pos
}

/// End (exclusive) of the value starting at `start` (no leading whitespace); `None` if the
/// input ends first or no value starts there.
pub(super) fn value_end(text: &[u8], start: usize) -> Option<usize> {
    match text.get(start)? {
        b'"' => string_end(text, start),
        b'[' | b'{' => container_end(text, start),
        _ => {
            let rest = text.get(start..)?;
            let len = rest.iter().take_while(|b| !is_ws(**b) && !b"[]{},:\"".contains(b)).count();
            (len > 0).then_some(start + len)
        }
    }
}

/// End (exclusive) of the string whose opening quote is at `start`.
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut pos = start + 1;
    loop {
        let at = quote_or_backslash(text, pos)?;
        if text.get(at) == Some(&b'"') {
            return Some(at + 1);
        }
        // A backslash: whatever follows it is escaped.
        pos = at + 2;
    }
}

/// Index of the first `"` or `\` at or after `from`. Strings are most of a payload's bytes
/// (base64, attribute values), so this looks at eight bytes per step: a byte equal to the
/// searched one becomes zero after the xor, and `(x - 0x01…) & !x & 0x80…` flags zero bytes
/// (only the lowest flag is exact, which is the one taken).
fn quote_or_backslash(text: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut pos = from;
    while let Some(chunk) = text.get(pos..pos + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if found != 0 {
            return Some(pos + (found.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    let rest = text.get(pos..)?;
    rest.iter().position(|&b| b == b'"' || b == b'\\').map(|offset| pos + offset)
}

/// End (exclusive) of the array or object opening at `start`, skipping over strings (and
/// their escapes). A depth counter instead of recursion: nesting costs nothing.
pub(super) fn container_end(text: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut pos = start;
    loop {
        match *text.get(pos)? {
            b'"' => {
                pos = string_end(text, pos)?;
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(pos + 1);
                }
            }
            _ => {}
        }
        pos += 1;
    }
}

/// One member (key with its quotes, value) or element (empty key, value), as byte ranges.
type Item<'a> = (&'a [u8], &'a [u8]);

/// The members (`(key with quotes, value)`) of an object, or the elements (`(b"", value)`) of
/// an array, as byte ranges. Stops quietly at the first malformed spot.
pub(super) struct Items<'a> {
    text: &'a [u8],
    pos: usize,
    object: bool,
}

/// Iterates the elements of the array `text` holds (nothing if it holds no array).
pub(super) fn elements(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    Items::new(text, false).map(|(_, value)| value)
}

/// The value of the first member named `key` (no escapes in the key) of the object `text`
/// holds.
pub(super) fn member<'a>(text: &'a [u8], key: &str) -> Option<&'a [u8]> {
    Items::new(text, true).find_map(|(k, value)| (name(k) == key.as_bytes()).then_some(value))
}

/// Like [`member`] for an object that may be cut short: everything from the start of the
/// value of the first member named `key` to the end of `text`, whether or not the value closes
/// there. Every member before it must be whole.
pub(super) fn member_open<'a>(text: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let mut items = Items::new(text, true);
    loop {
        let (k, start) = items.key()?;
        if name(k) == key.as_bytes() {
            return text.get(start..);
        }
        let (_, next) = items.item()?;
        items.pos = next;
    }
}

/// A key without its quotes.
fn name(key: &[u8]) -> &[u8] {
    key.get(1..key.len().saturating_sub(1)).unwrap_or_default()
}

impl<'a> Items<'a> {
    fn new(text: &'a [u8], object: bool) -> Items<'a> {
        let open = if object { b'{' } else { b'[' };
        let start = skip_ws(text, 0);
        let pos = if text.get(start) == Some(&open) { start + 1 } else { text.len() };
        Items { text, pos, object }
    }

    /// The key (with its quotes; empty in an array) of the item at `self.pos`, and where its
    /// value starts.
    fn key(&self) -> Option<(&'a [u8], usize)> {
        let text = self.text;
        let mut pos = skip_ws(text, self.pos);
        let mut key: &[u8] = &[];
        if self.object {
            if text.get(pos) != Some(&b'"') {
                return None;
            }
            let end = string_end(text, pos)?;
            key = text.get(pos..end)?;
            pos = skip_ws(text, end);
            if text.get(pos) != Some(&b':') {
                return None;
            }
            pos = skip_ws(text, pos + 1);
        }
        Some((key, pos))
    }

    /// The item at `self.pos` and where the next one starts.
    fn item(&self) -> Option<(Item<'a>, usize)> {
        let text = self.text;
        let (key, pos) = self.key()?;
        let end = value_end(text, pos)?;
        let value = text.get(pos..end)?;
        let after = skip_ws(text, end);
        // After the last item (closing bracket or junk) nothing more is read.
        let next = if text.get(after) == Some(&b',') { after + 1 } else { text.len() };
        Some(((key, value), next))
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.item() {
            Some((item, next)) => {
                self.pos = next;
                Some(item)
            }
            None => {
                self.pos = self.text.len();
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_elements(text: &str, expected: &[&str]) {
        let got: Vec<&[u8]> = elements(text.as_bytes()).collect();
        let expected: Vec<&[u8]> = expected.iter().map(|e| e.as_bytes()).collect();
        assert_eq!(got, expected, "{text}");
    }

    #[test]
    fn elements_are_byte_ranges_of_each_value() {
        check_elements(
            r#" [1, "a,]\"", {"k":[1,2]} ,[[]],true,-2.5e3 ] "#,
            &["1", r#""a,]\"""#, r#"{"k":[1,2]}"#, "[[]]", "true", "-2.5e3"],
        );
        check_elements("[]", &[]);
        check_elements("{\"a\":1}", &[]);
        check_elements("[1,2", &["1", "2"]);
        check_elements("[1,\"open", &["1"]);
        check_elements("[1 2]", &["1"]);
        check_elements("", &[]);
    }

    #[test]
    fn members_are_found_by_exact_key() {
        let text = br#"{"data":{"x":"}"}, "meta" : [1], "data2":3}"#;
        assert_eq!(member(text, "data"), Some(&br#"{"x":"}"}"#[..]));
        assert_eq!(member(text, "meta"), Some(&b"[1]"[..]));
        assert_eq!(member(text, "missing"), None);
        assert_eq!(member(b"[\"data\",1]", "data"), None);
        assert_eq!(member(br#"{"a" 1, "data":2}"#, "data"), None);
    }
}
