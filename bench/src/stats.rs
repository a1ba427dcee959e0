//! Small statistics over measured samples: percentiles of one run and the
//! median with its spread (min–max) over repetitions, plus the number
//! formats every report uses. Pure functions over plain numbers; nothing here
//! measures or prints.

use std::time::Duration;

/// The `p`-th percentile (0–100) by the nearest-rank method, which always
/// returns a value that was really measured; `None` for no samples.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(sorted.len() - 1)).copied()
}

/// Milliseconds as a float, the unit of every latency figure.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and spread of one figure over repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Every sample, in measurement order (kept for the JSON output).
    pub samples: Vec<f64>,
}

impl Spread {
    /// `None` when there is no finite sample.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        let finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        let median = median(&finite)?;
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread { median, min, max, samples: finite })
    }
}

/// The middle value (mean of the two middle ones for an even count).
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => sorted.get(mid).copied(),
        _ => Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2.0),
    }
}

/// A latency in ms with a precision that suits its size (`0.042`, `1.27`, `52.3`, `1204`).
pub fn fmt_ms(v: f64) -> String {
    let a = v.abs();
    if a < 1.0 {
        format!("{v:.3}")
    } else if a < 10.0 {
        format!("{v:.2}")
    } else if a < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// An integer with thousands separators: `1865952` → `1,865,952`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(samples: &[f64], p: f64, expected: Option<f64>) {
        assert_eq!(percentile(samples, p), expected, "p{p} of {samples:?}");
    }

    #[test]
    fn percentiles_are_measured_values() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        check(&hundred, 50.0, Some(50.0));
        check(&hundred, 99.0, Some(99.0));
        check(&hundred, 100.0, Some(100.0));
        check(&hundred, 0.0, Some(1.0));
        check(&[3.0, 1.0, 2.0], 50.0, Some(2.0));
        check(&[5.0], 99.0, Some(5.0));
        check(&[], 50.0, None);
        check(&[f64::NAN], 50.0, None);
    }

    #[test]
    fn spread_and_median() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let s = Spread::of(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!(s, Some(Spread { median: 2.0, min: 1.0, max: 3.0, samples: vec![3.0, 1.0, 2.0] }));
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_ms(0.04219), "0.042");
        assert_eq!(fmt_ms(1.266), "1.27");
        assert_eq!(fmt_ms(52.34), "52.3");
        assert_eq!(fmt_ms(1204.4), "1204");
        assert_eq!(group(1_865_952), "1,865,952");
        assert_eq!(group(999), "999");
        assert_eq!(group(0), "0");
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
    }
}
