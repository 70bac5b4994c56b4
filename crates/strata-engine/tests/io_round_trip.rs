//! Reads and writes: round trips across extent boundaries, zeros for unwritten ranges,
//! thin allocation, out-of-range requests, errno mapping.

use strata_engine::testing::{KIB, MIB, Rig, pattern};
use strata_engine::{AccessKind, EngineErrorKind, VolumeSpec};

#[test]
fn round_trip_across_extent_boundaries() {
    let rig = Rig::new(&[64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 16 * MIB).with_extent_size(64 * KIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    // 200 KiB starting 10 KiB before the end of extent 0 spans extents 0..=3.
    let offset = 54 * KIB;
    let data = pattern(3, 200 * KIB as usize);
    vol.write(offset, &data, false).unwrap();
    let mut back = vec![0u8; data.len()];
    vol.read(offset, &mut back).unwrap();
    assert_eq!(back, data);
    // Unaligned sub-range read.
    let mut part = vec![0u8; 1000];
    vol.read(offset + 65_000, &mut part).unwrap();
    assert_eq!(part, data[65_000..66_000]);
}

#[test]
fn unwritten_ranges_read_zeros_and_partial_extents_are_zero_padded() {
    let rig = Rig::new(&[64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 8 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    let mut buf = vec![0xaau8; 3 * MIB as usize];
    vol.read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    vol.write(MIB + 4096, &[9u8; 4096], false).unwrap();
    let mut extent = vec![0xaau8; MIB as usize];
    vol.read(MIB, &mut extent).unwrap();
    assert!(extent[..4096].iter().all(|&b| b == 0));
    assert!(extent[4096..8192].iter().all(|&b| b == 9));
    assert!(extent[8192..].iter().all(|&b| b == 0));
}

#[test]
fn thin_volumes_grow_only_with_writes() {
    let rig = Rig::new(&[64 * MIB]);
    let info = rig
        .engine
        .create_volume(VolumeSpec::new("v", 32 * MIB))
        .unwrap();
    assert_eq!(info.allocated_bytes, 0);
    assert_eq!(info.block_size, 4096);
    let vol = rig.engine.open_volume("v").unwrap();
    let mut buf = vec![0u8; 4096];
    vol.read(5 * MIB, &mut buf).unwrap();
    assert_eq!(vol.info().allocated_bytes, 0, "reads allocate nothing");
    vol.write(0, &[1u8; 512], false).unwrap();
    vol.write(100, &[2u8; 512], false).unwrap();
    assert_eq!(vol.info().allocated_bytes, MIB);
    vol.write(MIB - 10, &[3u8; 20], false).unwrap();
    let info = vol.info();
    assert_eq!(info.allocated_bytes, 2 * MIB);
    assert_eq!(info.bytes_per_tier["nvme"], 2 * MIB);
    assert_eq!(rig.engine.tiers()[0].used_bytes, 2 * MIB);
}

#[test]
fn out_of_range_requests_fail_and_change_nothing() {
    let rig = Rig::new(&[64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 4 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    type Case<'a> = (&'a str, Box<dyn Fn() -> strata_engine::Result<()> + 'a>);
    let cases: [Case<'_>; 5] = [
        (
            "write",
            Box::new(|| vol.write(4 * MIB - 4096, &[1u8; 8192], false)),
        ),
        ("read", Box::new(|| vol.read(4 * MIB, &mut [0u8; 1]))),
        ("trim", Box::new(|| vol.trim(0, 4 * MIB + 1))),
        ("zeroes", Box::new(|| vol.write_zeroes(u64::MAX, 2, false))),
        (
            "overflow",
            Box::new(|| vol.write(u64::MAX - 1, &[1u8; 4], false)),
        ),
    ];
    for (name, case) in cases {
        let err = case().unwrap_err();
        assert_eq!(err.kind, EngineErrorKind::OutOfRange, "{name}");
        assert_eq!(err.errno(), libc::EINVAL);
        let io: std::io::Error = err.into();
        assert_eq!(io.raw_os_error(), Some(libc::EINVAL));
    }
    assert_eq!(vol.info().allocated_bytes, 0);
    let mut buf = vec![1u8; 4096];
    vol.read(4 * MIB - 4096, &mut buf).unwrap();
    assert!(
        buf.iter().all(|&b| b == 0),
        "the refused write left nothing"
    );
}

#[test]
fn counters_and_access_events_track_requests() {
    let rig = Rig::new(&[2 * MIB, 64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 8 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    // Three extents: two fit on nvme (2 MiB), the third spills to ssd.
    vol.write(0, &vec![1u8; 3 * MIB as usize], false).unwrap();
    let mut buf = vec![0u8; 4 * MIB as usize];
    vol.read(0, &mut buf).unwrap();
    let stats = vol.stats();
    assert_eq!((stats.reads, stats.writes), (1, 1));
    assert_eq!(stats.read_bytes, 4 * MIB);
    assert_eq!(stats.write_bytes, 3 * MIB);
    assert_eq!(stats.read_hits_by_tier["nvme"], 2);
    assert_eq!(stats.read_hits_by_tier["ssd"], 1);
    assert_eq!(stats.unallocated_reads, 1);
    let batch = vol.access_events_since(0);
    assert_eq!(batch.events.len(), 7, "3 write pieces + 4 read pieces");
    assert_eq!(batch.lost, 0);
    assert_eq!(batch.events[6].tier, None);
    assert_eq!(rig.engine.volume_stats("v").unwrap(), stats);
    let later = rig
        .engine
        .access_events_since("v", batch.next_cursor)
        .unwrap();
    assert!(later.events.is_empty());
}

/// A trim or write-zeroes is one event in the volume's access ring however many extents it
/// spans: one per extent would overwrite the reads and writes before it (the ring holds
/// 4,096 events) before the planner and the prefetcher read them.
#[test]
fn a_trim_of_thousands_of_extents_is_one_access_event() {
    let rig = Rig::new(&[64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 8192 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    vol.write(0, &pattern(1, 64 * KIB as usize), false).unwrap();
    let mut buf = vec![0u8; 64 * KIB as usize];
    vol.read(0, &mut buf).unwrap();
    vol.trim(MIB, 6000 * MIB).unwrap();
    vol.write_zeroes(6001 * MIB + 4 * KIB, 2000 * MIB, false)
        .unwrap();
    let batch = vol.access_events_since(0);
    assert_eq!(batch.lost, 0, "the read and write before the trim are kept");
    let seen: Vec<_> = batch
        .events
        .iter()
        .map(|e| (e.kind, e.extent, e.tier, e.blocks))
        .collect();
    assert_eq!(
        seen,
        [
            (AccessKind::Write, 0, Some(0), 16),
            (AccessKind::Read, 0, Some(0), 16),
            // The request's first extent, no tier, its length (saturated) in blocks.
            (AccessKind::Trim, 1, None, 32767),
            (AccessKind::WriteZeroes, 6001, None, 32767),
        ]
    );
}
