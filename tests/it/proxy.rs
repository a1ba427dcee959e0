//! Proxies and custom CAs (newrelic.md §9) through the real binary and real servers: the
//! fake collector behind a TLS front (socat) whose certificate chains to a private CA,
//! reached through tinyproxy (HTTP CONNECT) or microsocks (SOCKS5), both requiring
//! credentials that must never be printed. Without the CA the TLS failure must be clear,
//! counted and bounded.

mod servers;

use std::path::PathBuf;

use crate::license::tools::{fake_aws, free_port, Server};
use crate::support::{scratch, Env, Setup, WAIT};
use servers::{http_proxy, make_pki, socks_proxy, tls_front, Pki, PROXY_PASSWORD, PROXY_USER};

/// An extension whose New Relic endpoints are `https://127.0.0.1:<front>` (socat in front
/// of the fake collector), after its Init.
struct Https {
    env: Env,
    /// Kept alive for the test's duration.
    _front: Server,
    front_port: u16,
}

fn start_https(tag: &str, pki: &Pki, vars: &[(&str, String)], with_key: bool) -> Https {
    let port = free_port();
    let mut setup = Setup::new()
        .env("NEW_RELIC_TELEMETRY_ENDPOINT", &format!("https://127.0.0.1:{port}/aws/lambda/v1"))
        .env("NEW_RELIC_LOG_ENDPOINT", &format!("https://127.0.0.1:{port}/log/v1"));
    if !with_key {
        setup = setup.without_license_key();
    }
    for (name, value) in vars {
        setup = setup.env(name, value);
    }
    // The collector exists only once the extension is spawned; the extension sends nothing
    // before its first invoke, so the front is started in between.
    let env = setup.spawn(tag);
    let front = tls_front(pki, port, env.collector.addr(), &scratch(&format!("{tag}-front")));
    if let Err(e) = env.lambda.wait_init(WAIT) {
        panic!("init failed: {e}\n{}", env.output());
    }
    Https { env, _front: front, front_port: port }
}

fn pki(tag: &str) -> (Pki, PathBuf) {
    let dir = scratch(&format!("{tag}-pki"));
    (make_pki(&dir), dir)
}

/// One invocation; true once the collector received (and accepted) a telemetry request.
fn delivers(env: &Env) -> bool {
    env.invoke(env.invocation(1));
    env.collector.wait_until(WAIT, |s| s.requests().iter().any(|r| r.delivered))
}

/// Neither half of the proxy credentials appears in the output.
#[track_caller]
fn assert_credentials_hidden(env: &Env, also: &[&str]) {
    let output = env.output();
    for secret in [PROXY_USER, PROXY_PASSWORD].iter().chain(also) {
        assert!(!output.contains(secret), "{secret:?} appears in the output:\n{output}");
    }
}

#[track_caller]
fn assert_clean_exit(env: &Env) {
    let shutdown = env.shutdown("spindown");
    assert_eq!(shutdown.extensions[0].exit_code, Some(0), "{}", env.output());
    assert!(!shutdown.extensions[0].killed, "{}", env.output());
}

#[test]
fn key_lookup_and_telemetry_through_an_http_connect_proxy_to_a_private_ca() {
    let (pki, dir) = pki("connect");
    let proxy = http_proxy(&dir);
    let secret = r#"{"Name":"nr/key","SecretString":"{\"LicenseKey\":\"proxied-license-key-0000000000000NRAL\"}"}"#;
    let (aws_url, aws_requests) = fake_aws("200 OK", secret);
    let proxy_url = format!("http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}", proxy.port);
    let vars = [
        ("NEW_RELIC_LAMBDA_EXTENSION_PROXY", proxy_url),
        ("SSL_CERT_FILE", pki.ca.display().to_string()),
        ("AWS_ENDPOINT_URL", aws_url.clone()),
        ("NEW_RELIC_LICENSE_KEY_SECRET", "nr/key".into()),
    ];
    let https = start_https("connect", &pki, &vars, false);
    let env = &https.env;
    assert!(delivers(env), "nothing delivered through the proxy:\n{}\n{}", env.output(), proxy.log_text());
    assert_clean_exit(env);

    let sent_keys: Vec<_> =
        env.collector.requests().iter().map(|r| r.header("x-license-key").map(str::to_owned)).collect();
    assert!(sent_keys.iter().all(|k| k.as_deref() == Some("proxied-license-key-0000000000000NRAL")), "{sent_keys:?}");
    assert_eq!(aws_requests.try_iter().count(), 1);
    let log = proxy.log_text();
    let aws_port = aws_url.rsplit(':').next().unwrap_or_default();
    assert!(log.contains(&format!("CONNECT 127.0.0.1:{aws_port} ")), "AWS call not proxied:\n{log}");
    assert!(log.contains(&format!("CONNECT 127.0.0.1:{} ", https.front_port)), "New Relic not proxied:\n{log}");
    // Never the Lambda APIs: the runtime API's port never appears in the proxy's log.
    let runtime_port = env.lambda.runtime_api().rsplit(':').next().unwrap_or_default().to_string();
    assert!(!log.contains(&format!("127.0.0.1:{runtime_port} ")), "the Lambda API went through the proxy:\n{log}");
    let shown = format!("through proxy http://***@127.0.0.1:{} (from NEW_RELIC_LAMBDA_EXTENSION_PROXY)", proxy.port);
    assert!(env.line(&shown).is_some(), "no masked proxy line:\n{}", env.output());
    assert!(env.line("plus 1 from SSL_CERT_FILE").is_some(), "{}", env.output());
    assert_credentials_hidden(env, &["proxied-license-key"]);
}

#[test]
fn socks5_proxy_with_the_right_and_a_wrong_password() {
    let (pki, dir) = pki("socks");
    let proxy = socks_proxy(&dir);
    let url = |password: &str| format!("socks5://{PROXY_USER}:{password}@127.0.0.1:{}", proxy.port);
    let ca = ("SSL_CERT_FILE", pki.ca.display().to_string());

    let https =
        start_https("socks-ok", &pki, &[("NEW_RELIC_LAMBDA_EXTENSION_PROXY", url(PROXY_PASSWORD)), ca.clone()], true);
    assert!(delivers(&https.env), "nothing delivered through SOCKS5:\n{}", https.env.output());
    assert_clean_exit(&https.env);
    assert_credentials_hidden(&https.env, &[]);

    // Same settings but the password: the proxy refuses, so the data cannot have gone around it.
    let https = start_https("socks-bad", &pki, &[("NEW_RELIC_LAMBDA_EXTENSION_PROXY", url("wr0ng-pa55")), ca], true);
    let env = &https.env;
    env.invoke(env.invocation(1));
    let warned = format!("(through proxy socks5://***@127.0.0.1:{})", proxy.port);
    assert!(env.lambda.wait_output(&warned, WAIT), "no warning naming the masked proxy:\n{}", env.output());
    assert_clean_exit(env);
    assert_eq!(env.collector.counters().requests, 0);
    assert_credentials_hidden(env, &["wr0ng-pa55"]);
}

#[test]
fn https_proxy_variable_and_no_proxy() {
    let (pki, dir) = pki("env-proxy");
    let proxy = http_proxy(&dir);
    let ca = ("SSL_CERT_FILE", pki.ca.display().to_string());
    let proxy_url = format!("http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}", proxy.port);

    let https = start_https("env-proxy", &pki, &[("HTTPS_PROXY", proxy_url), ca.clone()], true);
    assert!(delivers(&https.env), "nothing delivered through HTTPS_PROXY:\n{}", https.env.output());
    assert_clean_exit(&https.env);
    let log = proxy.log_text();
    assert!(log.contains(&format!("CONNECT 127.0.0.1:{} ", https.front_port)), "not proxied:\n{log}");
    assert_credentials_hidden(&https.env, &[]);

    // A dead proxy, but the host is exempt: delivered directly.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let vars = [("https_proxy", dead), ("NO_PROXY", "localhost,127.0.0.1".to_string()), ca];
    let https = start_https("no-proxy", &pki, &vars, true);
    assert!(delivers(&https.env), "NO_PROXY not honoured:\n{}", https.env.output());
    assert_clean_exit(&https.env);
}

#[test]
fn without_the_ca_the_tls_failure_is_clear_counted_and_bounded() {
    let (pki, dir) = pki("no-ca");
    let garbage = dir.join("not-a-bundle.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        .expect("write garbage bundle");
    let cases = [("no-ca-unset", vec![]), ("no-ca-invalid", vec![("SSL_CERT_FILE", garbage.display().to_string())])];
    for (tag, vars) in cases {
        let https = start_https(tag, &pki, &vars, true);
        let env = &https.env;
        let invoked = env.invoke(env.invocation(1));
        assert!(invoked.extensions_done_at.is_some(), "the invoke did not complete:\n{}", env.output());
        assert!(env.lambda.wait_output("cannot reach New Relic at 127.0.0.1", WAIT), "{}", env.output());
        let line = env.line("cannot reach New Relic").unwrap_or_default();
        assert!(line.contains("certificate") && line.contains("set SSL_CERT_FILE"), "{line}");
        assert_clean_exit(env);
        assert!(env.lambda.wait_output("summary:", WAIT), "{}", env.output());
        let summary = env.line("summary:").unwrap_or_default();
        let dropped = summary.split("dropped ").nth(1).and_then(|t| t.split([' ', ',', ';']).next());
        assert!(dropped.and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n > 0), "not counted: {summary}");
        assert_eq!(env.collector.counters().requests, 0, "nothing passes an untrusted TLS front");
        let warnings: Vec<_> = env.lambda.output().into_iter().filter(|l| l.contains("SSL_CERT_FILE=")).collect();
        if vars.is_empty() {
            assert!(warnings.is_empty(), "{warnings:?}");
        } else {
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].contains("only the built-in root certificates are trusted"), "{warnings:?}");
        }
    }
}

/// One DER TLV: (tag, contents, rest).
fn tlv(bytes: &[u8]) -> (u8, &[u8], &[u8]) {
    let (tag, first) = (bytes[0], bytes[1]);
    let (header, len) = match first {
        0..=0x7f => (2, usize::from(first)),
        _ => {
            let n = usize::from(first & 0x7f);
            (2 + n, bytes[2..2 + n].iter().fold(0, |acc, b| (acc << 8) | usize::from(*b)))
        }
    };
    (tag, &bytes[header..header + len], &bytes[header + len..])
}

/// Subject and public key contents of a certificate: what a trust anchor keeps.
fn anchor_fields(cert: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (_, cert, _) = tlv(cert);
    let (_, mut tbs, _) = tlv(cert);
    let mut fields = Vec::new();
    while !tbs.is_empty() {
        let (_, content, rest) = tlv(tbs);
        fields.push(content.to_vec());
        tbs = rest;
    }
    // version, serial, algorithm, issuer, validity, subject, spki, …
    (fields[5].clone(), fields[6].clone())
}

/// `SSL_CERT_FILE` adds its CAs to the built-in roots, which ureq only takes as certificates
/// re-encoded from webpki's trust anchors (`roots.rs`). This proves the TLS stack accepts such
/// re-encoded anchors, name constraints included, by using one made from the private CA as the
/// only root: the same code re-encodes the built-in roots.
#[test]
fn re_encoded_trust_anchors_are_what_the_tls_stack_verifies_with() {
    use newrelic_lambda_extension::http_agent::{roots, Network};
    let (pki, dir) = pki("anchors");
    let collector = lambda_sim::collector::Collector::start().expect("collector");
    let port = free_port();
    let _front = tls_front(&pki, port, collector.addr(), &dir);
    let pem = std::fs::read(&pki.ca).expect("read ca.pem");
    let ca = roots::parse_certificates(&pem).expect("ca.pem parses");
    let (subject, spki) = anchor_fields(ca[0].der());

    let connects = |anchor: Vec<u8>| {
        let cert = ureq::tls::Certificate::from_der(&anchor).to_owned();
        let network = Network::default().with_only_roots(vec![cert]);
        let config = network.configure(ureq::Agent::config_builder()).http_status_as_error(false).build();
        let agent = ureq::Agent::new_with_config(config);
        agent.get(&format!("https://127.0.0.1:{port}/aws/lambda/v1")).call().map(|_| ()).map_err(|e| e.to_string())
    };
    // 127.0.0.1/32 permitted, and 10.0.0.0/8 permitted (so 127.0.0.1 is not).
    let permit_localhost = [0xa0, 0x0c, 0x30, 0x0a, 0x87, 0x08, 127, 0, 0, 1, 255, 255, 255, 255];
    let permit_ten = [0xa0, 0x0c, 0x30, 0x0a, 0x87, 0x08, 10, 0, 0, 0, 255, 0, 0, 0];

    assert_eq!(connects(roots::anchor_certificate(&subject, &spki, None)), Ok(()));
    assert_eq!(connects(roots::anchor_certificate(&subject, &spki, Some(&permit_localhost))), Ok(()));
    let outside = connects(roots::anchor_certificate(&subject, &spki, Some(&permit_ten)));
    assert!(outside.as_ref().is_err_and(|e| e.contains("certificate")), "{outside:?}");
    let mut other_subject = subject.clone();
    *other_subject.last_mut().expect("non-empty subject") ^= 1;
    let unknown = connects(roots::anchor_certificate(&other_subject, &spki, None));
    assert!(unknown.as_ref().is_err_and(|e| e.contains("UnknownIssuer")), "{unknown:?}");
}
