//! The prefetcher inside the engine, over memory devices: a sequential scan of a volume
//! whose data sits on the slow tier gets its next extents copied to the fast tier before
//! they are read (migration-log reason `prefetch`), the measures say so, and the data is
//! unchanged. When the fast tier is full, extents nobody touched for `horizon_ms` make
//! room (reason `evict`), and recently touched ones never do. With `[prefetch] enabled =
//! false` nothing moves.

use std::sync::Arc;
use std::time::Duration;
use strata_core::TierKind;
use strata_device::{MemoryDevice, TierDevice};
use strata_engine::testing::{MIB, config, pattern, wait_for};
use strata_engine::{Engine, PlacementConfig, PrefetchConfig, VolumeSpec};
use strata_meta::MemoryStore;

const EXTENTS: u64 = 24;

fn open(prefetch: PrefetchConfig) -> Arc<Engine> {
    let capacities = [32 * MIB, 64 * MIB];
    let mut config = config(&capacities);
    config.placement = PlacementConfig {
        access_poll_ms: 5,
        migration_mbps: 0,
        ..PlacementConfig::default()
    };
    config.prefetch = PrefetchConfig {
        epoch_ms: 50,
        ..prefetch
    };
    let devices = capacities
        .iter()
        .map(|&cap| Arc::new(MemoryDevice::new(cap)) as Arc<dyn TierDevice>)
        .collect();
    Engine::open_with_devices(config, devices, Arc::new(MemoryStore::new())).expect("engine")
}

/// Fills the fast tier with a filler volume, writes `data` (so it lands on hdd), then
/// deletes the filler so the fast tier has room again.
fn data_on_the_slow_tier(engine: &Engine) {
    data_below_a_full_fast_tier(engine);
    engine.delete_volume("filler").unwrap();
}

/// Fills the fast tier with a filler volume and writes `data`, which lands on the slow tier.
fn data_below_a_full_fast_tier(engine: &Engine) {
    engine
        .create_volume(VolumeSpec::new("filler", 32 * MIB))
        .unwrap();
    let filler = engine.open_volume("filler").unwrap();
    filler
        .write(0, &vec![0x11; (32 * MIB) as usize], false)
        .unwrap();
    drop(filler);
    engine
        .create_volume(VolumeSpec::new("data", EXTENTS * MIB))
        .unwrap();
    let data = engine.open_volume("data").unwrap();
    for e in 0..EXTENTS {
        data.write(e * MIB, &pattern(e as u8, MIB as usize), false)
            .unwrap();
    }
    data.flush().unwrap();
    drop(data);
    for e in 0..EXTENTS {
        assert_eq!(
            engine.extent_tier("data", e).unwrap(),
            Some(TierKind::Ssd),
            "extent {e} starts on the slow tier"
        );
    }
}

/// Long enough for a loaded CI machine, short enough that a hang is reported.
const DEADLINE: Duration = Duration::from_secs(20);

fn data_row(engine: &Engine) -> Option<strata_engine::VolumePrefetchStats> {
    engine
        .prefetch_stats()
        .volumes
        .into_iter()
        .find(|v| v.volume == "data")
}

/// Reads every extent in order; after each read waits until the planner has seen it and
/// the executor has nothing left to do, so the result does not depend on thread timing.
fn scan(engine: &Engine) {
    let handle = engine.open_volume("data").unwrap();
    let mut buf = vec![0u8; MIB as usize];
    for e in 0..EXTENTS {
        handle.read(e * MIB, &mut buf).unwrap();
        assert!(
            buf == pattern(e as u8, MIB as usize),
            "extent {e} reads back"
        );
        wait_for("the read to be observed", DEADLINE, || {
            data_row(engine).is_some_and(|r| r.counters.demand_reads > e)
        });
        wait_for("the prefetcher to go idle", DEADLINE, || {
            data_row(engine).is_some_and(|r| r.queue_len == 0)
                && engine.migration_stats().in_flight == 0
        });
    }
}

#[test]
fn a_sequential_scan_is_prefetched_ahead_of_the_reads() {
    let engine = open(PrefetchConfig::default());
    data_on_the_slow_tier(&engine);
    scan(&engine);

    let row = data_row(&engine).expect("the volume has prefetch state");
    let c = row.counters;
    assert!(c.prefetched_extents >= EXTENTS / 2, "{row:?}");
    assert!(c.precision() >= 0.9, "precision {} {row:?}", c.precision());
    assert!(c.coverage() >= 0.5, "coverage {} {row:?}", c.coverage());
    assert_eq!(c.prefetched_bytes, c.prefetched_extents * MIB);
    assert!(row.depth > 0 && !row.tuner_off, "{row:?}");
    assert_eq!(row.predictor, "auto");

    let log = engine.migration_log(Some("data"), 1000).unwrap();
    let prefetches: Vec<_> = log.iter().filter(|r| r.reason == "prefetch").collect();
    assert_eq!(prefetches.len() as u64, c.prefetched_extents, "{log:?}");
    assert!(
        prefetches
            .iter()
            .all(|r| r.from == TierKind::Ssd && r.to == TierKind::Nvme)
    );
    // The last extents were read from nvme, and everything still reads back as written.
    assert_eq!(
        engine.extent_tier("data", EXTENTS - 1).unwrap(),
        Some(TierKind::Nvme)
    );
    let handle = engine.open_volume("data").unwrap();
    let mut buf = vec![0u8; MIB as usize];
    for e in 0..EXTENTS {
        handle.read(e * MIB, &mut buf).unwrap();
        assert!(
            buf == pattern(e as u8, MIB as usize),
            "extent {e} after prefetch"
        );
    }
}

fn reads_back(engine: &Engine, volume: &str, extents: u64, fill: impl Fn(u64) -> Vec<u8>) {
    let handle = engine.open_volume(volume).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    for e in 0..extents {
        handle.read(e * MIB, &mut buf).unwrap();
        assert!(buf == fill(e), "{volume} extent {e} reads back");
    }
}

#[test]
fn a_full_fast_tier_swaps_extents_idle_for_the_horizon_for_prefetches() {
    let horizon = Duration::from_secs(1);
    let engine = open(PrefetchConfig {
        horizon_ms: horizon.as_millis() as u64,
        ..PrefetchConfig::default()
    });
    data_below_a_full_fast_tier(&engine);
    std::thread::sleep(horizon + horizon / 2);
    scan(&engine);

    let c = data_row(&engine).expect("prefetch state").counters;
    assert!(c.prefetched_extents >= EXTENTS / 2, "{c:?}");
    assert!(c.precision() >= 0.9, "precision {} {c:?}", c.precision());
    let evictions = engine.migration_log(Some("filler"), 1000).unwrap();
    assert_eq!(evictions.len() as u64, c.evicted_extents, "{evictions:?}");
    assert!(
        c.evicted_extents >= c.prefetched_extents,
        "one slot per prefetch: {c:?}"
    );
    assert!(
        evictions
            .iter()
            .all(|r| r.reason == "evict" && r.from == TierKind::Nvme && r.to == TierKind::Ssd),
        "{evictions:?}"
    );
    let prefetches = engine.migration_log(Some("data"), 1000).unwrap();
    assert!(
        prefetches.iter().all(|r| r.reason == "prefetch"),
        "{prefetches:?}"
    );
    assert_eq!(prefetches.len() as u64, c.prefetched_extents);
    assert_eq!(
        engine.extent_tier("data", EXTENTS - 1).unwrap(),
        Some(TierKind::Nvme)
    );
    reads_back(&engine, "data", EXTENTS, |e| pattern(e as u8, MIB as usize));
    reads_back(&engine, "filler", 32, |_| vec![0x11; MIB as usize]);
}

#[test]
fn a_full_fast_tier_keeps_extents_touched_within_the_horizon() {
    for prefetch in [
        // The filler was written moments ago: hotter than any prefetch.
        PrefetchConfig::default(),
        // Idle long enough, but swapping is off.
        PrefetchConfig {
            horizon_ms: 1,
            evict_idle: false,
            ..PrefetchConfig::default()
        },
    ] {
        let label = format!("{prefetch:?}");
        let engine = open(prefetch);
        data_below_a_full_fast_tier(&engine);
        std::thread::sleep(Duration::from_millis(100));
        scan(&engine);
        let c = data_row(&engine).expect("prefetch state").counters;
        assert_eq!(c.evicted_extents, 0, "{label}");
        assert_eq!(c.prefetched_extents, 0, "{label}");
        assert!(
            engine.migration_log(None, 10).unwrap().is_empty(),
            "{label}"
        );
        assert_eq!(
            engine.extent_tier("filler", 0).unwrap(),
            Some(TierKind::Nvme),
            "{label}"
        );
    }
}

#[test]
fn disabled_prefetch_moves_nothing() {
    let engine = open(PrefetchConfig::disabled());
    data_on_the_slow_tier(&engine);
    let handle = engine.open_volume("data").unwrap();
    let mut buf = vec![0u8; MIB as usize];
    for e in 0..EXTENTS {
        handle.read(e * MIB, &mut buf).unwrap();
    }
    engine.plan_now();
    let stats = engine.prefetch_stats();
    assert!(!stats.enabled);
    assert!(stats.volumes.is_empty());
    assert!(engine.migration_log(Some("data"), 10).unwrap().is_empty());
}
