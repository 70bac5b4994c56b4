//! `arc-tier`: ARC (Megiddo & Modha) deciding which extents belong on the fastest tier.
//!
//! T1 (seen once recently) and T2 (seen at least twice) are the extents that should be
//! resident; B1 and B2 are their ghosts, and `p`, the target size of T1, adapts on ghost
//! hits. Two tiering changes: an extent is admitted on a ghost hit or on its second touch
//! (a first touch only enters a `seen` history), and residency changes are executed by
//! `plan`, within the migration budget — `on_access` only keeps the books. Accesses in a
//! sequential run longer than the cutoff are ignored, as `lru-promote` ignores them.

use super::plan::PlanBuilder;
use crate::{Access, ExtentId, Move, MoveReason, PlacementPolicy, TierId, TierView};
use crate::{HashMap, HashSet};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    T1,
    T2,
    B1,
    B2,
    /// Touched once, not admitted.
    Seen,
}

const LISTS: usize = 5;

impl List {
    const fn index(self) -> usize {
        match self {
            Self::T1 => 0,
            Self::T2 => 1,
            Self::B1 => 2,
            Self::B2 => 3,
            Self::Seen => 4,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ArcTier {
    sequential_cutoff_bytes: u64,
    /// Target size of T1, in extents.
    p: u64,
    lists: [BTreeMap<u64, ExtentId>; LISTS],
    member: HashMap<ExtentId, (List, u64)>,
    next_stamp: u64,
    /// Extents that left every list and may still sit on the fastest tier; `plan` demotes
    /// them first.
    dropped: Vec<ExtentId>,
}

impl ArcTier {
    pub fn new(sequential_cutoff_bytes: u64) -> Self {
        Self {
            sequential_cutoff_bytes,
            p: 0,
            lists: Default::default(),
            member: HashMap::default(),
            next_stamp: 0,
            dropped: Vec::new(),
        }
    }

    fn len(&self, list: List) -> u64 {
        self.lists[list.index()].len() as u64
    }

    fn remove(&mut self, extent: ExtentId) -> Option<List> {
        let (list, stamp) = self.member.remove(&extent)?;
        self.lists[list.index()].remove(&stamp);
        Some(list)
    }

    /// Puts `extent` at the MRU end of `list`.
    fn insert(&mut self, extent: ExtentId, list: List) {
        self.remove(extent);
        self.lists[list.index()].insert(self.next_stamp, extent);
        self.member.insert(extent, (list, self.next_stamp));
        self.next_stamp += 1;
    }

    fn pop_lru(&mut self, list: List) -> Option<ExtentId> {
        let (_, extent) = self.lists[list.index()].pop_first()?;
        self.member.remove(&extent);
        Some(extent)
    }

    /// Removes the LRU extent of `list` from ARC altogether.
    fn drop_lru(&mut self, list: List) {
        if let Some(extent) = self.pop_lru(list) {
            self.dropped.push(extent);
        }
    }

    /// ARC's REPLACE: one resident leaves T1 or T2 for its ghost list (the executor demotes
    /// it at the next `plan`).
    fn replace(&mut self, hit_in_b2: bool) {
        let t1 = self.len(List::T1);
        if t1 >= 1 && (t1 > self.p || (hit_in_b2 && t1 == self.p)) {
            if let Some(victim) = self.pop_lru(List::T1) {
                self.insert(victim, List::B1);
            }
        } else if let Some(victim) = self.pop_lru(List::T2) {
            self.insert(victim, List::B2);
        } else if let Some(victim) = self.pop_lru(List::T1) {
            self.insert(victim, List::B1);
        }
    }

    fn admit(&mut self, extent: ExtentId, capacity: u64) {
        let (t1, b1) = (self.len(List::T1), self.len(List::B1));
        let total = t1 + b1 + self.len(List::T2) + self.len(List::B2);
        if t1 + b1 >= capacity {
            if t1 < capacity {
                self.drop_lru(List::B1);
                self.replace(false);
            } else {
                self.drop_lru(List::T1);
            }
        } else if total >= capacity {
            if total >= 2 * capacity {
                self.drop_lru(List::B2);
            }
            self.replace(false);
        }
        self.insert(extent, List::T1);
    }

    fn resident(&self, extent: ExtentId) -> bool {
        matches!(self.member.get(&extent), Some((List::T1 | List::T2, _)))
    }
}

impl PlacementPolicy for ArcTier {
    fn name(&self) -> &str {
        "arc-tier"
    }

    fn place_new(&mut self, extent: ExtentId, view: &dyn TierView) -> TierId {
        let capacity = view.capacity_extents(TierId::FASTEST).unwrap_or(u64::MAX);
        let arc_room = self.len(List::T1) + self.len(List::T2) < capacity;
        if arc_room && view.has_room(TierId::FASTEST) {
            self.insert(extent, List::T1);
            return TierId::FASTEST;
        }
        view.fastest_with_room(TierId(1))
            .or_else(|| view.fastest_with_room(TierId::FASTEST))
            .unwrap_or_else(|| view.slowest())
    }

    fn on_access(&mut self, access: &Access, view: &dyn TierView) -> Vec<Move> {
        if access.run_bytes > self.sequential_cutoff_bytes {
            return Vec::new();
        }
        let Some(capacity) = view.capacity_extents(TierId::FASTEST) else {
            return Vec::new();
        };
        let capacity = capacity.max(1);
        let extent = access.extent;
        match self.member.get(&extent).map(|&(list, _)| list) {
            Some(List::T1 | List::T2) => self.insert(extent, List::T2),
            Some(List::B1) => {
                let step = (self.len(List::B2) / self.len(List::B1).max(1)).max(1);
                self.p = (self.p + step).min(capacity);
                self.remove(extent);
                self.replace(false);
                self.insert(extent, List::T2);
            }
            Some(List::B2) => {
                let step = (self.len(List::B1) / self.len(List::B2).max(1)).max(1);
                self.p = self.p.saturating_sub(step);
                self.remove(extent);
                self.replace(true);
                self.insert(extent, List::T2);
            }
            Some(List::Seen) => {
                self.remove(extent);
                self.admit(extent, capacity);
            }
            None => {
                self.insert(extent, List::Seen);
                if self.len(List::Seen) > 2 * capacity {
                    self.drop_lru(List::Seen);
                }
            }
        }
        Vec::new()
    }

    /// Demotes fast residents ARC evicted (oldest eviction first), then promotes residents
    /// that are not on the fastest tier (most recent first), within the budget.
    fn plan(&mut self, _now_ns: u64, view: &dyn TierView, budget_bytes: u64) -> Vec<Move> {
        let mut builder = PlanBuilder::new(view, budget_bytes);
        let mut wanted: Vec<(ExtentId, TierId)> = [List::T2, List::T1]
            .iter()
            .flat_map(|list| self.lists[list.index()].iter().rev())
            .filter_map(|(_, &e)| view.location(e).map(|tier| (e, tier)))
            .filter(|&(_, tier)| tier != TierId::FASTEST)
            .collect();
        wanted.truncate(usize::try_from(builder.moves_left()).unwrap_or(usize::MAX));
        let on_fast_not_resident =
            |arc: &Self, e: ExtentId| view.location(e) == Some(TierId::FASTEST) && !arc.resident(e);
        let mut dropped = std::mem::take(&mut self.dropped);
        dropped.retain(|&e| on_fast_not_resident(self, e));
        dropped.dedup();
        if wanted.is_empty() {
            self.dropped = dropped;
            return Vec::new();
        }
        // Evicted residents: the forgotten, then the ghosts, oldest eviction first.
        let mut ghosts: Vec<(u64, ExtentId)> = self
            .member
            .iter()
            .filter(|&(&e, _)| on_fast_not_resident(self, e))
            .map(|(&e, &(_, stamp))| (stamp, e))
            .collect();
        ghosts.sort_unstable();
        let mut leaving = dropped
            .clone()
            .into_iter()
            .chain(ghosts.into_iter().map(|(_, e)| e));
        let mut demoted = Vec::new();
        for (extent, from) in wanted {
            if !builder.has_room(TierId::FASTEST) {
                let Some(below) = builder.fastest_with_room(TierId(1)) else {
                    break;
                };
                let Some(victim) = leaving.next() else {
                    break;
                };
                if builder.moves_left() < 2
                    || !builder.push(victim, TierId::FASTEST, below, MoveReason::Evict)
                {
                    break;
                }
                demoted.push(victim);
            }
            // A demotion may have taken the last slot of the promotion's source tier.
            let _ = builder.push(extent, from, TierId::FASTEST, MoveReason::Promote);
        }
        dropped.retain(|e| !demoted.contains(e));
        self.dropped = dropped;
        builder.finish()
    }

    fn adopt(&mut self, extent: ExtentId, tier: TierId, _view: &dyn TierView) {
        // Resident, seen once. Adopted before any access, so older in T1 than all ARC
        // admits later: ARC replaces the adopted first.
        if tier == TierId::FASTEST && !self.member.contains_key(&extent) {
            self.insert(extent, List::T1);
        }
    }

    fn retain_volumes(&mut self, keep: &dyn Fn(u64) -> bool) {
        for list in &mut self.lists {
            list.retain(|_, e| keep(e.volume));
        }
        self.member.retain(|e, _| keep(e.volume));
        self.dropped.retain(|e| keep(e.volume));
    }

    /// The extents leave every list, ghosts included: there is no data left to bring back.
    fn unmapped(&mut self, extents: &[ExtentId]) {
        for &extent in extents {
            self.remove(extent);
        }
        let gone: HashSet<ExtentId> = extents.iter().copied().collect();
        self.dropped.retain(|e| !gone.contains(e));
    }

    fn refused(&mut self, mv: &Move) {
        // A refused demotion of an extent ARC deleted leaves it on the fastest tier: listed
        // again, so a later plan demotes it (ghosts are found from ARC's lists anyway).
        if mv.reason == MoveReason::Evict
            && mv.from == TierId::FASTEST
            && !self.member.contains_key(&mv.extent)
            && !self.dropped.contains(&mv.extent)
        {
            self.dropped.push(mv.extent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlacementMap;
    use crate::policies::test_rig::{evict_to_hdd, nvme_over_hdd as map, observe};

    fn access(policy: &mut ArcTier, map: &mut PlacementMap, index: u64) {
        assert!(
            observe(policy, map, index).is_empty(),
            "arc-tier moves in plan"
        );
    }

    #[test]
    fn a_refused_demotion_of_a_dropped_extent_is_planned_again() {
        let mut arc = ArcTier::new(4 << 20);
        let mut map = map(1);
        let first = ExtentId::new(0, 0);
        let tier = arc.place_new(first, &map);
        map.place(first, tier).expect("room");
        // The second touch admits 5 into a full T1, which deletes 0 from ARC altogether.
        access(&mut arc, &mut map, 5);
        access(&mut arc, &mut map, 5);
        assert_eq!(arc.dropped, vec![ExtentId::new(0, 0)]);
        let swap = arc.plan(0, &map, 64 << 20);
        let evict_0 = evict_to_hdd(0);
        assert_eq!(swap.first(), Some(&evict_0), "{swap:?}");
        // Not run yet (the engine's map still shows 0 on nvme): not demoted twice.
        assert!(!arc.plan(0, &map, 64 << 20).contains(&evict_0));
        // The executor refuses it (a full mover queue) and says so. Before, arc-tier forgot
        // 0 once it had planned its demotion, so 0 stayed on the fastest tier for good.
        swap.iter().for_each(|mv| arc.refused(mv));
        let again = arc.plan(0, &map, 64 << 20);
        assert_eq!(again, swap);
        for mv in &again {
            map.apply(mv).expect("contract");
        }
        assert_eq!(map.location(ExtentId::new(0, 5)), Some(TierId::FASTEST));
        assert!(arc.plan(0, &map, 64 << 20).is_empty());
        assert!(arc.dropped.is_empty(), "{:?}", arc.dropped);
    }

    #[test]
    fn a_full_t1_drops_its_lru_and_a_b1_ghost_hit_grows_p() {
        let mut arc = ArcTier::new(u64::MAX);
        let e = |i| ExtentId::new(0, i);
        for i in 0..3 {
            arc.insert(e(i), List::T1);
        }
        arc.admit(e(9), 3);
        assert!(
            !arc.member.contains_key(&e(0)),
            "case IV-A deletes T1's LRU"
        );
        assert_eq!(arc.dropped, vec![e(0)]);
        assert!(arc.resident(e(9)));
        // T1 = [1, 2, 9] is over p = 0: the next replace sends 1 to B1.
        arc.replace(false);
        assert_eq!(arc.member.get(&e(1)).map(|m| m.0), Some(List::B1));
        assert_eq!(arc.len(List::T1) + arc.len(List::T2), 2);
    }
}
