//! The tier executor in virtual time: migrations share device queues with foreground I/O,
//! and a request completes with its last extent piece.

use strata_core::{DeviceProfile, IoKind, SizeOrFraction, TierKind};
use strata_policy::{
    ExtentId, Move, MoveReason, MoveRejection, SlotLayout, TierId, TierSpec, TierView,
};
use strata_sim::IoRecord;
use strata_sim::tier::{Piece, TierExecutor, TierInput, TierSimConfig, TierSizes, simulate_tier};

const MIB: u64 = 1 << 20;

fn two_tiers(fast_extents: u64) -> TierExecutor {
    let specs = vec![
        TierSpec {
            kind: TierKind::Nvme,
            profile: DeviceProfile::NVME,
            capacity_extents: Some(fast_extents),
            layout: SlotLayout::Packed,
        },
        TierSpec {
            kind: TierKind::Hdd,
            profile: DeviceProfile::HDD,
            capacity_extents: None,
            layout: SlotLayout::ByAddress,
        },
    ];
    TierExecutor::new(specs, MIB).expect("tiers")
}

/// Extent `index` from the hdd to the nvme.
fn promote(index: u64) -> Move {
    Move {
        extent: ExtentId::new(0, index),
        from: TierId(1),
        to: TierId(0),
        reason: MoveReason::Promote,
    }
}

fn piece(index: u64) -> Piece {
    Piece {
        extent: ExtentId::new(0, index),
        offset_in_extent_bytes: 0,
        len_bytes: 4096,
    }
}

#[test]
fn a_migration_delays_a_concurrent_foreground_request_on_the_same_tier() {
    let t0 = 1_000_000;
    let serve_b =
        |executor: &mut TierExecutor| executor.serve(t0, IoKind::Read, &piece(7)).completion_ns;

    let mut quiet = two_tiers(4);
    quiet.place(ExtentId::new(0, 3), TierId(1));
    quiet.place(ExtentId::new(0, 7), TierId(1));
    let alone_ns = serve_b(&mut quiet) - t0;

    let mut busy = two_tiers(4);
    busy.place(ExtentId::new(0, 3), TierId(1));
    busy.place(ExtentId::new(0, 7), TierId(1));
    let promote = promote(3);
    busy.execute(t0, &promote).expect("room on the fast tier");
    let copy_done = busy
        .copy_done_ns(ExtentId::new(0, 3), t0)
        .expect("copy in flight");
    let behind_ns = serve_b(&mut busy) - t0;

    // The 1 MiB read of the copy holds the single HDD channel: seek + 1 MiB at 180 MB/s.
    let copy_read_ns = DeviceProfile::HDD.service_ns(IoKind::Read, MIB, false);
    assert!(
        behind_ns >= alone_ns + copy_read_ns,
        "{behind_ns} vs {alone_ns}"
    );
    assert!(copy_done > t0 + copy_read_ns, "the write follows the read");
    assert_eq!(busy.counters().migrated_bytes, MIB);
}

#[test]
fn a_copy_write_does_not_delay_an_earlier_request_on_its_destination() {
    let mut executor = two_tiers(4);
    executor.place(ExtentId::new(0, 1), TierId(0));
    // A backlog on the hdd: the promotion's read, and so its nvme write, is seconds away.
    for index in 10..400 {
        executor.place(ExtentId::new(0, index), TierId(1));
        executor.serve(0, IoKind::Read, &piece(index));
    }
    executor.place(ExtentId::new(0, 3), TierId(1));
    let promote = promote(3);
    executor.execute(0, &promote).expect("move");
    let copy_done = executor
        .copy_done_ns(ExtentId::new(0, 3), 0)
        .expect("copy in flight");
    assert!(copy_done > 1_000_000_000, "{copy_done}");
    let arrival = 1_000_000;
    let served = executor.serve(arrival, IoKind::Read, &piece(1));
    assert_eq!(served.tier, TierId(0));
    assert_eq!(
        served.completion_ns - arrival,
        DeviceProfile::NVME.service_ns(IoKind::Read, 4096, false)
    );
}

#[test]
fn the_source_serves_an_extent_until_its_copy_is_done() {
    let mut executor = two_tiers(4);
    executor.place(ExtentId::new(0, 3), TierId(1));
    let promote = promote(3);
    executor.execute(0, &promote).expect("move");
    assert_eq!(
        executor.map().slot_of(ExtentId::new(0, 3)).map(|s| s.tier),
        Some(TierId(0))
    );
    let copy_done = executor
        .copy_done_ns(ExtentId::new(0, 3), 0)
        .expect("copy in flight");
    let during = executor.serve(10, IoKind::Read, &piece(3));
    assert_eq!(
        during.tier,
        TierId(1),
        "read at the source during the copy's read"
    );
    // Behind the copy's 1 MiB read on the single hdd channel.
    let copy_read_ns = DeviceProfile::HDD.service_ns(IoKind::Read, MIB, false);
    assert!(during.completion_ns > copy_read_ns);
    // Read but not yet written: still the source, as the engine's map switches only when
    // the copy commits.
    let read_not_written = executor.serve(copy_read_ns, IoKind::Read, &piece(3));
    assert_eq!(read_not_written.tier, TierId(1));
    let after = executor.serve(copy_done, IoKind::Read, &piece(3));
    assert_eq!(after.tier, TierId(0));
    assert_eq!(
        after.completion_ns - copy_done,
        DeviceProfile::NVME.service_ns(IoKind::Read, 4096, false)
    );
}

#[test]
fn a_demoted_extent_keeps_its_fast_slot_until_the_copy_is_done() {
    let mut executor = two_tiers(1);
    let (a, b, c) = (
        ExtentId::new(0, 1),
        ExtentId::new(0, 2),
        ExtentId::new(0, 3),
    );
    executor.place(a, TierId(0));
    executor.place(b, TierId(1));
    executor.place(c, TierId(1));
    let a_slot = executor.map().slot_of(a).expect("placed");
    let demote = Move {
        extent: a,
        from: TierId(0),
        to: TierId(1),
        reason: MoveReason::Evict,
    };
    executor.execute(0, &demote).expect("room on the hdd");
    let demoted_ns = executor.copy_done_ns(a, 0).expect("copy in flight");
    assert_eq!(executor.held_slots(), 1);
    assert_eq!(executor.view(demoted_ns - 1).used_extents(TierId(0)), 1);
    // The promotion takes the slot `a` holds, and copies once `a`'s copy is done (the
    // engine runs one move after another).
    let t = demoted_ns / 2;
    executor
        .execute(t, &promote(2))
        .expect("into the held slot");
    assert_eq!(executor.map().slot_of(b), Some(a_slot));
    // Until then `a` is read from its fast slot, `b` from the hdd.
    assert_eq!(executor.serve(t, IoKind::Read, &piece(1)).tier, TierId(0));
    assert_eq!(executor.serve(t, IoKind::Read, &piece(2)).tier, TierId(1));
    // Known once the mover has started it; till then each answer is a lower bound.
    let mut promoted_ns = executor.copy_done_ns(b, t).expect("copy in flight");
    while let Some(later_ns) = executor.copy_done_ns(b, promoted_ns) {
        promoted_ns = later_ns;
    }
    // At least a sequential 1 MiB hdd read (it continues the demotion's write) and the
    // nvme write after `a`'s copy.
    let copy_ns = DeviceProfile::HDD.service_ns(IoKind::Read, MIB, true)
        + DeviceProfile::NVME.service_ns(IoKind::Write, MIB, false);
    assert!(
        promoted_ns >= demoted_ns + copy_ns,
        "{promoted_ns} vs {demoted_ns} + {copy_ns}"
    );
    assert_eq!(executor.view(t).used_extents(TierId(0)), 1, "counted once");
    assert_eq!(
        executor.execute(t, &promote(3)),
        Err(MoveRejection::TargetFull),
        "no room left to hand over"
    );
    assert_eq!(
        executor.serve(promoted_ns, IoKind::Read, &piece(2)).tier,
        TierId(0)
    );
    assert_eq!(executor.held_slots(), 0);
    assert_eq!(executor.max_used_extents(), [1, 3]);
}

#[test]
fn a_move_into_a_full_tier_is_rejected_and_changes_nothing() {
    let mut executor = two_tiers(1);
    executor.place(ExtentId::new(0, 1), TierId(0));
    executor.place(ExtentId::new(0, 2), TierId(1));
    let promote = Move {
        extent: ExtentId::new(0, 2),
        from: TierId(1),
        to: TierId(0),
        reason: MoveReason::Promote,
    };
    assert_eq!(
        executor.execute(0, &promote),
        Err(MoveRejection::TargetFull)
    );
    assert_eq!(executor.counters().rejected_moves, 1);
    assert_eq!(executor.counters().migrated_bytes, 0);
    assert_eq!(executor.max_used_extents(), [1, 1]);
}

#[test]
fn a_request_spanning_two_extents_completes_at_the_later_piece() {
    let record = |time_ns, offset_bytes, len_bytes| IoRecord {
        time_ns: Some(time_ns),
        disk: 0,
        offset_bytes,
        len_bytes,
        kind: IoKind::Read,
    };
    // Extent 0 lands on the one-extent fast tier; extent 1 spills to the hdd.
    let records = [
        record(0, 0, 4096),
        record(1_000_000_000, 2 * MIB, 4096),
        record(2_000_000_000, MIB - 4096, 8192),
    ];
    let input = TierInput::from_records(records, MIB, 1000).expect("input");
    let sizes = TierSizes {
        fast: SizeOrFraction::Bytes(MIB),
        middle: None,
    };
    let config = TierSimConfig::default().with_unit_bytes(MIB);
    let run = simulate_tier(&input, "static", &sizes, &config).expect("run");
    let hdd_piece_us = DeviceProfile::HDD.service_ns(IoKind::Read, 4096, false) as f64 / 1000.0;
    let nvme_piece_us = DeviceProfile::NVME.service_ns(IoKind::Read, 4096, false) as f64 / 1000.0;
    let slowest = run.latency_cdf.last().map(|p| p.latency_us).unwrap_or(0.0);
    assert!(
        (slowest - hdd_piece_us).abs() < 1e-6,
        "{slowest} vs {hdd_piece_us}"
    );
    assert!(slowest > nvme_piece_us);
    assert_eq!((run.result.hits, run.result.misses), (2, 2));
}
