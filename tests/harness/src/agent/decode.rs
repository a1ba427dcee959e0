//! Reading agent payloads back: outer JSON array → base64 → gunzip → JSON,
//! for both shapes, plus `retarget`, which rewrites a (real) payload so it
//! belongs to another request. Decoding is tolerant of the version element
//! being a number or a string, and of surrounding whitespace; anything else
//! unexpected is a `Decode` error naming the step, never a panic.

use super::{base64, s, AgentError, MARKER};
use crate::util::{gunzip, gzip};
use miniserde::json::{self, Number, Object, Value};

/// A decoded payload.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The version element (1 or 2; 0 when it was not a small number).
    pub version: u8,
    pub metadata: Value,
    pub data: Value,
    /// `aws.requestId` of the first transaction event.
    pub request_id: Option<String>,
    /// traceId of the first transaction event, else of the first span event.
    pub trace_id: Option<String>,
}

fn err(why: &str) -> AgentError {
    AgentError::Decode(why.to_string())
}

/// Parses the outer array; checks the marker.
fn outer(bytes: &[u8]) -> Result<Vec<Value>, AgentError> {
    let text = std::str::from_utf8(bytes).map_err(|_| err("not UTF-8"))?.trim();
    let Ok(Value::Array(items)) = json::from_str::<Value>(text) else {
        return Err(err("not a JSON array"));
    };
    let items: Vec<Value> = items.into_iter().collect();
    match items.get(1) {
        Some(Value::String(m)) if m == MARKER => Ok(items),
        _ => Err(err("second element is not NR_LAMBDA_MONITORING")),
    }
}

fn version_of(v: Option<&Value>) -> u8 {
    match v {
        Some(Value::Number(Number::U64(n))) => u8::try_from(*n).unwrap_or(0),
        Some(Value::String(t)) => t.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn unpack(blob: &str) -> Result<Value, AgentError> {
    let zipped = base64::decode(blob).ok_or_else(|| err("bad base64"))?;
    let raw = gunzip(&zipped).map_err(|_| err("bad gzip"))?;
    let text = String::from_utf8(raw).map_err(|_| err("inner JSON is not UTF-8"))?;
    json::from_str::<Value>(&text).map_err(|_| err("inner JSON does not parse"))
}

fn pack(v: &Value) -> String {
    base64::encode(&gzip(json::to_string(v).as_bytes()))
}

/// Decodes either shape, chosen by what the third element is (a string: v1
/// blob; an object followed by a string: v2) rather than by the version
/// number, so a mislabelled payload still decodes.
pub fn decode(bytes: &[u8]) -> Result<Decoded, AgentError> {
    let items = outer(bytes)?;
    let version = version_of(items.first());
    let (metadata, data) = match (items.get(2), items.get(3)) {
        (Some(Value::String(blob)), _) => {
            let Value::Object(mut inner) = unpack(blob)? else {
                return Err(err("v1 inner JSON is not an object"));
            };
            let metadata = inner.remove("metadata").unwrap_or_default();
            (metadata, inner.remove("data").ok_or_else(|| err("v1 inner JSON has no data"))?)
        }
        (Some(meta @ Value::Object(_)), Some(Value::String(blob))) => (meta.clone(), unpack(blob)?),
        _ => return Err(err("unexpected payload shape")),
    };
    let (request_id, trace_id) = ids(&data);
    Ok(Decoded { version, metadata, data, request_id, trace_id })
}

/// The event list (third element) of a `[null, {sampling}, [events]]` field.
fn events<'a>(data: &'a Value, field: &str) -> &'a [Value] {
    let Value::Object(o) = data else { return &[] };
    match o.get(field) {
        Some(Value::Array(a)) => match a.get(2) {
            Some(Value::Array(ev)) => ev,
            _ => &[],
        },
        _ => &[],
    }
}

/// Attribute map `idx` (0 intrinsics, 1 user, 2 agent) of an event.
fn attrs(event: &Value, idx: usize) -> Option<&Object> {
    match event {
        Value::Array(parts) => match parts.get(idx) {
            Some(Value::Object(o)) => Some(o),
            _ => None,
        },
        _ => None,
    }
}

fn string_at(o: Option<&Object>, key: &str) -> Option<String> {
    match o?.get(key) {
        Some(Value::String(v)) => Some(v.clone()),
        _ => None,
    }
}

fn is_transaction(event: &Value) -> bool {
    string_at(attrs(event, 0), "type").is_none_or(|t| t == "Transaction")
}

fn ids(data: &Value) -> (Option<String>, Option<String>) {
    let txn = events(data, "analytic_event_data").iter().find(|e| is_transaction(e));
    let request_id = txn.and_then(|e| string_at(attrs(e, 2), "aws.requestId"));
    let trace_id = txn
        .and_then(|e| string_at(attrs(e, 0), "traceId"))
        .or_else(|| events(data, "span_event_data").first().and_then(|e| string_at(attrs(e, 0), "traceId")));
    (request_id, trace_id)
}

/// Sets `key` in attribute map `idx` of every event of `field`, when `only_if_present`
/// is false or the key is already there.
fn set_all(data: &mut Value, field: &str, idx: usize, key: &str, value: &str, only_if_present: bool) {
    let Value::Object(o) = data else { return };
    let Some(Value::Array(a)) = o.get_mut(field) else {
        return;
    };
    let Some(Value::Array(evs)) = a.get_mut(2) else {
        return;
    };
    for ev in evs.iter_mut() {
        if let Value::Array(parts) = ev {
            if let Some(Value::Object(map)) = parts.get_mut(idx) {
                if !only_if_present || map.contains_key(key) {
                    map.insert(key.to_string(), s(value));
                }
            }
        }
    }
}

/// Replaces every string value equal to `old` (walked without recursion, so
/// depth cannot overflow the stack).
fn replace_strings(root: &mut Value, old: Option<&str>, new: &str) {
    let Some(old) = old else { return };
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::Object(o) => stack.extend(o.values_mut()),
            Value::String(s) if s == old => *s = new.to_string(),
            _ => {}
        }
    }
}

/// Rewrites a payload (e.g. a real fixture from tests/data/agent/) so it
/// belongs to `request_id` and `trace_id`: every string equal to the old
/// request id or old trace id anywhere in the data (transaction, span and
/// error events, traced errors) is replaced, and the transaction events'
/// `aws.requestId` is set even when it was missing. The shape, version
/// element, metadata and a trailing newline are kept.
pub fn retarget(template: &[u8], request_id: &str, trace_id: &str) -> Result<Vec<u8>, AgentError> {
    let mut items = outer(template)?;
    let decoded = decode(template)?;
    let mut data = decoded.data;
    replace_strings(&mut data, decoded.request_id.as_deref(), request_id);
    replace_strings(&mut data, decoded.trace_id.as_deref(), trace_id);
    set_all(&mut data, "analytic_event_data", 2, "aws.requestId", request_id, false);
    for field in ["analytic_event_data", "span_event_data", "error_event_data"] {
        set_all(&mut data, field, 0, "traceId", trace_id, true);
    }
    let is_v1 = matches!(items.get(2), Some(Value::String(_)));
    let (slot, blob) = if is_v1 {
        let inner: Object =
            [("metadata".to_string(), decoded.metadata), ("data".to_string(), data)].into_iter().collect();
        (2, pack(&Value::Object(inner)))
    } else {
        (3, pack(&data))
    };
    if let Some(v) = items.get_mut(slot) {
        *v = Value::String(blob);
    }
    let mut text = json::to_string(&Value::Array(items.into_iter().collect()));
    if template.last() == Some(&b'\n') {
        text.push('\n');
    }
    Ok(text.into_bytes())
}
