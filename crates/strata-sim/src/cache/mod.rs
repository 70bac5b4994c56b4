//! Demand caches over the canonical block stream (`strata sim --mode cache`).
//!
//! One trait, [`CachePolicy`], one file per member, and one conformance fixture
//! (`test_utils`) that every member passes. Every access is a lookup; a miss inserts the id
//! (after evicting, when full). Capacities are in entries (blocks of the stream's unit).
//! [`reference`] holds slow, obviously correct models that the fast policies are checked
//! against, in the tests and by `strata sim verify`.

mod arc;
mod belady;
mod list;
mod lru;
pub mod reference;
mod s3fifo;
mod twoq;
pub mod verify;

#[cfg(test)]
pub(crate) mod test_utils;

pub use arc::ArcCache;
pub use belady::Belady;
pub use lru::Lru;
pub use s3fifo::S3Fifo;
pub use twoq::TwoQ;

use std::fmt;
use std::str::FromStr;

/// The largest capacity a policy accepts, in entries: ARC keeps up to twice its capacity
/// in ids, and node links are `u32`.
pub const MAX_CAPACITY: usize = (u32::MAX / 2 - 1) as usize;

/// A demand cache over `u64` block ids.
pub trait CachePolicy: Send {
    /// The policy's name as `--policy` spells it (`lru`, `arc`, …).
    fn name(&self) -> &'static str;
    /// Looks `id` up; on a miss inserts it (evicting if full). Returns `true` on a hit.
    fn access(&mut self, id: u64) -> bool;
    /// Resident entries now; never more than [`CachePolicy::capacity`].
    fn len(&self) -> usize;
    /// Capacity in entries, as constructed.
    fn capacity(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The policies `strata sim --mode cache --policy` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PolicyKind {
    Lru,
    Arc,
    S3Fifo,
    Belady,
    TwoQ,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::Lru,
        PolicyKind::Arc,
        PolicyKind::S3Fifo,
        PolicyKind::Belady,
        PolicyKind::TwoQ,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Lru => "lru",
            PolicyKind::Arc => "arc",
            PolicyKind::S3Fifo => "s3fifo",
            PolicyKind::Belady => "belady",
            PolicyKind::TwoQ => "2q",
        }
    }

    /// Builds the policy for `capacity` entries (clamped to 1..=[`MAX_CAPACITY`]).
    /// `stream` is the whole access sequence the policy will see, in order: only Belady
    /// reads it (it needs the future); the others ignore it.
    pub fn build(self, capacity: usize, stream: &[u64]) -> Box<dyn CachePolicy> {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        match self {
            PolicyKind::Lru => Box::new(Lru::new(capacity)),
            PolicyKind::Arc => Box::new(ArcCache::new(capacity)),
            PolicyKind::S3Fifo => Box::new(S3Fifo::new(capacity)),
            PolicyKind::Belady => Box::new(Belady::new(capacity, stream)),
            PolicyKind::TwoQ => Box::new(TwoQ::new(capacity)),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown policy name; its message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cache policy {name:?} (known: lru, arc, s3fifo, belady, 2q)")]
pub struct UnknownPolicy {
    pub name: String,
}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        let alias = match wanted.as_str() {
            "s3-fifo" => "s3fifo",
            "twoq" => "2q",
            "min" | "opt" => "belady",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == alias)
            .ok_or(UnknownPolicy { name: s.to_owned() })
    }
}

/// Hit and miss counts of one replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl CacheStats {
    pub fn accesses(&self) -> u64 {
        self.hits + self.misses
    }

    /// Misses over accesses; 0 for an empty stream.
    pub fn miss_ratio(&self) -> f64 {
        if self.accesses() == 0 {
            0.0
        } else {
            self.misses as f64 / self.accesses() as f64
        }
    }
}

/// Replays `stream` through `policy`, calling `on_chunk(n)` after every `n` accesses so a
/// caller can show progress without a per-access callback.
pub fn replay(
    policy: &mut dyn CachePolicy,
    stream: &[u64],
    on_chunk: &mut dyn FnMut(u64),
) -> CacheStats {
    const CHUNK: usize = 1 << 16;
    let mut stats = CacheStats::default();
    for chunk in stream.chunks(CHUNK) {
        for &id in chunk {
            if policy.access(id) {
                stats.hits += 1;
            } else {
                stats.misses += 1;
            }
        }
        on_chunk(chunk.len() as u64);
    }
    stats
}

/// Replays `stream` through a fresh `kind` policy of `capacity` entries.
pub fn simulate(kind: PolicyKind, capacity: usize, stream: &[u64]) -> CacheStats {
    let mut policy = kind.build(capacity, stream);
    replay(policy.as_mut(), stream, &mut |_| {})
}

/// Number of distinct ids in `stream`.
pub fn unique_count(stream: &[u64]) -> usize {
    let mut seen = rustc_hash::FxHashSet::default();
    seen.reserve(stream.len() / 4);
    stream.iter().filter(|&&id| seen.insert(id)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_fail() {
        for kind in PolicyKind::ALL {
            assert_eq!(kind.name().parse::<PolicyKind>(), Ok(kind));
        }
        assert_eq!("S3-FIFO".parse::<PolicyKind>(), Ok(PolicyKind::S3Fifo));
        let err = "lfu".parse::<PolicyKind>().unwrap_err();
        assert!(err.to_string().contains("\"lfu\""), "{err}");
    }

    #[test]
    fn every_policy_passes_the_conformance_fixture() {
        for kind in PolicyKind::ALL {
            test_utils::conformance(kind);
        }
    }

    #[test]
    fn stats_count_and_ratio() {
        let stats = simulate(PolicyKind::Lru, 2, &[1, 2, 1, 3, 1, 2]);
        assert_eq!(stats, CacheStats { hits: 2, misses: 4 });
        assert!((stats.miss_ratio() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(unique_count(&[5, 5, 6, 5]), 2);
    }
}
