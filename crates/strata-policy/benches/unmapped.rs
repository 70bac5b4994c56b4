//! What forgetting trimmed extents costs a policy (`PlacementPolicy::unmapped`), against
//! observing one access to each of them (`on_access`, with its moves applied), the work
//! the planner does most often. One trim of a large volume hands the policy thousands of extents in one batch,
//! under the policy's lock.
//!
//! Each policy first sees 10,000 extents of one volume placed and read once, with its
//! moves applied (two tiers, the fast one holding 1,000); then the batch under test. A
//! third case reads every extent again with none of the moves run, as a long mover queue
//! leaves them.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use strata_core::{DeviceProfile, TierKind};
use strata_policy::{
    Access, ExtentId, IoKind, PlacementMap, PlacementPolicy, PolicyConfig, TierSpec, policy_by_name,
};

const EXTENT_BYTES: u64 = 1 << 20;
const EXTENTS: u64 = 10_000;
const POLICIES: [&str; 4] = ["lru-promote", "smq", "arc-tier", "strata"];

fn read(index: u64, time_ns: u64) -> Access {
    Access {
        extent: ExtentId::new(1, index),
        kind: IoKind::Read,
        time_ns,
        len_bytes: 4096,
        offset_in_extent_bytes: None,
        sequential: false,
        run_bytes: 4096,
    }
}

/// A policy that has seen every extent placed and read once, and the map it placed them on.
fn warmed(name: &str) -> (Box<dyn PlacementPolicy>, PlacementMap) {
    let tier = TierSpec::packed;
    let mut map = PlacementMap::new(
        vec![
            tier(TierKind::Nvme, DeviceProfile::NVME, Some(1_000)),
            tier(TierKind::Hdd, DeviceProfile::HDD, None),
        ],
        EXTENT_BYTES,
    )
    .expect("valid tiers");
    let mut policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
    for index in 0..EXTENTS {
        let extent = ExtentId::new(1, index);
        let tier = policy.place_new(extent, &map);
        map.place(extent, tier)
            .expect("the policy placed it where there is room");
        observe(policy.as_mut(), &mut map, index, index * 1_000_000);
    }
    (policy, map)
}

/// Shows the policy one read of `index` and applies the moves it asks for at once, as the
/// simulator does, telling it of those the map refuses.
fn observe(policy: &mut dyn PlacementPolicy, map: &mut PlacementMap, index: u64, time_ns: u64) {
    for mv in policy.on_access(&read(index, time_ns), map) {
        if map.apply(&mv).is_err() {
            policy.refused(&mv);
        }
    }
}

fn forget_against_observe(c: &mut Criterion) {
    let all: Vec<ExtentId> = (0..EXTENTS).map(|i| ExtentId::new(1, i)).collect();
    let mut group = c.benchmark_group("10k_extents");
    for name in POLICIES {
        group.bench_function(format!("{name}/unmapped"), |b| {
            b.iter_batched(
                || warmed(name),
                |(mut policy, map)| {
                    policy.unmapped(black_box(&all));
                    (policy, map)
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("{name}/on_access"), |b| {
            b.iter_batched(
                || warmed(name),
                |(mut policy, mut map)| {
                    for index in 0..EXTENTS {
                        let time_ns = (EXTENTS + index) * 1_000_000;
                        observe(policy.as_mut(), &mut map, black_box(index), time_ns);
                    }
                    (policy, map)
                },
                BatchSize::LargeInput,
            )
        });
        // The same reads with none of the moves run, as when the mover's queue is long
        // behind a busy disk: the engine's map shows every queued move undone.
        group.bench_function(format!("{name}/on_access_moves_waiting"), |b| {
            b.iter_batched(
                || warmed(name),
                |(mut policy, map)| {
                    for index in 0..EXTENTS {
                        let time_ns = (EXTENTS + index) * 1_000_000;
                        black_box(policy.on_access(&read(black_box(index), time_ns), &map));
                    }
                    (policy, map)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, forget_against_observe);
criterion_main!(benches);
