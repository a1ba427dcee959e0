use std::cell::RefCell;

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdefNRAL";

/// A scripted [`Fetch`]: answers by name, records what was asked.
#[derive(Default)]
struct Fake {
    secrets: Vec<(&'static str, Result<Option<String>, Failure>)>,
    parameters: Vec<(&'static str, Result<Option<String>, Failure>)>,
    asked: RefCell<Vec<String>>,
}

fn not_found(code: &str) -> Failure {
    Failure::Aws {
        region: "us-east-1".into(),
        error: AwsError::Api { status: 400, code: code.into(), message: "nope".into() },
    }
}

impl Fetch for Fake {
    fn secret(&self, id: &str, _: Instant) -> Result<Option<String>, Failure> {
        self.asked.borrow_mut().push(format!("secret {id}"));
        self.secrets
            .iter()
            .find(|(n, _)| *n == id)
            .map_or_else(|| Err(not_found("ResourceNotFoundException")), |(_, r)| r.clone())
    }
    fn parameter(&self, name: &str, _: Instant) -> Result<Option<String>, Failure> {
        self.asked.borrow_mut().push(format!("parameter {name}"));
        self.parameters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| Err(not_found("ParameterNotFound")), |(_, r)| r.clone())
    }
}

fn config(vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).0
}

fn secret_json(key: &str) -> Result<Option<String>, Failure> {
    Ok(Some(format!(r#"{{"LicenseKey": "{key}"}}"#)))
}

fn run(vars: &[(&str, &str)], fake: &Fake) -> (Result<(String, Source), String>, Vec<String>) {
    let result = resolve_with(&config(vars), fake, Instant::now() + LOOKUP_BUDGET);
    let shown = result.map(|(k, s)| (k.0, s)).map_err(|e| e.to_string());
    (shown, fake.asked.borrow().clone())
}

#[test]
fn the_environment_wins_without_any_call() {
    let fake = Fake { secrets: vec![("s", secret_json("other"))], ..Fake::default() };
    let (got, asked) = run(&[("NEW_RELIC_LICENSE_KEY", KEY), ("NEW_RELIC_LICENSE_KEY_SECRET", "s")], &fake);
    assert_eq!(got, Ok((KEY.to_string(), Source::Env)));
    assert!(asked.is_empty(), "{asked:?}");
}

#[test]
fn configured_secret_then_configured_parameter() {
    let fake = Fake { secrets: vec![("s", secret_json(&format!("  {KEY}\\n")))], ..Fake::default() };
    let (got, asked) =
        run(&[("NEW_RELIC_LICENSE_KEY_SECRET", "s"), ("NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME", "p")], &fake);
    assert_eq!(got, Ok((KEY.to_string(), Source::Secret("s".into()))));
    assert_eq!(asked, ["secret s"]);

    let fake = Fake { parameters: vec![("p", Ok(Some(format!(" {KEY} \n"))))], ..Fake::default() };
    let (got, asked) =
        run(&[("NEW_RELIC_LICENSE_KEY_SECRET", "s"), ("NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME", "p")], &fake);
    assert_eq!(got, Ok((KEY.to_string(), Source::Parameter("p".into()))));
    assert_eq!(asked, ["secret s", "parameter p"]);
}

#[test]
fn a_configured_source_never_falls_back_to_the_defaults() {
    let fake = Fake { secrets: vec![(DEFAULT_NAME, secret_json(KEY))], ..Fake::default() };
    let (got, asked) = run(&[("NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME", "p")], &fake);
    let err = got.unwrap_err();
    assert_eq!(asked, ["parameter p"]);
    assert_eq!(err, "no New Relic license key: SSM parameter \"p\" not found in us-east-1 (ParameterNotFound)");
}

#[test]
fn default_secret_then_default_parameter() {
    let fake = Fake { secrets: vec![(DEFAULT_NAME, secret_json(KEY))], ..Fake::default() };
    let (got, asked) = run(&[], &fake);
    assert_eq!(got, Ok((KEY.to_string(), Source::DefaultSecret)));
    assert_eq!(asked, ["secret NEW_RELIC_LICENSE_KEY"]);

    let fake = Fake { parameters: vec![(DEFAULT_NAME, Ok(Some(KEY.into())))], ..Fake::default() };
    let (got, asked) = run(&[], &fake);
    assert_eq!(got, Ok((KEY.to_string(), Source::DefaultParameter)));
    assert_eq!(asked, ["secret NEW_RELIC_LICENSE_KEY", "parameter NEW_RELIC_LICENSE_KEY"]);

    let (got, _) = run(&[], &Fake::default());
    assert_eq!(
        got.unwrap_err(),
        "no New Relic license key: Secrets Manager secret \"NEW_RELIC_LICENSE_KEY\" (the default name) not found in \
         us-east-1 (ResourceNotFoundException); SSM parameter \"NEW_RELIC_LICENSE_KEY\" (the default name) not found in \
         us-east-1 (ParameterNotFound)"
    );
}

#[test]
fn secret_contents() {
    #[track_caller]
    fn check(secret: Option<&str>, expected: Result<&str, Failure>) {
        assert_eq!(key_from_secret(secret.map(String::from)), expected.map(String::from), "{secret:?}");
    }
    check(Some(r#"{"LicenseKey":"k"}"#), Ok("k"));
    check(Some(r#"{"LicenseKey":" k ","Other":1}"#), Ok("k"));
    check(Some(KEY), Err(Failure::NotJson));
    check(Some(""), Err(Failure::NotJson));
    check(Some(r#"{"licensekey":"k"}"#), Err(Failure::NoLicenseKeyField));
    check(Some(r#"{"LicenseKey":""}"#), Err(Failure::NoLicenseKeyField));
    check(Some(r#"{"LicenseKey":42}"#), Err(Failure::NoLicenseKeyField));
    check(Some(r#"["LicenseKey"]"#), Err(Failure::NoLicenseKeyField));
    check(None, Err(Failure::NoSecretString));
}

#[test]
fn every_failure_has_its_sentence_and_none_shows_the_key() {
    let s = Source::Secret("nr".into());
    let p = Source::Parameter("/nr/key".into());
    let aws = |code: &str, status| Failure::Aws {
        region: "eu-west-1".into(),
        error: AwsError::Api { status, code: code.into(), message: "User: arn:x is not authorized".into() },
    };
    let err = |error| Failure::Aws { region: "eu-west-1".into(), error };
    #[track_caller]
    fn check(source: &Source, failure: Failure, expected: &str) {
        let text = describe(source, &failure);
        assert_eq!(text, expected);
        assert!(!text.contains(KEY));
    }
    check(
        &s,
        aws("AccessDeniedException", 400),
        "access denied reading Secrets Manager secret \"nr\" (AccessDeniedException: \
        User: arn:x is not authorized); the function's execution role needs secretsmanager:GetSecretValue on it",
    );
    check(
        &p,
        aws("AccessDeniedException", 400),
        "access denied reading SSM parameter \"/nr/key\" (AccessDeniedException: \
        User: arn:x is not authorized); the function's execution role needs ssm:GetParameter (and kms:Decrypt for a \
        customer-managed key) on it",
    );
    check(
        &s,
        aws("ResourceNotFoundException", 400),
        "Secrets Manager secret \"nr\" not found in eu-west-1 (ResourceNotFoundException)",
    );
    check(&p, aws("ParameterNotFound", 400), "SSM parameter \"/nr/key\" not found in eu-west-1 (ParameterNotFound)");
    check(
        &s,
        aws("UnrecognizedClientException", 400),
        "AWS rejected the function's credentials reading Secrets Manager \
        secret \"nr\" (UnrecognizedClientException: User: arn:x is not authorized)",
    );
    check(
        &s,
        aws("InternalServiceError", 500),
        "Secrets Manager answered 500 InternalServiceError reading Secrets \
        Manager secret \"nr\": User: arn:x is not authorized",
    );
    check(&s, Failure::NotJson, "Secrets Manager secret \"nr\" is not JSON (expected {\"LicenseKey\": \"<key>\"})");
    check(&s, Failure::NoLicenseKeyField, "Secrets Manager secret \"nr\" has no non-empty \"LicenseKey\" field");
    check(
        &s,
        Failure::NoSecretString,
        "Secrets Manager secret \"nr\" has no SecretString (binary secrets are not supported)",
    );
    check(&p, Failure::Empty, "SSM parameter \"/nr/key\" is empty");
    check(
        &s,
        err(AwsError::Throttled { code: "ThrottlingException".into(), attempts: 3 }),
        "Secrets Manager throttled reading Secrets Manager secret \"nr\" (ThrottlingException, 3 attempts)",
    );
    check(
        &p,
        err(AwsError::Timeout { attempts: 2 }),
        "timed out reading SSM parameter \"/nr/key\": SSM did not answer (2 attempts)",
    );
    check(
        &p,
        err(AwsError::Transport("io: Connection refused".into())),
        "cannot reach SSM reading SSM parameter \"/nr/key\": io: Connection refused",
    );
    check(&s, err(AwsError::BadEndpoint("nope".into())), "the Secrets Manager endpoint override \"nope\" is not a URL");
}

#[test]
fn missing_aws_settings_are_named() {
    let network = Network::default();
    let none = config(&[]);
    let err = resolve(&none, &network).unwrap_err();
    assert_eq!(err, LicenseError::NoAws(vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]));
    assert_eq!(
        err.to_string(),
        "no New Relic license key: NEW_RELIC_LICENSE_KEY is not set, and without AWS_ACCESS_KEY_ID, \
         AWS_SECRET_ACCESS_KEY, AWS_REGION neither Secrets Manager nor SSM can be asked"
    );
    let partial = config(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]);
    assert_eq!(resolve(&partial, &network).unwrap_err(), LicenseError::NoAws(vec!["AWS_REGION"]));
}

#[test]
fn arn_regions() {
    assert_eq!(region_of_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:nr-AbCdEf"), Some("eu-west-1"));
    assert_eq!(region_of_arn("arn:aws-cn:secretsmanager:cn-north-1:1:secret:x"), Some("cn-north-1"));
    assert_eq!(region_of_arn("nr/license"), None);
    assert_eq!(region_of_arn("arn:aws:ssm:eu-west-1:1:parameter/x"), None);
    assert_eq!(region_of_arn("arn:aws:secretsmanager::1:secret:x"), None);
}
