//! The token bucket limits the bytes migration moves per unit of time, and `plan()` gets
//! (and is held to) the interval's budget.

use std::sync::Arc;
use std::time::Instant;
use strata_core::TierKind;
use strata_engine::testing::{KIB, MIB, Rig, pattern};
use strata_engine::{MigrationOutcome, PlacementConfig, VolumeSpec};
use strata_meta::MemoryStore;

#[test]
fn moves_never_exceed_rate_times_time_plus_burst() {
    let rate_bytes_per_s = 4_000_000u64;
    let burst_bytes = 256 * KIB;
    let placement = PlacementConfig {
        migration_mbps: rate_bytes_per_s / 1_000_000,
        burst_bytes,
        copy_chunk_bytes: 64 * KIB,
        ..PlacementConfig::default()
    };
    let rig = Rig::with_placement(
        &[16 * MIB, 16 * MIB],
        Arc::new(MemoryStore::new()),
        placement,
    );
    rig.engine
        .create_volume(VolumeSpec::new("v", 8 * MIB))
        .unwrap();
    let handle = rig.engine.open_volume("v").unwrap();
    handle
        .write(0, &pattern(5, 8 * MIB as usize), false)
        .unwrap();
    let started = Instant::now();
    let mut moved_bytes = 0;
    for extent in 0..8 {
        let record = rig
            .engine
            .migrate_extent("v", extent, &TierKind::Ssd)
            .unwrap();
        assert_eq!(record.outcome, MigrationOutcome::Done);
        moved_bytes += record.bytes;
        let elapsed_s = started.elapsed().as_secs_f64();
        let allowed = rate_bytes_per_s as f64 * elapsed_s + burst_bytes as f64;
        assert!(
            moved_bytes as f64 <= allowed,
            "{moved_bytes} bytes moved in {elapsed_s:.3}s exceeds {allowed:.0}"
        );
    }
    assert_eq!(moved_bytes, 8 * MIB);
    let min_s = (8 * MIB - burst_bytes) as f64 / rate_bytes_per_s as f64;
    assert!(started.elapsed().as_secs_f64() >= min_s * 0.99);
    assert_eq!(rig.engine.migration_stats().bytes_moved, 8 * MIB);
    let mut back = vec![0u8; 8 * MIB as usize];
    handle.read(0, &mut back).unwrap();
    assert_eq!(back, pattern(5, 8 * MIB as usize));
}

#[test]
fn plan_budget_follows_rate_and_interval() {
    let placement = PlacementConfig {
        migration_mbps: 10,
        plan_interval_ms: 2_000,
        ..PlacementConfig::default()
    };
    assert_eq!(placement.plan_budget_bytes(), 20_000_000);
}
