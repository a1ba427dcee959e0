//! Name resolution for New Relic (and proxy) connections. ureq's own resolver starts a thread
//! for every lookup that has a timeout, and it looks up the host of every request, pooled
//! connection or not: one thread start and exit per delivery, the largest kernel cost of an
//! invocation (strace: one `clone` per request). Here an IP address is used as it is, and a
//! host name's addresses are kept for [`TTL`] after ureq's resolver found them.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long found addresses are used before the name is looked up again. New Relic's and
/// AWS's records live longer; a connection that fails on a stale address is retried anyway.
pub const TTL: Duration = Duration::from_secs(30);
/// Names kept at once (New Relic's two hosts, a proxy, the AWS endpoints).
const MAX_NAMES: usize = 8;

#[derive(Default)]
pub struct CachingResolver {
    inner: DefaultResolver,
    found: Mutex<Vec<(String, Instant, ResolvedSocketAddrs)>>,
}

impl fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingResolver").finish_non_exhaustive()
    }
}

impl Resolver for CachingResolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => DefaultResolver::host_and_port(scheme, authority),
            _ => None,
        };
        let Some(key) = key else { return self.inner.resolve(uri, config, timeout) };
        if let Ok(addr) = key.parse::<SocketAddr>() {
            let mut one = self.empty();
            one.push(addr);
            return Ok(one);
        }
        let now = Instant::now();
        let mut found = self.found.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        found.retain(|(_, at, _)| now.saturating_duration_since(*at) < TTL);
        if let Some((_, _, addrs)) = found.iter().find(|(name, _, _)| *name == key) {
            return Ok(addrs.clone());
        }
        drop(found);
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let mut found = self.found.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if found.len() >= MAX_NAMES {
            found.remove(0);
        }
        found.push((key, now, addrs.clone()));
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::time::Duration as UreqDuration;

    fn resolve(resolver: &CachingResolver, uri: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = uri.parse().expect("uri");
        let config = Config::default();
        let timeout = NextTimeout { after: UreqDuration::Exact(Duration::from_secs(2)), ..NextTimeout::default() };
        resolver.resolve(&uri, &config, timeout).map(|a| a.iter().copied().collect())
    }

    #[test]
    fn addresses_are_used_as_they_are() {
        let r = CachingResolver::default();
        assert_eq!(resolve(&r, "http://127.0.0.1:8080/x").unwrap(), vec!["127.0.0.1:8080".parse().unwrap()]);
        assert_eq!(resolve(&r, "https://10.1.2.3/x").unwrap(), vec!["10.1.2.3:443".parse().unwrap()]);
        assert_eq!(resolve(&r, "http://[::1]:9/x").unwrap(), vec!["[::1]:9".parse().unwrap()]);
        assert!(r.found.lock().unwrap().is_empty(), "nothing looked up, nothing kept");
    }

    #[test]
    fn names_are_looked_up_once_and_kept() {
        let r = CachingResolver::default();
        let first = resolve(&r, "http://localhost:8080/x").unwrap();
        assert!(first.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()), "{first:?}");
        assert_eq!(r.found.lock().unwrap().len(), 1);
        assert_eq!(resolve(&r, "http://localhost:8080/y").unwrap(), first);
        assert_eq!(r.found.lock().unwrap().len(), 1, "the second request used what was found");
        // Another port is another entry.
        resolve(&r, "http://localhost:9090/x").unwrap();
        assert_eq!(r.found.lock().unwrap().len(), 2);
    }
}
