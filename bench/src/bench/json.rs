//! The benchmark's results as JSON, so runs can be compared over time. A
//! tiny writer of our own (the document is flat and small) and the mapping
//! from figures to it. Pure: values in, text out.

use super::figures::Figure;
use crate::stats::Spread;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj(pairs: Vec<(&str, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    /// Compact text, one figure per line (readable in a diff).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            // JSON has no NaN or infinity.
            Json::Num(n) if !n.is_finite() => out.push_str("null"),
            Json::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => out.push_str(&format!("{}", *n as i64)),
            Json::Num(n) => out.push_str(&format!("{}", (n * 1e6).round() / 1e6)),
            Json::Str(s) => escape(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out, depth + 1);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                // Only the two outer levels are broken into lines.
                let (open, sep) = if depth < 2 { ("\n", ",\n") } else { ("", ",") };
                let indent = if depth < 2 { "  ".repeat(depth + 1) } else { String::new() };
                out.push('{');
                out.push_str(open);
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(sep);
                    }
                    out.push_str(&indent);
                    escape(k, out);
                    out.push(':');
                    v.write(out, depth + 1);
                }
                if depth < 2 {
                    out.push('\n');
                    out.push_str(&"  ".repeat(depth));
                }
                out.push('}');
            }
        }
    }
}

fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn spread(s: Option<&Spread>) -> Json {
    match s {
        None => Json::Null,
        Some(s) => Json::obj(vec![
            ("median", Json::Num(s.median)),
            ("min", Json::Num(s.min)),
            ("max", Json::Num(s.max)),
            ("samples", Json::Arr(s.samples.iter().map(|v| Json::Num(*v)).collect())),
        ]),
    }
}

/// One figure as a JSON object.
pub fn figure(f: &Figure) -> Json {
    let opt_str = |s: Option<String>| s.map_or(Json::Null, Json::Str);
    let verdict = f.verdict().map_or(Json::Null, |ok| Json::str(if ok { "PASS" } else { "MISS" }));
    Json::obj(vec![
        ("label", Json::str(&f.label)),
        ("unit", Json::str(f.unit.key())),
        ("ours", spread(f.ours.as_ref())),
        ("floor", spread(f.floor.as_ref())),
        ("ratio_to_floor", f.ratio().map_or(Json::Null, Json::Num)),
        ("target", opt_str(f.target.as_ref().map(|t| t.text()))),
        ("verdict", verdict),
        ("note", opt_str(f.note.clone())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: Json, expected: &str) {
        assert_eq!(v.render(), expected);
    }

    #[test]
    fn renders_values() {
        check(Json::Num(3.0), "3");
        check(Json::Num(0.1234567), "0.123457");
        check(Json::Num(f64::NAN), "null");
        check(Json::str("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
        check(Json::Arr(vec![Json::Null, Json::Bool(true)]), "[null,true]");
        check(Json::obj(vec![("a", Json::Num(1.0)), ("b", Json::Arr(vec![]))]), "{\n  \"a\":1,\n  \"b\":[]\n}");
        let nested = Json::obj(vec![("x", Json::obj(vec![("y", Json::obj(vec![("z", Json::Null)]))]))]);
        check(nested, "{\n  \"x\":{\n    \"y\":{\"z\":null}\n  }\n}");
    }
}
