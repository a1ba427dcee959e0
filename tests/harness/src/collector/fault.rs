//! Fault injection for the fake collector: which fault (if any) the next
//! request gets, and what a fault looks like on the wire. The plan is data
//! (replayable from a seed); this module never touches sockets itself.

use super::Endpoint;
use crate::http::{Reply, Response};
use crate::util::Rng;
use std::collections::VecDeque;
use std::time::Duration;

/// One way to mistreat a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and body `{}`.
    Status(u16),
    /// Answer with this status and `Retry-After: <secs>`.
    RetryAfter(u16, u64),
    /// 413 when the body as received (compressed) is larger than this many
    /// bytes, the normal answer otherwise.
    Status413IfBodyOver(usize),
    /// Answer 202 `{}` after this delay (the data is accepted).
    Delay(Duration),
    /// TCP RST, no answer.
    Reset,
    /// Close without answering.
    Close,
    /// Answer bytes that are not HTTP, then close.
    Garbage,
    /// 307 to `/redirected<original path>` (which the collector also serves).
    Redirect,
    /// Send the status line and headers of a 200, stall, then close.
    Stall(Duration),
}

/// How faults are chosen; can be replaced at any time.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultPlan {
    /// Every request is answered normally.
    None,
    /// One fault per request, in order; normal answers once used up.
    Script(Vec<Fault>),
    /// Each request fails with probability `rate`, with a fault drawn
    /// uniformly from `mix`; replayable from `seed`.
    Random { seed: u64, rate: f64, mix: Vec<Fault> },
    /// Every request gets this fault (New Relic is down).
    Down(Fault),
}

/// A plan in progress, optionally limited to one endpoint.
#[derive(Debug)]
pub(crate) struct ActivePlan {
    only: Option<Endpoint>,
    script: VecDeque<Fault>,
    plan: FaultPlan,
    rng: Rng,
}

impl ActivePlan {
    pub(crate) fn new(plan: FaultPlan, only: Option<Endpoint>) -> ActivePlan {
        let seed = match &plan {
            FaultPlan::Random { seed, .. } => *seed,
            _ => 1,
        };
        let script = match &plan {
            FaultPlan::Script(faults) => faults.iter().cloned().collect(),
            _ => VecDeque::new(),
        };
        ActivePlan { only, script, plan, rng: Rng::seeded(seed) }
    }

    /// Appends to a script plan (turning any other plan into a script).
    pub(crate) fn push(&mut self, faults: Vec<Fault>) {
        if !matches!(self.plan, FaultPlan::Script(_)) {
            self.plan = FaultPlan::Script(Vec::new());
            self.script.clear();
        }
        self.script.extend(faults);
    }

    /// Faults still queued in a script plan.
    pub(crate) fn pending(&self) -> usize {
        self.script.len()
    }

    /// The fault for the next request on `endpoint`, consuming script items.
    pub(crate) fn next(&mut self, endpoint: Endpoint) -> Option<Fault> {
        if self.only.is_some_and(|e| e != endpoint) {
            return None;
        }
        match &self.plan {
            FaultPlan::None => None,
            FaultPlan::Script(_) => self.script.pop_front(),
            FaultPlan::Down(f) => Some(f.clone()),
            FaultPlan::Random { rate, mix, .. } => {
                if mix.is_empty() || !self.rng.chance(*rate) {
                    return None;
                }
                mix.get(self.rng.below(mix.len() as u64) as usize).cloned()
            }
        }
    }
}

/// The normal answer of New Relic ingest.
pub(crate) fn ok() -> Response {
    Response::json(200, "{}")
}

/// Bytes that no HTTP client can parse.
const GARBAGE: &[u8] = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 NOT HTTP AT ALL \x00\xff\r\n\r\n";

/// What to send for `fault` given the request's received body size and
/// path; `None` means "answer normally". Also the status the client will see.
pub(crate) fn reply(fault: &Fault, body_len: usize, path: &str) -> Option<(Reply, Option<u16>)> {
    let status = |s: u16| Response::json(s, "{}");
    Some(match fault {
        Fault::Status(s) => (Reply::Respond(status(*s)), Some(*s)),
        Fault::RetryAfter(s, secs) => {
            let r = status(*s).with_header("Retry-After", &secs.to_string());
            (Reply::Respond(r), Some(*s))
        }
        Fault::Status413IfBodyOver(limit) if body_len > *limit => (Reply::Respond(status(413)), Some(413)),
        Fault::Status413IfBodyOver(_) => return None,
        Fault::Delay(d) => (Reply::Delayed(*d, status(202)), Some(202)),
        Fault::Reset => (Reply::Reset, None),
        Fault::Close => (Reply::Close, None),
        Fault::Garbage => (Reply::Raw(GARBAGE.to_vec()), None),
        Fault::Redirect => {
            let r = status(307).with_header("Location", &format!("/redirected{path}"));
            (Reply::Respond(r), Some(307))
        }
        Fault::Stall(d) => (Reply::StallMidResponse(*d), None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_consumed_in_order_and_scoped() {
        let mut p = ActivePlan::new(FaultPlan::Script(vec![Fault::Reset, Fault::Status(500)]), Some(Endpoint::Log));
        assert_eq!(p.next(Endpoint::Telemetry), None);
        assert_eq!(p.next(Endpoint::Log), Some(Fault::Reset));
        assert_eq!(p.pending(), 1);
        assert_eq!(p.next(Endpoint::Log), Some(Fault::Status(500)));
        assert_eq!(p.next(Endpoint::Log), None);
    }

    #[test]
    fn random_plan_replays_and_respects_rate() {
        let plan = FaultPlan::Random { seed: 9, rate: 0.3, mix: vec![Fault::Status(503), Fault::Reset] };
        let run = || {
            let mut p = ActivePlan::new(plan.clone(), None);
            (0..1000).map(|_| p.next(Endpoint::Telemetry)).collect::<Vec<_>>()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        let failed = a.iter().filter(|f| f.is_some()).count();
        assert!((200..400).contains(&failed), "{failed}");
        assert!(a.contains(&Some(Fault::Reset)) && a.contains(&Some(Fault::Status(503))));
    }

    #[test]
    fn body_limit_fault() {
        assert!(reply(&Fault::Status413IfBodyOver(10), 10, "/").is_none());
        assert!(matches!(reply(&Fault::Status413IfBodyOver(10), 11, "/"), Some((_, Some(413)))));
    }
}
