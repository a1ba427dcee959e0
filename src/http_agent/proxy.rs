//! Which proxy New Relic and AWS API traffic goes through (newrelic.md §9):
//! `NEW_RELIC_LAMBDA_EXTENSION_PROXY` (http, https or socks5) if set and usable, otherwise
//! the first of `HTTPS_PROXY`, `HTTP_PROXY` (either case) with `NO_PROXY` exemptions,
//! otherwise none. The Lambda APIs never use this (they build their own agent).
//!
//! It turns the text into a `ureq::Proxy` and a masked form for log lines; the credentials
//! of a proxy URL never leave this module in clear text (only inside the `ureq::Proxy`).

use crate::config::{Config, PROXY};

use super::url::{mask_userinfo, Url};

/// A proxy to use, and how to show it.
#[derive(Clone)]
pub struct ProxySetting {
    pub proxy: ureq::Proxy,
    /// The URL with its credentials replaced by `***` (safe to log).
    pub shown: String,
    /// The variable it came from.
    pub origin: &'static str,
}

impl std::fmt::Debug for ProxySetting {
    // ureq's own Debug could show the user name: only the masked form is ever printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxySetting({} from {})", self.shown, self.origin)
    }
}

/// The proxy for New Relic and AWS traffic, and the warnings about unusable settings.
pub fn choose(config: &Config) -> (Option<ProxySetting>, Vec<String>) {
    let mut warnings = Vec::new();
    if let Some(text) = &config.proxy {
        match parse(PROXY, text, None) {
            Ok(setting) => return (Some(setting), warnings),
            Err(why) => warnings
                .push(format!("{PROXY}={} is not a usable proxy URL ({why}); it is ignored", mask_userinfo(text))),
        }
    }
    let candidates = [("HTTPS_PROXY", &config.https_proxy), ("HTTP_PROXY", &config.http_proxy)];
    for (origin, value) in candidates {
        let Some(text) = value else { continue };
        match parse(origin, text, config.no_proxy.as_deref()) {
            Ok(setting) => return (Some(setting), warnings),
            Err(why) => warnings
                .push(format!("{origin}={} is not a usable proxy URL ({why}); it is ignored", mask_userinfo(text))),
        }
    }
    (None, warnings)
}

/// Parses one proxy URL (`http://`, `https://`, `socks5://`, `socks5h://`; no scheme means
/// `http://`). `no_proxy` is a comma-separated list of exempt hosts (`NO_PROXY` syntax).
pub fn parse(origin: &'static str, text: &str, no_proxy: Option<&str>) -> Result<ProxySetting, String> {
    let text = text.trim();
    let with_scheme;
    let full = if text.contains("://") {
        text
    } else {
        with_scheme = format!("http://{text}");
        &with_scheme
    };
    let url = Url::parse(full).ok_or("expected scheme://[user:password@]host[:port]")?;
    let protocol = match url.scheme.to_ascii_lowercase().as_str() {
        "http" => ureq::ProxyProtocol::Http,
        "https" => ureq::ProxyProtocol::Https,
        "socks5" | "socks" => ureq::ProxyProtocol::Socks5,
        "socks5h" => ureq::ProxyProtocol::Socks5h,
        other => return Err(format!("unsupported scheme {other:?}; use http, https or socks5")),
    };
    let mut builder = ureq::Proxy::builder(protocol).host(url.host);
    if let Some(port) = url.port {
        builder = builder.port(port);
    }
    if let Some(userinfo) = url.userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        // ureq encodes what it is given: hand it the decoded form, exactly once.
        builder = builder.username(&percent_decode(user).ok_or("the user name is not valid percent-encoded UTF-8")?);
        if let Some(password) = password {
            builder =
                builder.password(&percent_decode(password).ok_or("the password is not valid percent-encoded UTF-8")?);
        }
    }
    for entry in no_proxy.unwrap_or("").split(',').map(str::trim).filter(|e| !e.is_empty()) {
        builder = builder.no_proxy(entry);
    }
    let proxy = builder.build().map_err(|e| e.to_string())?;
    Ok(ProxySetting { proxy, shown: mask_userinfo(full), origin })
}

/// `%XX` decoding; `None` on a malformed escape or invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(value);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(proxy: Option<&str>, https: Option<&str>, http: Option<&str>, no_proxy: Option<&str>) -> Config {
        let (mut config, _) = Config::from_lookup(|_| None);
        config.proxy = proxy.map(String::from);
        config.https_proxy = https.map(String::from);
        config.http_proxy = http.map(String::from);
        config.no_proxy = no_proxy.map(String::from);
        config
    }

    #[test]
    fn parses_and_masks() {
        #[track_caller]
        fn check(text: &str, protocol: ureq::ProxyProtocol, host: &str, port: u16, user: Option<&str>, shown: &str) {
            let s = parse(PROXY, text, None).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.proxy.protocol(), protocol, "{text}");
            assert_eq!(s.proxy.host(), host, "{text}");
            assert_eq!(s.proxy.port(), port, "{text}");
            assert_eq!(s.proxy.username(), user, "{text}");
            assert_eq!(s.shown, shown, "{text}");
            assert!(!format!("{s:?}").contains("s3cr"), "{s:?}");
        }
        use ureq::ProxyProtocol::*;
        check("http://10.0.0.1:3128", Http, "10.0.0.1", 3128, None, "http://10.0.0.1:3128");
        check("proxy.internal:8080", Http, "proxy.internal", 8080, None, "http://proxy.internal:8080");
        check("http://bob:s3cr%40t@p:3128", Http, "p", 3128, Some("bob"), "http://***@p:3128");
        check(
            "socks5://al%20ice:s3cr@127.0.0.1:1080",
            Socks5,
            "127.0.0.1",
            1080,
            Some("al ice"),
            "socks5://***@127.0.0.1:1080",
        );
        check("socks5h://h", Socks5h, "h", 1080, None, "socks5h://h");
        check("HTTPS://h:8443/", Https, "h", 8443, None, "HTTPS://h:8443/");
        let decoded = parse(PROXY, "http://bob:s3cr%40t@p:3128", None).map(|s| s.proxy.password().map(String::from));
        assert_eq!(decoded, Ok(Some("s3cr@t".to_string())));
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for text in [
            "ftp://h:21",
            "http://",
            "http://h:99999",
            "http://h:port",
            "http://u:%zz@h",
            "http://u:%ff@h",
            "http://u:%+f@h",
        ] {
            assert!(parse(PROXY, text, None).is_err(), "{text} should be rejected");
        }
    }

    #[test]
    fn choice_order_and_no_proxy() {
        let pick = |c: &Config| choose(c).0.map(|s| (s.origin, s.shown));
        let both = config(Some("http://nr:1"), Some("http://s:2"), Some("http://p:3"), None);
        assert_eq!(pick(&both), Some((PROXY, "http://nr:1".to_string())));
        let env = config(None, Some("http://s:2"), Some("http://p:3"), None);
        assert_eq!(pick(&env), Some(("HTTPS_PROXY", "http://s:2".to_string())));
        let http_only = config(None, None, Some("http://p:3"), None);
        assert_eq!(pick(&http_only), Some(("HTTP_PROXY", "http://p:3".to_string())));
        assert_eq!(pick(&config(None, None, None, None)), None);

        let exempt = config(None, Some("http://s:2"), None, Some("localhost, .internal,10.1.2.3"));
        let proxy = choose(&exempt).0.map(|s| s.proxy);
        let is_exempt = |uri: &str| proxy.as_ref().is_some_and(|p| p.is_no_proxy(&uri.parse().unwrap()));
        assert!(is_exempt("https://localhost/x"));
        assert!(is_exempt("https://api.internal/x"));
        assert!(is_exempt("http://10.1.2.3:80/"));
        assert!(!is_exempt("https://log-api.newrelic.com/log/v1"));
    }

    #[test]
    fn a_bad_explicit_proxy_warns_masked_and_falls_back() {
        let c = config(Some("gopher://bob:s3cr@h:1"), Some("http://s:2"), None, None);
        let (chosen, warnings) = choose(&c);
        assert_eq!(chosen.map(|s| s.origin), Some("HTTPS_PROXY"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("gopher://***@h:1") && warnings[0].contains("unsupported scheme"), "{warnings:?}");
        assert!(!warnings[0].contains("s3cr") && !warnings[0].contains("bob"), "{warnings:?}");
    }

    #[test]
    fn masking_any_text() {
        assert_eq!(mask_userinfo("http://u:p@h:1/x?y@z"), "http://***@h:1/x?y@z");
        assert_eq!(mask_userinfo("u:p@h:1"), "***@h:1");
        assert_eq!(mask_userinfo("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(mask_userinfo(""), "");
    }
}
