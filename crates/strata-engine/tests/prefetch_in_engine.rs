//! The prefetcher inside the engine, over memory devices: a sequential scan of a volume
//! whose data sits on the slow tier gets its next extents copied to the fast tier before
//! they are read (migration-log reason `prefetch`), the measures say so, and the data is
//! unchanged. With `[prefetch] enabled = false` nothing moves.

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
    engine.delete_volume("filler").unwrap();
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
