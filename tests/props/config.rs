//! Configuration values (`Config::from_lookup`, `duration::parse_duration`, `parse_bool`):
//! any value of any variable gives a usable configuration (durations within their range) and
//! at most one warning per variable, never a panic; every valid spelling of a boolean, a level,
//! a duration, a log selection or a tag list reads back as what was meant.

use std::collections::HashMap;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::config::{self as cfg, parse_bool, Config, Level, LogSelection};
use newrelic_lambda_extension::duration::parse_duration;

use crate::json_gen::text;
use crate::support::config;

/// Every variable `Config` reads.
const VARS: [&str; 28] = [
    cfg::ENABLED,
    cfg::LICENSE_KEY,
    cfg::LICENSE_KEY_SECRET,
    cfg::LICENSE_KEY_SSM,
    cfg::TELEMETRY_ENDPOINT,
    cfg::LOG_ENDPOINT,
    cfg::SEND_LOGS,
    cfg::SEND_FUNCTION_LOGS,
    cfg::SEND_EXTENSION_LOGS,
    cfg::SEND_PLATFORM_LOGS,
    cfg::LOG_LEVEL,
    cfg::LOGS_ENABLED,
    cfg::COLLECT_TRACE_ID,
    cfg::NR_TAGS,
    cfg::NR_ENV_DELIMITER,
    cfg::LABELS,
    cfg::DATA_COLLECTION_TIMEOUT,
    cfg::HTTP_TIMEOUT,
    cfg::SYNCHRONOUS_FLUSH,
    cfg::PIPELINE_FLUSH,
    cfg::MAX_DATA_AGE,
    cfg::PROXY,
    cfg::SSL_CERT_FILE,
    cfg::PIPE_PATH,
    cfg::RUNTIME_API,
    cfg::FUNCTION_NAME,
    cfg::REGION,
    "HTTPS_PROXY",
];

fn parse(vars: &HashMap<&str, String>) -> (Config, Vec<String>) {
    Config::from_lookup(|name| vars.get(name).cloned())
}

/// Durations the configuration accepts.
fn in_range(d: Duration) -> bool {
    d >= Duration::from_millis(1) && d <= Duration::from_secs(900)
}

/// The property of any duration text: no panic; a parsed value is no larger than the cap; the
/// configuration keeps it in range. A fixture may add the value it must read as, on a second
/// line: `= 32.407s` (`Duration`'s `Debug` form).
pub fn check_duration_text(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let (text, expected) = match text.split_once("\n= ") {
        Some((text, expected)) => (text, Some(expected.trim())),
        None => (text.as_ref(), None),
    };
    let parsed = parse_duration(text);
    if let Some(d) = parsed {
        prop_assert!(d.as_nanos() <= 1_000_000_000_000_000_000);
    }
    if let Some(expected) = expected {
        let got = parsed.map(|d| format!("{d:?}"));
        prop_assert_eq!(got.as_deref(), Some(expected), "{:?}", text);
    }
    let vars = HashMap::from([(cfg::HTTP_TIMEOUT, text.to_string())]);
    let (config, warnings) = parse(&vars);
    prop_assert!(in_range(config.http_timeout) && warnings.len() <= 1);
    Ok(())
}

/// A duration written the Go way, from its parts, and what it means.
fn duration_text() -> impl Strategy<Value = (String, Duration)> {
    let parts = (0u64..16, 0u64..60, 0u64..60, 0u64..1000);
    prop_oneof![
        parts.prop_map(|(h, m, s, ms)| {
            let mut text = String::new();
            for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
                if n > 0 {
                    text.push_str(&format!("{n}{unit}"));
                }
            }
            if text.is_empty() {
                text.push('0');
            }
            (text, Duration::from_millis(((h * 60 + m) * 60 + s) * 1000 + ms))
        }),
        // Decimal seconds and minutes with up to three fraction digits: exact in milliseconds.
        (0u64..1000, 0u64..1000, prop_oneof![Just(("s", 1u64)), Just(("m", 60))]).prop_map(
            |(whole, frac, (unit, scale))| {
                (format!("{whole}.{frac:03}{unit}"), Duration::from_millis((whole * 1000 + frac) * scale))
            }
        ),
        (0u64..900_000_000).prop_map(|us| (format!("{us}us"), Duration::from_micros(us))),
    ]
}

/// A word in any letter case, with surrounding blanks.
fn spelled(word: &'static str) -> impl Strategy<Value = String> {
    (vec(any::<bool>(), word.len()), "[ \t]{0,2}").prop_map(move |(upper, pad)| {
        let cased: String = word.chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect();
        format!("{pad}{cased}{pad}")
    })
}

fn boolean() -> impl Strategy<Value = (String, bool)> {
    let words = ["true", "1", "yes", "on", "false", "0", "no", "off"];
    prop::sample::select(words.to_vec())
        .prop_flat_map(|w| spelled(w).prop_map(move |t| (t, parse_bool(w) == Some(true))))
}

/// Pairs whose keys and values hold neither the delimiter nor `:` and are already trimmed.
fn pairs(delimiter: char) -> impl Strategy<Value = Vec<(String, String)>> {
    let part = "[a-zA-Z0-9._/-]{1,10}";
    vec((part, proptest::option::of(part)), 0..5).prop_map(move |pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .filter(|(k, v)| !k.contains(delimiter) && !v.contains(delimiter))
            .collect()
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_environment_gives_a_usable_configuration(values in vec((0..VARS.len(), text(40)), 0..12)) {
        let vars: HashMap<&str, String> = values.into_iter().map(|(i, v)| (VARS[i], v)).collect();
        let (config, warnings) = parse(&vars);
        for d in [config.data_collection_timeout, config.http_timeout, config.max_data_age] {
            prop_assert!(in_range(d), "{:?}", d);
        }
        // One warning per variable, except one per skipped entry of the list variables.
        let entries = |name: &str| vars.get(name).map_or(0, |v| v.split([',', ';']).count());
        let allowed = vars.len() + 1 + entries(cfg::SEND_LOGS) + entries(cfg::NR_TAGS) * 8 + entries(cfg::LABELS);
        prop_assert!(warnings.len() <= allowed, "{} warnings for {:?}", warnings.len(), vars);
        prop_assert!(!config.pipe_path.as_os_str().is_empty());
    }

    #[test]
    fn any_duration_text_is_safe(bytes in vec(any::<u8>(), 0..24)) {
        check_duration_text(&bytes)?;
    }

    #[test]
    fn durations_read_back(written in duration_text(), pad in "[ ]{0,2}") {
        let (text, expected) = written;
        let padded = format!("{pad}{text}{pad}");
        prop_assert_eq!(parse_duration(&padded), Some(expected), "{:?}", padded);
        check_duration_text(padded.as_bytes())?;
    }

    #[test]
    fn valid_values_read_back(
        flags in vec(boolean(), 3),
        level in prop::sample::select(vec![("error", Level::Error), ("warn", Level::Warn), ("warning", Level::Warn), ("info", Level::Info), ("debug", Level::Debug), ("trace", Level::Trace)])
            .prop_flat_map(|(word, level)| spelled(word).prop_map(move |text| (text, level))),
        timeout in duration_text().prop_filter("in range", |(_, d)| in_range(*d)),
        selection in vec(prop::sample::select(vec!["function", "extension", "platform", "FUNCTION", " Platform "]), 1..4),
    ) {
        let vars = HashMap::from([
            (cfg::ENABLED, flags[0].0.clone()),
            (cfg::COLLECT_TRACE_ID, flags[1].0.clone()),
            (cfg::LOGS_ENABLED, flags[2].0.clone()),
            (cfg::LOG_LEVEL, level.0.clone()),
            (cfg::DATA_COLLECTION_TIMEOUT, timeout.0.clone()),
            (cfg::SEND_LOGS, selection.join(",")),
        ]);
        let (config, warnings) = parse(&vars);
        prop_assert!(warnings.is_empty(), "{:?}", warnings);
        prop_assert_eq!((config.enabled, config.collect_trace_id, config.logs_enabled), (flags[0].1, flags[1].1, flags[2].1));
        prop_assert_eq!(config.log_level, level.1);
        prop_assert_eq!(config.data_collection_timeout, timeout.1);
        let has = |w: &str| selection.iter().any(|s| s.trim().eq_ignore_ascii_case(w));
        prop_assert_eq!(config.send_logs, LogSelection { function: has("function"), extension: has("extension"), platform: has("platform") });
    }

    #[test]
    fn tags_and_labels_read_back(delimiter in prop::sample::select(vec![";", ",", "|", "&&"]), tags in pairs(';'), labels in pairs(';')) {
        let tags: Vec<(String, String)> = tags.into_iter().filter(|(k, v)| !k.contains(delimiter) && !v.contains(delimiter)).collect();
        let join = |pairs: &[(String, String)], sep: &str| pairs.iter().map(|(k, v)| format!(" {k} : {v} ")).collect::<Vec<_>>().join(sep);
        let vars = HashMap::from([
            (cfg::NR_TAGS, join(&tags, delimiter)),
            (cfg::NR_ENV_DELIMITER, delimiter.to_string()),
            (cfg::LABELS, join(&labels, ";")),
        ]);
        let (config, warnings) = parse(&vars);
        prop_assert!(warnings.is_empty(), "{:?}", warnings);
        prop_assert_eq!(config.tags, tags);
        prop_assert_eq!(config.labels, labels);
    }
}
