//! Replays every input a property once failed on, kept in `tests/data/regressions/<parser>/`,
//! through the same property function, so a fixed bug stays fixed whatever the seed. A file
//! whose first line is `cuts: a,b,…` feeds the rest in pieces cut at those sizes. The HTTP
//! reader's fixtures (`http/`) are replayed in-module (`src/listener/http/props.rs`).

use std::path::{Path, PathBuf};

use proptest::test_runner::TestCaseError;

/// Directory → the property its fixtures are replayed through.
type Replay = fn(&[u8]) -> Result<(), TestCaseError>;

const REPLAYS: [(&str, Replay); 6] = [
    ("payload", crate::payload::check_split),
    ("payload-stream", replay_stream),
    ("telemetry", crate::telemetry::check_body),
    ("lambda-api", crate::lambda_api::check_event),
    ("duration", crate::config::check_duration_text),
    ("retry-after", crate::retry::check_retry_after),
];

/// Handled elsewhere.
const IN_MODULE: [&str; 1] = ["http"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/regressions")
}

fn replay_stream(file: &[u8]) -> Result<(), TestCaseError> {
    let (cuts, stream) = cuts_and_rest(file);
    crate::payload::check_stream(stream, &cuts)
}

/// `cuts: 3,10\n<bytes>` → ([3, 10], bytes); without the line, no cuts.
fn cuts_and_rest(file: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some(rest) = file.strip_prefix(b"cuts: ") else { return (Vec::new(), file) };
    let line_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let cuts = String::from_utf8_lossy(&rest[..line_end]).split(',').filter_map(|n| n.trim().parse().ok()).collect();
    (cuts, rest.get(line_end + 1..).unwrap_or_default())
}

#[test]
fn every_kept_failure_passes_its_property() {
    let mut replayed = 0;
    let dirs = std::fs::read_dir(root()).expect("tests/data/regressions exists");
    for dir in dirs.map(|d| d.expect("readable directory entry").path()) {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if IN_MODULE.contains(&name.as_str()) {
            continue;
        }
        let replay = REPLAYS.iter().find(|(d, _)| *d == name).map(|(_, r)| *r);
        let replay = replay.unwrap_or_else(|| panic!("no property replays tests/data/regressions/{name}"));
        for file in std::fs::read_dir(&dir).expect("readable fixture directory") {
            let path = file.expect("readable fixture").path();
            let bytes = std::fs::read(&path).expect("readable fixture file");
            if let Err(e) = replay(&bytes) {
                panic!("{}: {e}", path.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression fixtures found under {}", root().display());
}

#[test]
fn cuts_line() {
    assert_eq!(cuts_and_rest(b"cuts: 3, 10\nabc"), (vec![3, 10], &b"abc"[..]));
    assert_eq!(cuts_and_rest(b"abc"), (vec![], &b"abc"[..]));
}
