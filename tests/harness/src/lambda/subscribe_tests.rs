use super::*;

fn body(schema: &str, types: &str, buffering: &str, destination: &str) -> String {
    format!(r#"{{"schemaVersion":"{schema}","types":{types},{buffering}"destination":{destination}}}"#)
}

const HTTP: &str = r#"{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243/telemetry"}"#;
const BUF: &str = r#""buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":25},"#;

/// `Ok((port, path))` or `Err(substring of the message)`.
fn check(input: &str, schemas: Schemas, expected: Result<(u16, Option<&str>), &str>) {
    match (validate(input.as_bytes(), schemas), expected) {
        (Ok(spec), Ok((port, path))) => {
            assert_eq!((spec.port, spec.path.as_deref()), (port, path), "{input}")
        }
        (Err(msg), Err(want)) => assert!(msg.contains(want), "{input}: {msg:?} lacks {want:?}"),
        (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
    }
}

#[test]
fn accepts_valid_subscriptions() {
    let ok = Ok((4243, Some("/telemetry")));
    check(&body("2022-12-13", r#"["platform"]"#, BUF, HTTP), Schemas::All, ok);
    check(&body("2022-07-01", r#"["platform","function","extension"]"#, "", HTTP), Schemas::All, ok);
    check(&body("2025-01-29", r#"["function"]"#, BUF, HTTP), Schemas::All, ok);
    let short_host = r#"{"protocol":"HTTP","URI":"http://sandbox:80"}"#;
    check(&body("2022-12-13", r#"["platform"]"#, BUF, short_host), Schemas::All, Ok((80, Some("/"))));
    let tcp = r#"{"protocol":"TCP","port":4244}"#;
    check(&body("2022-12-13", r#"["platform"]"#, BUF, tcp), Schemas::All, Ok((4244, None)));
}

#[test]
fn defaults_buffering_when_absent() {
    let spec = validate(body("2022-12-13", r#"["platform"]"#, "", HTTP).as_bytes(), Schemas::All);
    let spec = spec.ok();
    let got = spec.map(|s| (s.max_items, s.max_bytes, s.timeout_ms));
    assert_eq!(got, Some((10_000, 262_144, 1_000)));
}

#[test]
fn rejects_bad_schema_types_and_buffering() {
    let t = r#"["platform"]"#;
    check(&body("2025-01-29", t, BUF, HTTP), Schemas::No2025, Err("2025-01-29 is not supported"));
    check(&body("2021-01-01", t, BUF, HTTP), Schemas::All, Err("schemaVersion"));
    check(&body("2022-12-13", "[]", BUF, HTTP), Schemas::All, Err("types should not be empty"));
    check(&body("2022-12-13", r#"["logs"]"#, BUF, HTTP), Schemas::All, Err("unknown value"));
    for (buf, field) in [
        (r#""buffering":{"maxItems":999},"#, "maxItems"),
        (r#""buffering":{"maxItems":10001},"#, "maxItems"),
        (r#""buffering":{"maxBytes":262143},"#, "maxBytes"),
        (r#""buffering":{"maxBytes":1048577},"#, "maxBytes"),
        (r#""buffering":{"timeoutMs":24},"#, "timeoutMs"),
        (r#""buffering":{"timeoutMs":30001},"#, "timeoutMs"),
        (r#""buffering":{"timeoutMs":"100"},"#, "timeoutMs"),
    ] {
        check(&body("2022-12-13", t, buf, HTTP), Schemas::All, Err(field));
    }
    check("not json", Schemas::All, Err("not valid JSON"));
    check("[1]", Schemas::All, Err("JSON object"));
}

#[test]
fn rejects_bad_destinations() {
    let t = r#"["platform"]"#;
    for (dest, why) in [
        (r#"{"protocol":"HTTP","URI":"http://localhost:4243/t"}"#, "host must be sandbox.localdomain"),
        (r#"{"protocol":"HTTP","URI":"http://127.0.0.1:4243"}"#, "host must be sandbox.localdomain"),
        (r#"{"protocol":"HTTP","URI":"http://sandbox.localdomain/t"}"#, "URI port is not provided"),
        (r#"{"protocol":"HTTP","URI":"http://sandbox.localdomain:9001/t"}"#, "9001 is reserved"),
        (r#"{"protocol":"HTTP","URI":"http://sandbox.localdomain:99999/t"}"#, "port is invalid"),
        (r#"{"protocol":"HTTP","URI":"https://sandbox.localdomain:4243/t"}"#, "scheme must be http"),
        (r#"{"protocol":"HTTP"}"#, "URI is required"),
        (r#"{"protocol":"TCP","port":9001}"#, "9001 is reserved"),
        (r#"{"protocol":"UDP","port":1}"#, "protocol must be HTTP or TCP"),
    ] {
        check(&body("2022-12-13", t, BUF, dest), Schemas::All, Err(why));
    }
    check(r#"{"schemaVersion":"2022-12-13","types":["platform"]}"#, Schemas::All, Err("destination is required"));
}

#[test]
fn joins_every_problem() {
    let dest = r#"{"protocol":"HTTP","URI":"http://sandbox.localdomain/t"}"#;
    let msg = validate(body("2022-12-13", "[]", BUF, dest).as_bytes(), Schemas::All).err();
    assert_eq!(msg.as_deref(), Some("types should not be empty; URI port is not provided"));
}

#[test]
fn lmi_requires_the_2025_schema() {
    let t = r#"["platform"]"#;
    check(&body("2025-01-29", t, BUF, HTTP), Schemas::Only2025, Ok((4243, Some("/telemetry"))));
    check(&body("2022-12-13", t, BUF, HTTP), Schemas::Only2025, Err("schema validation error"));
}
