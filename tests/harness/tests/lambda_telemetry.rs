//! Self-tests of the simulated Telemetry API (spec §4, checklist
//! "Telemetry"): subscribe answers per mode and validation, batching by
//! maxItems / maxBytes / timeoutMs, the POST itself, redelivery of the same
//! batch, holding while frozen, overflow with `platform.logsDropped`.

mod lambda_support;

use lambda_sim::http::{Reply, Response};
use lambda_sim::lambda::{SimConfig, TelemetryMode};
use lambda_support::*;
use miniserde::json;
use std::time::{Duration, Instant};

fn error_type(body: &str) -> String {
    get_str(&parse(body), "errorType")
}

fn with_mode(mode: TelemetryMode) -> (lambda_sim::lambda::Lambda, std::net::SocketAddr, String) {
    let (lambda, addr) = start(SimConfig { telemetry: mode, ..SimConfig::default() });
    let id = register_ok(addr, "sub", &["INVOKE"]);
    (lambda, addr, id)
}

fn schema(version: &str) -> String {
    subscribe_body(4243, r#"["platform"]"#, 1000, 262_144, 100).replace("2022-12-13", version)
}

#[test]
fn subscribe_answers_per_mode() {
    let (_l, addr, id) = with_mode(TelemetryMode::Real);
    let (status, headers, body) = subscribe(addr, &id, &schema("2025-01-29"));
    assert_eq!((status, body.as_str()), (200, "\"OK\""));
    assert_eq!(header(&headers, "Content-Type"), Some("application/json"));

    let (_l, addr, id) = with_mode(TelemetryMode::Reject2025Schema);
    let (status, _, body) = subscribe(addr, &id, &schema("2025-01-29"));
    assert_eq!((status, error_type(&body).as_str()), (400, "ValidationError"), "{body}");
    assert_eq!(subscribe(addr, &id, &schema("2022-12-13")).0, 200, "the fallback works");

    let (_l, addr, _) = with_mode(TelemetryMode::NotSupported202);
    let (status, _, body) = subscribe(addr, "", "anything");
    assert_eq!((status, error_type(&body).as_str()), (202, "Telemetry.NotSupported"), "no checks at all");

    let (_l, addr, id) = with_mode(TelemetryMode::Error500);
    assert_eq!(subscribe(addr, &id, &schema("2022-12-13")).0, 500);
}

#[test]
fn subscribe_validates_and_closes_after_init() {
    let (lambda, addr, id) = with_mode(TelemetryMode::Real);
    for bad in [
        schema("2022-12-13").replace("sandbox.localdomain", "localhost"),
        schema("2022-12-13").replace("4243", "9001"),
        schema("2022-12-13").replace(r#"["platform"]"#, "[]"),
        schema("2022-12-13").replace("\"timeoutMs\":100", "\"timeoutMs\":5"),
    ] {
        let (status, _, body) = subscribe(addr, &id, &bad);
        assert_eq!((status, error_type(&body).as_str()), (400, "ValidationError"), "{bad}: {body}");
    }
    let (status, _, body) = subscribe(addr, "", &schema("2022-12-13"));
    assert_eq!((status, error_type(&body).as_str()), (403, "Extension.MissingExtensionIdentifier"));
    let _ext = InProc::start(addr, &id, Duration::ZERO);
    lambda.wait_init(WAIT).expect("init");
    let (status, _, body) = subscribe(addr, &id, &schema("2022-12-13"));
    assert_eq!((status, error_type(&body).as_str()), (403, "Telemetry.SubscriptionClosed"));
}

#[test]
fn init_sequence_is_delivered_as_json_array_posts() {
    // Freeze off: a frozen environment would hold the last two until a thaw.
    let (_lambda, _ext, listener) = ready(no_freeze(), r#"["platform"]"#, 25, Duration::ZERO);
    assert!(listener.wait_type("platform.initReport"));
    let want = [
        "platform.initStart",
        "platform.telemetrySubscription",
        "platform.extension",
        "platform.initRuntimeDone",
        "platform.initReport",
    ];
    assert_eq!(listener.types(), want);
    let batch = &listener.batches()[0];
    assert_eq!((batch.path.as_str(), batch.content_type.as_str()), ("/telemetry/in", "application/json"));
    let start = listener.record("platform.initStart", "").expect("initStart");
    assert_eq!((get_str(&start, "initializationType"), get_str(&start, "phase")), ("on-demand".into(), "init".into()));
    let ext = listener.record("platform.extension", "").expect("extension");
    assert_eq!((get_str(&ext, "name"), get_str(&ext, "state")), ("inproc".into(), "Ready".into()));
    let sub = listener.record("platform.telemetrySubscription", "").expect("subscription");
    assert_eq!(get_str(&sub, "state"), "Subscribed");
    let time = get_str(&listener.events()[0], "time");
    assert!(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
}

/// A simulator with freeze off, one in-process extension subscribed to
/// `function` with the given buffering, Init done.
fn function_sub(
    max_items: u32,
    max_bytes: u32,
    timeout_ms: u32,
    listener: Listener,
    config: SimConfig,
) -> (lambda_sim::lambda::Lambda, InProc, Listener) {
    let (lambda, addr) = start(config);
    let id = register_ok(addr, "fn", &["INVOKE"]);
    let body = subscribe_body(listener.port(), r#"["function"]"#, max_items, max_bytes, timeout_ms);
    assert_eq!(subscribe(addr, &id, &body).0, 200);
    let ext = InProc::start(addr, &id, Duration::ZERO);
    lambda.wait_init(WAIT).expect("init");
    (lambda, ext, listener)
}

fn no_freeze() -> SimConfig {
    SimConfig { freeze: false, ..SimConfig::default() }
}

#[test]
fn batch_sent_when_max_items_reached() {
    let (lambda, _ext, listener) = function_sub(1000, 1_048_576, 30_000, Listener::ok(), no_freeze());
    let t0 = Instant::now();
    for i in 0..1001 {
        lambda.emit_function_log(&format!("line {i}"));
    }
    assert!(listener.wait(|b| !b.is_empty()));
    assert!(t0.elapsed() < Duration::from_secs(10), "not the 30 s timeout");
    assert_eq!(listener.events().len(), 1000);
}

#[test]
fn batch_sent_when_max_bytes_reached() {
    let (lambda, _ext, listener) = function_sub(10_000, 262_144, 30_000, Listener::ok(), no_freeze());
    let line = "x".repeat(10_000);
    for _ in 0..30 {
        lambda.emit_function_log(&line);
    }
    assert!(listener.wait(|b| !b.is_empty()));
    let first = &listener.batches()[0];
    let n = listener.events().len();
    assert!((26..30).contains(&n) && first.body.len() >= 262_144, "{n} events, {} bytes", first.body.len());
}

#[test]
fn batch_sent_timeout_ms_after_its_first_event() {
    let (lambda, _ext, listener) = function_sub(1000, 262_144, 100, Listener::ok(), no_freeze());
    let t0 = Instant::now();
    lambda.emit_function_log("only line");
    assert!(listener.wait(|b| !b.is_empty()));
    assert!(t0.elapsed() >= Duration::from_millis(100), "{:?}", t0.elapsed());
    let record = listener.record("function", "only line");
    assert!(matches!(record, Some(miniserde::json::Value::String(ref s)) if s == "only line"));
}

#[test]
fn rejected_batch_is_redelivered_unchanged() {
    let script = |n: usize| match n {
        1 => Reply::Respond(Response::new(500)),
        2 => Reply::Reset,
        _ => Reply::Respond(Response::new(200)),
    };
    let config = SimConfig { delivery_backoff: Duration::from_millis(10), ..no_freeze() };
    let (lambda, _ext, listener) = function_sub(1000, 262_144, 25, Listener::start(script), config);
    lambda.emit_function_log("must arrive");
    assert!(listener.wait(|b| b.len() >= 3));
    let bodies: Vec<String> = listener.batches().iter().map(|b| b.body.clone()).collect();
    assert!(bodies[0] == bodies[1] && bodies[1] == bodies[2], "{bodies:?}");
    assert!(lambda.wait_telemetry(WAIT, |s| s[0].batches_delivered == 1));
    let stats = &lambda.telemetry_stats()[0];
    assert_eq!((stats.redeliveries, stats.events_delivered, stats.queued), (2, 1, 0));
}

#[test]
fn frozen_environment_holds_delivery_until_thaw() {
    let (lambda, ext, listener) = function_sub(1000, 262_144, 25, Listener::ok(), SimConfig::default());
    assert!(lambda.is_frozen());
    lambda.emit_function_log("held");
    // Holding is the behaviour under test: nothing may arrive while frozen.
    assert!(!lambda.wait_telemetry(Duration::from_millis(300), |s| s[0].batches_delivered > 0));
    assert!(listener.batches().is_empty());
    let handle = std::thread::spawn(move || lambda.invoke(Default::default()).map(|r| r.status));
    assert!(ext.next_event().2.contains("INVOKE"));
    assert!(listener.wait(|b| b.iter().any(|x| x.body.contains("held"))));
    assert_eq!(handle.join().expect("thread").expect("invoke"), "success");
}

#[test]
fn overflow_drops_and_reports_logs_dropped() {
    let config = SimConfig { telemetry_buffer_events: 5, ..SimConfig::default() };
    let (lambda, ext, listener) = function_sub(1000, 262_144, 25, Listener::ok(), config);
    for i in 0..12 {
        lambda.emit_function_log(&format!("l{i}"));
    }
    let handle = std::thread::spawn(move || {
        let status = lambda.invoke(Default::default()).map(|r| r.status);
        (lambda, status)
    });
    assert!(ext.next_event().2.contains("INVOKE"));
    let (lambda, status) = handle.join().expect("thread");
    assert_eq!(status.expect("invoke"), "success");
    // The notice was queued after the first batch and held by the freeze;
    // the shutdown sequence drains it. It goes to the subscriber that lost
    // records even though that one takes only `function`.
    lambda.shutdown("spindown");
    assert!(listener.wait(|b| b.iter().any(|x| x.body.contains("platform.logsDropped"))));
    let dropped = listener.record("platform.logsDropped", "").expect("logsDropped");
    assert!(miniserde::json::to_string(&dropped).contains("\"droppedRecords\":7"), "{dropped:?}");
    assert_eq!(listener.events().iter().filter(|e| get_str(e, "type") == "function").count(), 5);
}

#[test]
fn process_output_becomes_extension_records_and_early_exit_is_a_crash() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("lambda-sim-{}-output", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let script = dir.join("chatty-ext");
    std::fs::write(&script, "#!/bin/sh\necho '[chatty] hello'\necho 'to stderr' >&2\n").expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (lambda, addr) = start(no_freeze());
    let id = register_ok(addr, "watcher", &["INVOKE"]);
    let listener = Listener::ok();
    let body = subscribe_body(listener.port(), r#"["extension"]"#, 1000, 262_144, 25);
    assert_eq!(subscribe(addr, &id, &body).0, 200);
    let _watcher = InProc::start(addr, &id, Duration::ZERO);
    let spawned = lambda.spawn_extension(&script, &[]).expect("spawn");
    assert_eq!(spawned.name, "chatty-ext");
    assert!(lambda.wait_output("to stderr", WAIT) && lambda.wait_output("[chatty] hello", WAIT));
    assert!(listener.wait(
        |b| b.iter().any(|x| x.body.contains("to stderr")) && b.iter().any(|x| x.body.contains("[chatty] hello"))
    ));
    assert!(listener.types().iter().all(|t| t == "extension"), "{:?}", listener.types());
    let crash = lambda.wait_init(WAIT).expect_err("exited before registering");
    assert_eq!(crash.error_type(), "Extension.Crash", "{crash}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tcp_destination_gets_ndjson() {
    use std::io::{BufRead, BufReader};
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = tcp.local_addr().expect("addr").port();
    let (lambda, addr) = start(no_freeze());
    let id = register_ok(addr, "tcp", &["INVOKE"]);
    let body = format!(
        r#"{{"schemaVersion":"2022-12-13","types":["function"],"buffering":{{"maxItems":1000,"maxBytes":262144,"timeoutMs":25}},"destination":{{"protocol":"TCP","port":{port}}}}}"#
    );
    assert_eq!(subscribe(addr, &id, &body).0, 200);
    lambda.emit_function_log("one");
    lambda.emit_function_log("two");
    let (conn, _) = tcp.accept().expect("the simulator connects");
    conn.set_read_timeout(Some(WAIT)).expect("timeout");
    let lines: Vec<String> = BufReader::new(conn).lines().take(2).map(|l| l.expect("a line")).collect();
    let records: Vec<String> =
        lines.iter().map(|l| json::to_string(&get(&parse(l), "record").cloned().unwrap_or_default())).collect();
    assert_eq!(records, ["\"one\"", "\"two\""], "{lines:?}");
    assert_eq!(lambda.telemetry_stats()[0].destination, format!("tcp:{port}"));
}

#[test]
fn init_events_replay_is_switchable_and_resubscribe_replaces() {
    let (lambda, addr) = start(SimConfig { replay_init_events: false, ..no_freeze() });
    let id = register_ok(addr, "late", &["INVOKE"]);
    let first = Listener::ok();
    let second = Listener::ok();
    assert_eq!(subscribe(addr, &id, &subscribe_body(first.port(), r#"["platform"]"#, 1000, 262_144, 25)).0, 200);
    assert_eq!(subscribe(addr, &id, &subscribe_body(second.port(), r#"["platform"]"#, 1000, 262_144, 25)).0, 200);
    let _ext = InProc::start(addr, &id, Duration::ZERO);
    lambda.wait_init(WAIT).expect("init");
    assert!(second.wait_type("platform.initReport"));
    assert!(!second.types().contains(&"platform.initStart".to_string()), "{:?}", second.types());
    assert!(first.batches().iter().all(|b| !b.body.contains("initReport")), "the replaced subscription stopped");
}
