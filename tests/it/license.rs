//! The license key from AWS (newrelic.md §8) through the real binary: moto in server mode,
//! with request authentication on, plays Secrets Manager and SSM; two tiny fake endpoints
//! play a throttling and a silent AWS. Each found key must be the one New Relic receives;
//! each failure must produce its own sentence and the no-op mode; no key, secret access key
//! or session token may appear in the extension's output.

mod moto;
pub mod tools;

use std::time::Duration;

use lambda_sim::lambda::Invocation;

use crate::support::{Env, Setup, WAIT};
use moto::{key, Moto, KEYS};

/// The extension under `vars`, without `NEW_RELIC_LICENSE_KEY`, after its Init.
fn start(tag: &str, vars: &[(String, String)]) -> Env {
    start_timed(tag, vars).0
}

/// [`start`], and how long the Init took.
fn start_timed(tag: &str, vars: &[(String, String)]) -> (Env, Duration) {
    let mut setup = Setup::new().without_license_key();
    for (name, value) in vars {
        setup = setup.env(name, value);
    }
    let env = setup.spawn(tag);
    match env.lambda.wait_init(WAIT) {
        Ok(report) => (env, report.duration),
        Err(e) => panic!("init failed: {e}\n{}", env.output()),
    }
}

/// Environment variables of one extension.
type Vars = Vec<(String, String)>;

fn with(mut vars: Vars, extra: &[(&str, &str)]) -> Vars {
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars
}

/// Nothing secret in anything the extension printed.
#[track_caller]
fn assert_nothing_secret(env: &Env, also: &[&str]) {
    let output = env.output();
    for secret in KEYS.iter().map(|(_, k)| *k).chain(also.iter().copied()) {
        assert!(!output.contains(secret), "{secret:?} appears in the output:\n{output}");
    }
}

/// The key was found in `source` and is the one New Relic receives.
#[track_caller]
fn assert_sends_with(env: &Env, expected_key: &str, source: &str) {
    env.invoke(env.invocation(1));
    let delivered = env.collector.wait_until(WAIT, |s| !s.requests().is_empty());
    assert!(delivered, "nothing reached the collector:\n{}", env.output());
    let shutdown = env.shutdown("spindown");
    assert_eq!(shutdown.extensions[0].exit_code, Some(0), "{}", env.output());
    let keys: Vec<_> = env.collector.requests().iter().map(|r| r.header("x-license-key").map(str::to_owned)).collect();
    assert!(keys.iter().all(|k| k.as_deref() == Some(expected_key)), "sent with {keys:?}, expected {expected_key}");
    let from = format!("using the New Relic license key from {source}");
    assert!(env.lambda.wait_output(&from, WAIT), "no {from:?} line:\n{}", env.output());
    assert!(env.lambda.wait_output("license key lookup took", WAIT), "the lookup duration is logged at debug");
}

/// One clear line with `message`, then the no-op mode: no subscription, no pipe, invokes
/// answered, a clean exit, nothing sent.
#[track_caller]
fn assert_no_op(env: &Env, message: &str) {
    // Output is captured by another thread: wait for the line rather than race it.
    env.lambda.wait_output("no-op", WAIT);
    let lines: Vec<String> = env.lambda.output().into_iter().filter(|l| l.contains("no-op")).collect();
    assert_eq!(lines.len(), 1, "exactly one no-op line expected:\n{}", env.output());
    assert!(lines[0].contains(message), "expected {message:?} in {:?}", lines[0]);
    assert!(lines[0].contains("WARN") && lines[0].contains("no New Relic license key: "), "{:?}", lines[0]);
    assert!(env.lambda.telemetry_stats().is_empty(), "a no-op extension subscribes to nothing");
    assert!(!env.pipe.exists(), "a no-op extension creates no pipe");
    env.invoke(Invocation::default());
    let shutdown = env.shutdown("spindown");
    assert_eq!(shutdown.extensions[0].exit_code, Some(0), "{}", env.output());
    assert_eq!(env.collector.counters().requests, 0, "a no-op extension sends nothing");
}

#[test]
fn keys_from_secrets_manager_and_ssm_through_moto() {
    let moto = Moto::start("found");
    let reader = moto.env(&moto.reader, "us-east-1");
    let secret = |id: &str| with(reader.clone(), &[("NEW_RELIC_LICENSE_KEY_SECRET", id)]);
    let hidden = [moto.reader.secret_access_key.as_str(), moto.reader.session_token.as_str()];

    let env = start("secret-by-name", &secret("nr/by-name"));
    assert_sends_with(&env, key("by_name"), "Secrets Manager secret \"nr/by-name\"");
    assert_nothing_secret(&env, &hidden);

    // By ARN, from a function in another region: the ARN's region is the one asked.
    let by_arn = with(moto.env(&moto.reader, "eu-west-1"), &[("NEW_RELIC_LICENSE_KEY_SECRET", &moto.arn)]);
    let env = start("secret-by-arn", &by_arn);
    assert_sends_with(&env, key("by_arn"), &format!("Secrets Manager secret {:?}", moto.arn));
    assert_nothing_secret(&env, &hidden);

    let ssm = with(reader.clone(), &[("NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME", "/nr/license-key")]);
    let env = start("ssm", &ssm);
    assert_sends_with(&env, key("ssm"), "SSM parameter \"/nr/license-key\"");
    assert_nothing_secret(&env, &hidden);

    // Nothing configured: the default secret. Its key starts with "eu", yet the endpoint
    // override (the local collector) still wins over the EU endpoints.
    let env = start("default-secret", &reader);
    assert_sends_with(&env, key("default_secret"), "Secrets Manager secret \"NEW_RELIC_LICENSE_KEY\"");
    assert_nothing_secret(&env, &hidden);

    // us-west-2 holds no default secret, only the default parameter.
    let env = start("default-parameter", &moto.env(&moto.reader, "us-west-2"));
    assert_sends_with(&env, key("default_parameter"), "SSM parameter \"NEW_RELIC_LICENSE_KEY\"");
    assert_nothing_secret(&env, &hidden);
}

#[test]
fn each_aws_failure_has_its_message_and_means_no_op() {
    let moto = Moto::start("failures");
    let reader = moto.env(&moto.reader, "us-east-1");
    let hidden = [
        moto.reader.secret_access_key.as_str(),
        moto.reader.session_token.as_str(),
        moto.nothing.secret_access_key.as_str(),
        moto.nothing.session_token.as_str(),
    ];
    let secret = |vars: &[(String, String)], id: &str| with(vars.to_vec(), &[("NEW_RELIC_LICENSE_KEY_SECRET", id)]);
    let cases: Vec<(&str, Vars, String)> = vec![
        (
            "access-denied",
            secret(&moto.env(&moto.nothing, "us-east-1"), "nr/by-name"),
            "access denied reading Secrets Manager secret \"nr/by-name\" (AccessDenied: User: \
             arn:aws:sts::123456789012:assumed-role/nr-nothing/lambda is not authorized to perform: \
             secretsmanager:GetSecretValue); the function's execution role needs secretsmanager:GetSecretValue on it"
                .into(),
        ),
        (
            "secret-not-found",
            secret(&reader, "nr/missing"),
            "Secrets Manager secret \"nr/missing\" not found in us-east-1 (ResourceNotFoundException)".into(),
        ),
        (
            "not-json",
            secret(&reader, "nr/not-json"),
            "Secrets Manager secret \"nr/not-json\" is not JSON (expected {\"LicenseKey\": \"<key>\"})".into(),
        ),
        (
            "no-field",
            secret(&reader, "nr/no-field"),
            "Secrets Manager secret \"nr/no-field\" has no non-empty \"LicenseKey\" field".into(),
        ),
        (
            "parameter-not-found",
            with(reader.clone(), &[("NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME", "/nr/missing")]),
            "SSM parameter \"/nr/missing\" not found in us-east-1 (ParameterNotFound)".into(),
        ),
        (
            // The right key id with a wrong secret key: moto must reject the signature.
            "wrong-signature",
            secret(&with(reader.clone(), &[("AWS_SECRET_ACCESS_KEY", "not-the-secret-key")]), "nr/by-name"),
            "AWS rejected the function's credentials reading Secrets Manager secret \"nr/by-name\" \
             (SignatureDoesNotMatch: The request signature we calculated does not match"
                .into(),
        ),
        (
            "nothing-anywhere",
            moto.env(&moto.reader, "ap-south-1"),
            "Secrets Manager secret \"NEW_RELIC_LICENSE_KEY\" (the default name) not found in ap-south-1 \
             (ResourceNotFoundException); SSM parameter \"NEW_RELIC_LICENSE_KEY\" (the default name) not found in \
             ap-south-1 (ParameterNotFound)"
                .into(),
        ),
    ];
    for (tag, vars, message) in cases {
        let env = start(tag, &vars);
        assert_no_op(&env, &message);
        assert_nothing_secret(&env, &hidden);
    }
}

#[test]
fn throttling_and_silence_end_in_no_op_within_the_budget() {
    let throttling = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let (url, requests) = tools::fake_aws("400 Bad Request", throttling);
    let vars = [("AWS_ENDPOINT_URL".to_string(), url), ("NEW_RELIC_LICENSE_KEY_SECRET".into(), "nr/key".into())];
    let env = start("throttled", &vars);
    assert_no_op(
        &env,
        "Secrets Manager throttled reading Secrets Manager secret \"nr/key\" (ThrottlingException, 3 attempts)",
    );
    assert_eq!(requests.try_iter().count(), 3, "three attempts, no more");

    // An endpoint that never answers: each attempt ends at NEW_RELIC_HTTP_TIMEOUT, and Init
    // is not held much longer than the attempts take.
    let (url, connections) = tools::silent_aws();
    let vars = [
        ("AWS_ENDPOINT_URL_SSM".to_string(), url),
        ("NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME".into(), "/nr/key".into()),
        ("NEW_RELIC_HTTP_TIMEOUT".into(), "300ms".into()),
    ];
    let (env, init) = start_timed("timeout", &vars);
    assert!(init < Duration::from_secs(3), "Init took {init:?}");
    assert_no_op(&env, "timed out reading SSM parameter \"/nr/key\": SSM did not answer (3 attempts)");
    assert_eq!(connections.try_iter().count(), 3, "three attempts, no more");
}
