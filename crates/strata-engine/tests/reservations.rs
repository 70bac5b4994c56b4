//! Soft reservations inside the engine, over memory tier devices: volume `a` holds most of
//! the nvme tier; volume `b`'s new extents go to the slower tier once only `a`'s room is
//! left, `a`'s own writes still land on nvme, a promotion of a hot `b` extent into the
//! reserved room is not executed, and everything comes back once the reservation is gone.
//! Reservations are soft: with no unreserved room anywhere, a write takes reserved room
//! rather than fail.

use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::TierKind;
use strata_engine::testing::{MIB, Rig, pattern, quick_placement};
use strata_engine::{Engine, ReservationHold, VolumeSpec};
use strata_meta::MemoryStore;

const DEADLINE: Duration = Duration::from_secs(60);

fn rig(capacities: &[u64], policy: &str) -> Rig {
    let rig = Rig::with_placement(
        capacities,
        Arc::new(MemoryStore::new()),
        quick_placement(policy),
    );
    for name in ["a", "b"] {
        rig.engine
            .create_volume(VolumeSpec::new(name, 32 * MIB))
            .unwrap();
    }
    rig
}

/// Writes whole extents `extents` of `volume`, each with its own pattern.
fn write_extents(engine: &Engine, volume: &str, extents: std::ops::Range<u64>) {
    let handle = engine.open_volume(volume).unwrap();
    for extent in extents {
        handle
            .write(
                extent * MIB,
                &pattern(seed(volume, extent), MIB as usize),
                false,
            )
            .unwrap();
    }
    handle.flush().unwrap();
}

fn seed(volume: &str, extent: u64) -> u8 {
    (volume.as_bytes()[0] as u64 * 16 + extent) as u8
}

fn tiers_of(engine: &Engine, volume: &str, extents: std::ops::Range<u64>) -> Vec<TierKind> {
    extents
        .map(|e| engine.extent_tier(volume, e).unwrap().expect("allocated"))
        .collect()
}

fn assert_reads_back(engine: &Engine, volume: &str, extents: std::ops::Range<u64>) {
    let handle = engine.open_volume(volume).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    for extent in extents {
        handle.read(extent * MIB, &mut buf).unwrap();
        assert!(
            buf == pattern(seed(volume, extent), MIB as usize),
            "{volume} extent {extent} reads back wrong"
        );
    }
}

fn nvme_held(engine: &Engine) -> u64 {
    engine.reservation_stats().tiers[0].held_bytes
}

fn reserve_a(engine: &Engine, bytes: u64) {
    let enforced = engine.set_reservations(&[
        ReservationHold::new("a", TierKind::Nvme, bytes),
        // A tier this engine does not have is ignored.
        ReservationHold::new("a", TierKind::Custom("tape".into()), bytes),
    ]);
    assert_eq!(enforced, 1);
}

use TierKind::{Nvme, Ssd};

#[test]
fn new_extents_of_others_leave_the_reserved_room_free() {
    let rig = rig(&[8 * MIB, 64 * MIB], "static");
    let engine = &rig.engine;
    reserve_a(engine, 6 * MIB);
    assert_eq!(nvme_held(engine), 6 * MIB);

    write_extents(engine, "a", 0..2);
    assert_eq!(tiers_of(engine, "a", 0..2), [Nvme, Nvme]);
    assert_eq!(nvme_held(engine), 4 * MIB, "a filled 2 of its 6 MiB");

    // 6 MiB free, 4 held for a: b gets 2 extents on nvme, then the slower tier.
    write_extents(engine, "b", 0..4);
    assert_eq!(tiers_of(engine, "b", 0..4), [Nvme, Nvme, Ssd, Ssd]);
    let stats = engine.reservation_stats();
    assert_eq!(stats.placements_redirected, 2, "{stats:?}");
    assert_eq!(stats.placements_into_reserved, 0);
    let nvme = &engine.tiers()[0];
    assert_eq!(nvme.free_bytes, 4 * MIB, "a's room is still free");

    // a's own writes still land on nvme, into its room.
    write_extents(engine, "a", 2..6);
    assert_eq!(tiers_of(engine, "a", 2..6), [Nvme, Nvme, Nvme, Nvme]);
    assert_eq!(nvme_held(engine), 0);
    assert_eq!(engine.tiers()[0].free_bytes, 0);

    // Released: once nvme has room again, b may use it.
    engine.set_reservations(&[]);
    engine
        .open_volume("a")
        .unwrap()
        .trim(4 * MIB, 2 * MIB)
        .unwrap();
    engine.flush_all().unwrap();
    write_extents(engine, "b", 4..6);
    assert_eq!(tiers_of(engine, "b", 4..6), [Nvme, Nvme]);
    assert_eq!(engine.reservation_stats().placements_redirected, 2);

    assert_reads_back(engine, "a", 0..4);
    assert_reads_back(engine, "b", 0..6);
    engine.shutdown().unwrap();
}

#[test]
fn released_reservation_lets_others_fill_the_tier_again() {
    let rig = rig(&[8 * MIB, 64 * MIB], "static");
    let engine = &rig.engine;
    reserve_a(engine, 6 * MIB);
    write_extents(engine, "b", 0..4);
    assert_eq!(tiers_of(engine, "b", 0..4), [Nvme, Nvme, Ssd, Ssd]);
    engine.set_reservations(&[]);
    assert_eq!(nvme_held(engine), 0);
    write_extents(engine, "b", 4..10);
    assert_eq!(
        tiers_of(engine, "b", 4..10),
        [Nvme, Nvme, Nvme, Nvme, Nvme, Nvme]
    );
    assert_reads_back(engine, "b", 0..10);
    engine.shutdown().unwrap();
}

#[test]
fn with_no_unreserved_room_anywhere_writes_take_reserved_room() {
    // nvme 4 MiB of which 3 are a's; ssd 2 MiB.
    let rig = rig(&[4 * MIB, 2 * MIB], "static");
    let engine = &rig.engine;
    reserve_a(engine, 3 * MIB);
    write_extents(engine, "b", 0..4);
    assert_eq!(tiers_of(engine, "b", 0..4), [Nvme, Ssd, Ssd, Nvme]);
    let stats = engine.reservation_stats();
    assert_eq!(
        (stats.placements_redirected, stats.placements_into_reserved),
        (2, 1),
        "{stats:?}"
    );
    assert_reads_back(engine, "b", 0..4);
    engine.shutdown().unwrap();
}

/// Reads a 4 KiB block of `extent` until `done` holds or the deadline passes.
fn read_until(engine: &Engine, volume: &str, extent: u64, mut done: impl FnMut() -> bool) -> bool {
    let handle = engine.open_volume(volume).unwrap();
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        handle.read(extent * MIB + 8192, &mut buf).unwrap();
        assert!(buf == pattern(seed(volume, extent), MIB as usize)[8192..8192 + 4096]);
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn promotion_into_reserved_room_is_not_executed() {
    let rig = rig(&[8 * MIB, 64 * MIB], "lru-promote");
    let engine = &rig.engine;
    reserve_a(engine, 6 * MIB);
    write_extents(engine, "a", 0..2);
    write_extents(engine, "b", 0..4);
    assert_eq!(tiers_of(engine, "b", 0..4), [Nvme, Nvme, Ssd, Ssd]);

    // b's extent 3 is hot; lru-promote asks to move it into nvme's free (reserved) room.
    let skipped = read_until(engine, "b", 3, || {
        engine.reservation_stats().moves_skipped >= 3
    });
    assert!(skipped, "{:?}", engine.reservation_stats());
    assert_eq!(engine.extent_tier("b", 3).unwrap(), Some(Ssd));
    assert_eq!(engine.tiers()[0].free_bytes, 4 * MIB);
    assert!(
        engine
            .migration_log(Some("b"), 100)
            .unwrap()
            .iter()
            .all(|r| r.to != Nvme),
        "no move of b into nvme ran"
    );
    assert!(engine.migration_stats().rejected >= 3);

    // Without the reservation the same promotion runs.
    engine.set_reservations(&[]);
    let promoted = read_until(engine, "b", 3, || {
        engine.extent_tier("b", 3).unwrap() == Some(Nvme)
    });
    assert!(
        promoted,
        "b's hot extent was not promoted once the room was free"
    );
    assert_reads_back(engine, "a", 0..2);
    assert_reads_back(engine, "b", 0..4);
    engine.shutdown().unwrap();
}

#[test]
fn the_reserving_volume_may_be_promoted_into_its_own_room() {
    let rig = rig(&[8 * MIB, 64 * MIB], "lru-promote");
    let engine = &rig.engine;
    write_extents(engine, "b", 0..4);
    write_extents(engine, "a", 0..2);
    // Let the planner see those writes before the operator moves one extent of each
    // volume down (operator moves are not checked against reservations).
    std::thread::sleep(Duration::from_millis(300));
    for volume in ["a", "b"] {
        let extent = if volume == "a" { 1 } else { 3 };
        let record = engine.migrate_extent(volume, extent, &Ssd).unwrap();
        assert_eq!(record.outcome, strata_engine::MigrationOutcome::Done);
    }
    // a holds 6 MiB of nvme, 1 filled: 5 held, 3 free.
    reserve_a(engine, 6 * MIB);
    assert_eq!(nvme_held(engine), 5 * MIB);
    assert_eq!(engine.extent_tier("a", 1).unwrap(), Some(Ssd));
    let promoted = read_until(engine, "a", 1, || {
        engine.extent_tier("a", 1).unwrap() == Some(Nvme)
    });
    assert!(promoted, "{:?}", engine.reservation_stats());
    assert_eq!(nvme_held(engine), 4 * MIB);
    // b's hot extent stays down.
    let skipped_before = engine.reservation_stats().moves_skipped;
    let skipped = read_until(engine, "b", 3, || {
        engine.reservation_stats().moves_skipped >= skipped_before + 3
    });
    assert!(skipped, "{:?}", engine.reservation_stats());
    assert_eq!(engine.extent_tier("b", 3).unwrap(), Some(Ssd));
    assert_reads_back(engine, "a", 0..2);
    assert_reads_back(engine, "b", 0..4);
    engine.shutdown().unwrap();
}

/// What a tier holds is summed per reserving volume, each capped at what it reserved: a
/// volume that already fills more than its reservation holds nothing (and does not lower
/// what is held for the others), and a reservation of a volume this engine does not have
/// holds all of its bytes.
#[test]
fn held_room_is_counted_per_volume_and_capped() {
    let rig = rig(&[16 * MIB, 64 * MIB], "static");
    let engine = &rig.engine;
    engine
        .create_volume(VolumeSpec::new("c", 32 * MIB))
        .unwrap();
    write_extents(engine, "a", 0..3);
    write_extents(engine, "c", 0..1);
    let enforced = engine.set_reservations(&[
        ReservationHold::new("a", Nvme, 2 * MIB),
        ReservationHold::new("c", Nvme, 4 * MIB),
        ReservationHold::new("elsewhere", Nvme, 5 * MIB),
        ReservationHold::new("c", Ssd, MIB),
    ]);
    assert_eq!(enforced, 4);
    let stats = engine.reservation_stats();
    assert_eq!(stats.tiers[0].reserved_bytes, 11 * MIB);
    // a: 2 reserved, 3 filled → 0; c: 4 − 1 → 3; elsewhere: 5.
    assert_eq!(stats.tiers[0].held_bytes, 8 * MIB, "{stats:?}");
    assert_eq!(stats.tiers[1].held_bytes, MIB, "{stats:?}");
    // nvme has 12 MiB free and holds 8 for others: b gets 4 extents there, then ssd.
    write_extents(engine, "b", 0..6);
    assert_eq!(
        tiers_of(engine, "b", 0..6),
        [Nvme, Nvme, Nvme, Nvme, Ssd, Ssd]
    );
    assert_reads_back(engine, "b", 0..6);
    engine.shutdown().unwrap();
}
