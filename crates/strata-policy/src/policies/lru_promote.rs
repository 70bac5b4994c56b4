//! `lru-promote`: a bcache-like cache tier. Every access to an extent below the fastest tier
//! promotes it; when the fastest tier is full, its least recently used extent is demoted
//! first (to the fastest slower tier with room). Accesses that belong to a sequential run
//! longer than the cutoff bypass promotion, so one large scan cannot flush the hot set.

use crate::{Access, ExtentId, Move, MoveReason, PlacementPolicy, TierId, TierView};
use crate::{HashMap, HashSet};
use std::collections::BTreeMap;

/// Stamps start here, so a victim whose eviction the executor refused can go back in front
/// of every stamp handed out.
const FIRST_STAMP: u64 = 1 << 62;

#[derive(Debug, Clone)]
pub struct LruPromote {
    sequential_cutoff_bytes: u64,
    /// Recency stamp → extent, oldest first. May hold extents that have since left the
    /// fastest tier, or whose promotion has not run yet; both are skipped when a victim is
    /// chosen, and the first are dropped.
    by_recency: BTreeMap<u64, ExtentId>,
    stamp_of: HashMap<ExtentId, u64>,
    next_stamp: u64,
    /// Extents whose promotion this asked for and the view may not show done yet (the
    /// engine's map switches when the copy commits): kept, not dropped as stale.
    promoting: HashSet<ExtentId>,
    /// Stamp → extent, out of line: promotions a victim search found still waiting to
    /// run, so later searches do not walk past them again (with thousands queued behind a
    /// busy disk, every access did). `plan` puts those it finds done back in line at their
    /// stamp and drops those refused since.
    parked: BTreeMap<u64, ExtentId>,
}

impl LruPromote {
    pub fn new(sequential_cutoff_bytes: u64) -> Self {
        Self {
            sequential_cutoff_bytes,
            by_recency: BTreeMap::new(),
            stamp_of: HashMap::default(),
            next_stamp: FIRST_STAMP,
            promoting: HashSet::default(),
            parked: BTreeMap::new(),
        }
    }

    fn touch(&mut self, extent: ExtentId) {
        if let Some(old) = self.stamp_of.insert(extent, self.next_stamp) {
            self.by_recency.remove(&old);
            self.parked.remove(&old);
        }
        self.by_recency.insert(self.next_stamp, extent);
        self.next_stamp += 1;
    }

    /// Puts `extent` first in line for eviction, unless it is in line already.
    fn put_first(&mut self, extent: ExtentId) {
        if self.stamp_of.contains_key(&extent) {
            return;
        }
        let front = self
            .by_recency
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_stamp)
            .saturating_sub(1);
        self.stamp_of.insert(extent, front);
        self.by_recency.insert(front, extent);
    }

    fn forget(&mut self, extent: ExtentId) {
        if let Some(stamp) = self.stamp_of.remove(&extent) {
            self.by_recency.remove(&stamp);
            self.parked.remove(&stamp);
        }
        self.promoting.remove(&extent);
    }

    /// The least recently used extent that really is on the fastest tier, other than `keep`.
    /// Extents in line that are not there are dropped, or parked while their promotion may
    /// still be waiting to run. Of the parked, only the oldest is looked at: the mover runs
    /// moves in order, so it is the first to be done.
    fn victim(&mut self, keep: ExtentId, view: &dyn TierView) -> Option<ExtentId> {
        let mut stale = Vec::new();
        let mut waiting = Vec::new();
        let mut found = None;
        for (&stamp, &extent) in &self.by_recency {
            if extent == keep {
                continue;
            }
            if view.location(extent) == Some(TierId::FASTEST) {
                found = Some((stamp, extent));
                break;
            }
            if self.promoting.contains(&extent) {
                waiting.push((stamp, extent));
            } else {
                stale.push(extent);
            }
        }
        for extent in stale {
            self.forget(extent);
        }
        for (stamp, extent) in waiting {
            self.by_recency.remove(&stamp);
            self.parked.insert(stamp, extent);
        }
        while let Some((&stamp, &extent)) = self.parked.first_key_value() {
            if found.is_some_and(|(in_line, _)| in_line < stamp) {
                break;
            }
            if extent != keep && view.location(extent) == Some(TierId::FASTEST) {
                self.parked.remove(&stamp);
                self.by_recency.insert(stamp, extent);
                found = Some((stamp, extent));
                break;
            }
            if self.promoting.contains(&extent) {
                break;
            }
            // Refused since: it will not come.
            self.forget(extent);
        }
        let (_, extent) = found?;
        // There now: its promotion, if any, is done.
        self.promoting.remove(&extent);
        Some(extent)
    }
}

impl PlacementPolicy for LruPromote {
    fn name(&self) -> &str {
        "lru-promote"
    }

    fn place_new(&mut self, extent: ExtentId, view: &dyn TierView) -> TierId {
        let tier = view
            .fastest_with_room(TierId::FASTEST)
            .unwrap_or_else(|| view.slowest());
        if tier == TierId::FASTEST {
            self.touch(extent);
        }
        tier
    }

    fn on_access(&mut self, access: &Access, view: &dyn TierView) -> Vec<Move> {
        let extent = access.extent;
        let Some(current) = view.location(extent) else {
            return Vec::new();
        };
        if current == TierId::FASTEST {
            self.touch(extent);
            self.promoting.remove(&extent);
            return Vec::new();
        }
        if access.run_bytes > self.sequential_cutoff_bytes {
            return Vec::new();
        }
        let promote = Move {
            extent,
            from: current,
            to: TierId::FASTEST,
            reason: MoveReason::Promote,
        };
        if view.has_room(TierId::FASTEST) {
            self.touch(extent);
            self.promoting.insert(extent);
            return vec![promote];
        }
        let Some(victim) = self.victim(extent, view) else {
            return Vec::new();
        };
        let Some(below) = view.fastest_with_room(TierId(1)) else {
            return Vec::new();
        };
        // Out of line while its eviction waits to run (the engine's map still shows it on
        // the fastest tier until the copy commits); back in front if it is refused.
        self.forget(victim);
        self.touch(extent);
        self.promoting.insert(extent);
        vec![
            Move {
                extent: victim,
                from: TierId::FASTEST,
                to: below,
                reason: MoveReason::Evict,
            },
            promote,
        ]
    }

    /// Plans no moves; brings every parked promotion that is done back in line and drops
    /// those refused since (`victim` looks at the oldest only).
    fn plan(&mut self, _now_ns: u64, view: &dyn TierView, _budget_bytes: u64) -> Vec<Move> {
        let parked = std::mem::take(&mut self.parked);
        for (stamp, extent) in parked {
            if view.location(extent) == Some(TierId::FASTEST) {
                self.promoting.remove(&extent);
                self.by_recency.insert(stamp, extent);
            } else if self.promoting.contains(&extent) {
                self.parked.insert(stamp, extent);
            } else {
                // Refused since: it will not come.
                self.forget(extent);
            }
        }
        Vec::new()
    }

    fn refused(&mut self, mv: &Move) {
        // A refused eviction leaves its victim on the fastest tier and the least recently
        // used, unless an access has put it back in line since.
        if mv.reason == MoveReason::Evict && mv.from == TierId::FASTEST {
            self.put_first(mv.extent);
        }
        // A refused promotion will not bring its extent here: once the view shows it
        // elsewhere, its place in line is stale.
        if mv.reason == MoveReason::Promote && mv.to == TierId::FASTEST {
            self.promoting.remove(&mv.extent);
        }
    }

    fn adopt(&mut self, extent: ExtentId, tier: TierId, _view: &dyn TierView) {
        if tier == TierId::FASTEST {
            self.put_first(extent);
        }
    }

    fn unmapped(&mut self, extents: &[ExtentId]) {
        for &extent in extents {
            self.forget(extent);
        }
    }

    fn retain_volumes(&mut self, keep: &dyn Fn(u64) -> bool) {
        self.by_recency.retain(|_, e| keep(e.volume));
        self.stamp_of.retain(|e, _| keep(e.volume));
        self.promoting.retain(|e| keep(e.volume));
        self.parked.retain(|_, e| keep(e.volume));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlacementMap;
    use crate::policies::test_rig::{evict_to_hdd, nvme_over_hdd as map, observe, read as access};

    fn touch(policy: &mut LruPromote, map: &mut PlacementMap, index: u64, run_bytes: u64) {
        let extent = ExtentId::new(0, index);
        if map.location(extent).is_none() {
            let tier = policy.place_new(extent, map);
            map.place(extent, tier).expect("room");
        }
        for mv in policy.on_access(&access(index, run_bytes), map) {
            map.apply(&mv).expect("contract");
        }
    }

    /// Extents 0 and 1 fill a two-slot nvme, 0 the least recently used.
    fn nvme_full_of_0_and_1() -> (LruPromote, PlacementMap) {
        let mut policy = LruPromote::new(4 << 20);
        let mut map = map(2);
        for index in [0, 1] {
            touch(&mut policy, &mut map, index, 4096);
        }
        (policy, map)
    }

    #[test]
    fn promotes_and_evicts_the_least_recently_used() {
        let mut policy = LruPromote::new(4 << 20);
        let mut map = map(2);
        for index in [0, 1, 0, 2] {
            touch(&mut policy, &mut map, index, 4096);
        }
        // 2 was placed on the hdd and promoted by evicting 1, the LRU fast extent.
        assert_eq!(map.location(ExtentId::new(0, 0)), Some(TierId(0)));
        assert_eq!(map.location(ExtentId::new(0, 2)), Some(TierId(0)));
        assert_eq!(map.location(ExtentId::new(0, 1)), Some(TierId(1)));
    }

    #[test]
    fn a_refused_eviction_leaves_its_victim_first_in_line() {
        let (mut policy, mut map) = nvme_full_of_0_and_1();
        let batch = observe(&mut policy, &mut map, 2);
        assert_eq!(batch[0].extent, ExtentId::new(0, 0), "{batch:?}");
        // The executor refuses the batch (a full mover queue, a throttle) and says so.
        batch.iter().for_each(|mv| policy.refused(mv));
        touch(&mut policy, &mut map, 3, 4096);
        // 0 is still the least recently used fast extent, so it goes now; before, the
        // policy forgot it when it was chosen and it stayed on the fast tier for good.
        assert_eq!(map.location(ExtentId::new(0, 0)), Some(TierId(1)));
        assert_eq!(map.location(ExtentId::new(0, 1)), Some(TierId(0)));
        assert_eq!(map.location(ExtentId::new(0, 3)), Some(TierId(0)));
    }

    #[test]
    fn an_eviction_waiting_to_run_is_not_chosen_again() {
        let (mut policy, mut map) = nvme_full_of_0_and_1();
        // Queued, not run: the engine's map shows 0 on nvme until the copy commits.
        let first = observe(&mut policy, &mut map, 2);
        assert_eq!(first[0].extent, ExtentId::new(0, 0), "{first:?}");
        let second = observe(&mut policy, &mut map, 3);
        assert_eq!(second[0].extent, ExtentId::new(0, 1), "{second:?}");
    }

    #[test]
    fn long_sequential_runs_bypass_promotion() {
        let mut policy = LruPromote::new(4 << 20);
        let mut map = map(1);
        touch(&mut policy, &mut map, 0, 4096);
        touch(&mut policy, &mut map, 5, 8 << 20);
        assert_eq!(map.location(ExtentId::new(0, 5)), Some(TierId(1)));
        assert_eq!(map.location(ExtentId::new(0, 0)), Some(TierId(0)));
        touch(&mut policy, &mut map, 5, 4096);
        assert_eq!(map.location(ExtentId::new(0, 5)), Some(TierId(0)));
    }

    #[test]
    fn a_promotion_waiting_to_run_stays_in_line() {
        let (mut policy, mut map) = nvme_full_of_0_and_1();
        // 2's promotion waits in the engine's queue: its map shows 2 on the hdd until the
        // copy commits. 0's eviction has run.
        let batch = observe(&mut policy, &mut map, 2);
        assert_eq!(batch[0], evict_to_hdd(0), "{batch:?}");
        map.apply(&batch[0]).unwrap();
        touch(&mut policy, &mut map, 1, 4096);
        touch(&mut policy, &mut map, 3, 4096);
        // 2 is now the least recently used in line, but not on the nvme yet: the victim
        // search passes it by, and must not drop it.
        let batch = observe(&mut policy, &mut map, 4);
        assert_eq!(batch[0], evict_to_hdd(1), "{batch:?}");
        map.apply(&batch[0]).unwrap();
        policy.refused(&batch[1]);
        map.apply(&Move {
            extent: ExtentId::new(0, 2),
            from: TierId(1),
            to: TierId::FASTEST,
            reason: MoveReason::Promote,
        })
        .unwrap();
        touch(&mut policy, &mut map, 3, 4096);
        // 2 committed and was not read since: the least recently used on the nvme.
        let batch = observe(&mut policy, &mut map, 5);
        assert_eq!(batch[0], evict_to_hdd(2), "{batch:?}");
    }

    /// A map that counts the lookups of extents other than `own`.
    struct Counting<'a> {
        map: &'a PlacementMap,
        own: ExtentId,
        others: std::cell::Cell<u64>,
    }

    impl TierView for Counting<'_> {
        fn tier_count(&self) -> usize {
            self.map.tier_count()
        }
        fn kind(&self, tier: TierId) -> Option<&strata_core::TierKind> {
            self.map.kind(tier)
        }
        fn profile(&self, tier: TierId) -> Option<strata_core::DeviceProfile> {
            self.map.profile(tier)
        }
        fn capacity_extents(&self, tier: TierId) -> Option<u64> {
            self.map.capacity_extents(tier)
        }
        fn used_extents(&self, tier: TierId) -> u64 {
            self.map.used_extents(tier)
        }
        fn queue_delay_ns(&self, tier: TierId) -> u64 {
            self.map.queue_delay_ns(tier)
        }
        fn location(&self, extent: ExtentId) -> Option<TierId> {
            if extent != self.own {
                self.others.set(self.others.get() + 1);
            }
            self.map.location(extent)
        }
        fn extent_bytes(&self) -> u64 {
            self.map.extent_bytes()
        }
    }

    /// Shows `policy` a read of hdd extent `index` and returns its moves and how many other
    /// extents it looked up.
    fn lookups_for(
        policy: &mut LruPromote,
        map: &mut PlacementMap,
        index: u64,
    ) -> (Vec<Move>, u64) {
        let extent = ExtentId::new(0, index);
        if map.location(extent).is_none() {
            map.place(extent, TierId(1)).unwrap();
        }
        let view = Counting {
            map,
            own: extent,
            others: std::cell::Cell::new(0),
        };
        let moves = policy.on_access(&access(index, 4096), &view);
        (moves, view.others.get())
    }

    #[test]
    fn a_victim_search_passes_promotions_waiting_to_run_once() {
        let (mut policy, mut map) = nvme_full_of_0_and_1();
        // Reads of 10 and 11 evict 0 and 1; nothing runs yet, so both promotions wait and
        // the nvme still looks full.
        let mut queued = Vec::new();
        for index in [10, 11] {
            queued.extend(lookups_for(&mut policy, &mut map, index).0);
        }
        assert_eq!(queued.len(), 4, "{queued:?}");
        // The next search passes both waiting promotions and finds no victim...
        let (moves, looked) = lookups_for(&mut policy, &mut map, 12);
        assert_eq!((moves.len(), looked), (0, 2 + 1), "{moves:?}");
        // ...and the one after looks only at the oldest of them, whose move runs first.
        let (moves, looked) = lookups_for(&mut policy, &mut map, 13);
        assert_eq!((moves.len(), looked), (0, 1), "{moves:?}");
        // The moves run: 10, the least recently used on the nvme now, is the next victim.
        for mv in &queued {
            map.apply(mv).unwrap();
        }
        let (moves, _) = lookups_for(&mut policy, &mut map, 14);
        assert_eq!(moves[0], evict_to_hdd(10), "{moves:?}");
        // 11 comes next, also out of the parked ones, with no planner tick between.
        let (moves, _) = lookups_for(&mut policy, &mut map, 15);
        assert_eq!(moves[0], evict_to_hdd(11), "{moves:?}");
    }

    #[test]
    fn a_parked_promotion_refused_since_is_dropped() {
        let (mut policy, mut map) = nvme_full_of_0_and_1();
        let first = lookups_for(&mut policy, &mut map, 10).0;
        let second = lookups_for(&mut policy, &mut map, 11).0;
        assert_eq!(second[0], evict_to_hdd(1), "{second:?}");
        // The search for 12 parks the two waiting promotions; then 10's is refused.
        lookups_for(&mut policy, &mut map, 12);
        let parked = |p: &LruPromote| p.parked.values().map(|e| e.index).collect::<Vec<_>>();
        assert_eq!(parked(&policy), [10, 11]);
        policy.refused(&first[1]);
        assert!(policy.plan(0, &map, u64::MAX).is_empty());
        assert_eq!(parked(&policy), [11], "11's promotion may still run");
        assert!(!policy.stamp_of.contains_key(&ExtentId::new(0, 10)));
    }
}
