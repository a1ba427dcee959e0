//! The demo's accounting: every item the simulated function and agent
//! produced (agent payloads, REPORT lines, the synthesized timeout line, log
//! lines) counted against what the collector accepted, each expected exactly
//! once, plus anything delivered that nobody produced. Pure: counts in,
//! verdicts out; it never reads a clock or a socket.

use lambda_sim::collector::{EventKind, Snapshot};
use std::collections::BTreeMap;

/// What the run produced: request ids per item kind, and log line texts.
#[derive(Debug, Default, Clone)]
pub struct Produced {
    /// Invocations whose agent wrote a payload.
    pub payloads: Vec<String>,
    /// Every invocation (Lambda reports each one, timeouts included).
    pub reports: Vec<String>,
    /// Invocations that ran into their timeout.
    pub timeouts: Vec<String>,
    /// Every function log line, as written (each one unique).
    pub logs: Vec<String>,
}

/// One kind of item: how many were produced and how each one arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub what: &'static str,
    pub produced: usize,
    /// Delivered exactly once.
    pub once: usize,
    /// Never delivered.
    pub lost: Vec<String>,
    /// Delivered more than once, with the count.
    pub duplicated: Vec<(String, usize)>,
}

impl Tally {
    /// Counts each produced key with `count` (how often it was delivered).
    pub fn of(what: &'static str, produced: &[String], count: impl Fn(&str) -> usize) -> Tally {
        let mut t = Tally { what, produced: produced.len(), once: 0, lost: Vec::new(), duplicated: Vec::new() };
        for key in produced {
            match count(key) {
                0 => t.lost.push(key.clone()),
                1 => t.once += 1,
                n => t.duplicated.push((key.clone(), n)),
            }
        }
        t
    }

    pub fn ok(&self) -> bool {
        self.lost.is_empty() && self.duplicated.is_empty()
    }
}

/// Everything the collector's record says about the run.
#[derive(Debug, Clone)]
pub struct Accounting {
    pub payloads: Tally,
    pub reports: Tally,
    pub timeouts: Tally,
    pub logs: Tally,
    /// Log lines must arrive (forwarding is on in this build, or it was required).
    pub logs_strict: bool,
    /// Delivered items nobody produced (a wrong synthesized line, a glued payload…).
    pub unexpected: Vec<String>,
    pub duplicate_ids: Vec<(String, usize)>,
    pub shape_errors: Vec<String>,
    pub requests: usize,
    pub failed_requests: usize,
}

/// The plain counts `Accounting` is computed from.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Deliveries per (request id, kind).
    pub deliveries: BTreeMap<(String, EventKind), usize>,
    /// Delivered events that name no request id, per kind.
    pub anonymous: BTreeMap<EventKind, usize>,
    /// Deliveries per log message.
    pub log_messages: BTreeMap<String, usize>,
    pub duplicate_ids: Vec<(String, usize)>,
    pub shape_errors: Vec<String>,
    pub requests: usize,
    pub failed_requests: usize,
}

impl Received {
    pub fn of(snap: &Snapshot) -> Received {
        let mut anonymous = BTreeMap::new();
        for e in snap.telemetry_events().filter(|e| e.request_id.is_none()) {
            *anonymous.entry(e.kind).or_insert(0) += 1;
        }
        let mut log_messages = BTreeMap::new();
        for l in snap.logs() {
            *log_messages.entry(l.message.clone()).or_insert(0) += 1;
        }
        let counters = snap.counters();
        Received {
            deliveries: snap.deliveries(),
            anonymous,
            log_messages,
            duplicate_ids: snap.duplicate_ids(),
            shape_errors: snap.shape_errors().into_iter().map(|(seq, e)| format!("request #{seq}: {e}")).collect(),
            requests: counters.requests,
            failed_requests: counters.failed_requests,
        }
    }
}

impl Accounting {
    /// Counts `produced` against `got`. Logs are strict when `require_logs`
    /// or when any log line arrived at all (then every line must).
    pub fn of(got: &Received, produced: &Produced, require_logs: bool) -> Accounting {
        let by = |kind: EventKind| move |id: &str| got.deliveries.get(&(id.to_string(), kind)).copied().unwrap_or(0);
        let logs = Tally::of("log lines", &produced.logs, |m| got.log_messages.get(m).copied().unwrap_or(0));
        Accounting {
            payloads: Tally::of("agent payloads", &produced.payloads, by(EventKind::AgentPayload)),
            reports: Tally::of("REPORT lines", &produced.reports, by(EventKind::Report)),
            timeouts: Tally::of("timeout lines", &produced.timeouts, by(EventKind::Timeout)),
            logs_strict: require_logs || !got.log_messages.is_empty(),
            logs,
            unexpected: unexpected(got, produced),
            duplicate_ids: got.duplicate_ids.clone(),
            shape_errors: got.shape_errors.clone(),
            requests: got.requests,
            failed_requests: got.failed_requests,
        }
    }

    /// Every reason the run is not a success; empty when all is accounted for.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut tallies = vec![&self.payloads, &self.reports, &self.timeouts];
        if self.logs_strict {
            tallies.push(&self.logs);
        }
        for t in tallies {
            if !t.lost.is_empty() {
                out.push(format!("{}: {} of {} never delivered", t.what, t.lost.len(), t.produced));
            }
            if !t.duplicated.is_empty() {
                out.push(format!("{}: {} delivered more than once", t.what, t.duplicated.len()));
            }
        }
        out.extend(self.unexpected.iter().map(|u| format!("unexpected delivery: {u}")));
        if !self.duplicate_ids.is_empty() {
            out.push(format!("{} event ids delivered more than once", self.duplicate_ids.len()));
        }
        out.extend(self.shape_errors.iter().map(|e| format!("malformed request: {e}")));
        out
    }
}

/// Delivered items that match nothing produced.
fn unexpected(got: &Received, produced: &Produced) -> Vec<String> {
    let mut out = Vec::new();
    for ((id, kind), n) in &got.deliveries {
        let expected = match kind {
            EventKind::AgentPayload => produced.payloads.contains(id),
            EventKind::Report => produced.reports.contains(id),
            EventKind::Timeout => produced.timeouts.contains(id),
            EventKind::Other => true,
            EventKind::BadPayload | EventKind::Failure | EventKind::PlatformFault => false,
        };
        if !expected {
            out.push(format!("{n}× {kind:?} for request {id}"));
        }
    }
    for (kind, n) in &got.anonymous {
        if *kind != EventKind::Other {
            out.push(format!("{n}× {kind:?} naming no request"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn got(pairs: &[(&str, EventKind, usize)], logs: &[(&str, usize)]) -> Received {
        Received {
            deliveries: pairs.iter().map(|(id, k, n)| ((id.to_string(), *k), *n)).collect(),
            log_messages: logs.iter().map(|(m, n)| (m.to_string(), *n)).collect(),
            ..Received::default()
        }
    }

    fn produced() -> Produced {
        Produced {
            payloads: ids(&["a"]),
            reports: ids(&["a", "b"]),
            timeouts: ids(&["b"]),
            logs: ids(&["line 1", "line 2"]),
        }
    }

    #[test]
    fn tally_sorts_lost_once_and_duplicated() {
        let t = Tally::of("x", &ids(&["a", "b", "c"]), |k| match k {
            "a" => 1,
            "b" => 3,
            _ => 0,
        });
        assert_eq!(t.once, 1);
        assert_eq!(t.lost, ids(&["c"]));
        assert_eq!(t.duplicated, vec![("b".to_string(), 3)]);
        assert!(!t.ok());
    }

    #[test]
    fn complete_run_has_no_problems_and_logs_are_lenient_until_one_arrives() {
        use EventKind::*;
        let all = [("a", AgentPayload, 1), ("a", Report, 1), ("b", Report, 1), ("b", Timeout, 1)];
        let acc = Accounting::of(&got(&all, &[]), &produced(), false);
        assert!(!acc.logs_strict);
        assert_eq!(acc.problems(), Vec::<String>::new());
        let strict = Accounting::of(&got(&all, &[]), &produced(), true);
        assert_eq!(strict.problems(), vec!["log lines: 2 of 2 never delivered".to_string()]);
        let some_logs = Accounting::of(&got(&all, &[("line 1", 1)]), &produced(), false);
        assert!(some_logs.logs_strict);
        assert_eq!(some_logs.problems(), vec!["log lines: 1 of 2 never delivered".to_string()]);
    }

    #[test]
    fn losses_duplicates_and_strangers_are_problems() {
        use EventKind::*;
        let bad = [("a", AgentPayload, 2), ("b", Report, 1), ("b", Timeout, 1), ("a", Failure, 1)];
        let acc = Accounting::of(&got(&bad, &[("line 1", 1), ("line 2", 1)]), &produced(), false);
        assert_eq!(
            acc.problems(),
            vec![
                "agent payloads: 1 delivered more than once".to_string(),
                "REPORT lines: 1 of 2 never delivered".to_string(),
                "unexpected delivery: 1× Failure for request a".to_string(),
            ]
        );
    }
}
