//! `smq`: dm-cache's stochastic multiqueue idea, for tiers.
//!
//! * Hit counting happens at two granularities, each in `LEVELS` levels: *hotspots* (groups
//!   of `HOTSPOT_EXTENTS` neighbouring extents, whether resident or not) and *residents*
//!   (extents on the fastest tier). At every `plan` each population is redistributed by
//!   rank — what was hit this period moves up a level (in a population smaller than the
//!   levels, past its neighbour), everything else sinks as others rise — so that every
//!   level holds the same share of its population, as dm-cache's
//!   `q_redistribute` keeps its queues balanced.
//! * Promotion only on evidence: a slower extent touched this period is a candidate when its
//!   hotspot sits at or above the promote level (lower while the fast tier has free slots),
//!   and it may displace a resident only when its hotspot level exceeds the coldest
//!   resident's level by `HYSTERESIS_LEVELS` (the sentinel against churn).
//! * Demotion takes the coldest resident (lowest level, least recent). Everything moves in
//!   `plan`, within the budget; `on_access` only counts. Accesses in a sequential run longer
//!   than the cutoff are not counted.

use super::plan::PlanBuilder;
use crate::{Access, ExtentId, Move, MoveReason, PlacementPolicy, TierId, TierView};
use crate::{HashMap, HashSet};

const LEVELS: u8 = 16;
const HOTSPOT_EXTENTS: u64 = 4;
const HYSTERESIS_LEVELS: u8 = 2;
/// Promote level while the fast tier is full, and while it has free slots.
const PROMOTE_LEVEL_FULL: u8 = LEVELS / 2;
const PROMOTE_LEVEL_FREE: u8 = LEVELS / 4;

/// Hits and level of one queue member.
#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    level: u8,
    hits: u32,
    last_stamp: u64,
}

/// Ranks `counters` and spreads them evenly over the levels; the period's hits move a member
/// up one level before ranking, and are cleared. With fewer members than levels, neighbouring
/// ranks sit more than one level apart, so a hit moves a member up by that spacing: one level
/// alone would rank it where it was, and a hotspot hit every period could never rise.
fn redistribute<K: Copy + Ord + std::hash::Hash>(counters: &mut HashMap<K, Counter>) {
    let n = counters.len().max(1);
    let step = u8::try_from(usize::from(LEVELS).div_ceil(n)).unwrap_or(LEVELS);
    let mut ranked: Vec<(u8, u32, u64, K)> = counters
        .iter()
        .map(|(&key, c)| {
            let level = if c.hits > 0 {
                c.level.saturating_add(step).min(LEVELS - 1)
            } else {
                c.level
            };
            (level, c.hits, c.last_stamp, key)
        })
        .collect();
    ranked.sort_unstable();
    for (rank, (_, _, _, key)) in ranked.into_iter().enumerate() {
        if let Some(c) = counters.get_mut(&key) {
            c.level = u8::try_from(rank * usize::from(LEVELS) / n).unwrap_or(LEVELS - 1);
            c.hits = 0;
        }
    }
}

#[derive(Debug, Clone)]
pub struct Smq {
    sequential_cutoff_bytes: u64,
    hotspots: HashMap<(u64, u64), Counter>,
    residents: HashMap<ExtentId, Counter>,
    /// Slower extents touched since the last plan: the promotion candidates.
    touched: HashMap<ExtentId, u64>,
    /// Promoted and not yet seen on the fastest tier: the engine's map shows an extent where
    /// it was until its copy commits. A resident meanwhile, but never a victim.
    promoting: HashSet<ExtentId>,
    next_stamp: u64,
}

impl Smq {
    pub fn new(sequential_cutoff_bytes: u64) -> Self {
        Self {
            sequential_cutoff_bytes,
            hotspots: HashMap::default(),
            residents: HashMap::default(),
            touched: HashMap::default(),
            promoting: HashSet::default(),
            next_stamp: 0,
        }
    }

    fn hotspot_of(extent: ExtentId) -> (u64, u64) {
        (extent.volume, extent.index / HOTSPOT_EXTENTS)
    }

    fn hotspot_level(&self, extent: ExtentId) -> u8 {
        self.hotspots
            .get(&Self::hotspot_of(extent))
            .map_or(0, |c| c.level)
    }
}

impl PlacementPolicy for Smq {
    fn name(&self) -> &str {
        "smq"
    }

    fn place_new(&mut self, extent: ExtentId, view: &dyn TierView) -> TierId {
        let tier = view
            .fastest_with_room(TierId::FASTEST)
            .unwrap_or_else(|| view.slowest());
        if tier == TierId::FASTEST {
            self.residents.insert(
                extent,
                Counter {
                    last_stamp: self.next_stamp,
                    ..Counter::default()
                },
            );
        }
        tier
    }

    fn on_access(&mut self, access: &Access, view: &dyn TierView) -> Vec<Move> {
        if access.run_bytes > self.sequential_cutoff_bytes {
            return Vec::new();
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let hotspot = self
            .hotspots
            .entry(Self::hotspot_of(access.extent))
            .or_default();
        hotspot.hits = hotspot.hits.saturating_add(1);
        hotspot.last_stamp = stamp;
        if view.location(access.extent) == Some(TierId::FASTEST) {
            let resident = self.residents.entry(access.extent).or_default();
            resident.hits = resident.hits.saturating_add(1);
            resident.last_stamp = stamp;
        } else {
            self.touched.insert(access.extent, stamp);
        }
        Vec::new()
    }

    fn plan(&mut self, _now_ns: u64, view: &dyn TierView, budget_bytes: u64) -> Vec<Move> {
        let fast = |e: ExtentId| view.location(e) == Some(TierId::FASTEST);
        self.promoting.retain(|&e| !fast(e));
        let promoting = &self.promoting;
        self.residents
            .retain(|e, _| fast(*e) || promoting.contains(e));
        redistribute(&mut self.hotspots);
        redistribute(&mut self.residents);
        let mut builder = PlanBuilder::new(view, budget_bytes);
        let promote_level = if view.has_room(TierId::FASTEST) {
            PROMOTE_LEVEL_FREE
        } else {
            PROMOTE_LEVEL_FULL
        };
        let touched = std::mem::take(&mut self.touched);
        let mut candidates: Vec<(u8, u64, ExtentId, TierId)> = touched
            .into_iter()
            .filter_map(|(e, stamp)| {
                let tier = view.location(e)?;
                (tier != TierId::FASTEST).then_some((e, stamp, tier))
            })
            .map(|(e, stamp, tier)| (self.hotspot_level(e), stamp, e, tier))
            .filter(|&(level, ..)| level >= promote_level)
            .collect();
        // Hottest hotspot first, most recent first within a level.
        candidates.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut victims: Vec<(u8, u64, ExtentId)> = self
            .residents
            .iter()
            .filter(|&(e, _)| !self.promoting.contains(e))
            .map(|(&e, c)| (c.level, c.last_stamp, e))
            .collect();
        victims.sort_unstable();
        let mut victims = victims.into_iter();
        for (level, stamp, extent, from) in candidates {
            if builder.moves_left() == 0 {
                break;
            }
            if !builder.has_room(TierId::FASTEST) {
                let Some(&(victim_level, _, victim)) = victims.as_slice().first() else {
                    break;
                };
                if level < victim_level.saturating_add(HYSTERESIS_LEVELS) {
                    continue;
                }
                let Some(below) = builder.fastest_with_room(TierId(1)) else {
                    break;
                };
                if builder.moves_left() < 2
                    || !builder.push(victim, TierId::FASTEST, below, MoveReason::Evict)
                {
                    break;
                }
                victims.next();
                self.residents.remove(&victim);
            }
            if builder.push(extent, from, TierId::FASTEST, MoveReason::Promote) {
                self.promoting.insert(extent);
                self.residents.insert(
                    extent,
                    Counter {
                        level,
                        hits: 0,
                        last_stamp: stamp,
                    },
                );
            }
        }
        builder.finish()
    }

    fn adopt(&mut self, extent: ExtentId, tier: TierId, _view: &dyn TierView) {
        // A resident at the coldest level, least recent.
        if tier == TierId::FASTEST {
            self.residents.entry(extent).or_default();
        }
    }

    fn retain_volumes(&mut self, keep: &dyn Fn(u64) -> bool) {
        self.hotspots.retain(|&(volume, _), _| keep(volume));
        self.residents.retain(|e, _| keep(e.volume));
        self.touched.retain(|e, _| keep(e.volume));
        self.promoting.retain(|e| keep(e.volume));
    }

    /// The extents leave the residents and the candidates; their hotspots stay, as their
    /// neighbours' hits are in them too.
    fn unmapped(&mut self, extents: &[ExtentId]) {
        for extent in extents {
            self.residents.remove(extent);
            self.touched.remove(extent);
            self.promoting.remove(extent);
        }
    }

    fn refused(&mut self, mv: &Move) {
        // A refused eviction leaves its victim on the fastest tier: a resident again, at the
        // coldest level (the next plan drops it if it has left after all). A refused
        // promotion is no longer awaited, so the next plan drops its resident.
        if mv.reason == MoveReason::Evict && mv.from == TierId::FASTEST {
            self.residents.entry(mv.extent).or_default();
        } else if mv.reason == MoveReason::Promote && mv.to == TierId::FASTEST {
            self.promoting.remove(&mv.extent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PlacementMap;
    use crate::policies::test_rig::{evict_to_hdd, nvme_over_hdd as map, observe};

    fn access(policy: &mut Smq, map: &mut PlacementMap, index: u64) {
        assert!(observe(policy, map, index).is_empty(), "smq moves in plan");
    }

    /// One period: extent 8's hotspot is hit most, three other hotspots once each.
    fn period(policy: &mut Smq, map: &mut PlacementMap) -> Vec<Move> {
        for index in [8, 8, 8, 12, 16, 20] {
            access(policy, map, index);
        }
        policy.plan(0, map, 64 << 20)
    }

    #[test]
    fn a_refused_eviction_leaves_its_victim_the_coldest_resident() {
        let mut policy = Smq::new(4 << 20);
        let mut map = map(1);
        access(&mut policy, &mut map, 0);
        assert_eq!(map.location(ExtentId::new(0, 0)), Some(TierId::FASTEST));
        let evict_0 = evict_to_hdd(0);
        let first = period(&mut policy, &mut map);
        assert_eq!(first.first(), Some(&evict_0), "{first:?}");
        // Not run yet (the engine's map still shows 0 on nvme): not chosen twice.
        let waiting = period(&mut policy, &mut map);
        assert!(!waiting.contains(&evict_0), "{waiting:?}");
        // The executor refuses the first plan (a full mover queue) and says so. Before,
        // smq forgot 0 when it chose it and never evicted it again.
        first.iter().for_each(|mv| policy.refused(mv));
        let again = period(&mut policy, &mut map);
        assert_eq!(again.first(), Some(&evict_0), "{again:?}");
        for mv in &again {
            map.apply(mv).expect("contract");
        }
        assert_eq!(map.location(ExtentId::new(0, 8)), Some(TierId::FASTEST));
    }

    #[test]
    fn a_promotion_waiting_to_run_stays_a_resident() {
        let mut policy = Smq::new(4 << 20);
        let mut map = map(1);
        access(&mut policy, &mut map, 0);
        let first = period(&mut policy, &mut map);
        assert_eq!(first.len(), 2, "{first:?}");
        // Queued, not run: the engine's map still shows 8 on the hdd at the next plan.
        let waiting = period(&mut policy, &mut map);
        assert!(waiting.is_empty(), "{waiting:?}");
        for mv in &first {
            map.apply(mv).expect("contract");
        }
        // A new hot hotspot: 8, the fast tier's only resident, has to make way. Before,
        // smq dropped 8 from its residents while its copy waited, and never evicted it.
        let evict_8 = evict_to_hdd(8);
        let moves = (0..10)
            .map(|_| {
                for index in [24, 24, 24, 12, 16, 20] {
                    access(&mut policy, &mut map, index);
                }
                policy.plan(0, &map, 64 << 20)
            })
            .find(|moves| !moves.is_empty())
            .unwrap_or_default();
        assert_eq!(moves.first(), Some(&evict_8), "{moves:?}");
    }

    #[test]
    fn a_member_hit_every_period_rises_to_the_top_of_a_small_population() {
        // Eleven members spread over sixteen levels: neighbours sit one or two levels apart.
        let mut counters: HashMap<u64, Counter> =
            (0..11u64).map(|k| (k, Counter::default())).collect();
        redistribute(&mut counters);
        counters.insert(99, Counter::default());
        for _ in 0..12 {
            if let Some(c) = counters.get_mut(&99) {
                c.hits = 1;
            }
            redistribute(&mut counters);
        }
        let top = counters.values().map(|c| c.level).max();
        assert_eq!(Some(counters[&99].level), top, "{:?}", counters[&99]);
    }

    #[test]
    fn redistribution_spreads_levels_and_lifts_the_hit() {
        let mut counters: HashMap<u64, Counter> =
            (0..32u64).map(|k| (k, Counter::default())).collect();
        if let Some(c) = counters.get_mut(&7) {
            c.hits = 3;
        }
        redistribute(&mut counters);
        assert_eq!(counters[&7].level, LEVELS - 1);
        let mut per_level = [0usize; LEVELS as usize];
        for c in counters.values() {
            per_level[usize::from(c.level)] += 1;
            assert_eq!(c.hits, 0);
        }
        assert!(per_level.iter().all(|&n| n == 2), "{per_level:?}");
    }
}
