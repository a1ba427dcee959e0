//! Small shared helpers for the simulators: a seedable xorshift RNG (so fault
//! plans and workloads replay exactly from a seed), random ids shaped like
//! UUID v4, epoch-millisecond time, gzip helpers and the idle scheduling class
//! for a thread. Nothing here is cryptographic and nothing keeps global state.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// xorshift64* : tiny, fast, deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator replaying the same sequence for the same seed (0 is remapped).
    pub fn seeded(seed: u64) -> Rng {
        Rng { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }

    /// A generator seeded from the OS-randomised std hasher keys.
    pub fn from_entropy() -> Rng {
        Rng::seeded(entropy())
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Lowercase hex of `n` random bytes.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| format!("{:02x}", self.next_u64() as u8)).collect()
    }

    /// An id shaped like a UUID v4 (`8-4-4-4-12` hex, version and variant set).
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let a = (a & !0xF000) | 0x4000; // version 4 in bits 12..16
        let b = (b & !(0xC << 60)) | (0x8 << 60); // RFC 4122 variant
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

/// 64 random bits without a global: every `RandomState` gets fresh keys.
fn entropy() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// A fresh random UUID-v4-shaped id.
pub fn uuid_v4() -> String {
    Rng::from_entropy().uuid()
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Gzip at the default level.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Largest decompressed size accepted, so a gzip bomb ends in an error.
pub const GUNZIP_LIMIT: u64 = 256 * 1024 * 1024;

/// Gunzips (all members), failing on corrupt input or past `GUNZIP_LIMIT`.
pub fn gunzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).take(GUNZIP_LIMIT + 1).read_to_end(&mut out)?;
    if out.len() as u64 > GUNZIP_LIMIT {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "gunzip output too large"));
    }
    Ok(out)
}

/// The ledger of a queue that drops its oldest items when full and sends in jobs taken from
/// its front: given the sorted numbers of the items that never arrived (numbered in the order
/// they were produced), checks that the items lost were the oldest. Everything newer than the
/// newest lost item must have arrived, and of the older ones only one job's worth (at most
/// `job` items, in one run) may have: the job that was out of the queue, being sent, while the
/// queue dropped its oldest. That job can be the first one (the run is at the start) or a later
/// one, taken after older items had been dropped already (the run is between two lost runs).
pub fn lost_oldest_first(lost: &[usize], job: usize) -> Result<(), String> {
    let Some(&newest) = lost.last() else { return Ok(()) };
    let arrived: Vec<usize> = {
        let mut lost = lost.iter().peekable();
        (0..=newest)
            .filter(|n| {
                while lost.next_if(|&&l| l < *n).is_some() {}
                lost.next_if_eq(&n).is_none()
            })
            .collect()
    };
    let (Some(&first), Some(&last)) = (arrived.first(), arrived.last()) else { return Ok(()) };
    if last + 1 - first != arrived.len() {
        return Err(format!(
            "items older than the newest lost one ({newest}) arrived in more than one run: {:?}…",
            &arrived[..arrived.len().min(10)]
        ));
    }
    if arrived.len() > job {
        return Err(format!(
            "{} items ({first}..={last}) older than the newest lost one ({newest}) arrived: more than one job's worth ({job})",
            arrived.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rng_replays() {
        let (mut a, mut b) = (Rng::seeded(42), Rng::seeded(42));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::seeded(1).next_u64(), Rng::seeded(2).next_u64());
        let u = Rng::seeded(0).unit();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn gzip_round_trip_and_garbage() {
        assert_eq!(gunzip(&gzip(b"hello")).ok().as_deref(), Some(&b"hello"[..]));
        assert!(gunzip(b"not gzip").is_err());
    }

    #[test]
    fn uuid_shape() {
        let id = uuid_v4();
        let parts: Vec<&str> = id.split('-').collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, vec![8, 4, 4, 4, 12], "{id}");
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')), "{id}");
        assert_ne!(uuid_v4(), uuid_v4());
    }

    #[test]
    fn lost_oldest_first_ledgers() {
        assert_eq!(lost_oldest_first(&[], 3), Ok(()));
        assert_eq!(lost_oldest_first(&[0, 1, 2], 3), Ok(()), "the oldest lost, nothing in flight");
        assert_eq!(lost_oldest_first(&[3, 4, 5], 3), Ok(()), "the first job went through");
        assert_eq!(lost_oldest_first(&[0, 1, 5, 6], 3), Ok(()), "a later job went through");
        assert!(lost_oldest_first(&[4, 5], 3).is_err(), "four older ones arrived");
        assert!(lost_oldest_first(&[0, 2, 4], 3).is_err(), "two runs arrived");
        assert!(lost_oldest_first(&[1, 3], 3).is_err(), "two runs arrived, one at the start");
    }
}
