//! `strata-control`: the control plane of a Strata cluster, as pure logic over a shared
//! [`MetaStore`] and a [`Clock`] — no sockets. The CLI and REST layers call it.
//!
//! - [`servers`]: registration, heartbeats through store leases, health.
//! - [`leases`]: volume leases with tier preferences and a per-volume generation that fences
//!   stale holders; renewal reports cost and suggests re-tiering.
//! - [`reservations`]: soft reservations, pre-allocation and capacity accounting with an
//!   operator overcommit ratio.
//! - [`placement`]: deterministic server scoring with a per-server breakdown.
//! - [`partitions`]: partition maps of volumes spread over several servers.
//!
//! Every multi-record change is one [`MetaStore::transact`] guarded by comparisons on the
//! records it read, so several servers sharing one etcd never double-book capacity.

pub mod error;
mod keys;
pub mod leases;
pub mod model;
pub mod partitions;
pub mod placement;
pub mod reservations;
pub mod servers;
pub mod testing;

pub use error::{ControlError, ControlErrorKind, Result};
pub use leases::{
    AcquireOutcome, AcquireRequest, GenerationWatch, RenewReport, RetierSuggestion, TierCost,
};
pub use model::{
    Health, LeaseRecord, OvercommitEvent, Reservation, ReservationStatus, ServerSpec, ServerStatus,
    TierMix, TierSpec, TierUsage, WorkloadSummary, api_host_port, api_url,
};
pub use partitions::{
    Partition, PartitionMap, PartitionMapState, PartitionedVolumeSpec, split_ranges,
};
pub use placement::{ClusterView, PlacementRequest, ScoreBreakdown, ScoredServer};

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use strata_core::Clock;
use strata_meta::{LeaseId, MetaStore};

/// Operator settings of the control plane.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlConfig {
    /// How much of a tier's capacity may be promised in total (≥ 1; 1 = never borrow
    /// reserved space). Borrowing beyond free space is logged as an [`OvercommitEvent`].
    pub overcommit_ratio: f64,
    /// Heartbeat TTL of servers: a server silent this long is down.
    pub server_ttl: Duration,
    /// How often an optimistic transaction is retried under contention before giving up.
    pub max_retries: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            overcommit_ratio: 1.0,
            server_ttl: Duration::from_secs(10),
            max_retries: 64,
        }
    }
}

impl ControlConfig {
    pub fn with_overcommit_ratio(mut self, ratio: f64) -> Self {
        self.overcommit_ratio = ratio;
        self
    }

    pub fn with_server_ttl(mut self, ttl: Duration) -> Self {
        self.server_ttl = ttl;
        self
    }
}

/// At most this many accounting records are cached (about 100 bytes each).
const USAGE_CACHE_ENTRIES: usize = 1 << 16;

/// The control plane over one store. Cheap to share behind an `Arc`; every method is
/// blocking and safe to call from many threads and many processes at once.
#[derive(Debug)]
pub struct ControlPlane {
    store: Arc<dyn MetaStore>,
    clock: Arc<dyn Clock>,
    config: ControlConfig,
    /// Heartbeat leases of the servers registered through this instance.
    heartbeats: Mutex<HashMap<String, LeaseId>>,
    /// The accounting records (`usage/…`) as this instance last read or wrote them: a
    /// guess that spares a store read, checked by the transaction that uses it.
    usage_cache: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl ControlPlane {
    pub fn new(store: Arc<dyn MetaStore>, clock: Arc<dyn Clock>, config: ControlConfig) -> Self {
        Self {
            store,
            clock,
            config,
            heartbeats: Mutex::new(HashMap::new()),
            usage_cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &Arc<dyn MetaStore> {
        &self.store
    }

    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    fn cached_usage(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.usage_cache.lock().get(key).cloned()
    }

    fn remember_usage(&self, key: Vec<u8>, raw: Vec<u8>) {
        let mut cache = self.usage_cache.lock();
        // One record per server and tier; the bound only matters after many servers left.
        if cache.len() >= USAGE_CACHE_ENTRIES && !cache.contains_key(&key) {
            cache.clear();
        }
        cache.insert(key, raw);
    }

    fn forget_usage(&self, key: &[u8]) {
        self.usage_cache.lock().remove(key);
    }

    fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }
}
