use std::path::PathBuf;

use super::url::Url;
use super::*;

/// scheme, user info, host, port, path and query.
type Parts<'a> = (&'a str, Option<&'a str>, &'a str, Option<u16>, &'a str);

#[test]
fn url_parts() {
    #[track_caller]
    fn check(text: &str, expected: Option<Parts<'_>>) {
        let got = Url::parse(text).map(|u| (u.scheme, u.userinfo, u.host, u.port, u.path_and_query));
        assert_eq!(got, expected, "{text}");
    }
    check("https://ssm.us-east-1.amazonaws.com", Some(("https", None, "ssm.us-east-1.amazonaws.com", None, "")));
    check("http://127.0.0.1:5000/", Some(("http", None, "127.0.0.1", Some(5000), "/")));
    check("http://u:p@h:1/a?b#c", Some(("http", Some("u:p"), "h", Some(1), "/a?b")));
    check("http://u:p@w@h/", Some(("http", Some("u:p@w"), "h", None, "/")));
    check("http://[::1]:8080/x", Some(("http", None, "[::1]", Some(8080), "/x")));
    check("http://[::1]/x", Some(("http", None, "[::1]", None, "/x")));
    check("http://h:/x", Some(("http", None, "h", None, "/x")));
    check("http://h?q=1", Some(("http", None, "h", None, "?q=1")));
    for bad in [
        "h:1",
        "://h",
        "http://",
        "http://:80",
        "http://h:65536",
        "http://h:8o",
        "1http://h",
        "http://[::1",
        "http://a b",
    ] {
        check(bad, None);
    }
}

#[test]
fn host_header_and_path() {
    #[track_caller]
    fn check(text: &str, host: &str, path: &str) {
        let url = Url::parse(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!((url.host_header().as_str(), url.path()), (host, path), "{text}");
    }
    check("https://SSM.us-east-1.amazonaws.com", "ssm.us-east-1.amazonaws.com", "/");
    check("https://h:443/", "h", "/");
    check("http://h:80", "h", "/");
    check("http://h:443/p?q", "h:443", "/p");
    check("https://h:80/p", "h:80", "/p");
    check("http://127.0.0.1:5000?x", "127.0.0.1:5000", "/");
}

fn config_with(vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).0
}

#[test]
fn default_network_is_direct_with_builtin_roots() {
    let (network, warnings) = Network::from_config(&config_with(&[]));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(network.proxy.is_none() && network.roots.is_none() && network.extra_cas == 0);
    assert_eq!(network.describe(), "New Relic and AWS traffic: direct (no proxy), built-in root certificates");
}

#[test]
fn proxy_from_the_environment_variables() {
    let vars = [("https_proxy", "http://u:pw@10.0.0.1:3128"), ("NO_PROXY", "169.254.169.254")];
    let (network, warnings) = Network::from_config(&config_with(&vars));
    assert!(warnings.is_empty(), "{warnings:?}");
    let described = network.describe();
    assert!(described.contains("through proxy http://***@10.0.0.1:3128 (from HTTPS_PROXY)"), "{described}");
    assert!(!described.contains("pw") && !format!("{network:?}").contains("pw"), "{network:?}");
}

#[test]
fn an_unusable_ca_file_warns_once_and_keeps_the_builtin_roots() {
    let dir = std::env::temp_dir().join(format!("nr-ext-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing: PathBuf = dir.join("missing.pem");
    for (path, why) in [(&garbage, "contains no PEM certificate"), (&missing, "cannot be read")] {
        let config = config_with(&[("SSL_CERT_FILE", path.to_str().unwrap())]);
        let (network, warnings) = Network::from_config(&config);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with(&format!("SSL_CERT_FILE={}", path.display())), "{warnings:?}");
        assert!(warnings[0].contains(why), "{warnings:?}");
        assert!(warnings[0].ends_with("only the built-in root certificates are trusted"), "{warnings:?}");
        assert!(network.roots.is_none() && network.extra_cas == 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn extra_roots_come_after_the_builtin_ones() {
    let ca = roots::anchor_certificate(b"\x31\x00", b"\x30\x00\x03\x01\x00", None);
    let mut network = Network::default();
    network.add_roots(vec![Certificate::from_der(&ca).to_owned()]);
    let all = network.roots.clone().unwrap();
    assert_eq!(all.len(), webpki_roots::TLS_SERVER_ROOTS.len() + 1);
    assert_eq!(all.last().map(|c| c.der().to_vec()), Some(ca));
    assert_eq!(network.extra_cas, 1);
    assert!(network.describe().ends_with("built-in root certificates plus 1 from SSL_CERT_FILE"));
}

#[test]
fn failure_kinds_and_hints() {
    #[track_caller]
    fn check(err: ureq::Error, proxy: Option<&str>, bit: u8, hint: &str) {
        let (got_bit, got_hint) = classify(&err, proxy);
        assert_eq!(got_bit, bit, "{err}");
        assert!(got_hint.contains(hint), "{err}: {got_hint}");
    }
    let io = |kind, text: &str| ureq::Error::Io(std::io::Error::new(kind, text.to_string()));
    let bad_cert = io(std::io::ErrorKind::InvalidData, "invalid peer certificate: UnknownIssuer");
    check(bad_cert, None, 1, "set SSL_CERT_FILE");
    check(ureq::Error::ConnectProxyFailed("407".into()), Some("http://***@p:1"), 2, "through proxy http://***@p:1");
    check(ureq::Error::Timeout(ureq::Timeout::Global), None, 4, "");
    check(io(std::io::ErrorKind::ConnectionRefused, "refused"), None, 8, "");
}
