use nr_bench::bench::busy::{self, Policy, Subject};
use nr_bench::bench::cold;
use std::time::Duration;
fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a[1] == "cold" {
        let (ours, floor) = (std::path::PathBuf::from(&a[2]), std::path::PathBuf::from(&a[3]));
        let n: usize = a[4].parse().unwrap();
        let (mut o, mut f, mut os, mut ol) = (vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            let c = cold::run(&ours, Subject::Ours(Policy::Adaptive), &[]).unwrap();
            o.push(c.ready_ms.unwrap());
            os.push(c.shutdown_to_exit_ms.unwrap());
            f.push(cold::run(&floor, Subject::Floor, &[]).unwrap().ready_ms.unwrap());
            let c = cold::run(&ours, Subject::Ours(Policy::Adaptive), &[("NEW_RELIC_EXTENSION_SEND_LOGS", "function")])
                .unwrap();
            ol.push(c.shutdown_to_exit_ms.unwrap());
        }
        let (mo, mf) = (med(o), med(f));
        println!(
            "ready ours {mo:.3} floor {mf:.3} ratio {:.2}; shutdown->exit {:.3}, with logs {:.3}",
            mo / mf,
            med(os),
            med(ol)
        );
        return;
    }
    let bin = std::path::PathBuf::from(&a[1]);
    let delay = a[2].parse::<u64>().ok().filter(|d| *d > 0).map(Duration::from_millis);
    let n: usize = a[3].parse().unwrap();
    let subject = match a.get(4).map(String::as_str) {
        Some("floor") => Subject::FloorReadingPipe,
        Some("sync") => Subject::Ours(Policy::Synchronous),
        _ => Subject::Ours(Policy::Adaptive),
    };
    let r = busy::run(&bin, subject, delay, n).unwrap();
    let spikes: Vec<String> =
        r.overhead_ms.iter().enumerate().filter(|(_, v)| **v > 0.8).map(|(i, v)| format!("{i}:{v:.2}")).collect();
    println!("spikes {spikes:?}");
    let mut o = r.overhead_ms.clone();
    o.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let p = |q: f64| o[((o.len() - 1) as f64 * q) as usize];
    println!(
        "overhead p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}; cpu/inv {:?}; rss {}; lost {} dup {}; ready {:?}",
        p(0.5),
        p(0.9),
        p(0.99),
        p(1.0),
        r.cpu_per_invocation_ms,
        r.peak_rss_kb,
        r.lost,
        r.duplicated,
        r.ready_ms
    );
}
