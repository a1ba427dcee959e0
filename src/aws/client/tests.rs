use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use super::*;

#[test]
fn endpoints() {
    #[track_caller]
    fn check(service: Service, region: &str, specific: Option<&str>, any: Option<&str>, expected: &str) {
        assert_eq!(endpoint(service, region, specific, any), expected);
    }
    check(Service::SecretsManager, "us-east-1", None, None, "https://secretsmanager.us-east-1.amazonaws.com");
    check(Service::Ssm, "eu-west-1", None, None, "https://ssm.eu-west-1.amazonaws.com");
    check(Service::Ssm, "cn-north-1", None, None, "https://ssm.cn-north-1.amazonaws.com.cn");
    check(Service::Ssm, "us-east-1", Some("http://a:1"), Some("http://b:2"), "http://a:1");
    check(Service::Ssm, "us-east-1", None, Some(" http://b:2 "), "http://b:2");
}

#[test]
fn error_answers() {
    #[track_caller]
    fn check(status: u16, header: Option<&str>, body: &str, code: &str, message: &str) {
        let expected = AwsError::Api { status, code: code.into(), message: message.into() };
        assert_eq!(api_error(status, header, body.as_bytes()), expected, "{body}");
    }
    check(
        400,
        None,
        r#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find it."}"#,
        "ResourceNotFoundException",
        "Secrets Manager can't find it.",
    );
    check(
        400,
        None,
        r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","Message":"  two\n lines "}"#,
        "ParameterNotFound",
        "two lines",
    );
    check(403, Some("AccessDeniedException:http://internal.amazon.com/"), "<html>", "AccessDeniedException", "");
    check(502, None, "", "HTTP 502", "");
    let xml = "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: a &amp; b \
               is not authorized</Message></Error></Errors></ErrorResponse>";
    check(403, None, xml, "AccessDenied", "User: a & b is not authorized");
    check(403, None, "<Code>Unclosed", "HTTP 403", "");
    let long = format!(r#"{{"__type":"X","message":"{}"}}"#, "a".repeat(1000));
    let AwsError::Api { message, .. } = api_error(400, None, long.as_bytes()) else { panic!() };
    assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
}

#[test]
fn throttling_codes() {
    assert!(is_throttling("ThrottlingException") && is_throttling("TooManyRequestsException"));
    assert!(!is_throttling("ResourceNotFoundException") && !is_throttling(""));
}

/// A one-thread HTTP server answering each connection with the next canned reply; every
/// request (head and body) is sent back to the test.
fn serve(replies: Vec<String>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = tx.send(format!("{head}\n{}", String::from_utf8_lossy(&body)));
            let _ = reader.get_mut().write_all(reply.as_bytes());
        }
    });
    (url, rx)
}

fn reply(status: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

fn client() -> Client {
    let creds = Credentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "secret".into(),
        session_token: Some("the-token".into()),
    };
    Client::new(&Network::default(), creds, Duration::from_secs(2))
}

#[test]
fn signed_request_and_retry_after_throttling() {
    let throttled = reply("400 Bad Request", r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#);
    let ok = reply("200 OK", r#"{"Name":"nr","SecretString":"{\"LicenseKey\":\"abc\"}"}"#);
    let (url, requests) = serve(vec![throttled, ok]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = client().secret_string(&url, "eu-west-1", "nr", deadline);
    assert_eq!(got, Ok(Some(r#"{"LicenseKey":"abc"}"#.to_string())));
    let first = requests.recv().unwrap().to_ascii_lowercase();
    let port = url.rsplit(':').next().unwrap();
    for needle in [
        "post / http/1.1".to_string(),
        format!("host: 127.0.0.1:{port}"),
        "x-amz-target: secretsmanager.getsecretvalue".into(),
        "content-type: application/x-amz-json-1.1".into(),
        "x-amz-security-token: the-token".into(),
        "authorization: aws4-hmac-sha256 credential=asiaexample/".into(),
        "/eu-west-1/secretsmanager/aws4_request, signedheaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, signature=".into(),
        r#"{"secretid":"nr"}"#.into(),
    ] {
        assert!(first.contains(&needle), "{needle:?} missing in:\n{first}");
    }
    assert_eq!(first.matches("host:").count(), 1, "{first}");
    assert!(requests.recv().is_ok(), "a second attempt was made");
}

#[test]
fn throttled_every_time() {
    let throttled = reply("400 Bad Request", r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#);
    let (url, requests) = serve(vec![throttled; 3]);
    let got = client().parameter(&url, "us-east-1", "p", Instant::now() + Duration::from_secs(5));
    assert_eq!(got, Err(AwsError::Throttled { code: "ThrottlingException".into(), attempts: 3 }));
    assert_eq!(requests.try_iter().count(), 3);
}

#[test]
fn not_found_is_not_retried_and_parameter_values_are_read() {
    let missing = reply("400 Bad Request", r#"{"__type":"ParameterNotFound"}"#);
    let found = reply("200 OK", r#"{"Parameter":{"Name":"p","Type":"SecureString","Value":" k \n","Version":1}}"#);
    let (url, requests) = serve(vec![missing, found]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = client().parameter(&url, "us-east-1", "p", deadline);
    assert_eq!(got, Err(AwsError::Api { status: 400, code: "ParameterNotFound".into(), message: String::new() }));
    assert_eq!(client().parameter(&url, "us-east-1", "p", deadline), Ok(Some(" k \n".to_string())));
    let first = requests.recv().unwrap();
    assert!(
        first.contains("X-Amz-Target: AmazonSSM.GetParameter")
            || first.contains("x-amz-target: AmazonSSM.GetParameter"),
        "{first}"
    );
    assert!(first.ends_with(r#"{"Name":"p","WithDecryption":true}"#), "{first}");
}

#[test]
fn refused_connections_and_bad_endpoints() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let got = client().secret_string(&url, "us-east-1", "x", Instant::now() + Duration::from_secs(2));
    assert!(matches!(got, Err(AwsError::Transport(_))), "{got:?}");
    let got = client().secret_string("not a url", "us-east-1", "x", Instant::now() + Duration::from_secs(2));
    assert_eq!(got, Err(AwsError::BadEndpoint("not a url".into())));
    let got = client().secret_string(&url, "us-east-1", "x", Instant::now());
    assert_eq!(got, Err(AwsError::Timeout { attempts: 0 }));
}
