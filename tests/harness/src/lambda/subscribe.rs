//! `PUT /2022-07-01/telemetry` (spec §4.1, §4.2): the selectable answer mode,
//! identifier checks, Init-only window, and a pure `validate` of the body
//! (schema version, types, buffering bounds, destination host and port).
//! A valid subscription is registered and its delivery thread started;
//! delivery itself is `delivery.rs`.

use super::config::TelemetryMode;
use super::delivery;
use super::extensions_api::{check_identifier, error};
use super::records::{error_body, obj, s, strs};
use super::state::{Phase, Shared, Sub, Target};
use crate::http::{Request, Response};
use miniserde::json::{self, Value};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A validated subscription request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SubSpec {
    pub schema_version: String,
    pub types: Vec<String>,
    pub max_items: usize,
    pub max_bytes: usize,
    pub timeout_ms: u64,
    /// Port on the sandbox host, and the HTTP path (None for TCP).
    pub port: u16,
    pub path: Option<String>,
    pub destination: String,
}

const SCHEMAS: [&str; 3] = ["2022-07-01", "2022-12-13", "2025-01-29"];
const LMI_SCHEMA: &str = "2025-01-29";

/// Which `schemaVersion` values a subscribe may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Schemas {
    All,
    /// `Reject2025Schema`: 2025-01-29 gets 400 (to test the fallback).
    No2025,
    /// LMI: 2025-01-29 is required.
    Only2025,
}
const TYPES: [&str; 3] = ["platform", "function", "extension"];

pub(super) fn handle(shared: &Arc<Shared>, req: &Request) -> Response {
    let mode = shared.config.telemetry;
    if mode == TelemetryMode::NotSupported202 {
        let body = error_body("Telemetry.NotSupported", "Telemetry API is not supported");
        return Response::json(202, &body);
    }
    let mut st = shared.lock();
    let ext_id = match check_identifier(&st, req) {
        Ok(id) => id,
        Err(resp) => return resp,
    };
    if mode == TelemetryMode::Error500 {
        return error(500, "ServiceException", "Telemetry API service error");
    }
    if st.phase != Phase::Init {
        return error(403, "Telemetry.SubscriptionClosed", "Telemetry API subscription is closed");
    }
    let policy = if shared.config.lmi {
        Schemas::Only2025
    } else if mode == TelemetryMode::Reject2025Schema {
        Schemas::No2025
    } else {
        Schemas::All
    };
    let spec = match validate(&req.body, policy) {
        Ok(spec) => spec,
        Err(message) => return error(400, "ValidationError", &message),
    };
    let name = st.ext(&ext_id).map(|e| e.name.clone()).unwrap_or_default();
    // A repeated subscribe replaces the earlier one.
    for old in st.subs.iter_mut().filter(|x| x.ext_id == ext_id) {
        old.done = true;
    }
    let id = st.fresh_id();
    let mut sub = new_sub(id, &ext_id, &name, spec);
    if shared.config.replay_init_events {
        for (category, text) in &st.init_log {
            if sub.types.iter().any(|t| t == category) {
                delivery::push(&mut sub, text, shared.config.telemetry_buffer_events);
            }
        }
    }
    let types = sub.types.clone();
    st.subs.push(sub);
    let record = obj(vec![("name", s(&name)), ("state", s("Subscribed")), ("types", strs(&types))]);
    delivery::emit(shared, &mut st, "platform.telemetrySubscription", record);
    drop(st);
    if let Err(e) = delivery::start(shared, id, &name) {
        return error(500, "InternalServerError", &format!("cannot start delivery: {e}"));
    }
    Response::json(200, "\"OK\"")
}

pub(super) fn new_sub(id: u64, ext_id: &str, name: &str, spec: SubSpec) -> Sub {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, spec.port));
    let target = match spec.path {
        Some(path) => Target::Http { addr, path },
        None => Target::Tcp { addr },
    };
    Sub {
        id,
        ext_id: ext_id.to_string(),
        name: name.to_string(),
        schema_version: spec.schema_version,
        types: spec.types,
        target,
        destination: spec.destination,
        max_items: spec.max_items,
        max_bytes: spec.max_bytes,
        timeout: Duration::from_millis(spec.timeout_ms),
        queue: VecDeque::new(),
        queued_bytes: 0,
        retry: None,
        retry_at: Instant::now(),
        attempts: 0,
        in_flight: false,
        drain_until: None,
        done: false,
        delivered_batches: 0,
        delivered_events: 0,
        redeliveries: 0,
        dropped_records: 0,
        unreported_drops: (0, 0),
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Number(miniserde::json::Number::U64(n)) => Some(*n),
        _ => None,
    }
}

/// Checks a subscribe body; `Err` carries every problem joined by `; `.
pub(super) fn validate(body: &[u8], schemas: Schemas) -> Result<SubSpec, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    let root: Value = json::from_str(text).map_err(|_| "body is not valid JSON".to_string())?;
    if !matches!(root, Value::Object(_)) {
        return Err("body must be a JSON object".into());
    }
    let mut problems = Vec::new();
    let schema = match field(&root, "schemaVersion") {
        Some(Value::String(v)) if schemas == Schemas::No2025 && v == LMI_SCHEMA => {
            problems.push(format!("schemaVersion {v} is not supported"));
            String::new()
        }
        Some(Value::String(v)) if schemas == Schemas::Only2025 && v != LMI_SCHEMA => {
            problems.push(format!("schema validation error: schemaVersion must be {LMI_SCHEMA}"));
            String::new()
        }
        Some(Value::String(v)) if SCHEMAS.contains(&v.as_str()) => v.clone(),
        _ => {
            problems.push("schemaVersion is missing or invalid".into());
            String::new()
        }
    };
    let types = validate_types(field(&root, "types"), &mut problems);
    let (max_items, max_bytes, timeout_ms) = validate_buffering(field(&root, "buffering"), &mut problems);
    let dest = validate_destination(field(&root, "destination"), &mut problems);
    match dest {
        Some((port, path, destination)) if problems.is_empty() => Ok(SubSpec {
            schema_version: schema,
            types,
            max_items: max_items as usize,
            max_bytes: max_bytes as usize,
            timeout_ms,
            port,
            path,
            destination,
        }),
        _ => Err(problems.join("; ")),
    }
}

fn validate_types(v: Option<&Value>, problems: &mut Vec<String>) -> Vec<String> {
    let mut types = Vec::new();
    if let Some(Value::Array(items)) = v {
        for item in items.iter() {
            match item {
                Value::String(t) if TYPES.contains(&t.as_str()) => types.push(t.clone()),
                _ => problems.push("types contains an unknown value".into()),
            }
        }
    }
    if types.is_empty() {
        problems.push("types should not be empty".into());
    }
    types
}

fn validate_buffering(v: Option<&Value>, problems: &mut Vec<String>) -> (u64, u64, u64) {
    let limits = [
        ("maxItems", 10_000, 1_000, 10_000),
        ("maxBytes", 262_144, 262_144, 1_048_576),
        ("timeoutMs", 1_000, 25, 30_000),
    ];
    let mut out = [0u64; 3];
    for (slot, (key, default, min, max)) in out.iter_mut().zip(limits) {
        *slot = match v.and_then(|b| field(b, key)) {
            None => default,
            Some(n) => match int(n) {
                Some(n) if (min..=max).contains(&n) => n,
                _ => {
                    problems.push(format!("buffering.{key} must be between {min} and {max}"));
                    default
                }
            },
        };
    }
    (out[0], out[1], out[2])
}

fn validate_destination(v: Option<&Value>, problems: &mut Vec<String>) -> Option<(u16, Option<String>, String)> {
    let Some(dest) = v else {
        problems.push("destination is required".into());
        return None;
    };
    match field(dest, "protocol") {
        Some(Value::String(p)) if p == "HTTP" => {
            let Some(Value::String(uri)) = field(dest, "URI") else {
                problems.push("destination.URI is required".into());
                return None;
            };
            match parse_uri(uri) {
                Ok((port, path)) => Some((port, Some(path), uri.clone())),
                Err(why) => {
                    problems.push(why);
                    None
                }
            }
        }
        Some(Value::String(p)) if p == "TCP" => match field(dest, "port").and_then(int) {
            Some(port) => port_ok(port).map(|p| (p, None, format!("tcp:{p}"))).map_err(|w| problems.push(w)).ok(),
            None => {
                problems.push("destination.port is required".into());
                None
            }
        },
        _ => {
            problems.push("destination.protocol must be HTTP or TCP".into());
            None
        }
    }
}

fn port_ok(port: u64) -> Result<u16, String> {
    match u16::try_from(port) {
        Ok(9001) => Err("destination port 9001 is reserved".into()),
        Ok(p) if p > 0 => Ok(p),
        _ => Err("destination port is invalid".into()),
    }
}

/// `http://sandbox.localdomain:4243/telemetry` → (4243, "/telemetry").
fn parse_uri(uri: &str) -> Result<(u16, String), String> {
    let rest = uri.strip_prefix("http://").ok_or("destination.URI scheme must be http")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host != "sandbox.localdomain" && host != "sandbox" {
        return Err("destination.URI host must be sandbox.localdomain".into());
    }
    let port = port.filter(|p| !p.is_empty()).ok_or("URI port is not provided")?;
    let port = port.parse::<u64>().map_err(|_| "destination port is invalid".to_string())?;
    Ok((port_ok(port)?, path.to_string()))
}

#[cfg(test)]
#[path = "subscribe_tests.rs"]
mod tests;
