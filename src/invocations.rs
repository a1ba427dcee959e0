//! What the pipeline knows about recent invocations: which one is current, whether its agent
//! payload, `platform.runtimeDone` and `platform.report` have arrived, and which error lines
//! were already synthesized for it (each at most once per request and kind). Pure and
//! bounded: only the most recent [`MAX_TRACKED`] invocations are remembered.

use std::collections::VecDeque;

use crate::event::Invoke;

/// More than enough for late telemetry (a report arrives at most one thaw later).
pub const MAX_TRACKED: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synth {
    Timeout,
    Failure,
    PlatformFault,
}

#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    pub invoke: Option<Invoke>,
    pub payload_seen: bool,
    pub runtime_done: bool,
    /// `runtimeDone` said success: a later SHUTDOWN timeout is not about this request.
    pub succeeded: bool,
    pub report_seen: bool,
    pub trace_id: Option<String>,
    synthesized: Vec<Synth>,
}

#[derive(Debug, Default)]
pub struct Invocations {
    recent: VecDeque<Invocation>,
    /// The request whose INVOKE arrived last.
    current: Option<String>,
}

impl Invocations {
    pub fn on_invoke(&mut self, invoke: &Invoke) {
        self.entry(&invoke.request_id).invoke = Some(invoke.clone());
        self.current = Some(invoke.request_id.clone());
    }

    pub fn current(&self) -> Option<&Invocation> {
        let id = self.current.as_deref()?;
        self.recent.iter().find(|i| i.request_id == id)
    }

    pub fn current_id(&self) -> Option<&str> {
        self.current.as_deref()
    }

    pub fn get(&self, request_id: &str) -> Option<&Invocation> {
        self.recent.iter().find(|i| i.request_id == request_id)
    }

    /// The entry for `request_id`, created if unknown (telemetry may name requests this process
    /// never saw, e.g. after a re-init).
    #[cfg_attr(not(test), expect(clippy::indexing_slicing, reason = "a position just found, or the entry just pushed"))]
    pub fn entry(&mut self, request_id: &str) -> &mut Invocation {
        if let Some(pos) = self.recent.iter().position(|i| i.request_id == request_id) {
            return &mut self.recent[pos];
        }
        if self.recent.len() >= MAX_TRACKED {
            self.recent.pop_front();
        }
        self.recent.push_back(Invocation { request_id: request_id.to_string(), ..Invocation::default() });
        let last = self.recent.len() - 1;
        &mut self.recent[last]
    }

    /// Records that `kind` is being synthesized for `request_id`; false if it already was.
    pub fn claim(&mut self, request_id: &str, kind: Synth) -> bool {
        let inv = self.entry(request_id);
        if inv.synthesized.contains(&kind) {
            return false;
        }
        inv.synthesized.push(kind);
        true
    }

    /// Invocations this process started whose `platform.report` has not arrived yet.
    pub fn awaiting_report(&self) -> usize {
        self.recent.iter().filter(|i| i.invoke.is_some() && !i.report_seen).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn invoke(id: &str) -> Invoke {
        Invoke {
            request_id: id.into(),
            deadline_ms: 0,
            invoked_function_arn: String::new(),
            received: Instant::now(),
            received_ms: 0,
        }
    }

    #[test]
    fn synthesized_lines_are_claimed_once_per_kind() {
        let mut inv = Invocations::default();
        inv.on_invoke(&invoke("a"));
        assert!(inv.claim("a", Synth::Timeout));
        assert!(!inv.claim("a", Synth::Timeout));
        assert!(inv.claim("a", Synth::PlatformFault));
        assert!(inv.claim("b", Synth::Timeout));
    }

    #[test]
    fn bounded_and_tracks_current() {
        let mut inv = Invocations::default();
        for n in 0..(MAX_TRACKED + 10) {
            inv.on_invoke(&invoke(&n.to_string()));
        }
        assert_eq!(inv.recent.len(), MAX_TRACKED);
        assert_eq!(inv.current_id(), Some((MAX_TRACKED + 9).to_string().as_str()));
        assert!(inv.get("0").is_none());
        assert_eq!(inv.awaiting_report(), MAX_TRACKED);
        inv.entry(&(MAX_TRACKED + 9).to_string()).report_seen = true;
        assert_eq!(inv.awaiting_report(), MAX_TRACKED - 1);
    }
}
