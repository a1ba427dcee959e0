//! Tolerant field access on `miniserde::json::Value`: a missing or wrong-typed field is `None`,
//! never an error. Wire types are read through these, so unknown or odd input is tolerated.

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
