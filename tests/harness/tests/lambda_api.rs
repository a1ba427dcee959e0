//! Self-tests of the simulated Extensions API (spec §2, checklist "Startup
//! and registration"): register validation and bodies, identifier checks on
//! every call, `init/error` and `exit/error`, and the end of Init.

mod lambda_support;

use lambda_sim::lambda::{SimConfig, SimError};
use lambda_support::*;
use std::time::Duration;

const REGISTER: &str = "/2020-01-01/extension/register";
const NEXT: &str = "/2020-01-01/extension/event/next";

fn error_type(body: &str) -> String {
    get_str(&parse(body), "errorType")
}

#[test]
fn register_returns_identifier_and_function_info() {
    let (_lambda, addr) = start(SimConfig::default());
    let (status, headers, body) = register(addr, "ext-a", &["INVOKE"]);
    assert_eq!(status, 200, "{body}");
    let id = header(&headers, "Lambda-Extension-Identifier").unwrap_or_default();
    assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
    assert_eq!(header(&headers, "Content-Type"), Some("application/json"));
    let v = parse(&body);
    assert_eq!(get_str(&v, "functionName"), "sim-function");
    assert_eq!(get_str(&v, "functionVersion"), "$LATEST");
    assert_eq!(get_str(&v, "handler"), "index.handler");
    assert!(get(&v, "accountId").is_none(), "not requested: {body}");
    let (_, _, body) = call(addr, "POST", REGISTER, &[("Lambda-Extension-Name", "ext-b")], "{}");
    assert!(get(&parse(&body), "accountId").is_none(), "events are optional: {body}");
}

#[test]
fn account_id_only_when_requested_and_enabled() {
    let ask = [("Lambda-Extension-Name", "acct"), ("Lambda-Extension-Accept-Feature", "other, accountId")];
    let (_lambda, addr) = start(SimConfig::default());
    let (status, _, body) = call(addr, "POST", REGISTER, &ask, r#"{"events":["INVOKE"]}"#);
    assert_eq!((status, get_str(&parse(&body), "accountId")), (200, "123456789012".to_string()), "{body}");
    let rie = SimConfig { return_account_id: false, ..SimConfig::default() };
    let (_lambda, addr) = start(rie);
    let (status, _, body) = call(addr, "POST", REGISTER, &ask, r#"{"events":["INVOKE"]}"#);
    assert_eq!(status, 200);
    assert!(get(&parse(&body), "accountId").is_none(), "RIE omits it: {body}");
}

#[test]
fn register_validation_errors() {
    let config = SimConfig { external_names: vec!["outside".into()], ..SimConfig::default() };
    let (_lambda, addr) = start(config);
    let cases: [(&str, &str, &str); 6] = [
        ("", r#"{"events":["INVOKE"]}"#, "Extension.InvalidExtensionName"),
        ("x", "not json", "InvalidRequestFormat"),
        ("x", r#"{"events":["INVOKE"],"configurationKeys":["k"]}"#, "InvalidRequestFormat"),
        ("x", r#"{"events":["BOGUS"]}"#, "Extension.InvalidEventType"),
        ("x", r#"{"events":[1]}"#, "Extension.InvalidEventType"),
        ("internal", r#"{"events":["INVOKE","SHUTDOWN"]}"#, "Extension.InvalidEventType"),
    ];
    for (name, body, want) in cases {
        let (status, headers, resp) = call(addr, "POST", REGISTER, &[("Lambda-Extension-Name", name)], body);
        assert_eq!((status, error_type(&resp).as_str()), (403, want), "{name} {body}: {resp}");
        assert_eq!(header(&headers, "Content-Type"), Some("application/json"));
    }
    let (_, _, resp) = register(addr, "x", &["BOGUS"]);
    assert_eq!(get_str(&parse(&resp), "errorMessage"), "BOGUS: ErrorInvalidEventType");
    // A name listed as a file in /opt/extensions may take SHUTDOWN.
    assert_eq!(register(addr, "outside", &["INVOKE", "SHUTDOWN"]).0, 200);
    let (status, _, resp) = register(addr, "outside", &["INVOKE"]);
    assert_eq!((status, error_type(&resp).as_str()), (403, "Extension.InvalidExtensionState"));
}

#[test]
fn at_most_ten_extensions() {
    let (_lambda, addr) = start(SimConfig::default());
    for i in 0..10 {
        assert_eq!(register(addr, &format!("e{i}"), &["INVOKE"]).0, 200);
    }
    let (status, _, body) = register(addr, "e10", &["INVOKE"]);
    assert_eq!((status, error_type(&body).as_str()), (403, "Extension.TooManyExtensions"));
}

#[test]
fn registration_closes_with_init() {
    let (lambda, addr) = start(SimConfig::default());
    let id = register_ok(addr, "early", &["INVOKE"]);
    let _ext = InProc::start(addr, &id, Duration::ZERO);
    let report = lambda.wait_init(WAIT).expect("init completes");
    assert_eq!((report.phase.as_str(), report.extensions.len()), ("init", 1));
    let (status, _, body) = register(addr, "late", &["INVOKE"]);
    assert_eq!((status, error_type(&body).as_str()), (403, "Extension.RegistrationClosed"));
}

#[test]
fn every_call_checks_the_identifier() {
    let (_lambda, addr) = start(SimConfig::default());
    let unknown = "00000000-0000-4000-8000-000000000000";
    let cases = [
        (None, "Extension.MissingExtensionIdentifier"),
        (Some("not-a-uuid"), "Extension.InvalidExtensionIdentifier"),
        (Some(unknown), "Extension.UnknownExtensionIdentifier"),
    ];
    for (id, want) in cases {
        let mut headers = vec![("Lambda-Extension-Function-Error-Type", "X.Y")];
        headers.extend(id.map(|i| ("Lambda-Extension-Identifier", i)));
        for (method, path) in [
            ("GET", NEXT),
            ("POST", "/2020-01-01/extension/init/error"),
            ("POST", "/2020-01-01/extension/exit/error"),
            ("PUT", "/2022-07-01/telemetry"),
        ] {
            let (status, _, body) = call(addr, method, path, &headers, "{}");
            assert_eq!((status, error_type(&body).as_str()), (403, want), "{method} {path} {id:?}");
        }
    }
}

#[test]
fn init_error_fails_init_and_locks_the_extension_out() {
    let (lambda, addr) = start(SimConfig::default());
    let id = register_ok(addr, "broken", &["INVOKE"]);
    let path = "/2020-01-01/extension/init/error";
    let (status, _, body) = call(addr, "POST", path, &[("Lambda-Extension-Identifier", &id)], "");
    assert_eq!((status, error_type(&body).as_str()), (403, "Extension.MissingHeader"));
    let headers = [
        ("Lambda-Extension-Identifier", id.as_str()),
        ("Lambda-Extension-Function-Error-Type", "Extension.ConfigInvalid"),
    ];
    let (status, _, body) = call(addr, "POST", path, &headers, r#"{"errorMessage":"bad","errorType":"X"}"#);
    assert_eq!((status, body.as_str()), (202, r#"{"status":"OK"}"#));
    let (status, _, body) = call(addr, "GET", NEXT, &[("Lambda-Extension-Identifier", &id)], "");
    assert_eq!((status, error_type(&body).as_str()), (403, "Extension.InvalidExtensionState"));
    assert!(body.contains("State transition from InitError to Ready failed"), "{body}");
    match lambda.wait_init(WAIT) {
        Err(SimError::InitFailed { error_type }) => assert_eq!(error_type, "Extension.InitError"),
        other => panic!("expected InitFailed, got {other:?}"),
    }
}

#[test]
fn exit_error_mid_invoke_fails_the_invoke_and_resets() {
    let (lambda, addr) = start(SimConfig::default());
    let id = register_ok(addr, "quitter", &["INVOKE"]);
    // One raw `next` only: the extension must not come back before exit/error.
    let id_next = id.clone();
    let next = std::thread::spawn(move || call(addr, "GET", NEXT, &[("Lambda-Extension-Identifier", &id_next)], ""));
    lambda.wait_init(WAIT).expect("init");
    let handle = std::thread::spawn(move || {
        let got = lambda.invoke(Default::default()).map(|r| (r.status, r.error_type, r.reset.is_some()));
        (got, lambda)
    });
    assert!(next.join().expect("next thread").2.contains("INVOKE"));
    let headers =
        [("Lambda-Extension-Identifier", id.as_str()), ("Lambda-Extension-Function-Error-Type", "Extension.Boom")];
    let (status, _, _) = call(addr, "POST", "/2020-01-01/extension/exit/error", &headers, "");
    assert_eq!(status, 202);
    let (got, lambda) = handle.join().expect("invoke thread");
    assert_eq!(got.expect("invoke result"), ("failure".to_string(), Some("Extension.ExitError".to_string()), true));
    let (status, _, body) = call(addr, "GET", NEXT, &[("Lambda-Extension-Identifier", &id)], "");
    assert_eq!((status, error_type(&body).as_str()), (403, "Extension.InvalidExtensionState"), "locked out");
    let reinit = lambda.invoke(Default::default()).expect("re-init invoke");
    assert_eq!(reinit.init.map(|i| i.phase), Some("invoke".to_string()));
    let (status, _, body) = call(addr, "GET", NEXT, &[("Lambda-Extension-Identifier", &id)], "");
    assert_eq!((status, error_type(&body).as_str()), (403, "Extension.UnknownExtensionIdentifier"), "{body}");
}

#[test]
fn unknown_routes_and_logs_api() {
    let (_lambda, addr) = start(SimConfig::default());
    assert_eq!(call(addr, "GET", "/2020-01-01/extension/nope", &[], "").0, 404);
    let (status, _, body) = call(addr, "PUT", "/2020-08-15/logs", &[], "{}");
    assert_eq!((status, error_type(&body).as_str()), (202, "Logs.NotSupported"));
}
