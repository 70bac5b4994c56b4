//! Fixtures for tests and benchmarks: servers with given tiers, tier mixes, and a control
//! plane over an in-memory store driven by a manual clock.

use crate::{ControlConfig, ControlPlane, ServerSpec, TierMix, TierSpec};
use std::sync::Arc;
use std::time::Duration;
use strata_core::{DeviceProfile, ManualClock, TierKind};
use strata_meta::{MemoryStore, MetaStore};

pub const GIB: u64 = 1 << 30;

/// A tier of `capacity_gib` GiB at `cost` per GiB-month with its kind's default profile.
pub fn tier(kind: TierKind, capacity_gib: u64, cost: f64) -> TierSpec {
    // Custom tiers have no default; an SSD profile stands in for them.
    let profile = kind.default_profile().unwrap_or(DeviceProfile::SSD);
    TierSpec {
        tier: kind,
        capacity_bytes: capacity_gib * GIB,
        used_bytes: 0,
        cost_per_gib_month: cost,
        profile,
        load: 0.0,
    }
}

/// A server spec with a made-up address.
pub fn server(id: &str, tiers: Vec<TierSpec>) -> ServerSpec {
    ServerSpec {
        id: id.to_owned(),
        address: format!("{id}.local:10809"),
        api_address: None,
        tiers,
    }
}

/// A tier mix from `(tier, share)` pairs.
pub fn mix(shares: &[(TierKind, f64)]) -> TierMix {
    shares.iter().cloned().collect()
}

/// A control plane over an in-memory store, both on one manual clock.
#[derive(Debug)]
pub struct Rig {
    pub plane: ControlPlane,
    pub clock: ManualClock,
    pub store: Arc<dyn MetaStore>,
}

impl Rig {
    pub fn new(config: ControlConfig) -> Self {
        let clock = ManualClock::new(1_000_000_000);
        let store: Arc<dyn MetaStore> = Arc::new(MemoryStore::with_clock(Arc::new(clock.clone())));
        Self::over(store, clock, config)
    }

    pub fn over(store: Arc<dyn MetaStore>, clock: ManualClock, config: ControlConfig) -> Self {
        let plane = ControlPlane::new(store.clone(), Arc::new(clock.clone()), config);
        Self {
            plane,
            clock,
            store,
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance_ns(u64::try_from(by.as_nanos()).unwrap());
    }
}
