use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> (Config, Vec<String>) {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn defaults() {
    let (c, warnings) = config(&[]);
    assert!(warnings.is_empty());
    assert!(c.enabled && c.logs_enabled && !c.collect_trace_id);
    assert_eq!(c.license_key, None);
    assert_eq!(c.send_logs, LogSelection::default());
    assert_eq!(c.log_level, Level::Info);
    assert_eq!(c.data_collection_timeout, Duration::from_secs(10));
    assert_eq!(c.http_timeout, Duration::from_millis(2400));
    assert_eq!(c.flush_mode, FlushMode::Adaptive);
    assert_eq!(c.pipe_path, PathBuf::from("/tmp/newrelic-telemetry"));
    assert_eq!(c.function_version, "$LATEST");
}

#[test]
fn booleans_in_every_spelling() {
    for (text, expected) in [
        ("TRUE", true),
        ("1", true),
        ("Yes", true),
        ("on", true),
        ("false", false),
        ("0", false),
        ("NO", false),
        ("Off", false),
    ] {
        let (c, w) = config(&[(ENABLED, text)]);
        assert_eq!(c.enabled, expected, "{text}");
        assert!(w.is_empty());
    }
}

#[test]
fn bad_values_keep_defaults_with_one_warning_each() {
    let (c, w) = config(&[
        (ENABLED, "maybe"),
        (LOG_LEVEL, "loud"),
        (HTTP_TIMEOUT, "10"),
        (DATA_COLLECTION_TIMEOUT, "-1s"),
        (SEND_LOGS, "function,bogus"),
    ]);
    assert!(c.enabled);
    assert_eq!(c.log_level, Level::Info);
    assert_eq!(c.http_timeout, Duration::from_millis(2400));
    assert_eq!(c.data_collection_timeout, Duration::from_secs(10));
    assert!(c.send_logs.function && !c.send_logs.platform);
    assert_eq!(w.len(), 5, "{w:#?}");
    assert!(w.iter().any(|m| m.contains(ENABLED) && m.contains("maybe")));
}

#[test]
fn license_key_is_never_in_debug_output() {
    let (c, _) = config(&[(LICENSE_KEY, "eu01xxSECRETKEYNRAL")]);
    assert_eq!(c.license_key, Some(LicenseKey("eu01xxSECRETKEYNRAL".into())));
    assert!(!format!("{c:?}").contains("SECRETKEY"));
}

#[test]
fn empty_values_count_as_unset() {
    let (c, w) = config(&[(LICENSE_KEY, "  "), (LOG_LEVEL, "")]);
    assert_eq!(c.license_key, None);
    assert!(w.is_empty());
}

#[test]
fn log_selection_list_wins_over_flags() {
    let (c, _) = config(&[(SEND_LOGS, "Platform, EXTENSION"), (SEND_FUNCTION_LOGS, "true")]);
    assert_eq!(c.send_logs, LogSelection { function: false, extension: true, platform: true });
    let (c, _) = config(&[(SEND_LOGS, "all")]);
    assert_eq!(c.send_logs, LogSelection { function: true, extension: true, platform: true });
    let (c, _) = config(&[(SEND_FUNCTION_LOGS, "true")]);
    assert_eq!(c.send_logs, LogSelection { function: true, extension: false, platform: false });
}

#[test]
fn flush_overrides() {
    assert_eq!(config(&[(SYNCHRONOUS_FLUSH, "true")]).0.flush_mode, FlushMode::Synchronous);
    assert_eq!(config(&[(PIPELINE_FLUSH, "true")]).0.flush_mode, FlushMode::Background);
    let (c, w) = config(&[(SYNCHRONOUS_FLUSH, "true"), (PIPELINE_FLUSH, "true")]);
    assert_eq!((c.flush_mode, w.len()), (FlushMode::Synchronous, 1));
}

#[test]
fn tags_and_labels() {
    let (c, w) = config(&[(NR_TAGS, "env:prod;team:core;broken;:novalue"), (LABELS, "owner:me;;x")]);
    assert_eq!(c.tags, vec![("env".into(), "prod".into()), ("team".into(), "core".into())]);
    assert_eq!(c.labels, vec![("owner".into(), "me".into())]);
    assert_eq!(w.len(), 3, "{w:#?}");
    let (c, _) = config(&[(NR_TAGS, "a:1,b:2"), (NR_ENV_DELIMITER, ",")]);
    assert_eq!(c.tags.len(), 2);
}
