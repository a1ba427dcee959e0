//! Parsing a batch one event at a time. miniserde hands each element of the top-level array to
//! a visitor; this one keeps only the element being read as a JSON value and turns the previous
//! one into a record before reading the next. A whole batch as one `Value` costs up to 50 times
//! its size in memory (a 4 MB body of `{"type":"x"}` took 225 MB); this costs the body, the
//! records and one event. Syntax is miniserde's either way: a body that is not one valid JSON
//! array still fails as a whole.

use miniserde::de::{Deserialize, Seq, Visitor};
use miniserde::json::Value;

use super::{parse_event, Batch, Skip};

/// The visitor of the top-level value: accepts only an array.
pub(super) struct Events {
    pub(super) batch: Batch,
}

impl Deserialize for Events {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        out.insert(Events { batch: Batch::default() })
    }
}

impl Visitor for Events {
    fn seq(&mut self) -> miniserde::Result<Box<dyn Seq + '_>> {
        Ok(Box::new(Elements { events: self, element: None }))
    }
}

/// The array being read: the element in progress, and where finished ones go.
struct Elements<'a> {
    events: &'a mut Events,
    element: Option<Value>,
}

impl Elements<'_> {
    /// Turns the element read last (if any) into a record or a count.
    fn settle(&mut self) {
        let Some(value) = self.element.take() else { return };
        let batch = &mut self.events.batch;
        match parse_event(value) {
            Ok(record) => batch.records.push(record),
            Err(Skip::Malformed) => batch.malformed += 1,
            Err(Skip::Unknown) => batch.unknown += 1,
        }
    }
}

impl Seq for Elements<'_> {
    fn element(&mut self) -> miniserde::Result<&mut dyn Visitor> {
        self.settle();
        Ok(Value::begin(&mut self.element))
    }

    fn finish(&mut self) -> miniserde::Result<()> {
        self.settle();
        Ok(())
    }
}
