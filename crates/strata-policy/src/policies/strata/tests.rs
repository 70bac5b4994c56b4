//! `strata` (leader-following) unit tests over a real `PlacementMap`: it follows a
//! cheaper candidate, stays with the cost-aware one where copies do not pay, and pins hold
//! whoever leads.

use super::*;
use crate::{IoKind, PlacementMap, PolicyErrorKind, TierSpec};
use strata_core::{DeviceProfile, TierKind};

const MIB: u64 = 1 << 20;
const MS: u64 = 1_000_000;

struct Rig {
    policy: Strata,
    map: PlacementMap,
    moves: u64,
    next_plan_ns: u64,
    /// How much slower than its profile the view gives the hdd, as the engine's view gives a
    /// disk it measured slower ([`Measured`]).
    hdd_slowdown: f64,
}

/// The rig's map, with its hdd `hdd_slowdown` times slower than its profile.
struct Measured<'a> {
    map: &'a PlacementMap,
    hdd_slowdown: f64,
}

impl<'a> Measured<'a> {
    fn of(map: &'a PlacementMap, hdd_slowdown: f64) -> Self {
        Self { map, hdd_slowdown }
    }
}

impl TierView for Measured<'_> {
    fn tier_count(&self) -> usize {
        self.map.tier_count()
    }
    fn kind(&self, tier: TierId) -> Option<&TierKind> {
        self.map.kind(tier)
    }
    fn profile(&self, tier: TierId) -> Option<DeviceProfile> {
        let profile = self.map.profile(tier)?;
        Some(if profile.seek_penalty {
            profile.slowed_by(self.hdd_slowdown)
        } else {
            profile
        })
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
        self.map.location(extent)
    }
    fn extent_bytes(&self) -> u64 {
        self.map.extent_bytes()
    }
}

impl Rig {
    fn new(config: StrataConfig, fast: u64) -> Self {
        let tier = TierSpec::packed;
        let map = PlacementMap::new(
            vec![
                tier(TierKind::Nvme, DeviceProfile::NVME, Some(fast)),
                tier(TierKind::Hdd, DeviceProfile::HDD, None),
            ],
            MIB,
        )
        .expect("valid");
        Self {
            policy: Strata::new(config, 4 * MIB).expect("valid config"),
            map,
            moves: 0,
            next_plan_ns: 1_000 * MS,
            hdd_slowdown: 1.0,
        }
    }

    fn apply(&mut self, moves: &[Move]) {
        for mv in moves {
            self.map
                .apply(mv)
                .expect("the policy keeps the executor contract");
            self.moves += 1;
        }
    }

    fn place(&mut self, index: u64) {
        let extent = ExtentId::new(0, index);
        if self.map.location(extent).is_none() {
            let tier = self
                .policy
                .place_new(extent, &Measured::of(&self.map, self.hdd_slowdown));
            self.map.place(extent, tier).expect("room");
        }
    }

    /// A 4 KiB random read of extent `index` at `time_ns`, with the plans due before it.
    fn read(&mut self, index: u64, time_ns: u64) {
        while self.next_plan_ns <= time_ns {
            let moves = self.policy.plan(
                self.next_plan_ns,
                &Measured::of(&self.map, self.hdd_slowdown),
                64 * MIB,
            );
            self.apply(&moves);
            self.next_plan_ns += 1_000 * MS;
        }
        self.place(index);
        let extent = ExtentId::new(0, index);
        let access = Access {
            extent,
            kind: IoKind::Read,
            time_ns,
            len_bytes: 4096,
            offset_in_extent_bytes: None,
            sequential: false,
            run_bytes: 4096,
        };
        let moves = self
            .policy
            .on_access(&access, &Measured::of(&self.map, self.hdd_slowdown));
        self.apply(&moves);
    }

    fn tier_of(&self, index: u64) -> Option<TierId> {
        self.map.location(ExtentId::new(0, index))
    }
}

/// Phases of [`shifting_hot_set`] that give a challenger's streak the ten minutes a change
/// of leader needs (40 × 20 s = 800 s).
const PHASES: u64 = 40;

/// A hot set of 8 extents that moves to 8 new extents every 20 s, read 100 times a second,
/// over 500 placed extents and an 8-extent fast tier: promote-on-access catches each new set
/// with 8 copies, while decayed heat keeps the old set looking hotter for minutes.
fn shifting_hot_set(rig: &mut Rig, phases: u64) -> std::ops::Range<u64> {
    for index in 0..500 {
        rig.place(index);
    }
    shifting_hot_set_phases(rig, 0..phases)
}

/// The phases `phases` of [`shifting_hot_set`], on extents it placed.
fn shifting_hot_set_phases(rig: &mut Rig, phases: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let start = 1_000 * MS;
    let mut hot = 0..0;
    for phase in phases {
        hot = 8 * phase + 100..8 * phase + 108;
        for i in 0..2_000u64 {
            let time = start + phase * 20_000 * MS + i * 10 * MS;
            rig.read(hot.start + i % 8, time);
        }
    }
    hot
}

/// The leader is not the cost-aware candidate, and no candidate beats it by the switching
/// margin.
fn assert_follows_a_promoting_leader(policy: &Strata) {
    let scores = policy.scores();
    assert_ne!(policy.leader(), "strata-cost-aware", "{scores:?}");
    let lead = scores[0].1.expect("scored");
    for (name, score) in &scores {
        assert!(
            score.expect("scored") >= SWITCH_RATIO * lead,
            "{name} beats the leader: {scores:?}"
        );
    }
}

#[test]
fn follows_a_promoting_candidate_where_heat_lags() {
    let mut rig = Rig::new(StrataConfig::default(), 8);
    let hot = shifting_hot_set(&mut rig, PHASES);
    assert_follows_a_promoting_leader(&rig.policy);
    assert_eq!(rig.policy.following(), Some(rig.policy.leader()));
    let on_fast = hot
        .clone()
        .filter(|&i| rig.tier_of(i) == Some(TierId::FASTEST))
        .count();
    assert!(on_fast >= 7, "{on_fast} of the hot set on the fast tier");
    // The real placement copies about what the leader copies: 8 promotions and 8
    // evictions per phase, plus one repair of the fast tier after the switch.
    assert!(rig.moves <= PHASES * 16 + 32, "{} moves", rig.moves);
}

/// A restart follows the leader the last run elected (an election takes ten minutes of
/// evidence), with the cost-aware candidate's heat map; a saved leader that is no candidate
/// is refused and changes nothing.
#[test]
fn a_restart_follows_the_saved_leader() {
    let mut rig = Rig::new(StrataConfig::default(), 8);
    shifting_hot_set(&mut rig, PHASES);
    assert_follows_a_promoting_leader(&rig.policy);
    let saved = rig.policy.save_state().expect("strata saves");

    let mut restarted = Strata::new(StrataConfig::default(), 4 * MIB).expect("valid config");
    assert_eq!(restarted.leader(), "strata-cost-aware");
    restarted.load_state(&saved).expect("same configuration");
    assert_eq!(restarted.leader(), rig.policy.leader());
    assert_eq!(restarted.following(), Some(rig.policy.leader()));
    assert_eq!(restarted.switches(), 0, "no election in this run");
    assert_eq!(restarted.save_state(), Some(saved.clone()));

    let heat = rig.policy.shadows[COST_AWARE]
        .policy()
        .save_state()
        .expect("a heat map");
    let unknown = state::encode("mru", None, &heat).expect("a short name");
    let mut cold = Strata::new(StrataConfig::default(), 4 * MIB).expect("valid config");
    let before = cold.save_state();
    let refused = cold.load_state(&unknown).expect_err("no such candidate");
    assert_eq!(refused.kind, PolicyErrorKind::CorruptState);
    assert!(refused.message.contains("mru"), "{refused}");
    assert_eq!(cold.leader(), "strata-cost-aware");
    assert_eq!(cold.save_state(), before);
}

/// A server restarted every eight minutes must still change leader. The shifting hot set
/// runs for 24 phases (eight minutes: a challenger is far ahead, but not for the ten
/// minutes an election needs), then the policy restarts from its saved state over the same
/// placement and clock, and 16 more phases run. The challenger's streak goes on across the
/// restart, so the promoting candidate takes over within them; with the streak started
/// again at the restart, it would need ten more minutes.
#[test]
fn a_challengers_streak_goes_on_across_a_restart() {
    let mut rig = Rig::new(StrataConfig::default(), 8);
    shifting_hot_set(&mut rig, 24);
    assert_eq!(rig.policy.leader(), "strata-cost-aware");
    let saved = rig.policy.save_state().expect("strata saves");
    let challenger = rig.policy.challenger.expect("a challenger on its way");
    assert!(challenger.streak > 1, "{challenger:?}");

    let mut restarted = Strata::new(StrataConfig::default(), 4 * MIB).expect("valid config");
    restarted.load_state(&saved).expect("same configuration");
    assert_eq!(restarted.save_state(), Some(saved));
    rig.policy = restarted;
    shifting_hot_set_phases(&mut rig, 24..PHASES);
    assert_follows_a_promoting_leader(&rig.policy);
    assert_eq!(rig.policy.switches(), 1);

    // A saved challenger that is no candidate, or the leader itself, is refused.
    let heat = rig.policy.shadows[COST_AWARE]
        .policy()
        .save_state()
        .expect("a heat map");
    let streak = |who| state::SavedChallenger {
        who,
        streak: 2,
        accesses: 100,
        since_ns: 0,
    };
    for (leader, who, says) in [
        ("strata-cost-aware", "mru", "\"mru\" is not a candidate"),
        ("smq", "smq", "\"smq\" is the leader"),
    ] {
        let bad = state::encode(leader, Some(streak(who)), &heat).expect("short names");
        let mut cold = Strata::new(StrataConfig::default(), 4 * MIB).expect("valid config");
        let refused = cold.load_state(&bad).expect_err("refused");
        assert_eq!(refused.kind, PolicyErrorKind::CorruptState);
        assert!(refused.message.contains(says), "{refused}");
        assert!(cold.challenger.is_none() && cold.leader() == "strata-cost-aware");
    }
}

/// Four minutes of the shifting hot set: a candidate is far ahead of the leader, but not for
/// the ten minutes a change of leader needs, so the cost-aware candidate still leads.
#[test]
fn a_challenger_ahead_for_less_than_the_span_does_not_take_over() {
    let mut rig = Rig::new(StrataConfig::default(), 8);
    shifting_hot_set(&mut rig, 12);
    let scores = rig.policy.scores();
    assert_eq!(rig.policy.leader(), "strata-cost-aware", "{scores:?}");
    assert_eq!(rig.policy.switches(), 0);
    let lead = scores[0].1.expect("scored");
    assert!(
        scores
            .iter()
            .any(|(_, score)| score.expect("scored") < SWITCH_RATIO * lead),
        "no candidate was ahead by the margin: {scores:?}"
    );
}

#[test]
fn stays_cost_aware_where_copies_do_not_pay() {
    let mut rig = Rig::new(StrataConfig::default(), 20);
    // Uniform random reads over 500 extents at 400/s: more than the disk serves, and every
    // promotion would add a 1 MiB read to it for a 4 % chance of a later hit.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..40_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rig.read(x % 500, i * 2_500_000);
    }
    assert_eq!(
        rig.policy.leader(),
        "strata-cost-aware",
        "{:?}",
        rig.policy.scores()
    );
    assert_eq!(rig.policy.switches(), 0);
    assert!(rig.moves < 100, "{} moves", rig.moves);
}

#[test]
fn pins_hold_whoever_leads() {
    let config = StrataConfig::default()
        .with_pin(Pin {
            volume: 0,
            extents: Some(100..104),
            tier: TierId(1),
        })
        .with_pin(Pin {
            volume: 0,
            extents: Some(0..1),
            tier: TierId::FASTEST,
        });
    let mut rig = Rig::new(config, 8);
    shifting_hot_set(&mut rig, PHASES);
    assert_follows_a_promoting_leader(&rig.policy);
    for index in 100..104 {
        assert_eq!(rig.tier_of(index), Some(TierId(1)), "extent {index}");
    }
    assert_eq!(rig.tier_of(0), Some(TierId::FASTEST));
}

/// The leader exchanged an nvme and an ssd extent (ARC does, with a free ssd slot of its
/// own) while both real tiers are full. The real placement must not send the nvme extent to
/// the hdd because the ssd it belongs on is full: it evicts the nvme resident the leader
/// has on the hdd first, and the exchange then lands where the leader has it.
#[test]
fn a_swap_between_full_tiers_keeps_the_victim_off_the_slowest_disk() {
    let tier = TierSpec::packed;
    let mut map = PlacementMap::new(
        vec![
            tier(TierKind::Nvme, DeviceProfile::NVME, Some(2)),
            tier(TierKind::Ssd, DeviceProfile::SSD, Some(2)),
            tier(TierKind::Hdd, DeviceProfile::HDD, None),
        ],
        MIB,
    )
    .expect("valid");
    let mut policy = Strata::new(StrataConfig::default(), 4 * MIB).expect("valid config");
    let e = |index| ExtentId::new(0, index);
    let (x, z, y, w, v) = (e(0), e(1), e(2), e(3), e(4));
    // Real: nvme {x, z}, ssd {y, w}, hdd {v}.
    for (extent, rank) in [(x, 0), (z, 0), (y, 1), (w, 1), (v, 2)] {
        map.place(extent, TierId(rank)).expect("room");
    }
    // The leader: nvme {y, v}, ssd {x, w}, hdd {z}; it just promoted y and v and demoted x.
    let leader = policy.leader;
    for (extent, rank) in [(y, 0), (v, 0), (x, 1), (w, 1)] {
        policy.shadows[leader].map.set(extent, TierId(rank), &map);
    }
    policy.leader_promoted.extend([y, v]);
    policy.victims = vec![VecDeque::from([x, z])];

    let moves = policy.follow_plan(&map, 64 * MIB);
    for mv in &moves {
        map.apply(mv).expect("the plan keeps the executor contract");
    }
    let to_hdd: Vec<ExtentId> = moves
        .iter()
        .filter(|mv| mv.to == TierId(2))
        .map(|mv| mv.extent)
        .collect();
    assert_eq!(to_hdd, vec![z], "{moves:?}");
    for (extent, rank) in [(y, 0), (v, 0), (x, 1), (w, 1), (z, 2)] {
        assert_eq!(
            map.location(extent),
            Some(TierId(rank)),
            "{extent:?}: {moves:?}"
        );
    }
}

/// `strata` hands the executor's copy model to its cost-aware candidate: on a disk busy
/// with foreground reads, the candidate it follows plans only the mover's share of the
/// disk's time, so the real placement moves less than with overlapping copies.
#[test]
fn the_cost_aware_candidate_is_told_how_copies_run() {
    let moves_after_first_plan = |copies: CopyModel| {
        let mut rig = Rig::new(StrataConfig::default(), 8);
        rig.policy.set_copies(copies);
        for index in 0..8 {
            rig.read(index, 0);
        }
        for round in 0..20 {
            for i in 0..40 {
                // A stride of 7 keeps neighbours apart: no sequential run.
                rig.read(100 + i * 7 % 40, 1 + (round * 40 + i) * (1_000 * MS / 800));
            }
        }
        // The read at 1 s runs the first plan before it.
        rig.read(0, 1_000 * MS);
        assert_eq!(rig.policy.leader(), "strata-cost-aware");
        rig.moves
    };
    let overlapping = moves_after_first_plan(CopyModel::Overlapping);
    let mover = moves_after_first_plan(CopyModel::default());
    assert!(mover >= 1, "the hottest extents still move");
    assert!(
        mover < overlapping,
        "{mover} moves under the mover, {overlapping} with overlapping copies"
    );
}

#[test]
fn a_restart_keeps_the_cost_aware_heat_map() {
    let mut rig = Rig::new(StrataConfig::default(), 4);
    for round in 0..20 {
        rig.read(7, round * 100 * MS);
    }
    let saved = rig.policy.save_state().expect("strata saves its heat map");
    let heat = Strata::saved_heat_map(&saved).expect("the state's format");
    let sample = heat
        .sample(ExtentId::new(0, 7), 2_000 * MS)
        .expect("the read extent is in it");
    assert!(sample.total() > 10.0, "{sample:?}");

    let mut restarted = Strata::new(StrataConfig::default(), 4 * MIB).expect("valid config");
    let cold = restarted.save_state().expect("an empty heat map");
    restarted.load_state(&saved).expect("same configuration");
    assert_eq!(restarted.save_state(), Some(saved.clone()));

    // Another half-life would misread every count, and corrupt bytes nothing: the policy
    // stays cold.
    let mut other = StrataConfig::default();
    other.heat.half_life_ns *= 2;
    let mut elsewhere = Strata::new(other, 4 * MIB).expect("valid config");
    let refused = elsewhere.load_state(&saved).expect_err("another half-life");
    assert_eq!(refused.kind, PolicyErrorKind::InvalidConfig);
    let mut damaged = saved.clone();
    damaged[saved.len() / 2] ^= 0x40;
    let mut cold_again = Strata::new(StrataConfig::default(), 4 * MIB).expect("valid config");
    let refused = cold_again.load_state(&damaged).expect_err("corrupt");
    assert_eq!(refused.kind, PolicyErrorKind::CorruptState);
    assert_eq!(cold_again.save_state(), Some(cold.clone()));
    // A heat map saved alone (before the leader was) loads; one damaged is refused.
    let bare = rig.policy.shadows[COST_AWARE]
        .policy()
        .save_state()
        .expect("a heat map");
    let mut damaged = bare.clone();
    damaged[bare.len() / 2] ^= 0x40;
    let refused = cold_again.load_state(&damaged).expect_err("corrupt");
    assert_eq!(refused.kind, PolicyErrorKind::CorruptHeatMap);
    assert_eq!(cold_again.save_state(), Some(cold));
    cold_again.load_state(&bare).expect("a bare heat map");
    assert_eq!(cold_again.save_state(), Some(saved));
    assert!(
        crate::LruPromote::new(4 * MIB).save_state().is_none(),
        "the baselines keep nothing"
    );
}

/// A volume trims the four extents that fill a four-extent nvme: the real nvme is empty
/// again, and the shadows must see it so. New extents then land on the nvme, and the
/// trimmed extents' heat is gone from what a restart keeps.
#[test]
fn trimmed_extents_leave_no_ghosts_in_the_shadows() {
    let mut rig = Rig::new(StrataConfig::default(), 4);
    for round in 0..10 {
        for index in 0..4 {
            rig.read(index, round * 100 * MS + index);
        }
    }
    for index in 0..4 {
        assert_eq!(rig.tier_of(index), Some(TierId::FASTEST));
        let extent = ExtentId::new(0, index);
        rig.map.unmap(extent).expect("placed");
        rig.policy.unmapped(&[extent]);
    }
    for index in 10..14 {
        rig.read(index, 2_000 * MS + index);
        assert_eq!(rig.tier_of(index), Some(TierId::FASTEST), "extent {index}");
    }
    let heat = Strata::saved_heat_map(&rig.policy.save_state().expect("saves")).expect("format");
    for index in 0..4 {
        assert!(heat.sample(ExtentId::new(0, index), 2_100 * MS).is_none());
    }
    assert!(heat.sample(ExtentId::new(0, 10), 2_100 * MS).is_some());
}

/// The shadows serve each device at the speed the real view gives it now, so a disk the
/// engine measured slower than its profile scores its candidates at that speed. Random reads
/// over 400 extents (4 fit on the nvme), 100 a second for 20 s; from 5 s on the view gives
/// the hdd twice as slow.
#[test]
fn the_shadows_serve_a_disk_at_the_speed_the_view_gives_it_now() {
    let scores = |slowdown: f64| {
        let mut rig = Rig::new(StrataConfig::default(), 4);
        for step in 0..2_000u64 {
            if step == 500 {
                rig.hdd_slowdown = slowdown;
            }
            rig.read(step * 7_919 % 400, 1_000 * MS + step * 10 * MS);
        }
        // The plan that closes the last interval.
        rig.read(0, 22_000 * MS);
        let scores: Vec<(String, Option<f64>)> = rig
            .policy
            .scores()
            .into_iter()
            .map(|(name, score)| (name.to_owned(), score))
            .collect();
        scores
    };
    let fits = scores(1.0);
    let slow = scores(2.0);
    for ((name, fits), (_, slow)) in fits.iter().zip(&slow) {
        let ratio = slow.expect("scored") / fits.expect("scored");
        assert!((1.5..2.5).contains(&ratio), "{name}: {fits:?} {slow:?}");
    }
}
