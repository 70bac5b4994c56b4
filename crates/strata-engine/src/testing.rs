//! A test rig other crates' tests can use too: an engine over memory devices and a store
//! kept across re-opens (a "restart" in which the devices kept what was written).

use crate::{Engine, EngineConfig, TierConfig};
use std::sync::Arc;
use strata_core::TierKind;
use strata_device::{FaultHandle, FaultyDevice, MemoryDevice, TierDevice};
use strata_meta::{MemoryStore, MetaStore};

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;

/// Tiers nvme, ssd, hdd (as many as capacities given) without emulation.
pub fn config(capacities: &[u64]) -> EngineConfig {
    let kinds = [TierKind::Nvme, TierKind::Ssd, TierKind::Hdd];
    EngineConfig {
        data_dir: "unused".into(),
        tiers: capacities
            .iter()
            .zip(kinds)
            .map(|(&cap, kind)| TierConfig::builtin(kind, cap, 0.1))
            .collect(),
        emulation: false,
        placement: crate::PlacementConfig::default(),
        prefetch: crate::PrefetchConfig::default(),
    }
}

/// An engine over an 8 MiB nvme memory device and an 8 MiB ssd whose faults the handle
/// injects, with `placement` and a memory store.
pub fn with_faulty_ssd(placement: crate::PlacementConfig) -> (Arc<Engine>, FaultHandle) {
    let mut config = config(&[8 * MIB, 8 * MIB]);
    config.placement = placement;
    let (ssd, faults) = FaultyDevice::new(MemoryDevice::new(8 * MIB));
    let devices: Vec<Arc<dyn TierDevice>> =
        vec![Arc::new(MemoryDevice::new(8 * MIB)), Arc::new(ssd)];
    let engine = Engine::open_with_devices(config, devices, Arc::new(MemoryStore::new()))
        .expect("engine opens over memory devices");
    (engine, faults)
}

/// An engine with its devices and store.
#[derive(Debug)]
pub struct Rig {
    pub engine: Arc<Engine>,
    pub devices: Vec<Arc<MemoryDevice>>,
    pub store: Arc<dyn MetaStore>,
    pub config: EngineConfig,
}

impl Rig {
    /// Panics if the engine does not open: this is test scaffolding.
    pub fn new(capacities: &[u64]) -> Self {
        Self::with_store(capacities, Arc::new(MemoryStore::new()))
    }

    pub fn with_store(capacities: &[u64], store: Arc<dyn MetaStore>) -> Self {
        Self::with_placement(capacities, store, crate::PlacementConfig::default())
    }

    /// A rig whose engine runs the given placement policy and migration settings.
    pub fn with_placement(
        capacities: &[u64],
        store: Arc<dyn MetaStore>,
        placement: crate::PlacementConfig,
    ) -> Self {
        let devices: Vec<Arc<MemoryDevice>> = capacities
            .iter()
            .map(|&cap| Arc::new(MemoryDevice::new(cap)))
            .collect();
        let mut config = config(capacities);
        config.placement = placement;
        let engine = open(&config, &devices, &store).expect("engine opens over memory devices");
        Self {
            engine,
            devices,
            store,
            config,
        }
    }

    /// A new engine over the same devices and store, as after a restart in which the
    /// devices kept what was written to them.
    pub fn reopen(&mut self) {
        // The old engine's background moves must not touch the devices any more.
        self.engine.stop_background();
        self.engine = self.try_reopen().expect("engine re-opens");
    }

    /// A new engine over the same devices and store, or why it does not open; the rig's
    /// own engine is left as it is.
    pub fn try_reopen(&self) -> crate::Result<Arc<Engine>> {
        open(&self.config, &self.devices, &self.store)
    }
}

fn open(
    config: &EngineConfig,
    devices: &[Arc<MemoryDevice>],
    store: &Arc<dyn MetaStore>,
) -> crate::Result<Arc<Engine>> {
    let devices = devices
        .iter()
        .map(|d| d.clone() as Arc<dyn TierDevice>)
        .collect();
    Engine::open_with_devices(config.clone(), devices, store.clone())
}

/// A deterministic, position-dependent pattern so misplaced bytes are caught.
/// Placement under `policy` that polls accesses every 10 ms, plans every 50 ms and moves
/// without a bandwidth limit: a test sees the policy act within a second.
pub fn quick_placement(policy: &str) -> crate::PlacementConfig {
    crate::PlacementConfig {
        policy: policy.into(),
        access_poll_ms: 10,
        plan_interval_ms: 50,
        migration_mbps: 0,
        ..crate::PlacementConfig::default()
    }
}

/// Polls `done` every 2 ms until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add((i % 251) as u8) | 1)
        .collect()
}
