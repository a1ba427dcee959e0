//! `event/next` bodies (`lambda_api::parse_event`) and the deadlines derived from them
//! (`policy`): any bytes give an event or `None`, never a panic; an INVOKE or SHUTDOWN with
//! random fields in any spelling reads back field for field; any `deadlineMs`, however absurd,
//! gives deadlines that are never in the past and never beyond the budget.

use std::time::{Duration, Instant};

use miniserde::json::{self, Number, Value};
use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::config::Config;
use newrelic_lambda_extension::event::ShutdownReason;
use newrelic_lambda_extension::lambda_api::{parse_event, NextEvent};
use newrelic_lambda_extension::policy::{flush_deadline, instant_of, shutdown_deadline};

use crate::json_gen::{text, value};
use crate::support::config;

/// The property of every body: no panic, and whatever deadline it carries is safe to use.
pub fn check_event(body: &[u8]) -> Result<(), TestCaseError> {
    let deadline_ms = match parse_event(body) {
        Some(NextEvent::Invoke { deadline_ms, .. } | NextEvent::Shutdown { deadline_ms, .. }) => deadline_ms,
        None => return Ok(()),
    };
    check_deadlines(deadline_ms, 1_700_000_000_000)
}

/// Deadlines from any `deadlineMs` at any wall-clock time: within [now, now + budget].
fn check_deadlines(deadline_ms: u64, now_ms: u64) -> Result<(), TestCaseError> {
    let (config, _) = Config::from_lookup(|_| None);
    let now = Instant::now();
    let invoke = instant_of(deadline_ms, now, now_ms);
    let flush = flush_deadline(&config, invoke, now);
    prop_assert!(flush >= now && flush <= now + config.data_collection_timeout);
    let shutdown = shutdown_deadline(invoke, now);
    prop_assert!(shutdown >= now);
    if let Some(at) = invoke {
        prop_assert!(shutdown <= at.max(now + Duration::from_secs(2)));
    }
    Ok(())
}

/// `deadlineMs` as the platform might send it, and the value it must read as.
fn deadline() -> impl Strategy<Value = (Option<Value>, u64)> {
    prop_oneof![
        any::<u64>().prop_map(|n| (Some(Value::Number(Number::U64(n))), n)),
        any::<u64>().prop_map(|n| (Some(Value::String(format!(" {n} "))), n)),
        // Up to 14 significant digits: miniserde reads longer floats up to one unit off.
        (0u64..1_000_000_000_000).prop_map(|n| (Some(Value::Number(Number::F64(n as f64 + 0.5))), n)),
        (i64::MIN..0).prop_map(|n| (Some(Value::Number(Number::I64(n))), 0)),
        Just((None, 0)),
        text(8)
            .prop_filter("not digits", |t| t.trim().parse::<u64>().is_err())
            .prop_map(|t| (Some(Value::String(t)), 0)),
    ]
}

/// The event type in any letter case.
fn spelled(word: &'static str) -> impl Strategy<Value = String> {
    vec(any::<bool>(), word.len()).prop_map(move |upper| {
        word.chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
    })
}

fn object(members: Vec<(&str, Option<Value>)>, extra: Vec<(String, Value)>) -> String {
    let mut object: miniserde::json::Object = extra.into_iter().collect();
    for (key, value) in members {
        object.remove(key);
        if let Some(value) = value {
            object.insert(key.to_string(), value);
        }
    }
    json::to_string(&Value::Object(object))
}

fn extra_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    vec((text(10), value()), 0..4)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_bytes_give_an_event_or_none(body in vec(any::<u8>(), 0..256)) {
        check_event(&body)?;
    }

    #[test]
    fn any_deadline_at_any_time_gives_safe_deadlines(deadline_ms in any::<u64>(), now_ms in any::<u64>()) {
        check_deadlines(deadline_ms, now_ms)?;
    }

    #[test]
    fn invoke_reads_back(kind in spelled("INVOKE"), id in text(40), arn in text(40), deadline in deadline(), extra in extra_fields()) {
        let (deadline_value, deadline_ms) = deadline;
        let body = object(vec![
            ("eventType", Some(Value::String(kind))),
            ("requestId", Some(Value::String(id.clone()))),
            ("invokedFunctionArn", Some(Value::String(arn.clone()))),
            ("deadlineMs", deadline_value),
        ], extra);
        check_event(body.as_bytes())?;
        prop_assert_eq!(parse_event(body.as_bytes()), Some(NextEvent::Invoke { request_id: id, deadline_ms, invoked_function_arn: arn }));
    }

    #[test]
    fn shutdown_reads_back(kind in spelled("SHUTDOWN"), reason in prop_oneof![spelled("spindown"), spelled("timeout"), spelled("failure"), text(12)], deadline in deadline(), extra in extra_fields()) {
        let (deadline_value, deadline_ms) = deadline;
        let body = object(vec![
            ("eventType", Some(Value::String(kind))),
            ("shutdownReason", Some(Value::String(reason.clone()))),
            ("deadlineMs", deadline_value),
        ], extra);
        check_event(body.as_bytes())?;
        let expected = NextEvent::Shutdown { reason: ShutdownReason::parse(&reason), deadline_ms };
        prop_assert_eq!(parse_event(body.as_bytes()), Some(expected));
    }
}
