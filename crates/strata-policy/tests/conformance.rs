//! The shared conformance test: every registered placement policy, driven through the same
//! workloads over a `PlacementMap`, must keep the executor contract — new extents only on
//! tiers with room, no move rejected (so none into a full tier, none from the wrong tier,
//! none to a non-existent tier), planned moves within budget, capacities never exceeded —
//! and every policy that moves data must still bring a hot set to the fast tier after the
//! executor refused many of its moves and said so.

use strata_core::{DeviceProfile, TierKind};
use strata_policy::{
    Access, ExtentId, IoKind, PlacementMap, PlacementPolicy, PolicyConfig, SequentialDetector,
    Strata, TierId, TierSizing, TierSpec, TierView, policy_by_name, policy_names,
};

const EXTENT_BYTES: u64 = 1 << 20;

/// Tier layouts every policy is checked on: two tiers, three tiers, and all tiers bounded.
fn layouts() -> Vec<Vec<TierSpec>> {
    vec![
        vec![
            TierSpec::packed(TierKind::Nvme, DeviceProfile::NVME, Some(4)),
            TierSpec::packed(TierKind::Hdd, DeviceProfile::HDD, None),
        ],
        vec![
            TierSpec::packed(TierKind::Nvme, DeviceProfile::NVME, Some(3)),
            TierSpec::packed(TierKind::Ssd, DeviceProfile::SSD, Some(6)),
            TierSpec::packed(TierKind::Hdd, DeviceProfile::HDD, None),
        ],
        vec![
            TierSpec::packed(TierKind::Nvme, DeviceProfile::NVME, Some(1)),
            TierSpec::packed(TierKind::Ssd, DeviceProfile::SSD, Some(2)),
            TierSpec::packed(TierKind::Hdd, DeviceProfile::HDD, Some(1_000)),
        ],
    ]
}

/// A request: (volume, offset_bytes, len_bytes, kind). A deterministic mix of a looping hot
/// set, random single accesses, a long sequential scan and multi-extent requests.
fn workload() -> Vec<(u64, u64, u64, IoKind)> {
    let mut requests = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..40u64 {
        for hot in 0..5u64 {
            requests.push((0, hot * EXTENT_BYTES + 4096 * round, 4096, IoKind::Read));
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let cold = 10 + x % 60;
        let kind = if x.is_multiple_of(3) {
            IoKind::Write
        } else {
            IoKind::Read
        };
        requests.push((x % 2, cold * EXTENT_BYTES + 512, 8192, kind));
        if round == 20 {
            for step in 0..24u64 {
                requests.push((1, (100 + step) * EXTENT_BYTES, EXTENT_BYTES, IoKind::Read));
            }
        }
        // A request that straddles an extent boundary.
        requests.push((0, (200 + round) * EXTENT_BYTES - 4096, 8192, IoKind::Write));
    }
    requests
}

fn assert_within_capacity(map: &PlacementMap, context: &str) {
    for rank in 0..map.tier_count() {
        let tier = TierId(rank as u8);
        if let Some(cap) = map.capacity_extents(tier) {
            assert!(
                map.used_extents(tier) <= cap,
                "{context}: {tier} holds {} > {cap}",
                map.used_extents(tier)
            );
        }
    }
}

fn apply_all(map: &mut PlacementMap, moves: &[strata_policy::Move], tier_count: usize, ctx: &str) {
    for mv in moves {
        assert!(
            mv.from.rank() < tier_count && mv.to.rank() < tier_count,
            "{ctx}: {mv:?}"
        );
        assert_ne!(mv.from, mv.to, "{ctx}: move to itself {mv:?}");
        map.apply(mv)
            .unwrap_or_else(|rejection| panic!("{ctx}: {mv:?} rejected: {rejection:?}"));
        assert_within_capacity(map, ctx);
    }
}

fn drive(policy: &mut dyn PlacementPolicy, mut tiers: Vec<TierSpec>, ctx: &str) -> PlacementMap {
    if policy.tier_sizing() == TierSizing::UnboundedFastest
        && let Some(fastest) = tiers.first_mut()
    {
        fastest.capacity_extents = None;
    }
    let tier_count = tiers.len();
    let mut map = PlacementMap::new(tiers, EXTENT_BYTES).expect("valid tiers");
    let mut detector = SequentialDetector::default();
    let budget_bytes = 2 * EXTENT_BYTES;
    for (i, (volume, offset, len, kind)) in workload().into_iter().enumerate() {
        let time_ns = i as u64 * 1_000_000;
        let run = detector.observe(volume, offset, len);
        let first = offset / EXTENT_BYTES;
        let last = (offset + len - 1) / EXTENT_BYTES;
        for index in first..=last {
            let extent = ExtentId::new(volume, index);
            if map.location(extent).is_none() {
                let tier = policy.place_new(extent, &map);
                assert!(map.has_room(tier), "{ctx}: placed {extent} on full {tier}");
                map.place(extent, tier).expect("room was checked");
                assert_within_capacity(&map, ctx);
            }
            let access = Access {
                extent,
                kind,
                time_ns,
                len_bytes: len.min(EXTENT_BYTES),
                offset_in_extent_bytes: None,
                sequential: run.sequential,
                run_bytes: run.run_bytes,
            };
            let moves = policy.on_access(&access, &map);
            apply_all(&mut map, &moves, tier_count, ctx);
        }
        if i % 10 == 9 {
            let moves = policy.plan(time_ns, &map, budget_bytes);
            let planned_bytes = moves.len() as u64 * EXTENT_BYTES;
            assert!(planned_bytes <= budget_bytes, "{ctx}: plan over budget");
            apply_all(&mut map, &moves, tier_count, ctx);
        }
    }
    map
}

#[test]
fn every_policy_keeps_the_executor_contract() {
    for name in policy_names() {
        for (n, tiers) in layouts().into_iter().enumerate() {
            let ctx = format!("{name} on layout {n}");
            let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
            let map = drive(policy.as_mut(), tiers, &ctx);
            assert!(map.placed_extents() > 70, "{ctx}: {}", map.placed_extents());
        }
    }
}

#[test]
fn every_policy_is_deterministic() {
    for name in policy_names() {
        let snapshot = |map: &PlacementMap| {
            let mut extents: Vec<_> = (0..2u64)
                .flat_map(|v| (0..260u64).map(move |i| ExtentId::new(v, i)))
                .filter_map(|e| map.slot_of(e).map(|s| (e, s)))
                .collect();
            extents.sort();
            extents
        };
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
                snapshot(&drive(policy.as_mut(), layouts().remove(1), name))
            })
            .collect();
        assert_eq!(runs[0], runs[1], "{name}");
    }
}

#[test]
fn bounds_and_static_place_where_they_promise() {
    let run = |name: &str| {
        let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
        drive(policy.as_mut(), layouts().remove(0), name)
    };
    let all_fast = run("all-fast");
    assert_eq!(all_fast.used_extents(TierId(1)), 0);
    let all_slow = run("all-slow");
    assert_eq!(all_slow.used_extents(TierId(0)), 0);
    let fill = run("static");
    assert_eq!(
        fill.used_extents(TierId(0)),
        4,
        "static fills the fast tier"
    );
}

/// Shows `policy` one 4 KiB read of `index` (placing it first if new), then executes the
/// moves it asks for; `refuse` refuses them all, as a full mover queue does, and says so.
fn read_and_execute(
    policy: &mut dyn PlacementPolicy,
    map: &mut PlacementMap,
    index: u64,
    time_ns: u64,
    refuse: bool,
) {
    read_extent_and_execute(policy, map, ExtentId::new(0, index), time_ns, refuse);
}

/// [`read_and_execute`] for an extent of any volume.
fn read_extent_and_execute(
    policy: &mut dyn PlacementPolicy,
    map: &mut PlacementMap,
    extent: ExtentId,
    time_ns: u64,
    refuse: bool,
) {
    if map.location(extent).is_none() {
        let tier = policy.place_new(extent, map);
        map.place(extent, tier).expect("room");
    }
    let access = Access {
        extent,
        kind: IoKind::Read,
        time_ns,
        len_bytes: 4096,
        offset_in_extent_bytes: None,
        sequential: false,
        run_bytes: 4096,
    };
    let moves = policy.on_access(&access, map);
    execute(policy, map, &moves, refuse);
}

fn execute(
    policy: &mut dyn PlacementPolicy,
    map: &mut PlacementMap,
    moves: &[strata_policy::Move],
    refuse: bool,
) {
    for mv in moves {
        if refuse || map.apply(mv).is_err() {
            policy.refused(mv);
        }
    }
}

#[test]
fn every_moving_policy_gets_a_hot_set_to_the_fast_tier_after_refused_moves() {
    for name in ["lru-promote", "smq", "arc-tier", "strata"] {
        let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
        let policy = policy.as_mut();
        let mut map = PlacementMap::new(layouts().remove(0), EXTENT_BYTES).expect("valid");
        let budget_bytes = 8 * EXTENT_BYTES;
        let mut time_ns = 0u64;
        let mut step = 0u64;
        // A churn over 40 extents in which every other batch and plan is refused; ten reads
        // a second and a plan every second, as the executors plan.
        for _ in 0..30 {
            for index in 0..40 {
                step += 1;
                time_ns += 100_000_000;
                read_and_execute(policy, &mut map, index, time_ns, step.is_multiple_of(2));
                if step.is_multiple_of(10) {
                    let moves = policy.plan(time_ns, &map, budget_bytes);
                    execute(policy, &mut map, &moves, step.is_multiple_of(20));
                }
            }
        }
        // Then only four new extents, as many as the fast tier holds, and nothing refused:
        // every fast resident of the churn has to make way.
        let fast = hot_set_on_fast(policy, &mut map, time_ns, 250_000_000, |_| Vec::new());
        assert_eq!(fast, HOT.collect::<Vec<_>>(), "{name}");
    }
}

/// Four extents, as many as the fast tier of the first layout holds.
const HOT: std::ops::Range<u64> = 100..104;

/// 300 rounds, nothing refused, one plan after each: the extents `before(round)` names,
/// then the [`HOT`] set, one read every `step_ns` from `time_ns` on. Returns which of the
/// hot set end on the fast tier.
fn hot_set_on_fast(
    policy: &mut dyn PlacementPolicy,
    map: &mut PlacementMap,
    mut time_ns: u64,
    step_ns: u64,
    before: impl Fn(u64) -> Vec<u64>,
) -> Vec<u64> {
    let budget_bytes = 8 * EXTENT_BYTES;
    for round in 0..300u64 {
        for index in before(round).into_iter().chain(HOT) {
            time_ns += step_ns;
            read_and_execute(policy, map, index, time_ns, false);
        }
        let moves = policy.plan(time_ns, map, budget_bytes);
        execute(policy, map, &moves, false);
    }
    HOT.filter(|&i| map.location(ExtentId::new(0, i)) == Some(TierId::FASTEST))
        .collect()
}

/// A policy started over a placement it did not make (the server restarted): the fast tier
/// is full of extents an earlier run put there. Told of them with `adopt`, every moving
/// policy must still bring a hot set to the fast tier, and to do so it must evict them.
#[test]
fn every_moving_policy_evicts_the_residents_it_adopted() {
    for name in ["lru-promote", "smq", "arc-tier", "strata"] {
        let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
        let policy = policy.as_mut();
        let mut map = PlacementMap::new(layouts().remove(0), EXTENT_BYTES).expect("valid");
        let residents: Vec<ExtentId> = (0..4).map(|i| ExtentId::new(0, i)).collect();
        for &extent in &residents {
            map.place(extent, TierId::FASTEST).expect("room");
            policy.adopt(extent, TierId::FASTEST, &map);
        }
        // A cold read first in each round (so `smq` has more than the hot hotspot to rank;
        // never the same cold hotspot twice running), then the hot set, most recent last.
        let fast = hot_set_on_fast(policy, &mut map, 0, 200_000_000, |round| {
            vec![10 + round * 9 % 30]
        });
        assert_eq!(fast, HOT.collect::<Vec<_>>(), "{name}");
        assert!(
            residents
                .iter()
                .all(|&e| map.location(e) != Some(TierId::FASTEST)),
            "{name}"
        );
    }
}

/// Whether the heat map in `policy`'s saved state has heat for any of `extents` at `now_ns`;
/// `None` for a policy that saves no state.
fn saved_heat(
    policy: &dyn PlacementPolicy,
    mut extents: impl Iterator<Item = ExtentId>,
    now_ns: u64,
) -> Option<bool> {
    let heat = Strata::saved_heat_map(&policy.save_state()?).expect("a heat map");
    Some(extents.any(|e| heat.sample(e, now_ns).is_some()))
}

/// After `retain_volumes` refuses a volume (deleted), no policy keeps anything of it: not in
/// its books (seen in its `Debug` form, where every extent it keeps shows its volume) and
/// not in its saved state; the other volume's books stay.
#[test]
fn every_policy_forgets_a_deleted_volume() {
    for name in policy_names() {
        let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
        let policy = policy.as_mut();
        let mut tiers = layouts().remove(1);
        if policy.tier_sizing() == TierSizing::UnboundedFastest {
            tiers[0].capacity_extents = None;
        }
        let mut map = PlacementMap::new(tiers, EXTENT_BYTES).expect("valid tiers");
        let mut time_ns = 0;
        for _ in 0..20 {
            for volume in 0..2 {
                for index in 0..6 {
                    time_ns += 50_000_000;
                    let extent = ExtentId::new(volume, index);
                    read_extent_and_execute(policy, &mut map, extent, time_ns, false);
                }
            }
            let moves = policy.plan(time_ns, &map, 4 * EXTENT_BYTES);
            execute(policy, &mut map, &moves, false);
        }
        // Volume 1 is deleted hours after its last read, when the copies `strata`'s
        // candidates had in flight on their modelled devices are done (also those a read of
        // volume 0 an hour later starts; a second such read starts none).
        for _ in 0..2 {
            time_ns += 3_600_000_000_000;
            read_and_execute(policy, &mut map, 0, time_ns, false);
        }
        let mentions = |policy: &dyn PlacementPolicy, volume: u64| {
            format!("{policy:?}").contains(&format!("volume: {volume},"))
        };
        let heat_of = |policy: &dyn PlacementPolicy, volume: u64| {
            saved_heat(policy, (0..6).map(|i| ExtentId::new(volume, i)), time_ns)
        };
        let kept_before = (mentions(policy, 0), heat_of(policy, 0));
        // Volume 1, read last in every round, is in the books of every policy that keeps any.
        let keeps_books = ["lru-promote", "smq", "arc-tier", "strata"].contains(name);
        let kept_1 = mentions(policy, 1) || heat_of(policy, 1) == Some(true);
        assert_eq!(kept_1, keeps_books, "{name}");

        policy.retain_volumes(&|volume| volume != 1);
        assert!(!mentions(policy, 1), "{name} keeps books of volume 1");
        assert_ne!(heat_of(policy, 1), Some(true), "{name} saves volume 1");
        assert_eq!(
            (mentions(policy, 0), heat_of(policy, 0)),
            kept_before,
            "{name} lost volume 0"
        );
    }
}

/// A volume trims every extent on the fast tier (`PlacementMap::unmap`, then `unmapped`):
/// the fast tier is empty, and every policy that fills it with new data does so again, for
/// four new extents. No policy keeps books of a trimmed extent (its `Debug` form, once the
/// copies `strata`'s candidates had in flight are done) or saves its heat; the extents
/// still mapped stay in the books.
#[test]
fn every_policy_forgets_an_unmapped_extent() {
    for name in ["static", "lru-promote", "smq", "arc-tier", "strata"] {
        let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
        let policy = policy.as_mut();
        let mut map = PlacementMap::new(layouts().remove(0), EXTENT_BYTES).expect("valid");
        let mut time_ns = 0;
        for round in 0..20u64 {
            for index in 0..8 {
                time_ns += 50_000_000;
                read_and_execute(policy, &mut map, index, time_ns, false);
            }
            if round % 2 == 1 {
                let moves = policy.plan(time_ns, &map, 4 * EXTENT_BYTES);
                execute(policy, &mut map, &moves, false);
            }
        }
        time_ns += 3_600_000_000_000;
        read_and_execute(policy, &mut map, 7, time_ns, false);
        let mentions = |policy: &dyn PlacementPolicy, index: u64| {
            format!("{policy:?}").contains(&format!("ExtentId {{ volume: 0, index: {index} }}"))
        };
        let heat_of = |policy: &dyn PlacementPolicy, index: u64| {
            saved_heat(policy, [ExtentId::new(0, index)].into_iter(), time_ns) == Some(true)
        };
        let trimmed: Vec<u64> = (0..8)
            .filter(|&i| map.location(ExtentId::new(0, i)) == Some(TierId::FASTEST))
            .collect();
        assert_eq!(trimmed.len(), 4, "{name}: the fast tier is full");
        let kept: Vec<u64> = (0..8).filter(|i| !trimmed.contains(i)).collect();
        let kept_before: Vec<(bool, bool)> = kept
            .iter()
            .map(|&i| (mentions(policy, i), heat_of(policy, i)))
            .collect();
        let gone: Vec<ExtentId> = trimmed.iter().map(|&i| ExtentId::new(0, i)).collect();
        for &extent in &gone {
            map.unmap(extent).expect("placed");
        }
        policy.unmapped(&gone);
        for &index in &trimmed {
            assert!(!mentions(policy, index), "{name} keeps books of {index}");
            assert!(!heat_of(policy, index), "{name} saves the heat of {index}");
        }
        let kept_after: Vec<(bool, bool)> = kept
            .iter()
            .map(|&i| (mentions(policy, i), heat_of(policy, i)))
            .collect();
        assert_eq!(kept_after, kept_before, "{name} lost a mapped extent");
        for index in 100..104 {
            time_ns += 50_000_000;
            read_and_execute(policy, &mut map, index, time_ns, false);
            assert_eq!(
                map.location(ExtentId::new(0, index)),
                Some(TierId::FASTEST),
                "{name}: new extent {index}"
            );
        }
    }
}
