//! Log entries waiting for delivery: the shared byte-bounded queue (`crate::queue`) holding
//! [`LogEntry`]s, what an entry weighs, and the late filling of trace ids. Pure.

use super::{Attr, LogEntry};
use crate::queue::{self, Weigh};

/// The log queue: oldest dropped first beyond its bound, sequence numbers for flushes.
pub type LogQueue = queue::Queue<LogEntry>;
/// An entry and its place in the queue.
pub type Queued = queue::Queued<LogEntry>;

/// What an entry costs in memory: its text plus the fixed size of the structs holding it.
pub fn cost(entry: &LogEntry) -> usize {
    let text = entry.message.len()
        + entry.level.len()
        + entry.request_id.as_ref().map_or(0, String::len)
        + entry.trace_id.as_ref().map_or(0, String::len);
    let extra: usize = entry
        .extra
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Attr::Text(text) | Attr::Literal(text) => text.len(),
            };
            key.len() + value + std::mem::size_of::<(String, Attr)>()
        })
        .sum();
    text + extra + std::mem::size_of::<Queued>()
}

impl Weigh for LogEntry {
    fn weight(&self) -> usize {
        cost(self)
    }
}

/// Gives entries without a trace id `trace_of(request_id)` (pass `|_| None` when
/// `NEW_RELIC_COLLECT_TRACE_ID` is off). Called on entries just taken for delivery: the agent
/// payload carrying the trace id arrives at the end of the invocation, after most of its logs,
/// so it is looked up as late as possible.
pub fn fill_trace_ids(entries: &mut [Queued], trace_of: impl Fn(&str) -> Option<String>) {
    for queued in entries {
        if queued.item.trace_id.is_none() {
            queued.item.trace_id = queued.item.request_id.as_deref().and_then(&trace_of);
        }
    }
}

#[cfg(test)]
mod tests;
