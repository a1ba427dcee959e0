//! The one integration test binary: the real extension executable against the simulated
//! Lambda (`lambda_sim`), a simulated agent and a fake New Relic collector, all on 127.0.0.1.

mod delivery;
mod flush;
mod hardening;
mod license;
mod lifecycle;
mod logs;
mod proxy;
mod support;
