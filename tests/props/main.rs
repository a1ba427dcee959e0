//! Property tests of every parser and encoder of the extension, through the crate's public API:
//! random and adversarial inputs must never panic, every output stays bounded by a function of
//! its input, and encode → decode round trips give back what went in. The listener's HTTP
//! reader is private and has its own in-module properties (`src/listener/http/props.rs`).
//!
//! Runs are deterministic: a fixed seed and a modest number of cases per property keep
//! `./build.sh test` fast. `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override both (the soak
//! command runs them longer with a random seed). A failing input is kept by hand as a file in
//! `tests/data/regressions/<parser>/`, replayed by `regressions.rs` on every run.

mod config;
mod json_gen;
mod lambda_api;
mod logs;
mod newrelic;
mod payload;
mod queues;
mod regressions;
mod retry;
mod support;
mod telemetry;
mod timefmt;
