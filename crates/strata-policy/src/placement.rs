//! [`PlacementMap`]: the reference bookkeeping of where extents live — extent → (tier, slot),
//! per-tier occupancy and slot allocation — with the executor contract of
//! [`crate::PlacementPolicy`] built in. The simulator executes decisions on it and the
//! conformance test checks policies against it, so both enforce the same rules.

use crate::HashMap;
use crate::{ExtentId, Move, MoveRejection, PolicyError, PolicyErrorKind, TierId, TierView};
use std::collections::BTreeSet;
use strata_core::{DeviceProfile, TierKind};

/// How a tier numbers the slots it gives to extents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotLayout {
    /// The lowest free slot first, so a tier fills densely from slot 0.
    Packed,
    /// Slot = the extent's address (`volume × 2^40 + index`): data lies in volume-address
    /// order, as on a disk that holds whole volumes. Sequential volume access stays sequential.
    ByAddress,
}

/// One tier as the executor configures it.
#[derive(Debug, Clone, PartialEq)]
pub struct TierSpec {
    pub kind: TierKind,
    pub profile: DeviceProfile,
    /// Extents that fit; `None` for a tier without a limit.
    pub capacity_extents: Option<u64>,
    pub layout: SlotLayout,
}

impl TierSpec {
    /// A tier that fills densely from slot 0 ([`SlotLayout::Packed`]).
    pub fn packed(kind: TierKind, profile: DeviceProfile, capacity_extents: Option<u64>) -> Self {
        Self {
            kind,
            profile,
            capacity_extents,
            layout: SlotLayout::Packed,
        }
    }
}

/// A physical place of an extent: a tier and a slot number on it (device offset =
/// slot × extent size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub tier: TierId,
    pub slot: u64,
}

/// The source and destination slots of an executed move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedMove {
    pub from: Slot,
    pub to: Slot,
}

#[derive(Debug, Clone)]
struct TierState {
    spec: TierSpec,
    used_extents: u64,
    free_slots: BTreeSet<u64>,
    next_slot: u64,
}

impl TierState {
    fn allocate(&mut self, extent: ExtentId) -> u64 {
        match self.spec.layout {
            SlotLayout::ByAddress => (extent.volume << 40).wrapping_add(extent.index),
            SlotLayout::Packed => self.free_slots.pop_first().unwrap_or_else(|| {
                let slot = self.next_slot;
                self.next_slot += 1;
                slot
            }),
        }
    }

    fn release(&mut self, slot: u64) {
        if self.spec.layout == SlotLayout::Packed {
            self.free_slots.insert(slot);
        }
    }

    fn has_room(&self) -> bool {
        self.spec
            .capacity_extents
            .is_none_or(|cap| self.used_extents < cap)
    }
}

/// Where every placed extent lives, and how full every tier is.
#[derive(Debug, Clone)]
pub struct PlacementMap {
    tiers: Vec<TierState>,
    extent_bytes: u64,
    map: HashMap<ExtentId, Slot>,
}

impl PlacementMap {
    /// A map over `tiers` (fastest first, at most 256) for extents of `extent_bytes`.
    pub fn new(tiers: Vec<TierSpec>, extent_bytes: u64) -> Result<Self, PolicyError> {
        if tiers.is_empty() || tiers.len() > usize::from(u8::MAX) + 1 || extent_bytes == 0 {
            return Err(PolicyError::new(
                PolicyErrorKind::InvalidConfig,
                "placement",
                "between 1 and 256 tiers and a non-zero extent size",
            ));
        }
        let tiers = tiers
            .into_iter()
            .map(|spec| TierState {
                spec,
                used_extents: 0,
                free_slots: BTreeSet::new(),
                next_slot: 0,
            })
            .collect();
        Ok(Self {
            tiers,
            extent_bytes,
            map: HashMap::default(),
        })
    }

    pub fn specs(&self) -> impl Iterator<Item = &TierSpec> {
        self.tiers.iter().map(|t| &t.spec)
    }

    pub fn slot_of(&self, extent: ExtentId) -> Option<Slot> {
        self.map.get(&extent).copied()
    }

    /// Number of placed extents.
    pub fn placed_extents(&self) -> usize {
        self.map.len()
    }

    fn tier(&self, tier: TierId) -> Option<&TierState> {
        self.tiers.get(tier.rank())
    }

    /// Places a never-placed extent on `tier`.
    pub fn place(&mut self, extent: ExtentId, tier: TierId) -> Result<Slot, MoveRejection> {
        if self.map.contains_key(&extent) {
            return Err(MoveRejection::WrongSource);
        }
        let state = self
            .tiers
            .get_mut(tier.rank())
            .ok_or(MoveRejection::InvalidTarget)?;
        if !state.has_room() {
            return Err(MoveRejection::TargetFull);
        }
        state.used_extents += 1;
        let slot = Slot {
            tier,
            slot: state.allocate(extent),
        };
        self.map.insert(extent, slot);
        Ok(slot)
    }

    /// Unmaps `extent` (its volume trimmed it whole) and frees its slot; returns the slot, or
    /// `None` if it was not placed. Its next write places it anew.
    pub fn unmap(&mut self, extent: ExtentId) -> Option<Slot> {
        let slot = self.map.remove(&extent)?;
        self.release(slot);
        Some(slot)
    }

    /// Whether `mv` would be executed now, by the rules of the executor contract.
    pub fn check(&self, mv: &Move) -> Result<Slot, MoveRejection> {
        let current = self.check_route(mv)?;
        if !self.tier(mv.to).is_some_and(TierState::has_room) {
            return Err(MoveRejection::TargetFull);
        }
        Ok(current)
    }

    /// [`Self::check`] without the room on the target: the extent is on `from`, and `to` is
    /// another existing tier. Returns the extent's slot.
    fn check_route(&self, mv: &Move) -> Result<Slot, MoveRejection> {
        let current = self.slot_of(mv.extent).ok_or(MoveRejection::WrongSource)?;
        if current.tier != mv.from {
            return Err(MoveRejection::WrongSource);
        }
        if self.tier(mv.to).is_none() || mv.to == mv.from {
            return Err(MoveRejection::InvalidTarget);
        }
        Ok(current)
    }

    /// Executes `mv`: frees the source slot and takes a destination slot, or changes nothing.
    pub fn apply(&mut self, mv: &Move) -> Result<AppliedMove, MoveRejection> {
        let applied = self.apply_holding_source(mv)?;
        self.release(applied.from);
        Ok(applied)
    }

    /// Executes `mv` as the engine does while it copies: the extent maps to a new
    /// destination slot, and the source slot stays taken — counted on its tier, given to
    /// nobody — until [`Self::release`] frees it once the copy is done. Changes nothing if
    /// the move is refused.
    pub fn apply_holding_source(&mut self, mv: &Move) -> Result<AppliedMove, MoveRejection> {
        let from = self.check(mv)?;
        let target = self
            .tiers
            .get_mut(mv.to.rank())
            .ok_or(MoveRejection::InvalidTarget)?;
        target.used_extents += 1;
        let to = Slot {
            tier: mv.to,
            slot: target.allocate(mv.extent),
        };
        self.map.insert(mv.extent, to);
        Ok(AppliedMove { from, to })
    }

    /// Executes `mv` into `held`, a source slot of `mv.to` that an earlier move held and
    /// hands over: the slot is the extent's now (still counted once), and the extent's own
    /// source is held as by [`Self::apply_holding_source`].
    pub fn apply_into_held(&mut self, mv: &Move, held: Slot) -> Result<AppliedMove, MoveRejection> {
        let from = self.check_route(mv)?;
        if held.tier != mv.to {
            return Err(MoveRejection::InvalidTarget);
        }
        self.map.insert(mv.extent, held);
        Ok(AppliedMove { from, to: held })
    }

    /// Frees a source slot that [`Self::apply_holding_source`] held.
    pub fn release(&mut self, held: Slot) {
        if let Some(tier) = self.tiers.get_mut(held.tier.rank()) {
            tier.used_extents = tier.used_extents.saturating_sub(1);
            tier.release(held.slot);
        }
    }
}

/// The map alone is a view with idle devices (no queue delay).
impl TierView for PlacementMap {
    fn tier_count(&self) -> usize {
        self.tiers.len()
    }

    fn kind(&self, tier: TierId) -> Option<&TierKind> {
        self.tier(tier).map(|t| &t.spec.kind)
    }

    fn profile(&self, tier: TierId) -> Option<DeviceProfile> {
        self.tier(tier).map(|t| t.spec.profile)
    }

    fn capacity_extents(&self, tier: TierId) -> Option<u64> {
        self.tier(tier).map_or(Some(0), |t| t.spec.capacity_extents)
    }

    fn used_extents(&self, tier: TierId) -> u64 {
        self.tier(tier).map_or(0, |t| t.used_extents)
    }

    fn queue_delay_ns(&self, _tier: TierId) -> u64 {
        0
    }

    fn location(&self, extent: ExtentId) -> Option<TierId> {
        self.slot_of(extent).map(|s| s.tier)
    }

    fn extent_bytes(&self) -> u64 {
        self.extent_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MoveReason;

    fn two_tiers(fast: u64) -> PlacementMap {
        let tiers = vec![
            TierSpec {
                kind: TierKind::Nvme,
                profile: DeviceProfile::NVME,
                capacity_extents: Some(fast),
                layout: SlotLayout::Packed,
            },
            TierSpec {
                kind: TierKind::Hdd,
                profile: DeviceProfile::HDD,
                capacity_extents: None,
                layout: SlotLayout::ByAddress,
            },
        ];
        PlacementMap::new(tiers, 1 << 20).expect("valid")
    }

    fn mv(extent: ExtentId, from: u8, to: u8) -> Move {
        Move {
            extent,
            from: TierId(from),
            to: TierId(to),
            reason: MoveReason::Promote,
        }
    }

    #[test]
    fn move_into_full_tier_is_rejected_until_a_demotion_frees_a_slot() {
        let mut map = two_tiers(1);
        let (a, b) = (ExtentId::new(0, 1), ExtentId::new(0, 2));
        assert_eq!(
            map.place(a, TierId(0)),
            Ok(Slot {
                tier: TierId(0),
                slot: 0
            })
        );
        assert_eq!(map.place(b, TierId(0)), Err(MoveRejection::TargetFull));
        let b_slot = map.place(b, TierId(1)).expect("unbounded");
        assert_eq!(b_slot.slot, 2, "by-address layout");
        assert_eq!(map.apply(&mv(b, 1, 0)), Err(MoveRejection::TargetFull));
        assert_eq!(map.apply(&mv(a, 1, 0)), Err(MoveRejection::WrongSource));
        assert_eq!(map.apply(&mv(a, 0, 0)), Err(MoveRejection::InvalidTarget));
        assert_eq!(map.apply(&mv(a, 0, 7)), Err(MoveRejection::InvalidTarget));
        map.apply(&mv(a, 0, 1)).expect("demotion");
        let applied = map.apply(&mv(b, 1, 0)).expect("promotion after demotion");
        assert_eq!(
            applied.to,
            Slot {
                tier: TierId(0),
                slot: 0
            },
            "slot reused"
        );
        assert_eq!(map.used_extents(TierId(0)), 1);
        assert_eq!(map.used_extents(TierId(1)), 1);
    }

    /// A one-extent fast tier holding `a` (in the returned slot), and `b` on the hdd.
    fn full_fast_tier() -> (PlacementMap, ExtentId, ExtentId, Slot) {
        let mut map = two_tiers(1);
        let (a, b) = (ExtentId::new(0, 1), ExtentId::new(0, 2));
        let a_slot = map.place(a, TierId(0)).expect("room");
        map.place(b, TierId(1)).expect("unbounded");
        (map, a, b, a_slot)
    }

    #[test]
    fn a_held_source_slot_takes_room_until_it_is_released() {
        let (mut map, a, b, a_slot) = full_fast_tier();
        let applied = map.apply_holding_source(&mv(a, 0, 1)).expect("demotion");
        assert_eq!(applied.from, a_slot);
        assert_eq!(
            map.location(a),
            Some(TierId(1)),
            "the map points at the copy"
        );
        assert_eq!(map.used_extents(TierId(0)), 1, "the source is still held");
        assert_eq!(map.apply(&mv(b, 1, 0)), Err(MoveRejection::TargetFull));
        map.release(applied.from);
        assert_eq!(map.used_extents(TierId(0)), 0);
        let promoted = map.apply(&mv(b, 1, 0)).expect("room after the release");
        assert_eq!(promoted.to, a_slot, "the released slot is reused");
    }

    #[test]
    fn a_held_slot_handed_over_is_counted_once() {
        let (mut map, a, b, a_slot) = full_fast_tier();
        let down = map.apply_holding_source(&mv(a, 0, 1)).expect("demotion");
        assert_eq!(
            map.apply_into_held(&mv(b, 0, 1), down.from),
            Err(MoveRejection::WrongSource)
        );
        assert_eq!(
            map.apply_into_held(&mv(b, 1, 1), down.from),
            Err(MoveRejection::InvalidTarget)
        );
        let up = map
            .apply_into_held(&mv(b, 1, 0), down.from)
            .expect("hand-over");
        assert_eq!(up.to, a_slot);
        assert_eq!(map.slot_of(b), Some(a_slot));
        assert_eq!(map.used_extents(TierId(0)), 1);
        assert_eq!(map.used_extents(TierId(1)), 2, "a, and b's held source");
        map.release(up.from);
        assert_eq!(map.used_extents(TierId(1)), 1);
    }

    #[test]
    fn empty_tier_list_is_refused() {
        assert!(PlacementMap::new(Vec::new(), 1 << 20).is_err());
    }
}
