//! `nr-bench`: the demo and the benchmark of the extension, and the std-only
//! floor extension they compare it with (`src/bin/floor-extension.rs`). The
//! library holds what both binaries share: driving one simulated Lambda
//! environment around an extension binary (`session`), reading CPU time from
//! `/proc` (`procfs`), statistics (`stats`), the demo scenario (`demo`) and
//! the benchmark (`bench`). It measures and reports; it never changes the
//! extension or the simulator.

pub mod bench;
pub mod demo;
pub mod procfs;
pub mod session;
pub mod stats;

use std::path::{Path, PathBuf};

/// `target/<profile>/<name>` of this workspace, honouring `CARGO_TARGET_DIR`.
pub fn workspace_binary(profile: &str, name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join(profile).join(name)
}
