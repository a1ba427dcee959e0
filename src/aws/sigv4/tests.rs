use miniserde::Deserialize;

use super::*;

/// One case of `tests/data/sigv4/cases.json`, signed by botocore (see `generate.py` there).
#[derive(Deserialize)]
struct Case {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
    service: String,
    amz_date: String,
    method: String,
    path: String,
    query: Vec<Vec<String>>,
    headers: Vec<Vec<String>>,
    body: String,
    canonical_request: String,
    authorization: String,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn pair(v: &[String]) -> (&str, &str) {
    match v {
        [a, b] => (a.as_str(), b.as_str()),
        _ => panic!("fixture pairs have two elements: {v:?}"),
    }
}

#[test]
fn matches_botocore_for_every_fixture() {
    let text = include_str!("../../../tests/data/sigv4/cases.json");
    let fixture: Fixture = miniserde::json::from_str(text).expect("cases.json parses");
    assert!(fixture.cases.len() >= 5, "expected at least 5 cases");
    assert!(fixture.cases.iter().any(|c| c.session_token.is_some()), "a case with a session token");
    for case in &fixture.cases {
        let creds = Credentials {
            access_key_id: case.access_key_id.clone(),
            secret_access_key: case.secret_access_key.clone(),
            session_token: case.session_token.clone(),
        };
        let query: Vec<(&str, &str)> = case.query.iter().map(|v| pair(v)).collect();
        let headers: Vec<(&str, &str)> = case.headers.iter().map(|v| pair(v)).collect();
        let req = Request {
            method: &case.method,
            path: &case.path,
            query: &query,
            headers: &headers,
            body: case.body.as_bytes(),
        };
        let added = sign(&creds, &case.region, &case.service, &case.amz_date, &req);
        let extra: Vec<(&str, String)> = added.iter().filter(|(n, _)| *n != "authorization").cloned().collect();
        let (canonical, _) = canonical_request(&req, &extra);
        assert_eq!(canonical, case.canonical_request, "canonical request of {:?}", case.name);
        let auth = added.iter().find(|(n, _)| *n == "authorization").map(|(_, v)| v.as_str());
        assert_eq!(auth, Some(case.authorization.as_str()), "authorization of {:?}", case.name);
        let token = added.iter().find(|(n, _)| *n == "x-amz-security-token").map(|(_, v)| v.clone());
        assert_eq!(token, case.session_token, "session token header of {:?}", case.name);
    }
}

#[test]
fn amz_date_format() {
    #[track_caller]
    fn check(epoch_ms: u64, expected: &str) {
        assert_eq!(amz_date(epoch_ms), expected);
    }
    check(0, "19700101T000000Z");
    check(1_440_938_160_000, "20150830T123600Z");
    check(1_709_251_199_999, "20240229T235959Z");
}

#[test]
fn debug_hides_secrets() {
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "very-secret".into(),
        session_token: Some("token-value".into()),
    };
    let shown = format!("{creds:?}");
    assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
    assert!(!shown.contains("very-secret") && !shown.contains("token-value"), "{shown}");
}

#[test]
fn encoding_rules() {
    #[track_caller]
    fn check(text: &str, slash: bool, expected: &str) {
        assert_eq!(uri_encode(text, slash), expected);
    }
    check("/a b/c", false, "/a%20b/c");
    check("/a b/c", true, "%2Fa%20b%2Fc");
    check("AZaz09-_.~", true, "AZaz09-_.~");
    check("ä+=%", true, "%C3%A4%2B%3D%25");
    assert_eq!(normalize_value("  a   b \t c "), "a b c");
}

#[test]
fn sorting_is_stable_by_name() {
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    let mut items = vec![pair("b", "1"), pair("a", "2"), pair("b", "0"), pair("a", "1"), pair("c", "")];
    insertion_sort(&mut items, |x, y| x.0 < y.0);
    assert_eq!(items, [pair("a", "2"), pair("a", "1"), pair("b", "1"), pair("b", "0"), pair("c", "")]);
    insertion_sort(&mut items, |x, y| x < y);
    assert_eq!(items, [pair("a", "1"), pair("a", "2"), pair("b", "0"), pair("b", "1"), pair("c", "")]);
    let mut empty: Vec<(String, String)> = Vec::new();
    insertion_sort(&mut empty, |x, y| x < y);
    assert!(empty.is_empty());
}
