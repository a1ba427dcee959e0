//! Self-test of the Lambda Managed Instances switch (checklist "LMI
//! switch"): SHUTDOWN-only registration, schema 2025-01-29 only, no
//! runtimeDone, reduced report metrics, JSON records with requestId, no freeze.

mod lambda_support;

use lambda_sim::lambda::{Invocation, SimConfig};
use lambda_support::*;
use miniserde::json::{self, Value};

#[test]
fn lmi_mode_end_to_end() {
    let config = SimConfig { lmi: true, external_names: vec!["lmi-ext".into()], ..SimConfig::default() };
    let (lambda, addr) = start(config);
    let (status, _, body) = register(addr, "lmi-ext", &["INVOKE", "SHUTDOWN"]);
    assert_eq!((status, get_str(&parse(&body), "errorType")), (403, "Extension.InvalidEventType".to_string()));
    let id = register_ok(addr, "lmi-ext", &["SHUTDOWN"]);
    let listener = Listener::ok();
    let old = subscribe_body(listener.port(), r#"["platform","function"]"#, 1000, 262_144, 25);
    let (status, _, body) = subscribe(addr, &id, &old);
    assert_eq!((status, get_str(&parse(&body), "errorType")), (400, "ValidationError".to_string()));
    assert!(body.contains("schema validation error"), "{body}");
    assert_eq!(subscribe(addr, &id, &old.replace("2022-12-13", "2025-01-29")).0, 200);
    let ext = InProc::start(addr, &id, std::time::Duration::ZERO);
    lambda.wait_init(WAIT).expect("init");
    assert!(!lambda.is_frozen(), "LMI is never frozen");

    let inv = Invocation { logs: vec!["plain line".into()], ..Invocation::default() };
    let request_id = inv.request_id.clone();
    assert_eq!(lambda.invoke(inv).expect("invoke").status, "success");
    assert!(listener.wait_type("platform.report"));
    assert!(!listener.types().contains(&"platform.runtimeDone".to_string()), "{:?}", listener.types());
    let report = listener.record("platform.report", &request_id).expect("report");
    assert_eq!(
        json::to_string(get(&report, "metrics").unwrap_or(&Value::Null)).matches(':').count(),
        1,
        "durationMs only: {report:?}"
    );
    let log = listener.record("function", &request_id).expect("JSON log with requestId");
    assert_eq!(get_str(&log, "message"), "plain line");
    let start = listener.record("platform.start", &request_id).expect("start");
    assert!(get_str(&start, "functionArn").ends_with(":function:sim-function"));
    let init = listener.record("platform.initStart", "").expect("initStart");
    assert_eq!(get_str(&init, "initializationType"), "lambda-managed-instances");
    assert!(get(&init, "instanceMaxMemory").is_some() && !get_str(&init, "instanceId").is_empty());

    lambda.shutdown("spindown");
    assert!(ext.next_event().2.contains("SHUTDOWN"), "the only event an LMI extension gets");
}
