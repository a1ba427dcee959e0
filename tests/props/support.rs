//! What every property module shares: the runner configuration (fixed seed, modest case count,
//! both overridable from the environment, no failure files written next to the sources).

use proptest::test_runner::{Config, RngSeed};

/// The seed of every run unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x005e_ed0f_4a2d;

/// A configuration running `cases` cases (or `PROPTEST_CASES`) from the fixed seed (or
/// `PROPTEST_RNG_SEED`).
pub fn config(cases: u32) -> Config {
    let set = |name: &str| std::env::var_os(name).is_some();
    let defaults = Config::default();
    Config {
        cases: if set("PROPTEST_CASES") { defaults.cases } else { cases },
        rng_seed: if set("PROPTEST_RNG_SEED") { defaults.rng_seed } else { RngSeed::Fixed(SEED) },
        failure_persistence: None,
        ..defaults
    }
}
