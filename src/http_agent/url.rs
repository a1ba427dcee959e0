//! A small, strict splitter for the absolute URLs this crate is configured with (endpoint
//! overrides, proxy URLs): scheme, user info, host, port, path. It allocates nothing and never
//! panics; anything it does not understand is `None`, and the caller says why in its warning.
//! It does not percent-decode, resolve or normalise anything.

/// The parts of `scheme://[userinfo@]host[:port][path][?query]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Url<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    /// As written, brackets included for IPv6 literals (`[::1]`), as a Host header needs.
    pub host: &'a str,
    pub port: Option<u16>,
    /// Everything from the first `/` or `?` after the authority (may be empty).
    pub path_and_query: &'a str,
}

impl<'a> Url<'a> {
    /// Splits `text`; `None` without `scheme://`, with an empty host or an invalid port.
    pub fn parse(text: &'a str) -> Option<Url<'a>> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let tail = tail.split('#').next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, authority),
        };
        let (host, port_text) = if hostport.starts_with('[') {
            let close = hostport.find(']')?;
            let (host, after) = hostport.split_at(close + 1);
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        let port = match port_text {
            None | Some("") => None,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse::<u16>().ok()?),
            Some(_) => return None,
        };
        Some(Url { scheme, userinfo, host, port, path_and_query: tail })
    }

    /// The value of a `Host` header for this URL: the port only when it is not the scheme's
    /// default (what botocore signs, and what ureq would send).
    pub fn host_header(&self) -> String {
        let default = match self.scheme.to_ascii_lowercase().as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        };
        match self.port {
            Some(port) if Some(port) != default => format!("{}:{port}", self.host.to_ascii_lowercase()),
            _ => self.host.to_ascii_lowercase(),
        }
    }

    /// The path alone (no query), `/` when empty.
    pub fn path(&self) -> &'a str {
        match self.path_and_query.split('?').next() {
            Some(p) if !p.is_empty() => p,
            _ => "/",
        }
    }
}

/// `text` with any `user:password@` of a URL replaced by `***@`, for log lines. Works on
/// anything, URL or not; text without user info is returned unchanged.
pub fn mask_userinfo(text: &str) -> String {
    let (prefix, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((_, hostport)) => format!("{prefix}***@{hostport}{tail}"),
        None => text.to_string(),
    }
}
