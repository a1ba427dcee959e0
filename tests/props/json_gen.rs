//! Strategies for text and JSON values shared by the property modules: text that mixes
//! printable ASCII with control characters, quotes, backslashes and any Unicode scalar, and
//! miniserde values of bounded depth and width.

use miniserde::json::{Number, Value};
use proptest::collection::vec;
use proptest::prelude::*;

/// Any text of up to `max` characters, biased towards what breaks escaping.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![
        6 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\0', '\x1f'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\u{7f}'),
        2 => any::<char>(),
    ];
    vec(c, 0..=max).prop_map(|chars| chars.into_iter().collect())
}

/// Like [`text`], never empty.
pub fn nonempty_text(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_filter("non-empty", |t| !t.is_empty())
}

/// A JSON number. Floats have at most 15 significant digits: miniserde reads some 17-digit
/// floats one unit in the last place off (`-5.180425999622442e+54`), which is not ours to test.
pub fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<u64>().prop_map(Number::U64),
        any::<i64>().prop_map(Number::I64),
        (-999_999_999_999i64..=999_999_999_999, 0u32..6)
            .prop_map(|(n, d)| Number::F64(n as f64 / 10f64.powi(d as i32))),
    ]
}

/// Any JSON value up to 4 levels deep, 4 wide.
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| Value::Array(items.into_iter().collect())),
            vec((text(8), inner), 0..4).prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Whitespace JSON allows between values, possibly none.
pub fn json_ws() -> impl Strategy<Value = String> {
    vec(prop_oneof![Just(' '), Just('\n'), Just('\r'), Just('\t')], 0..3).prop_map(|c| c.into_iter().collect())
}
