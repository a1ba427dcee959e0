//! Smoke test of `./build.sh demo`: the demo's whole scenario (agent
//! payloads, collector error burst, a function timeout with reset and
//! re-init, SHUTDOWN) run end to end against the debug build of the
//! extension, with every produced item accounted for.

use nr_bench::demo::{self, DemoOptions};

#[test]
fn demo_accounts_for_every_item() {
    let extension = nr_bench::workspace_binary("debug", "newrelic-lambda-extension");
    assert!(
        extension.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`; ./build.sh test does)",
        extension.display()
    );
    let mut opts = DemoOptions::new(extension);
    opts.invocations = 6;
    opts.progress_every = 2;
    let mut progress = Vec::new();
    let report = demo::run(&opts, &mut progress).expect("the demo runs");
    let mut text = Vec::new();
    demo::print::render(&report, &mut text).expect("the report renders");
    let text = String::from_utf8_lossy(&progress).into_owned() + &String::from_utf8_lossy(&text);

    assert!(report.ok(), "{text}");
    assert!(text.contains("RESULT: OK"), "{text}");
    let acc = report.accounting.as_ref().expect("simulated runs are accounted");
    // Invocation 5 of 6 times out: no payload from it, but a REPORT and a timeout line.
    assert_eq!((acc.payloads.produced, acc.payloads.once), (5, 5), "{text}");
    assert_eq!((acc.reports.produced, acc.reports.once), (6, 6), "{text}");
    assert_eq!((acc.timeouts.produced, acc.timeouts.once), (1, 1), "{text}");
    assert_eq!((acc.logs.produced, acc.logs.once), (18, 18), "{text}");
    // The burst was answered with errors, and the extension retried past it.
    assert!(acc.failed_requests >= 3, "{text}");
    assert!(report.reset.as_ref().is_some_and(|r| r.reason == "timeout"), "{text}");
    assert!(report.reinit.is_some() && report.init.is_some(), "{text}");
    assert_eq!(report.overhead_ms.len(), 5);
    assert!(report.peak_rss_kb > 0);
    assert_eq!(report.summaries.len(), 2, "one summary per process generation: {text}");
    for step in ["[  2/6]", "[  6/6]", "collector error burst", "function timed out", "re-init"] {
        assert!(text.contains(step), "progress lacks {step:?}: {text}");
    }
}
