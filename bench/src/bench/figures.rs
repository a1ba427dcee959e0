//! The benchmark's figures as data: what was measured (median and spread
//! over repetitions, ours and the floor's), its unit, and the target from
//! the issue with an honest PASS/MISS. The table and the JSON are both
//! rendered from this list; nothing here measures.

use crate::stats::{fmt_ms, group, Spread};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Ms,
    /// kB as `/proc` counts them (1024 bytes).
    KiB,
    Instructions,
    PerSecond,
    /// A count per event, one decimal (e.g. thread runs per invocation).
    Count,
}

impl Unit {
    pub fn key(self) -> &'static str {
        match self {
            Unit::Bytes => "bytes",
            Unit::Ms => "ms",
            Unit::KiB => "KiB",
            Unit::Instructions => "instructions",
            Unit::PerSecond => "per_second",
            Unit::Count => "count",
        }
    }

    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Bytes => format!("{} B", group(v.round() as u64)),
            Unit::Ms => format!("{} ms", fmt_ms(v)),
            Unit::KiB => format!("{} kB", group(v.round() as u64)),
            Unit::Instructions => group(v.round() as u64),
            Unit::PerSecond => format!("{}/s", group(v.round() as u64)),
            Unit::Count => format!("{v:.1}"),
        }
    }

    /// The figure without its unit, for the `(min–max)` part.
    fn bare(self, v: f64) -> String {
        match self {
            Unit::Ms => fmt_ms(v),
            Unit::Count => format!("{v:.1}"),
            _ => group(v.round() as u64),
        }
    }
}

/// A target from the issue.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The median must be at most this (in the figure's unit).
    AtMost(f64, &'static str),
    /// The median must be below this.
    Below(f64, &'static str),
    /// The median must be at most this multiple of the floor's median.
    FloorRatio(f64),
}

impl Target {
    pub fn text(&self) -> String {
        match self {
            Target::AtMost(_, t) | Target::Below(_, t) => t.to_string(),
            Target::FloorRatio(r) => format!("≤ {r}× floor"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Figure {
    /// Stable name in the JSON, e.g. `overhead_p99_ms.adaptive.collector_50ms`.
    pub key: String,
    pub section: String,
    pub label: String,
    pub unit: Unit,
    pub ours: Option<Spread>,
    pub floor: Option<Spread>,
    pub target: Option<Target>,
    /// Shown instead of a value when there is none (e.g. why it is n/a).
    pub note: Option<String>,
}

impl Figure {
    pub fn new(section: &str, key: &str, label: &str, unit: Unit) -> Figure {
        Figure {
            key: key.to_string(),
            section: section.to_string(),
            label: label.to_string(),
            unit,
            ours: None,
            floor: None,
            target: None,
            note: None,
        }
    }

    pub fn ours(mut self, samples: &[f64]) -> Figure {
        self.ours = Spread::of(samples);
        self
    }

    pub fn floor(mut self, samples: &[f64]) -> Figure {
        self.floor = Spread::of(samples);
        self
    }

    pub fn target(mut self, target: Target) -> Figure {
        self.target = Some(target);
        self
    }

    pub fn note(mut self, note: &str) -> Figure {
        self.note = Some(note.to_string());
        self
    }

    /// Our median over the floor's.
    pub fn ratio(&self) -> Option<f64> {
        let (o, f) = (self.ours.as_ref()?, self.floor.as_ref()?);
        (f.median > 0.0).then(|| o.median / f.median)
    }

    /// `Some(true)` PASS, `Some(false)` MISS, `None` without a target or a value.
    pub fn verdict(&self) -> Option<bool> {
        let ours = self.ours.as_ref()?.median;
        match self.target.as_ref()? {
            Target::AtMost(limit, _) => Some(ours <= *limit),
            Target::Below(limit, _) => Some(ours < *limit),
            Target::FloorRatio(r) => Some(self.ratio()? <= *r),
        }
    }

    /// `median (min–max)`, the unit once; the note when there is no value.
    pub fn cell(&self, spread: Option<&Spread>) -> String {
        match spread {
            Some(s) if s.samples.len() > 1 && s.min != s.max => {
                format!("{} ({}–{})", self.unit.format(s.median), self.unit.bare(s.min), self.unit.bare(s.max))
            }
            Some(s) => self.unit.format(s.median),
            None => "n/a".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: &Figure, verdict: Option<bool>) {
        assert_eq!(f.verdict(), verdict, "{f:?}");
    }

    #[test]
    fn verdicts() {
        let base = || Figure::new("s", "k", "l", Unit::Ms);
        check(&base().ours(&[0.3, 0.5, 0.4]).target(Target::AtMost(0.4, "≤ 0.4 ms")), Some(true));
        check(&base().ours(&[1.0]).target(Target::Below(1.0, "< 1 ms")), Some(false));
        check(&base().ours(&[1.2]).floor(&[1.0]).target(Target::FloorRatio(1.3)), Some(true));
        check(&base().ours(&[1.4]).floor(&[1.0]).target(Target::FloorRatio(1.3)), Some(false));
        check(&base().ours(&[1.4]).target(Target::FloorRatio(1.3)), None);
        check(&base().target(Target::AtMost(1.0, "")), None);
        check(&base().ours(&[1.0]), None);
    }

    #[test]
    fn cells() {
        let f = Figure::new("s", "k", "l", Unit::Ms).ours(&[2.0, 1.5, 3.25]);
        assert_eq!(f.cell(f.ours.as_ref()), "2.00 ms (1.50–3.25)");
        let b = Figure::new("s", "k", "l", Unit::Bytes).ours(&[1_865_952.0]);
        assert_eq!(b.cell(b.ours.as_ref()), "1,865,952 B");
        assert_eq!(b.cell(None), "n/a");
        assert_eq!(b.ratio(), None);
    }
}
