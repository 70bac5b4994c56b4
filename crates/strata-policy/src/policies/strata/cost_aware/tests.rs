//! `strata` unit tests over a `PlacementMap`: admission, cost-awareness, scan bypass,
//! cool-down, watermarks, pins, reservations and congestion.

use super::*;
use crate::policies::test_rig::nvme_over_hdd as map;
use crate::{CopyModel, MoveReason, Pin, PlacementMap};
use strata_core::{DeviceProfile, TierKind};

const MIB: u64 = 1 << 20;
const SECOND_NS: u64 = 1_000_000_000;

struct Rig {
    policy: CostAware,
    map: PlacementMap,
}

impl Rig {
    fn new(config: StrataConfig, fast: u64) -> Self {
        Self {
            policy: CostAware::new(config).expect("valid config"),
            map: map(fast),
        }
    }

    fn touch(&mut self, volume: u64, index: u64, time_ns: u64, sequential: bool, run_bytes: u64) {
        let extent = ExtentId::new(volume, index);
        if self.map.location(extent).is_none() {
            let tier = self.policy.place_new(extent, &self.map);
            self.map.place(extent, tier).expect("room");
        }
        let access = Access {
            extent,
            kind: IoKind::Read,
            time_ns,
            len_bytes: 4096,
            offset_in_extent_bytes: None,
            sequential,
            run_bytes,
        };
        for mv in self.policy.on_access(&access, &self.map) {
            self.map.apply(&mv).expect("contract");
        }
    }

    fn visit(&mut self, index: u64, time_ns: u64) {
        self.touch(0, index, time_ns, false, 4096);
    }

    fn plan(&mut self, now_ns: u64) -> Vec<Move> {
        self.plan_with_delays(now_ns, [0, 0])
    }

    /// Plans with the given queue delays of the two tiers (congestion).
    fn plan_with_delays(&mut self, now_ns: u64, queue_delay_ns: [u64; 2]) -> Vec<Move> {
        let view = Altered {
            map: &self.map,
            queue_delay_ns,
            fast_capacity: None,
        };
        let moves = self.policy.plan(now_ns, &view, 64 * MIB);
        for mv in &moves {
            self.map.apply(mv).expect("contract");
        }
        moves
    }

    fn tier_of(&self, index: u64) -> Option<TierId> {
        self.map.location(ExtentId::new(0, index))
    }
}

/// The map with busy device queues and, when `fast_capacity` is set, a fast tier smaller
/// than what it holds (a shrink, or a restart on a smaller device).
struct Altered<'a> {
    map: &'a PlacementMap,
    queue_delay_ns: [u64; 2],
    fast_capacity: Option<u64>,
}

impl TierView for Altered<'_> {
    fn tier_count(&self) -> usize {
        self.map.tier_count()
    }
    fn kind(&self, tier: TierId) -> Option<&TierKind> {
        self.map.kind(tier)
    }
    fn profile(&self, tier: TierId) -> Option<DeviceProfile> {
        self.map.profile(tier)
    }
    fn capacity_extents(&self, tier: TierId) -> Option<u64> {
        match self.fast_capacity {
            Some(capacity) if tier == TierId(0) => Some(capacity),
            _ => self.map.capacity_extents(tier),
        }
    }
    fn used_extents(&self, tier: TierId) -> u64 {
        self.map.used_extents(tier)
    }
    fn queue_delay_ns(&self, tier: TierId) -> u64 {
        self.queue_delay_ns.get(tier.rank()).copied().unwrap_or(0)
    }
    fn location(&self, extent: ExtentId) -> Option<TierId> {
        self.map.location(extent)
    }
    fn extent_bytes(&self) -> u64 {
        self.map.extent_bytes()
    }
}

/// Fills the fast tier (2 extents) with cold extents 0 and 1, then visits extent 9 `visits`
/// times within one second.
fn hot_behind_cold(visits: u64) -> Rig {
    let mut rig = Rig::new(StrataConfig::default(), 2);
    rig.visit(0, 0);
    rig.visit(1, 0);
    for i in 0..visits {
        rig.visit(9, i * 1000);
    }
    rig
}

#[test]
fn a_hot_extent_displaces_a_cold_one_only_when_the_saving_pays_for_the_copies() {
    let mut hot = hot_behind_cold(20);
    let moves = hot.plan(SECOND_NS);
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert_eq!(moves[0].reason, MoveReason::Evict);
    assert_eq!(hot.tier_of(9), Some(TierId(0)));

    // Two visits against the victim's one save ~4 ms of disk time; the counts are noisy
    // (two Poisson deviations of their sum: ~14 ms), so the swap does not pay…
    let mut barely = hot_behind_cold(2);
    assert!(barely.plan(SECOND_NS).is_empty());
    assert_eq!(barely.tier_of(9), Some(TierId(1)));
    // …eight save ~29 ms against ~25 ms of noise and ~4 ms of copies (on an idle disk a
    // tenth of their ~21 ms, doubled by the margin): it does.
    let mut lukewarm = hot_behind_cold(8);
    assert_eq!(lukewarm.plan(SECOND_NS).len(), 2);
    assert_eq!(lukewarm.tier_of(9), Some(TierId(0)));
}

#[test]
fn a_visit_to_a_backlogged_disk_saves_the_backlog() {
    // With a second of backlog on the disk, each visit there waits that second. Eight
    // visits against the victim's one: the saving is ~7 s, not ~29 ms, so the swap pays
    // for its copies, the noise (two deviations: ~6 s) and the victim's wait for its own
    // demotion (~6 ms). Priced by service time alone, the saturated disk's copies
    // outweighed it.
    let saturated = [0, SECOND_NS];
    let mut rig = hot_behind_cold(8);
    let moves = rig.plan_with_delays(SECOND_NS, saturated);
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert_eq!(rig.tier_of(9), Some(TierId(0)));
    // The victim's visits would wait the same backlog after its demotion: 12 visits against
    // 8 save ~4 s, within the noise (~9 s). Counting the backlog for the candidate alone
    // would have swapped them.
    let mut even = Rig::new(StrataConfig::default(), 1);
    for i in 0..12 {
        if i < 8 {
            even.visit(0, i * 1000);
        }
        even.visit(9, i * 1000 + 500);
    }
    assert!(even.plan_with_delays(SECOND_NS, saturated).is_empty());
    assert_eq!(even.tier_of(9), Some(TierId(1)));
}

#[test]
fn no_promotion_into_a_tier_with_a_longer_queue_than_the_source() {
    let mut rig = hot_behind_cold(20);
    assert!(
        rig.plan_with_delays(SECOND_NS, [50_000_000, 1_000_000])
            .is_empty()
    );
    assert_eq!(rig.plan_with_delays(2 * SECOND_NS, [0, 1_000_000]).len(), 2);
}

#[test]
fn a_single_touch_is_not_admitted() {
    let mut rig = Rig::new(StrataConfig::default(), 4);
    rig.visit(0, 0);
    rig.visit(1, 0);
    rig.visit(2, 0);
    rig.visit(3, 0);
    // One visit (a big request would count once too), however many accesses continue it.
    for step in 0..200 {
        rig.touch(0, 9, step, step > 0, 4096 * (step + 1));
    }
    assert!(rig.plan(SECOND_NS).is_empty());
}

#[test]
fn scanned_extents_bypass_promotion() {
    let mut rig = Rig::new(StrataConfig::default(), 1);
    rig.visit(0, 0);
    for round in 0..20 {
        // Every visit to 9 is the start of a request in a long sequential run.
        rig.touch(0, 9, round * 1000, false, 64 * MIB);
    }
    assert!(rig.plan(SECOND_NS).is_empty());
}

#[test]
fn a_moved_extent_cools_down_before_it_moves_again() {
    let mut rig = hot_behind_cold(20);
    rig.plan(SECOND_NS);
    // Now 0 becomes hot and 9 cold: within the cool-down, 9 stays; after it, they swap.
    for i in 0..40 {
        rig.visit(0, SECOND_NS + i * 1000);
    }
    assert!(rig.plan(2 * SECOND_NS).is_empty());
    assert_eq!(rig.tier_of(9), Some(TierId(0)));
    assert_eq!(rig.tier_of(0), Some(TierId(1)));
    let later = 2 * SECOND_NS + StrataConfig::default().cooldown_ns;
    for i in 0..40 {
        rig.visit(0, later + i * 1000);
    }
    rig.plan(later + 1000);
    assert_eq!(rig.tier_of(0), Some(TierId(0)));
}

#[test]
fn new_data_fills_free_space_and_a_full_tier_is_not_drained() {
    let config = StrataConfig::default().with_watermarks_permille(800, 500);
    let mut rig = Rig::new(config, 10);
    for index in 0..12 {
        rig.visit(index, 0);
    }
    assert_eq!(
        rig.map.used_extents(TierId(0)),
        10,
        "new extents use every free slot"
    );
    assert_eq!(rig.tier_of(11), Some(TierId(1)));
    // Full is not overfull: nothing is demoted to make headroom nobody asked for.
    assert!(rig.plan(SECOND_NS).is_empty());
    assert_eq!(rig.map.used_extents(TierId(0)), 10);
}

#[test]
fn promotions_into_free_slots_stop_at_the_high_watermark() {
    let config = StrataConfig::default().with_watermarks_permille(800, 500);
    let mut rig = Rig::new(config, 10);
    // The mark is under test, not the pacing: copies may take the whole interval.
    rig.policy.set_copies(CopyModel::Overlapping);
    // Ten extents on the disk (placed there by someone else), all hot.
    for index in 0..10 {
        rig.map
            .place(ExtentId::new(0, index), TierId(1))
            .expect("room");
    }
    for round in 0..40 {
        for index in 0..10 {
            rig.visit(index, round * 10_000 + index);
        }
    }
    rig.plan(SECOND_NS);
    assert_eq!(
        rig.map.used_extents(TierId(0)),
        8,
        "free-slot promotions stop at the high mark"
    );
}

#[test]
fn a_tier_over_its_capacity_drains_to_the_low_watermark() {
    let config = StrataConfig::default().with_watermarks_permille(800, 500);
    let mut rig = Rig::new(config, 10);
    for index in 0..10 {
        rig.visit(index, 0);
    }
    // The fast tier shrinks to 8 extents under its 10 residents.
    let shrunk = Altered {
        map: &rig.map,
        queue_delay_ns: [0, 0],
        fast_capacity: Some(8),
    };
    let moves = rig.policy.plan(SECOND_NS, &shrunk, 64 * MIB);
    assert_eq!(moves.len(), 6, "10 residents down to 50 % of 8: {moves:?}");
    assert!(
        moves
            .iter()
            .all(|m| m.reason == MoveReason::Demote && m.to == TierId(1))
    );
}

#[test]
fn a_pin_leaving_a_shrunk_tier_counts_towards_its_drain() {
    let config = StrataConfig::default().with_watermarks_permille(800, 500);
    let mut filled = Rig::new(config.clone(), 10);
    for index in 0..10 {
        filled.visit(index, 0);
    }
    // Extent 3 is then pinned to the hdd, and the fast tier shrinks to 8 under its 10.
    let pinned = config.with_pin(Pin {
        volume: 0,
        extents: Some(3..4),
        tier: TierId(1),
    });
    let heat = HeatMap::from_bytes(&filled.policy.heat_map().to_bytes()).expect("round trip");
    let mut rig = Rig {
        policy: CostAware::with_heat_map(pinned, heat).expect("valid"),
        map: filled.map,
    };
    let shrunk = Altered {
        map: &rig.map,
        queue_delay_ns: [0, 0],
        fast_capacity: Some(8),
    };
    let moves = rig.policy.plan(SECOND_NS, &shrunk, 64 * MIB);
    assert_eq!(
        moves.len(),
        6,
        "the pin and five more, down to 50 % of 8: {moves:?}"
    );
    assert!(moves.iter().any(|m| m.extent == ExtentId::new(0, 3)));
    for mv in &moves {
        rig.map.apply(mv).expect("contract");
    }
    assert_eq!(rig.map.used_extents(TierId(0)), 4);
}

#[test]
fn pins_hold_volumes_and_ranges_on_their_tier() {
    let config = StrataConfig::default()
        .with_pin(Pin {
            volume: 7,
            extents: None,
            tier: TierId(1),
        })
        .with_pin(Pin {
            volume: 7,
            extents: Some(100..110),
            tier: TierId(0),
        });
    let mut rig = Rig::new(config, 4);
    rig.touch(7, 1, 0, false, 4096);
    assert_eq!(rig.map.location(ExtentId::new(7, 1)), Some(TierId(1)));
    rig.touch(7, 105, 0, false, 4096);
    assert_eq!(rig.map.location(ExtentId::new(7, 105)), Some(TierId(0)));
    // However hot, the volume-pinned extent is never promoted.
    for i in 0..100 {
        rig.touch(7, 1, i, false, 4096);
    }
    assert!(rig.plan(SECOND_NS).is_empty());
}

#[test]
fn capacity_reserved_for_another_volume_is_left_free() {
    let config = StrataConfig::default().with_reservation(Reservation {
        volume: 2,
        tier: TierId(0),
        extents: 3,
    });
    let mut rig = Rig::new(config, 4);
    for index in 0..4 {
        rig.visit(index, 0);
    }
    assert_eq!(
        rig.map.used_extents(TierId(0)),
        1,
        "3 of 4 slots are volume 2's"
    );
    rig.touch(2, 0, 0, false, 4096);
    assert_eq!(rig.map.location(ExtentId::new(2, 0)), Some(TierId(0)));
    // A hot extent of volume 0 may only trade places with volume 0's resident.
    for i in 0..50 {
        rig.visit(3, i * 1000);
    }
    let moves = rig.plan(SECOND_NS);
    assert_eq!(rig.map.used_extents(TierId(0)), 2, "{moves:?}");
    assert_eq!(rig.tier_of(3), Some(TierId(0)));
}

#[test]
fn reservations_handed_in_at_run_time_bind_like_configured_ones() {
    let mut rig = Rig::new(StrataConfig::default(), 4);
    rig.policy.set_reservations(&[Reservation {
        volume: 2,
        tier: TierId(0),
        extents: 3,
    }]);
    for index in 0..4 {
        rig.visit(index, 0);
    }
    assert_eq!(
        rig.map.used_extents(TierId(0)),
        1,
        "3 of 4 slots are volume 2's"
    );
    // Released: new extents of volume 0 may fill the tier again.
    rig.policy.set_reservations(&[]);
    for index in 4..7 {
        rig.visit(index, 0);
    }
    assert_eq!(rig.map.used_extents(TierId(0)), 4);
}

#[test]
fn a_warm_restart_keeps_the_evidence() {
    let rig = hot_behind_cold(20);
    let saved = rig.policy.heat_map().to_bytes();
    let heat = HeatMap::from_bytes(&saved).expect("round trip");
    let mut restarted = Rig {
        policy: CostAware::with_heat_map(StrataConfig::default(), heat).expect("valid"),
        map: rig.map.clone(),
    };
    assert_eq!(restarted.plan(SECOND_NS).len(), 2);
    assert_eq!(restarted.tier_of(9), Some(TierId(0)));
}

#[test]
fn scores_shrink_toward_their_mean_by_the_share_noise_explains() {
    // Scores around 26 that vary less than Poisson counts would (variance 10): the top
    // ones are lucky, not hot.
    let uniform: Vec<f64> = (0..1000).map(|i| 26.0 + f64::from(i % 11) - 5.0).collect();
    let shrink = Shrink::of(uniform.iter().copied());
    assert!(shrink.apply(31.0) < 26.5, "{shrink:?}");
    // A hot set of 50 at 500 visits over 950 cold ones at 2: the spread is real.
    let skewed: Vec<f64> = (0..1000)
        .map(|i| if i < 50 { 500.0 } else { 2.0 })
        .collect();
    let shrink = Shrink::of(skewed.iter().copied());
    assert!(shrink.apply(500.0) > 495.0, "{shrink:?}");
    // Too few to tell: left alone.
    assert_eq!(Shrink::of([1.0, 1.0, 8.0].into_iter()), Shrink::default());
}

#[test]
fn a_forecast_can_promote_before_the_heat_shows() {
    // Two visits do not pay for a swap (above); a forecast of 60 says they will.
    let mut rig = hot_behind_cold(2);
    let forecast: Forecast = [(ExtentId::new(0, 9), 60.0)].into_iter().collect();
    rig.policy.observe_forecast(&forecast);
    assert_eq!(rig.plan(SECOND_NS).len(), 2);
    assert_eq!(rig.tier_of(9), Some(TierId(0)));
}

#[test]
fn bad_config_is_refused() {
    let config = StrataConfig::default().with_watermarks_permille(980, 990);
    assert!(CostAware::new(config).is_err());
}

#[test]
fn the_express_lane_spends_only_what_the_last_plan_left() {
    // Before any plan there is no budget: a burst on a cold extent moves nothing.
    let mut rig = hot_behind_cold(20);
    assert_eq!(rig.tier_of(9), Some(TierId(1)));
    rig.plan(SECOND_NS);
    assert_eq!(rig.tier_of(9), Some(TierId(0)));
    // After a plan that left budget, a hot set that appears between plans is promoted on
    // access, within that budget: 64 MiB = 64 moves, 32 swaps at most.
    for round in 0..20 {
        for index in 100..150 {
            rig.visit(index, SECOND_NS + 1000 + round * 50 + index);
        }
    }
    let promoted = (100..150)
        .filter(|&i| rig.tier_of(i) == Some(TierId(0)))
        .count();
    assert!(promoted >= 1, "nothing promoted");
    assert!(promoted <= 1, "fast tier holds 2: one slot is 9's, cooling");
}

#[test]
fn a_busy_disk_gets_only_the_movers_share_of_copy_time() {
    // 64 cold extents fill the fast tier; 40 hot ones on the disk are visited 20 times
    // each in the first second, so every promotion is a swap: a read and a write of 1 MiB
    // on the disk.
    let rig = |copies: CopyModel| {
        let mut rig = Rig::new(StrataConfig::default(), 64);
        rig.policy.set_copies(copies);
        for index in 1000..1064 {
            rig.visit(index, 0);
        }
        for round in 0..20 {
            for i in 0..40 {
                // A stride of 7 keeps neighbours apart: no sequential run.
                rig.visit(i * 7 % 40, 1 + (round * 40 + i) * (SECOND_NS / 800));
            }
        }
        rig
    };
    let disk_ns = |moves: &[Move]| {
        let read = DeviceProfile::HDD.service_ns(IoKind::Read, MIB, false);
        let write = DeviceProfile::HDD.service_ns(IoKind::Write, MIB, false);
        moves
            .iter()
            .map(|mv| if mv.to == TierId(1) { write } else { read })
            .sum::<u64>()
    };

    // Copies overlapping foreground I/O may take the whole interval: the budget (64 moves)
    // binds first.
    let mut overlapping = rig(CopyModel::Overlapping);
    assert_eq!(overlapping.plan(SECOND_NS).len(), 64);

    // Under the engine's mover, a disk that served requests in the interval gives copies
    // 5 % of its time: the plan asks for no more (two swaps of ~20 ms).
    let mut mover = rig(CopyModel::default());
    let busy = mover.plan(SECOND_NS);
    assert!(!busy.is_empty(), "the hottest extents still move");
    assert!(
        disk_ns(&busy) <= SECOND_NS / 20,
        "{} ns of copies on the disk",
        disk_ns(&busy)
    );
    // A second with no foreground request on the disk: copies may take all of it.
    let idle = mover.plan(2 * SECOND_NS);
    assert!(
        disk_ns(&idle) > SECOND_NS / 2,
        "{} moves, {} ns of copies on the idle disk",
        idle.len(),
        disk_ns(&idle)
    );
}

#[test]
fn plans_a_millisecond_apart_add_up_to_the_copies_one_plan_a_second_later_makes() {
    // One plan a second after the visits swaps 9 in (the test above). A plan every
    // millisecond instead: each alone has 1 ms of copy time, less than one 1 MiB disk copy,
    // so what one plan leaves carries to the next, up to a second's worth.
    let mut rig = hot_behind_cold(20);
    let mut moves = Vec::new();
    for ms in 1..=1000u64 {
        moves.extend(rig.plan(ms * 1_000_000));
    }
    assert_eq!(rig.tier_of(9), Some(TierId(0)), "{moves:?}");
    assert_eq!(moves.len(), 2, "one swap, as from one plan: {moves:?}");
}
