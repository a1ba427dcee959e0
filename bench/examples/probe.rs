use nr_bench::bench::busy::{self, Policy, Subject};
use std::time::Duration;
fn main() {
    let ext = nr_bench::workspace_binary("release", "newrelic-lambda-extension");
    let floor = nr_bench::workspace_binary("release", "floor-extension");
    for (bin, s, d) in [(&ext, Subject::Ours(Policy::Adaptive), Some(Duration::from_millis(50))), (&ext, Subject::Ours(Policy::Adaptive), None), (&floor, Subject::FloorReadingPipe, None)] {
        let r = busy::run(bin, s, d, 200).unwrap();
        let mut v: Vec<(usize, f64)> = r.overhead_ms.iter().copied().enumerate().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        println!("{s:?} {d:?}: >1ms: {} top: {:?}", v.iter().filter(|x| x.1 > 1.0).count(), &v[..8].iter().map(|(i, x)| format!("#{i}:{x:.2}")).collect::<Vec<_>>());
    }
}
