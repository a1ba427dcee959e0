//! Self-tests of the simulated agent: payload build → decode round trips in
//! both shapes, re-targeting, size knob, garbage rejection, and the FIFO
//! writer (separate and glued writes read back, NoPipe, Blocked).

use lambda_sim::agent::{self, AgentError, PayloadSpec};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TRACE: &str = "0123456789abcdef0123456789abcdef";

fn check(spec: PayloadSpec) {
    let bytes = agent::build(&spec);
    let text = String::from_utf8(bytes.clone()).expect("utf8");
    let prefix = if spec.version_as_string {
        format!("[\"{}\",\"NR_LAMBDA_MONITORING\",", spec.version)
    } else {
        format!("[{},\"NR_LAMBDA_MONITORING\",", spec.version)
    };
    assert!(text.starts_with(&prefix), "{text:.80}");
    assert_eq!(text.ends_with('\n'), spec.trailing_newline);
    let d = agent::decode(&bytes).expect("decodes");
    assert_eq!(d.version, spec.version);
    assert_eq!(d.request_id.as_deref(), Some(spec.request_id.as_str()));
    assert_eq!(d.trace_id.as_deref(), Some(spec.trace_id.as_str()));
    let meta = miniserde::json::to_string(&d.metadata);
    assert!(meta.contains(&format!("\"arn\":\"{}\"", spec.arn)), "{meta}");
    let data = miniserde::json::to_string(&d.data);
    for key in ["metric_data", "analytic_event_data", "span_event_data", "\"aws.lambda.arn\""] {
        assert!(data.contains(key), "{key} missing");
    }
}

#[test]
fn build_decode_round_trips() {
    check(PayloadSpec::new("req-1").trace_id(TRACE));
    check(PayloadSpec::new("req-2").version(2));
    let mut s = PayloadSpec::new("req-3").version(2);
    s.version_as_string = true;
    s.trailing_newline = true;
    check(s);
    let mut s = PayloadSpec::new("req-4");
    s.spans = 0;
    check(s.arn("arn:aws:lambda:eu-west-1:1:function:x"));
}

#[test]
fn default_size_and_padding_knob() {
    let small = agent::payload_for("r").len();
    assert!((800..4000).contains(&small), "default payload {small} bytes");
    let big = agent::build(&PayloadSpec::new("r").padding(300_000)).len();
    assert!((280_000..420_000).contains(&big), "padded payload {big} bytes");
}

#[test]
fn trace_id_falls_back_to_first_span() {
    let bytes = agent::build(&PayloadSpec::new("r").trace_id(TRACE));
    // A payload whose transaction event lost its traceId: drop it by re-targeting
    // a hand-made v2 payload built from the decoded data.
    let d = agent::decode(&bytes).expect("decodes");
    let mut text = miniserde::json::to_string(&d.data);
    text = text.replacen(&format!("\"traceId\":\"{TRACE}\""), "\"x\":1", 1);
    let blob = agent::base64_encode(&lambda_sim::util::gzip(text.as_bytes()));
    let v2 = format!("[2,\"NR_LAMBDA_MONITORING\",{{}},\"{}\"]", blob.trim_end_matches('='));
    let d = agent::decode(v2.as_bytes()).expect("decodes unpadded v2");
    assert_eq!(d.trace_id.as_deref(), Some(TRACE));
    assert_eq!(d.request_id.as_deref(), Some("r"));
}

#[test]
fn retarget_rewrites_ids_and_keeps_shape() {
    for version in [1, 2] {
        let mut spec = PayloadSpec::new("old").version(version);
        spec.trailing_newline = true;
        let out = agent::retarget(&agent::build(&spec), "new-id", TRACE).expect("retarget");
        assert!(out.ends_with(b"\n"));
        assert!(out.starts_with(format!("[{version},").as_bytes()));
        let d = agent::decode(&out).expect("decodes");
        assert_eq!((d.request_id.as_deref(), d.trace_id.as_deref()), (Some("new-id"), Some(TRACE)));
        let data = miniserde::json::to_string(&d.data);
        assert!(!data.contains(&spec.trace_id), "old trace id left in spans");
    }
}

#[test]
fn garbage_does_not_decode() {
    for junk in [
        &b""[..],
        b"[",
        b"{}",
        b"[1,\"OTHER\",\"abc\"]",
        b"[1,\"NR_LAMBDA_MONITORING\",\"!!!\"]",
        b"[1,\"NR_LAMBDA_MONITORING\",\"aGVsbG8=\"]",
        b"[2,\"NR_LAMBDA_MONITORING\",{}]",
        b"[1,\"NR_LAMBDA_MONITORING\",5]",
        b"\xff\xfe",
    ] {
        assert!(matches!(agent::decode(junk), Err(AgentError::Decode(_))), "{junk:?}");
        assert!(agent::retarget(junk, "a", "b").is_err());
    }
}

fn fifo(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lambda-sim-agent-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let ok = Command::new("mkfifo").arg(&dir).status().expect("mkfifo runs").success();
    assert!(ok, "mkfifo failed");
    dir
}

/// Reads the FIFO like the extension: open, read to EOF, again, until
/// `total` bytes arrived. Returns what each open-to-EOF read gave.
fn reader(path: &Path, total: usize) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut reads: Vec<Vec<u8>> = Vec::new();
        while reads.iter().map(Vec::len).sum::<usize>() < total {
            let mut buf = Vec::new();
            std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut buf)).expect("read fifo");
            if !buf.is_empty() {
                reads.push(buf);
            }
        }
        reads
    })
}

#[test]
fn fifo_glued_write_arrives_in_one_read() {
    let path = fifo("glued");
    let payloads = vec![agent::payload_for("a"), agent::payload_for("b")];
    let r = reader(&path, payloads.concat().len());
    agent::write_payloads(&path, &payloads, true, Duration::from_secs(5)).expect("write");
    let reads = r.join().expect("reader");
    assert_eq!(reads, vec![payloads.concat()]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn fifo_separate_writes_arrive_as_separate_opens() {
    let path = fifo("separate");
    let payloads = vec![agent::payload_for("a"), agent::build(&PayloadSpec::new("b").padding(200_000))];
    let r = reader(&path, payloads.concat().len());
    agent::write_payloads(&path, &payloads, false, Duration::from_secs(5)).expect("write");
    // Two opens; a reader slower than the writer may still see them glued.
    let reads = r.join().expect("reader");
    assert!((1..=2).contains(&reads.len()), "{} reads", reads.len());
    assert_eq!(reads.concat(), payloads.concat());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn fifo_without_reader_is_blocked_and_missing_pipe_is_reported() {
    let path = fifo("blocked");
    let start = Instant::now();
    let res = agent::write_payloads(&path, &[agent::payload_for("a")], false, Duration::from_millis(200));
    assert!(matches!(res, Err(AgentError::Blocked)), "{res:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    let _ = std::fs::remove_file(&path);
    let res = agent::write_payloads(&path, &[b"x".to_vec()], false, Duration::from_millis(200));
    assert!(matches!(res, Err(AgentError::NoPipe)), "{res:?}");
}

/// Manifest rows `(file, request id, trace id)` of the real fixtures.
fn manifest() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(agent::fixture_dir().join("manifest.tsv")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((f.first()?.to_string(), f.get(1)?.to_string(), f.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn real_fixtures_decode_to_their_manifest_ids() {
    let fixtures = agent::fixtures();
    let rows = manifest();
    assert!(!fixtures.is_empty() && fixtures.len() == rows.len(), "{} fixtures, {} rows", fixtures.len(), rows.len());
    for ((name, bytes), (file, request_id, trace_id)) in fixtures.iter().zip(&rows) {
        assert_eq!(name, file);
        let d = agent::decode(bytes).expect("real payload decodes");
        assert_eq!(
            (d.version, d.request_id.as_deref(), d.trace_id.as_deref()),
            (1, Some(request_id.as_str()), Some(trace_id.as_str())),
            "{name}"
        );
    }
}

#[test]
fn real_fixture_retargeted_keeps_nothing_of_the_old_ids() {
    for (name, bytes) in agent::fixtures() {
        let old = agent::decode(&bytes).expect("decodes");
        let out = agent::retarget(&bytes, "new-request", TRACE).expect("retarget");
        assert!(!out.ends_with(b"\n"), "{name}: the Python agent writes no newline");
        let d = agent::decode(&out).expect("decodes");
        assert_eq!((d.request_id.as_deref(), d.trace_id.as_deref()), (Some("new-request"), Some(TRACE)));
        let data = miniserde::json::to_string(&d.data);
        for old_id in [old.request_id, old.trace_id].into_iter().flatten() {
            assert!(!data.contains(&format!("\"{old_id}\"")), "{name}: {old_id} left behind");
        }
        assert_eq!(miniserde::json::to_string(&d.metadata), miniserde::json::to_string(&old.metadata));
    }
}
