//! What one telemetry log event message is: an agent payload, a REPORT line,
//! a synthesized error line (newrelic.md §4, §5), or something else. Pure
//! string work; a message that fits no pattern is `Other`, and one that
//! looks like an agent payload but does not decode is `BadPayload` (e.g.
//! glued payloads forwarded as one event).

use crate::agent;

/// The kind of a telemetry log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// A decodable `[v,"NR_LAMBDA_MONITORING",…]` payload.
    AgentPayload,
    /// Starts like an agent payload but does not decode.
    BadPayload,
    /// `REPORT RequestId: <id>\t…`
    Report,
    /// `<RFC3339> <id> Task timed out after N.NN seconds`
    Timeout,
    /// `<RFC3339> <id> Function invocation failed after …`
    Failure,
    /// `RequestId: <id> AWS Lambda platform fault caused a shutdown`
    PlatformFault,
    Other,
}

/// A classified message: its kind, the request id it names (embedded
/// `aws.requestId` for payloads) and, for payloads, the trace id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: EventKind,
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
}

fn plain(kind: EventKind, id: Option<&str>) -> Classified {
    Classified { kind, request_id: id.map(str::to_string), trace_id: None }
}

/// Loose RFC 3339 check: `YYYY-MM-DDTHH:MM:SS` then fraction/zone.
fn looks_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    b.len() >= 20
        && digits.iter().all(|&i| b.get(i).is_some_and(u8::is_ascii_digit))
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't'))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':')
        && (t.ends_with('Z') || t.ends_with('z') || t.get(t.len().saturating_sub(6)..).is_some_and(|z| z.contains(':')))
}

/// `N.NN` with exactly two decimals, as the `%.2f` of the spec.
fn two_decimals(n: &str) -> bool {
    match n.split_once('.') {
        Some((i, f)) => {
            !i.is_empty()
                && i.bytes().all(|c| c.is_ascii_digit())
                && f.len() == 2
                && f.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Classifies one telemetry log event message.
pub fn classify(message: &str) -> Classified {
    if message.starts_with('[') {
        return match agent::decode(message.as_bytes()) {
            Ok(d) => Classified { kind: EventKind::AgentPayload, request_id: d.request_id, trace_id: d.trace_id },
            Err(_) if message.contains(agent::MARKER) => plain(EventKind::BadPayload, None),
            Err(_) => plain(EventKind::Other, None),
        };
    }
    if let Some(rest) = message.strip_prefix("REPORT RequestId: ") {
        let id = rest.split('\t').next().unwrap_or("");
        return plain(EventKind::Report, Some(id));
    }
    if let Some(rest) = message.strip_prefix("RequestId: ") {
        if let Some(id) = rest.strip_suffix(" AWS Lambda platform fault caused a shutdown") {
            return plain(EventKind::PlatformFault, Some(id));
        }
    }
    let words: Vec<&str> = message.splitn(3, ' ').collect();
    if let [time, id, rest] = words.as_slice() {
        if looks_rfc3339(time) && !id.is_empty() {
            if let Some(secs) = rest.strip_prefix("Task timed out after ").and_then(|r| r.strip_suffix(" seconds")) {
                if two_decimals(secs) {
                    return plain(EventKind::Timeout, Some(id));
                }
            }
            if rest.starts_with("Function invocation failed after ") {
                return plain(EventKind::Failure, Some(id));
            }
        }
    }
    plain(EventKind::Other, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(message: &str, kind: EventKind, id: Option<&str>) {
        let c = classify(message);
        assert_eq!((c.kind, c.request_id.as_deref()), (kind, id), "{message:?}");
    }

    #[test]
    fn classifies_lines() {
        use EventKind::*;
        check("REPORT RequestId: abc\tDuration: 1.00 ms\tBilled Duration: 1 ms", Report, Some("abc"));
        check("2024-01-02T03:04:05.678Z abc Task timed out after 3.00 seconds", Timeout, Some("abc"));
        check("2024-01-02T03:04:05Z abc Task timed out after 3 seconds", Other, None);
        check(
            "2024-01-02T03:04:05+00:00 abc Function invocation failed after 1.25 seconds: Boom",
            Failure,
            Some("abc"),
        );
        check("RequestId: abc AWS Lambda platform fault caused a shutdown", PlatformFault, Some("abc"));
        check("yesterday abc Task timed out after 3.00 seconds", Other, None);
        check("hello", Other, None);
        check("", Other, None);
        check("[1,\"NR_LAMBDA_MONITORING\",\"xx\"][1,\"NR_LAMBDA_MONITORING\",\"yy\"]", BadPayload, None);
        check("[1,2]", Other, None);
    }

    #[test]
    fn classifies_payloads() {
        let p = agent::build(&agent::PayloadSpec::new("rid").trace_id("t1"));
        let c = classify(std::str::from_utf8(&p).unwrap_or(""));
        assert_eq!(
            c,
            Classified { kind: EventKind::AgentPayload, request_id: Some("rid".into()), trace_id: Some("t1".into()) }
        );
    }
}
