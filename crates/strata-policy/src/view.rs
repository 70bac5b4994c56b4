//! What a policy may observe about the tiers: capacity, occupancy, congestion, device
//! profiles and where each extent lives. The engine implements it over its extent map and
//! device queues; the simulator over its virtual devices; tests over a [`crate::PlacementMap`].

use crate::{ExtentId, TierId};
use strata_core::{DeviceProfile, TierKind};

/// A read-only snapshot of the tiers at the moment a policy is asked for a decision.
///
/// Tiers are ranked `0..tier_count()`, fastest first. Methods given a tier outside that range
/// answer as for an empty tier without capacity (`capacity_extents` = `Some(0)`).
pub trait TierView {
    /// Number of tiers; at least 1.
    fn tier_count(&self) -> usize;
    /// What the tier is made of.
    fn kind(&self, tier: TierId) -> Option<&TierKind>;
    /// The tier's device profile (latency, bandwidth, parallelism).
    fn profile(&self, tier: TierId) -> Option<DeviceProfile>;
    /// How many extents fit on the tier; `None` for a tier without a limit.
    fn capacity_extents(&self, tier: TierId) -> Option<u64>;
    /// How many extents live on the tier now.
    fn used_extents(&self, tier: TierId) -> u64;
    /// How long a request submitted now would wait for the tier's device (congestion).
    fn queue_delay_ns(&self, tier: TierId) -> u64;
    /// Where the extent lives, or `None` if it was never written.
    fn location(&self, extent: ExtentId) -> Option<TierId>;
    /// Size of one extent in bytes (what one move copies).
    fn extent_bytes(&self) -> u64;

    /// The slowest tier.
    fn slowest(&self) -> TierId {
        TierId(u8::try_from(self.tier_count().saturating_sub(1)).unwrap_or(u8::MAX))
    }

    /// Free extent slots on the tier; `None` when the tier has no limit.
    fn free_extents(&self, tier: TierId) -> Option<u64> {
        self.capacity_extents(tier)
            .map(|cap| cap.saturating_sub(self.used_extents(tier)))
    }

    /// The tier can take one more extent.
    fn has_room(&self, tier: TierId) -> bool {
        tier.rank() < self.tier_count() && self.free_extents(tier) != Some(0)
    }

    /// The fastest tier at rank `start` or slower that can take one more extent.
    fn fastest_with_room(&self, start: TierId) -> Option<TierId> {
        TierId::ranks(start.rank()..self.tier_count()).find(|&tier| self.has_room(tier))
    }
}
