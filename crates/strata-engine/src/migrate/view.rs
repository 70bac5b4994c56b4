//! How a placement policy sees the engine: [`EngineView`] implements
//! `strata_policy::TierView` over the live tiers and extent maps, and [`PolicyHook`] lets
//! the policy choose tiers for new extents through the engine's `PlacementHook` seam.
//!
//! Capacities are counted in extents of one size, [`view_extent_bytes`]: the smallest
//! extent size of the volumes. Tiers are shared by volumes of different extent sizes, and
//! the policy API has one extent size; a policy counts its residents one per extent. So
//! where every volume has the same extent size (the usual case), the counts are exact;
//! where sizes are mixed, a policy counting residents may plan a larger extent into room
//! that only a smaller one fits, and the executor refuses it (a move into a full tier is
//! never forced). Counted in a fixed 1 MiB, a tier of 64 KiB extents looked 16 times
//! smaller than it is to such a policy. A degraded tier reports no free room, so policies
//! stop planning into it.
//! The view takes only leaf locks (allocators, the id → volume snapshot), so it is safe to
//! build while the I/O path holds a volume's map lock.

use crate::config::GRANULE_BYTES;
use crate::engine::EngineInner;
use crate::placement::{PlacementHook, PlacementRequest};
use crate::volume::Volume;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use strata_core::{DeviceProfile, TierKind};
use strata_policy::{ExtentId, PlacementPolicy, TierId, TierView};

/// The volumes by id, as the view sees them.
pub(crate) type VolumesById = Arc<BTreeMap<u64, Arc<Volume>>>;

/// The extent size a view of `volumes` counts capacity in: the smallest of theirs, or the
/// default extent size when there are none. Computed when volumes are published
/// (`EngineInner::view_extent_bytes`), not per view: a view is built for every new extent.
pub(crate) fn view_extent_bytes(volumes: &BTreeMap<u64, Arc<Volume>>) -> u64 {
    volumes
        .values()
        .map(|v| v.extent_size())
        .min()
        .unwrap_or(strata_core::DEFAULT_EXTENT_SIZE)
}

/// A snapshot-free view: every answer is read live when asked.
pub(crate) struct EngineView<'a> {
    inner: &'a EngineInner,
    volumes: VolumesById,
    extent_bytes: u64,
}

impl<'a> EngineView<'a> {
    pub fn new(inner: &'a EngineInner) -> Self {
        Self {
            volumes: inner.volumes_by_id(),
            extent_bytes: inner.view_extent_bytes.load(Ordering::Relaxed),
            inner,
        }
    }

    fn tier(&self, tier: TierId) -> Option<&crate::tier::Tier> {
        self.inner.tiers.get(tier.rank())
    }

    fn granules_to_extents(&self, granules: u64) -> u64 {
        granules * GRANULE_BYTES / self.extent_bytes
    }
}

impl TierView for EngineView<'_> {
    fn tier_count(&self) -> usize {
        self.inner.tiers.len()
    }

    fn kind(&self, tier: TierId) -> Option<&TierKind> {
        self.tier(tier).map(|t| &t.config.kind)
    }

    /// At the speed the disk showed (`Tier::measured_profile`): a policy pricing copies and
    /// visits on a disk slower than its profile prices them as they run.
    fn profile(&self, tier: TierId) -> Option<DeviceProfile> {
        self.tier(tier).map(crate::tier::Tier::measured_profile)
    }

    fn capacity_extents(&self, tier: TierId) -> Option<u64> {
        let Some(t) = self.tier(tier) else {
            return Some(0);
        };
        if t.degraded.load(Ordering::Relaxed) {
            return Some(self.used_extents(tier));
        }
        Some(self.granules_to_extents(t.alloc.lock().capacity_granules()))
    }

    fn used_extents(&self, tier: TierId) -> u64 {
        self.tier(tier).map_or(0, |t| {
            self.granules_to_extents(t.alloc.lock().used_granules())
        })
    }

    fn queue_delay_ns(&self, tier: TierId) -> u64 {
        self.tier(tier).map_or(0, crate::tier::Tier::queue_delay_ns)
    }

    fn location(&self, extent: ExtentId) -> Option<TierId> {
        let volume = self.volumes.get(&extent.volume)?;
        let placement = volume.map.get(extent.index)?;
        u8::try_from(placement.tier).ok().map(TierId)
    }

    fn extent_bytes(&self) -> u64 {
        self.extent_bytes
    }
}

/// The configured policy, shared by the I/O path (`place_new`) and the tiering thread.
pub(crate) type SharedPolicy = Arc<Mutex<Box<dyn PlacementPolicy>>>;

/// Asks the policy where a new extent goes. The answer comes first; then, per the executor
/// contract, the slower tiers in order; then (rather than failing the write) the faster ones.
#[derive(Debug)]
pub(crate) struct PolicyHook {
    engine: Weak<EngineInner>,
    policy: SharedPolicy,
}

impl PolicyHook {
    pub fn new(engine: Weak<EngineInner>, policy: SharedPolicy) -> Self {
        Self { engine, policy }
    }
}

impl PlacementHook for PolicyHook {
    fn choose_tiers(&self, request: &PlacementRequest<'_>) -> Vec<usize> {
        let all = 0..request.tier_count;
        let Some(engine) = self.engine.upgrade() else {
            return all.collect();
        };
        let view = EngineView::new(&engine);
        let extent = ExtentId::new(request.volume_id, request.extent);
        let chosen = self.policy.lock().place_new(extent, &view).rank();
        (chosen..request.tier_count)
            .chain(0..chosen.min(request.tier_count))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MIB, Rig};
    use strata_policy::disk_time::RATIO_MIN_SAMPLES;

    /// The policy sees a disk at the speed its copies showed once it is clearly slower than
    /// its profile, and at its profile while it fits it.
    #[test]
    fn the_policy_sees_a_slow_disk_at_its_measured_speed() {
        let rig = Rig::new(&[8 * MIB, 8 * MIB, 64 * MIB]);
        let inner = rig.engine.inner();
        let hdd = TierId(2);
        let configured = DeviceProfile::HDD;
        let seen = || EngineView::new(inner).profile(hdd).expect("an hdd");
        assert_eq!(seen(), configured);
        let observe = |measured_ns, modelled_ns| {
            for _ in 0..RATIO_MIN_SAMPLES {
                inner.tiers[2]
                    .copy_pace
                    .lock()
                    .ratio
                    .observe(measured_ns, modelled_ns);
            }
        };
        // Within the dead band: still the profile.
        observe(5_000_000, 4_700_000);
        assert_eq!(seen(), configured);
        // Twice as slow, for long enough to outweigh the samples before.
        for _ in 0..10 {
            observe(9_400_000, 4_700_000);
        }
        let slow = seen();
        let ratio = slow.read_latency_us / configured.read_latency_us;
        assert!((1.9..=2.0).contains(&ratio), "{slow:?}");
        assert!((slow.write_latency_us / configured.write_latency_us - ratio).abs() < 1e-9);
        assert!((configured.read_mbps / slow.read_mbps - ratio).abs() < 1e-9);
        assert!((configured.write_mbps / slow.write_mbps - ratio).abs() < 1e-9);
        assert_eq!(slow.parallelism, configured.parallelism);
        assert!(slow.seek_penalty);
        // The nvme, never measured, keeps its profile.
        assert_eq!(
            EngineView::new(inner).profile(TierId::FASTEST),
            Some(DeviceProfile::NVME)
        );
    }
}
