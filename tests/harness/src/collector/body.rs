//! Decoding and shape-checking the two request bodies New Relic accepts
//! (newrelic.md §3 telemetry, §6 logs). Pure: JSON text in, decoded parts and
//! a list of shape errors out. It extracts whatever is readable even when the
//! shape is wrong, so one bad field does not hide the rest.

use miniserde::json::{self, Number, Object, Value};
use std::collections::BTreeMap;

/// The `context` object of a telemetry request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryContext {
    pub function_name: String,
    pub invoked_function_arn: String,
    pub log_group_name: String,
    pub log_stream_name: String,
}

/// One `logEvents` item before classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub id: String,
    pub timestamp: u64,
    pub message: String,
}

/// One log record of a Log API request, with its batch's common attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Sequence number of the request that carried it.
    pub request_seq: usize,
    /// True when that request was answered 2xx.
    pub delivered: bool,
    pub timestamp: u64,
    pub message: String,
    /// Attribute values rendered as text (strings unquoted, others as JSON).
    pub attributes: BTreeMap<String, String>,
    pub common: BTreeMap<String, String>,
}

fn str_field(o: &Object, key: &str, what: &str, errors: &mut Vec<String>) -> String {
    match o.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            errors.push(format!("{what}.{key} is not a string"));
            String::new()
        }
        None => {
            errors.push(format!("{what}.{key} missing"));
            String::new()
        }
    }
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v {
        Some(Value::Number(Number::U64(n))) => Some(*n),
        Some(Value::Number(Number::I64(n))) => u64::try_from(*n).ok(),
        Some(Value::Number(Number::F64(f))) if *f >= 0.0 => Some(*f as u64),
        _ => None,
    }
}

fn as_object<'a>(v: Option<&'a Value>, what: &str, errors: &mut Vec<String>) -> Option<&'a Object> {
    match v {
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            errors.push(format!("{what} is not an object"));
            None
        }
        None => {
            errors.push(format!("{what} missing"));
            None
        }
    }
}

/// Decodes a telemetry body: `(context, events, shape errors)`.
pub fn telemetry(text: &str) -> (Option<TelemetryContext>, Vec<RawEvent>, Vec<String>) {
    let mut errors = Vec::new();
    let Ok(Value::Object(top)) = json::from_str::<Value>(text) else {
        return (None, Vec::new(), vec!["body is not a JSON object".to_string()]);
    };
    let context = as_object(top.get("context"), "context", &mut errors).map(|c| TelemetryContext {
        function_name: str_field(c, "function_name", "context", &mut errors),
        invoked_function_arn: str_field(c, "invoked_function_arn", "context", &mut errors),
        log_group_name: str_field(c, "log_group_name", "context", &mut errors),
        log_stream_name: str_field(c, "log_stream_name", "context", &mut errors),
    });
    let entry_text = str_field(&top, "entry", "body", &mut errors);
    let events = match json::from_str::<Value>(&entry_text) {
        Ok(Value::Object(entry)) => entry_events(&entry, &mut errors),
        _ if matches!(top.get("entry"), Some(Value::String(_))) => {
            errors.push("entry string is not a JSON object".to_string());
            Vec::new()
        }
        _ => Vec::new(),
    };
    for key in top.keys().filter(|k| *k != "context" && *k != "entry") {
        errors.push(format!("unexpected top-level field {key}"));
    }
    (context, events, errors)
}

fn entry_events(entry: &Object, errors: &mut Vec<String>) -> Vec<RawEvent> {
    for key in ["logGroup", "logStream", "messageType", "owner"] {
        str_field(entry, key, "entry", errors);
    }
    let Some(Value::Array(items)) = entry.get("logEvents") else {
        errors.push("entry.logEvents missing or not an array".to_string());
        return Vec::new();
    };
    let mut events = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let what = format!("entry.logEvents[{i}]");
        let Value::Object(ev) = item else {
            errors.push(format!("{what} is not an object"));
            continue;
        };
        let id = str_field(ev, "id", &what, errors);
        let message = str_field(ev, "message", &what, errors);
        let timestamp = number(ev.get("timestamp")).unwrap_or_else(|| {
            errors.push(format!("{what}.timestamp missing or not a number"));
            0
        });
        events.push(RawEvent { id, timestamp, message });
    }
    events
}

/// Attribute values as text: strings as they are, anything else as JSON.
fn text_map(o: &Object) -> BTreeMap<String, String> {
    o.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => json::to_string(other),
            };
            (k.clone(), text)
        })
        .collect()
}

/// Decodes a Log API body: `(records, shape errors)`; records carry seq 0
/// and `delivered: false` for the caller to fill in.
pub fn logs(text: &str) -> (Vec<LogRecord>, Vec<String>) {
    let mut errors = Vec::new();
    let Ok(Value::Array(batches)) = json::from_str::<Value>(text) else {
        return (Vec::new(), vec!["body is not a JSON array".to_string()]);
    };
    let mut records = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let what = format!("[{b}]");
        let Value::Object(batch) = batch else {
            errors.push(format!("{what} is not an object"));
            continue;
        };
        let common = as_object(batch.get("common"), &format!("{what}.common"), &mut errors)
            .and_then(|c| as_object(c.get("attributes"), &format!("{what}.common.attributes"), &mut errors))
            .map(text_map)
            .unwrap_or_default();
        let Some(Value::Array(logs)) = batch.get("logs") else {
            errors.push(format!("{what}.logs missing or not an array"));
            continue;
        };
        for (i, log) in logs.iter().enumerate() {
            let what = format!("{what}.logs[{i}]");
            let Value::Object(log) = log else {
                errors.push(format!("{what} is not an object"));
                continue;
            };
            let message = str_field(log, "message", &what, &mut errors);
            let timestamp = number(log.get("timestamp")).unwrap_or_else(|| {
                errors.push(format!("{what}.timestamp missing or not a number"));
                0
            });
            let attributes = match log.get("attributes") {
                None => BTreeMap::new(),
                a => as_object(a, &format!("{what}.attributes"), &mut errors).map(text_map).unwrap_or_default(),
            };
            let common = common.clone();
            records.push(LogRecord { request_seq: 0, delivered: false, timestamp, message, attributes, common });
        }
    }
    (records, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, events: usize, errors: &[&str]) {
        let (_, evs, errs) = telemetry(body);
        assert_eq!(evs.len(), events, "{body}");
        assert_eq!(errs, errors, "{body}");
    }

    const CTX: &str =
        r#""context":{"function_name":"f","invoked_function_arn":"a","log_group_name":"g","log_stream_name":"s"}"#;

    #[test]
    fn telemetry_shapes() {
        let entry = r#"{\"logEvents\":[{\"id\":\"1\",\"timestamp\":5,\"message\":\"m\"}],\"logGroup\":\"g\",\"logStream\":\"\",\"messageType\":\"\",\"owner\":\"\"}"#;
        check(&format!(r#"{{{CTX},"entry":"{entry}"}}"#), 1, &[]);
        check(&format!(r#"{{{CTX},"entry":{{}}}}"#), 0, &["body.entry is not a string"]);
        check(&format!(r#"{{{CTX}}}"#), 0, &["body.entry missing"]);
        check(
            r#"{"entry":"{\"logEvents\":[],\"logGroup\":\"\",\"logStream\":\"\",\"messageType\":\"\"}"}"#,
            0,
            &["context missing", "entry.owner missing"],
        );
        check(
            &format!(
                r#"{{{CTX},"entry":"{{\"logEvents\":[{{\"id\":1}}],\"logGroup\":\"\",\"logStream\":\"\",\"messageType\":\"\",\"owner\":\"\"}}"}}"#
            ),
            1,
            &[
                "entry.logEvents[0].id is not a string",
                "entry.logEvents[0].message missing",
                "entry.logEvents[0].timestamp missing or not a number",
            ],
        );
        check("[]", 0, &["body is not a JSON object"]);
    }

    #[test]
    fn log_shapes() {
        let (recs, errs) = logs(
            r#"[{"common":{"attributes":{"plugin":"p","n":1}},"logs":[{"timestamp":7,"message":"hi","attributes":{"level":"INFO"}}]}]"#,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!((r.timestamp, r.message.as_str()), (7, "hi"));
        assert_eq!(r.common.get("n").map(String::as_str), Some("1"));
        assert_eq!(r.attributes.get("level").map(String::as_str), Some("INFO"));
        let (recs, errs) = logs(r#"[{"logs":[{"message":"x"}]}, 3]"#);
        assert_eq!(recs.len(), 1);
        assert_eq!(
            errs,
            vec!["[0].common missing", "[0].logs[0].timestamp missing or not a number", "[1] is not an object"]
        );
    }
}
