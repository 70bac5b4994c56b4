//! Device errors during a move: the move is aborted and retried a bounded number of times
//! with backoff, the destination slot is freed, the data stays readable where it was, and
//! after repeated failures the destination tier is marked degraded (visible in status)
//! and refused as a target — never an endless retry loop.

use std::sync::Arc;
use strata_core::TierKind;
use strata_device::FaultHandle;
use strata_engine::testing::{MIB, pattern, with_faulty_ssd};
use strata_engine::{Engine, EngineErrorKind, MigrationOutcome, PlacementConfig, VolumeSpec};

fn engine_with_faulty_ssd() -> (Arc<Engine>, FaultHandle) {
    let (engine, faults) = with_faulty_ssd(PlacementConfig {
        migration_mbps: 0,
        retry_backoff_ms: 1,
        max_attempts: 3,
        degrade_after_failures: 3,
        ..PlacementConfig::default()
    });
    engine.create_volume(VolumeSpec::new("v", 4 * MIB)).unwrap();
    (engine, faults)
}

fn ssd_used_bytes(engine: &Engine) -> u64 {
    engine.tiers()[1].used_bytes
}

#[test]
fn a_transient_error_is_retried_and_the_move_completes() {
    let (engine, faults) = engine_with_faulty_ssd();
    let handle = engine.open_volume("v").unwrap();
    let data = pattern(3, MIB as usize);
    handle.write(0, &data, false).unwrap();
    faults.fail_next_writes(1);
    let record = engine.migrate_extent("v", 0, &TierKind::Ssd).unwrap();
    assert_eq!(record.outcome, MigrationOutcome::Done);
    assert_eq!(record.attempts, 2);
    assert_eq!(engine.extent_tier("v", 0).unwrap(), Some(TierKind::Ssd));
    let mut back = vec![0u8; MIB as usize];
    handle.read(0, &mut back).unwrap();
    assert_eq!(back, data);
    assert!(!engine.tiers()[1].degraded);
}

#[test]
fn repeated_failures_degrade_the_target_and_stop_retrying() {
    let (engine, faults) = engine_with_faulty_ssd();
    let handle = engine.open_volume("v").unwrap();
    let data = pattern(9, MIB as usize);
    handle.write(0, &data, false).unwrap();
    handle.flush().unwrap();
    faults.fail_next_writes(1_000);
    let record = engine.migrate_extent("v", 0, &TierKind::Ssd).unwrap();
    assert_eq!(record.outcome, MigrationOutcome::Failed);
    assert_eq!(record.attempts, 3, "bounded retries");
    assert!(record.error.is_some());
    assert_eq!(ssd_used_bytes(&engine), 0, "destination slot freed");
    assert_eq!(engine.extent_tier("v", 0).unwrap(), Some(TierKind::Nvme));
    let mut back = vec![0u8; MIB as usize];
    handle.read(0, &mut back).unwrap();
    assert_eq!(back, data);

    assert!(engine.tiers()[1].degraded);
    assert_eq!(engine.migration_stats().degraded_tiers, [TierKind::Ssd]);
    let refused = engine.migrate_extent("v", 0, &TierKind::Ssd).unwrap_err();
    assert_eq!(refused.kind, EngineErrorKind::InvalidArgument);
    assert_eq!(engine.migration_stats().failed, 1);

    faults.clear();
    engine.clear_tier_degraded(&TierKind::Ssd).unwrap();
    let record = engine.migrate_extent("v", 0, &TierKind::Ssd).unwrap();
    assert_eq!(record.outcome, MigrationOutcome::Done);
    let log = engine.migration_log(None, 10).unwrap();
    let outcomes: Vec<_> = log.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [MigrationOutcome::Done, MigrationOutcome::Failed]);
}

#[test]
fn a_vanished_source_fails_the_move_without_losing_the_mapping() {
    let (engine, faults) = engine_with_faulty_ssd();
    let handle = engine.open_volume("v").unwrap();
    handle.write(0, &pattern(1, MIB as usize), false).unwrap();
    engine.migrate_extent("v", 0, &TierKind::Ssd).unwrap();
    faults.vanish();
    let record = engine.migrate_extent("v", 0, &TierKind::Nvme).unwrap();
    assert_eq!(record.outcome, MigrationOutcome::Failed);
    assert_eq!(engine.extent_tier("v", 0).unwrap(), Some(TierKind::Ssd));
    assert_eq!(engine.tiers()[0].used_bytes, 0, "destination slot freed");
    faults.restore();
    let mut back = vec![0u8; MIB as usize];
    handle.read(0, &mut back).unwrap();
    assert_eq!(back, pattern(1, MIB as usize));
}
