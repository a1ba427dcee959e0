//! Log forwarding through the real binary: function logs reach the Log API complete, once,
//! with their own request id and timestamp, in both Lambda log formats.

use std::collections::BTreeMap;

use lambda_sim::collector::{Fault, FaultPlan, LogRecord};
use lambda_sim::lambda::{Invocation, LogFormat};
use lambda_sim::util::now_ms;

use crate::support::{Env, Setup};

/// Runs `count` invocations with three log lines each; returns (line → (request id, window)).
fn invoke_with_logs(env: &Env, count: usize) -> BTreeMap<String, (String, (u64, u64))> {
    let mut expected = BTreeMap::new();
    for n in 0..count {
        let logs: Vec<String> = (0..3).map(|k| format!("invocation {n} line {k}")).collect();
        let before = now_ms();
        let result = env.invoke(Invocation { logs: logs.clone(), ..env.invocation(n) });
        let after = now_ms();
        for line in logs {
            expected.insert(line, (result.request_id.clone(), (before, after)));
        }
    }
    expected
}

#[track_caller]
fn check_delivered(logs: &[LogRecord], expected: &BTreeMap<String, (String, (u64, u64))>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for log in logs.iter().filter(|l| expected.contains_key(&l.message)) {
        *seen.entry(&log.message).or_default() += 1;
        let (id, (before, after)) = &expected[&log.message];
        assert_eq!(log.attributes.get("aws.lambda_request_id"), Some(id), "{log:?}");
        assert_eq!(log.attributes.get("faas.execution"), Some(id), "{log:?}");
        // The record's own time, not the time it was sent (which may be a thaw later).
        assert!((*before..=*after).contains(&log.timestamp), "{log:?} not in [{before}, {after}]");
    }
    let missing: Vec<_> = expected.keys().filter(|k| !seen.contains_key(k.as_str())).take(5).collect();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "{} of {} delivered; missing {missing:?}; twice {twice:?}",
        seen.len(),
        expected.len()
    );
}

fn setup(format: LogFormat) -> Setup {
    Setup::new().env("NEW_RELIC_EXTENSION_SEND_LOGS", "function").config(|c| c.log_format = format)
}

#[test]
fn text_format_logs_of_200_invocations_arrive_once_each_with_id_and_time() {
    let env = setup(LogFormat::Text).start("logs-text");
    assert_eq!(env.lambda.telemetry_stats()[0].types, vec!["platform".to_string(), "function".to_string()]);
    let before = now_ms();
    env.lambda.emit_function_log("before the first invocation");
    let expected = invoke_with_logs(&env, 200);
    env.lambda.emit_function_log("after the last invocation");
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0), "{}", env.output());
    let logs = env.collector.logs();
    check_delivered(&logs, &expected);
    let early: Vec<_> = logs.iter().filter(|l| l.message == "before the first invocation").collect();
    assert_eq!(early.len(), 1, "logs from before any invocation are delivered");
    assert!(early[0].timestamp >= before && !early[0].attributes.contains_key("aws.lambda_request_id"));
    assert_eq!(logs.iter().filter(|l| l.message == "after the last invocation").count(), 1, "delivered at SHUTDOWN");
    assert!(logs.iter().all(|l| l.attributes.get("level").map(String::as_str) == Some("INFO")));
}

#[test]
fn json_format_logs_keep_their_level_request_id_and_fields() {
    let env = setup(LogFormat::Json).start("logs-json");
    let expected = invoke_with_logs(&env, 200);
    let other = "99999999-0000-4000-8000-000000000000";
    let own = format!(
        r#"{{"timestamp":"2024-04-24T12:34:56.789Z","level":"ERROR","message":"order failed","requestId":"{other}","orderId":42}}"#
    );
    env.invoke(Invocation { logs: vec![own], ..env.invocation(500) });
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    let logs = env.collector.logs();
    check_delivered(&logs, &expected);
    let special: Vec<_> = logs.iter().filter(|l| l.message == "order failed").collect();
    assert_eq!(special.len(), 1);
    assert_eq!(special[0].attributes.get("level").map(String::as_str), Some("ERROR"));
    assert_eq!(special[0].attributes.get("aws.lambda_request_id").map(String::as_str), Some(other));
    assert_eq!(special[0].attributes.get("orderId").map(String::as_str), Some("42"));
}

#[test]
fn twenty_percent_log_api_failures_lose_nothing() {
    let env = setup(LogFormat::Text).start("logs-flaky");
    let mix = vec![Fault::Status(503), Fault::RetryAfter(429, 0), Fault::Reset];
    env.collector.set_faults(FaultPlan::Random { seed: 11, rate: 0.2, mix });
    let expected = invoke_with_logs(&env, 60);
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    assert!(env.collector.counters().failed_requests > 0);
    check_delivered(&env.collector.logs(), &expected);
}

#[test]
fn a_5_mb_burst_is_split_into_valid_requests_under_the_limits() {
    let env = setup(LogFormat::Text).start("logs-burst");
    let lines: Vec<String> = (0..5000).map(|n| format!("burst {n:05} {}", "x".repeat(1000))).collect();
    env.invoke(Invocation { logs: lines.clone(), ..env.invocation(0) });
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0), "{}", env.output());
    let snap = env.collector.snapshot();
    let logs: Vec<_> = snap.logs().collect();
    let mut messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).filter(|m| m.starts_with("burst ")).collect();
    messages.sort_unstable();
    messages.dedup();
    assert_eq!(messages.len(), 5000, "every burst line once");
    let log_requests: Vec<_> = snap.requests().iter().filter(|r| r.path.ends_with("/log/v1")).collect();
    assert!(log_requests.len() >= 5, "5 MB cannot fit one request: {}", log_requests.len());
    for r in &log_requests {
        assert!(
            r.compressed_size <= 1_000_000 && r.decoded_size <= 1_000_000,
            "{} / {}",
            r.compressed_size,
            r.decoded_size
        );
        assert!(r.shape_errors.is_empty(), "{:?}", r.shape_errors);
    }
}

#[test]
fn tags_and_labels_are_common_attributes() {
    let env = setup(LogFormat::Text)
        .env("NR_TAGS", "env:prod;team:core;broken")
        .env("NEW_RELIC_LABELS", "owner:payments")
        .start("logs-tags");
    let id = env.invoke(Invocation { logs: vec!["tagged".into()], ..env.invocation(0) }).request_id;
    env.shutdown("spindown");
    let logs = env.collector.logs();
    let log = logs.iter().find(|l| l.message == "tagged").expect("delivered");
    assert_eq!(log.attributes.get("aws.lambda_request_id"), Some(&id));
    let common = &log.common;
    assert_eq!(common.get("env").map(String::as_str), Some("prod"));
    assert_eq!(common.get("team").map(String::as_str), Some("core"));
    assert_eq!(common.get("tags.owner").map(String::as_str), Some("payments"));
    assert_eq!(common.get("faas.name").map(String::as_str), Some("sim-function"));
    assert_eq!(common.get("faas.arn"), Some(&env.lambda.config().arn()));
    assert_eq!(common.get("plugin"), Some(&format!("newrelic-lambda-extension:{}", env!("CARGO_PKG_VERSION"))));
    assert_eq!(env.lambda.output().iter().filter(|l| l.contains("NR_TAGS") && l.contains("broken")).count(), 1);
}

#[test]
fn no_log_types_are_subscribed_when_log_forwarding_is_off() {
    let env = Setup::new().start("logs-off");
    env.invoke(Invocation { logs: vec!["not forwarded".into()], ..env.invocation(0) });
    env.shutdown("spindown");
    assert_eq!(env.lambda.telemetry_stats()[0].types, vec!["platform".to_string()]);
    assert!(env.collector.logs().is_empty());
}

#[test]
fn trace_ids_from_the_agent_payload_are_added_when_asked_for() {
    let env = setup(LogFormat::Text).env("NEW_RELIC_COLLECT_TRACE_ID", "true").start("logs-trace");
    let mut expected = Vec::new();
    for n in 0..20 {
        let logs = vec![format!("traced {n} a"), format!("traced {n} b")];
        let inv = Invocation { logs, duration: std::time::Duration::from_millis(60), ..env.invocation(n) };
        let id = env.invoke(inv).request_id;
        // The support module's payloads carry the request id's hex digits as their trace id.
        expected.push((n, id.chars().filter(char::is_ascii_hexdigit).collect::<String>()));
    }
    env.shutdown("spindown");
    let logs = env.collector.logs();
    for (n, trace) in expected {
        for suffix in ["a", "b"] {
            let message = format!("traced {n} {suffix}");
            let log = logs.iter().find(|l| l.message == message).expect("delivered");
            assert_eq!(log.attributes.get("trace.id"), Some(&trace), "{log:?}");
        }
    }
}
