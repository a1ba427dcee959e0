//! The only module that talks to New Relic: gzip, `ureq` POST, retries within a deadline,
//! 413 splitting and the per-request size limit. Returns what was delivered, what must stay
//! queued and what was dropped, by reason.
//!
//! It never decides *what* to send or *when* (that is the pipeline's), never encodes a body
//! (`newrelic.rs`) and never decides what is retryable (`retry.rs`). It never sleeps past the
//! deadline it is given, and it never prints the license key.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::http_agent::{self, Network};
use crate::newrelic::{self, Context, TelemetryEvent};
use crate::retry::{self, Verdict, XorShift};

mod gzip;

pub use gzip::{gzip, gzip_into, GZIP_LEVEL, STORE_LOGS_BELOW, STORE_TELEMETRY_BELOW};

/// New Relic's limit on one request body, compressed (`newrelic.md` §3, §6).
pub const MAX_COMPRESSED_BYTES: usize = 1_000_000;

/// Idle pooled connections older than this are not reused: a connection that sat through a
/// Lambda freeze is likely dead on the server side, and a fresh one is cheaper than a failure.
const POOL_IDLE_AGE: Duration = Duration::from_secs(2);
/// One flush sends a handful of requests to at most two hosts.
const POOL_SIZE: usize = 2;
/// An attempt with less time than this left cannot finish; the data stays queued instead.
const MIN_ATTEMPT: Duration = Duration::from_millis(10);
/// Response bodies are read (so the connection can be reused) up to this size, then ignored.
const RESPONSE_BODY_LIMIT: u64 = 64 * 1024;

/// Everything the sender needs, built once from the configuration.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub telemetry_url: String,
    pub log_url: String,
    pub license_key: String,
    pub user_agent: String,
    /// Per-request timeout (`NEW_RELIC_HTTP_TIMEOUT`).
    pub http_timeout: Duration,
    /// Proxy and TLS roots (`http_agent.rs`).
    pub network: Network,
}

/// Why data was dropped. Every drop is counted under one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// New Relic answered this status, which no retry can fix: a 4xx other than 408/413/429,
    /// or a 1xx/3xx (redirects are not followed).
    Rejected(u16),
    /// A single event still rejected with 413 (or larger than the request limit).
    TooLarge,
    /// The byte-bounded queue was full; the oldest data went first.
    QueueFull,
    /// Still undelivered when the SHUTDOWN deadline came.
    ShutdownDeadline,
}

/// The result of one delivery attempt of a set of events.
#[derive(Debug, Default)]
pub struct Outcome {
    pub delivered: usize,
    /// Not delivered yet (retryable failure, budget or deadline reached): keep them queued.
    pub requeue: Vec<TelemetryEvent>,
    pub dropped: Vec<(DropReason, usize)>,
    /// HTTP requests made, and how many of them were retries.
    pub requests: u32,
    pub retries: u32,
}

impl Outcome {
    /// Adds to the count of `reason`, keeping one entry per reason.
    fn drop_events(&mut self, reason: DropReason, count: usize) {
        match self.dropped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += count,
            None => self.dropped.push((reason, count)),
        }
    }
}

/// How one body fared after all its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// 413: the caller splits what it sent, or drops it if it cannot be split.
    TooLarge,
    /// A status no retry can fix; already warned about (once per status).
    Rejected(u16),
    /// Retryable failure until the deadline, or the request could not be made: keep it queued.
    Undelivered,
}

/// [`Delivery`] plus what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostResult {
    pub delivery: Delivery,
    pub requests: u32,
    pub retries: u32,
}

/// Request buffers a thread keeps between requests at most; a larger one is freed after use.
const KEEP_BUFFER_BYTES: usize = 512 * 1024;

thread_local! {
    /// The JSON and gzip buffers of this thread's requests, reused: a body of a busy function's
    /// batch is a few hundred KB, which the allocator would map and unmap for every request
    /// (with a 50 ms collector, those requests lined up with the slowest invocations).
    static BUFFERS: std::cell::Cell<(String, Vec<u8>)> = const { std::cell::Cell::new((String::new(), Vec::new())) };
}

/// Runs `with` on this thread's request buffers, keeping them for the next request unless
/// they grew past [`KEEP_BUFFER_BYTES`].
fn with_buffers<T>(with: impl FnOnce(&mut String, &mut Vec<u8>) -> T) -> T {
    let (mut json, mut gz) = BUFFERS.take();
    let result = with(&mut json, &mut gz);
    if json.capacity() > KEEP_BUFFER_BYTES {
        json = String::new();
    }
    if gz.capacity() > KEEP_BUFFER_BYTES {
        gz = Vec::new();
    }
    BUFFERS.set((json, gz));
    result
}

/// What became of one chunk of events in [`Sender::send_telemetry`].
enum Attempt {
    /// The body could not be built: the events stay queued.
    NotEncoded,
    /// Over the compressed limit with more than one event: split first.
    TooLarge,
    Posted(PostResult),
}

pub struct Sender {
    config: SenderConfig,
    agent: ureq::Agent,
    /// xorshift state for backoff jitter; a lost update between threads only repeats a jitter.
    jitter: AtomicU64,
    /// Bit per status already warned about (statuses above 511 share the last bit).
    warned: [AtomicU64; 8],
}

impl Sender {
    pub fn new(config: SenderConfig) -> Sender {
        // Proxy and roots come from `http_agent` (NEW_RELIC_LAMBDA_EXTENSION_PROXY, else
        // HTTPS_PROXY/HTTP_PROXY/NO_PROXY; SSL_CERT_FILE); ureq never reads the environment.
        let agent_config = config
            .network
            .configure(ureq::Agent::config_builder())
            // Statuses are answers to classify (retry.rs), not errors.
            .http_status_as_error(false)
            .timeout_global(Some(config.http_timeout))
            // A POST body is never re-sent somewhere else behind our back (see retry.rs).
            .max_redirects(0)
            .max_idle_age(POOL_IDLE_AGE)
            .max_idle_connections(POOL_SIZE)
            .max_idle_connections_per_host(POOL_SIZE)
            .user_agent(config.user_agent.as_str())
            // Transport failures are retried and counted here; this says *why*, once per kind.
            .middleware(http_agent::failure_log("New Relic", &config.network))
            .build();
        Sender {
            agent: crate::thaw::agent(agent_config),
            config,
            jitter: AtomicU64::new(XorShift::new(random_seed()).next_u64()),
            warned: Default::default(),
        }
    }

    /// Delivers `events` (split into requests of at most [`MAX_COMPRESSED_BYTES`] compressed),
    /// retrying retryable failures until `deadline`. Blocking; returns by `deadline` (plus the
    /// scheduling slack of one socket operation), since every attempt's timeout is cut to it.
    pub fn send_telemetry(&self, ctx: &Context, events: Vec<TelemetryEvent>, deadline: Instant) -> Outcome {
        let mut out = Outcome::default();
        // Chunks still to send, the next one last; kept in event order so requeue is ordered.
        let mut todo = vec![events];
        let mut give_up = false;
        while let Some(chunk) = todo.pop() {
            if chunk.is_empty() {
                continue;
            }
            if give_up || Instant::now() >= deadline {
                out.requeue.extend(chunk);
                continue;
            }
            let attempt = with_buffers(|json, body| {
                newrelic::encode_telemetry_into(ctx, &chunk, json);
                match gzip_into(json.as_bytes(), STORE_TELEMETRY_BELOW, body) {
                    Err(_) => Attempt::NotEncoded,
                    Ok(()) if body.len() > MAX_COMPRESSED_BYTES && chunk.len() > 1 => Attempt::TooLarge,
                    Ok(()) => Attempt::Posted(self.post_compressed(&self.config.telemetry_url, body, deadline)),
                }
            });
            let result = match attempt {
                Attempt::NotEncoded => {
                    out.requeue.extend(chunk);
                    continue;
                }
                Attempt::TooLarge => {
                    push_halves(&mut todo, chunk);
                    continue;
                }
                Attempt::Posted(result) => result,
            };
            out.requests += result.requests;
            out.retries += result.retries;
            match result.delivery {
                Delivery::Delivered => out.delivered += chunk.len(),
                Delivery::TooLarge if chunk.len() > 1 => push_halves(&mut todo, chunk),
                Delivery::TooLarge => out.drop_events(DropReason::TooLarge, 1),
                Delivery::Rejected(status) => out.drop_events(DropReason::Rejected(status), chunk.len()),
                Delivery::Undelivered => {
                    // The endpoint is unhealthy or the time is up: don't spend more on the rest.
                    give_up = true;
                    out.requeue.extend(chunk);
                }
            }
        }
        out
    }

    /// Sends one already-encoded Log API body (gzip + retries); the caller splits on
    /// [`Delivery::TooLarge`].
    pub fn send_logs(&self, json: &[u8], deadline: Instant) -> PostResult {
        self.post_gzip(&self.config.log_url, json, STORE_LOGS_BELOW, deadline)
    }

    /// gzip + POST + retries until `deadline`. Sends whatever size it is given.
    pub fn post_gzip(&self, url: &str, json: &[u8], store_below: usize, deadline: Instant) -> PostResult {
        with_buffers(|_, body| match gzip_into(json, store_below, body) {
            Ok(()) => self.post_compressed(url, body, deadline),
            Err(_) => PostResult { delivery: Delivery::Undelivered, requests: 0, retries: 0 },
        })
    }

    /// POSTs a gzip body, retrying per `retry.rs`. Never sleeps past `deadline` and never
    /// starts an attempt whose timeout would end after it.
    fn post_compressed(&self, url: &str, body: &[u8], deadline: Instant) -> PostResult {
        let mut result = PostResult { delivery: Delivery::Undelivered, requests: 0, retries: 0 };
        let mut attempt = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining < MIN_ATTEMPT {
                return result;
            }
            result.requests += 1;
            result.retries += u32::from(attempt > 0);
            let after = match self.post_once(url, body, remaining.min(self.config.http_timeout)) {
                Verdict::Retry { after } => after,
                Verdict::Hold => return result,
                Verdict::Delivered => return PostResult { delivery: Delivery::Delivered, ..result },
                Verdict::Split => return PostResult { delivery: Delivery::TooLarge, ..result },
                Verdict::Drop(status) => {
                    self.warn_rejected(status);
                    return PostResult { delivery: Delivery::Rejected(status), ..result };
                }
            };
            // Retry-After is honoured, but never shortens our own backoff.
            let backoff = retry::backoff(attempt, self.next_jitter());
            let wait = after.map_or(backoff, |after| after.max(backoff));
            // A wait that leaves no room for an attempt before the deadline is not worth sleeping.
            match Instant::now().checked_add(wait + MIN_ATTEMPT) {
                Some(next) if next <= deadline => std::thread::sleep(wait),
                _ => return result,
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// One POST with the given timeout, classified.
    fn post_once(&self, url: &str, body: &[u8], timeout: Duration) -> Verdict {
        let sent = self
            .agent
            .post(url)
            .header(newrelic::HEADER_LICENSE_KEY, self.config.license_key.as_str())
            .header(newrelic::HEADER_CONTENT_TYPE, newrelic::CONTENT_TYPE_JSON)
            .header(newrelic::HEADER_CONTENT_ENCODING, newrelic::CONTENT_ENCODING_GZIP)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body);
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                // Read the (small) body so the connection can return to the pool; its content
                // and any error reading it do not change the verdict.
                let _ = response.into_body().with_config().limit(RESPONSE_BODY_LIMIT).read_to_vec();
                retry::classify_status(status, retry_after.as_deref())
            }
            Err(err) => retry::classify_transport(&err),
        }
    }

    fn next_jitter(&self) -> u64 {
        let mut rng = XorShift::new(self.jitter.load(Ordering::Relaxed));
        let value = rng.next_u64();
        self.jitter.store(value, Ordering::Relaxed);
        value
    }

    /// True the first time `status` is seen by this sender.
    fn first_time(&self, status: u16) -> bool {
        let index = usize::from(status.min(511));
        let bit = 1u64 << (index % 64);
        self.warned.get(index / 64).is_some_and(|word| word.fetch_or(bit, Ordering::Relaxed) & bit == 0)
    }

    fn warn_rejected(&self, status: u16) {
        if !self.first_time(status) {
            return;
        }
        let hint = match status {
            401 | 403 => " (check the license key)",
            300..=399 => " (redirects are not followed: check the endpoint override)",
            _ => "",
        };
        crate::warn!(
            "New Relic answered {status}{hint}; the data is dropped and counted. Later {status}s are not logged."
        );
    }
}

/// A per-process seed for jitter: std's randomly keyed hasher over the pid and the clock, so
/// sandboxes retrying together do not retry in lockstep.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    hasher.finish()
}

/// Splits `chunk` in two and schedules both, first half first.
fn push_halves(todo: &mut Vec<Vec<TelemetryEvent>>, mut chunk: Vec<TelemetryEvent>) {
    let second = chunk.split_off(chunk.len() / 2);
    todo.push(second);
    todo.push(chunk);
}

#[cfg(test)]
mod tests;
