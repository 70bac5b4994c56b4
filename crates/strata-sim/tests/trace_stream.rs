//! The canonical block stream over real fixtures: `BlockStream` yields exactly the ids of
//! `blocks()` for every record, keeps the reader's statistics reachable, and reproduces the
//! 4 KiB footprint that `stats.py` reports.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use strata_core::IoKind;
use strata_sim::stream::{BlockStream, blocks, disk_of};
use strata_sim::trace::{TimeUnit, TraceOptions, open_trace};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

#[test]
fn block_stream_matches_per_record_blocks_and_stats_py_footprint() {
    let options = TraceOptions::default().with_time_unit(TimeUnit::Ns);
    let path = fixture("mqsim_tpcc-small.trace");
    let expected: Vec<u64> = open_trace(&path, &options)
        .unwrap()
        .map(|record| record.unwrap())
        .flat_map(|record| blocks(&record, 4096).collect::<Vec<_>>())
        .collect();
    let mut stream = BlockStream::new(open_trace(&path, &options).unwrap(), 4096);
    let ids: Vec<u64> = stream
        .by_ref()
        .map(|access| access.unwrap().block_id)
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(stream.records().stats().records, 6_999);
    let unique: HashSet<u64> = ids.iter().copied().collect();
    // stats.py: footprint_4k_blocks 20,470 over 16 devices.
    assert_eq!(unique.len(), 20_470);
    let disks: HashSet<u32> = unique.iter().map(|&id| disk_of(id)).collect();
    assert_eq!(disks.len(), 16);
}

#[test]
fn reads_only_stream_drops_every_write() {
    let path = fixture("msr_hm_0_sample1000.csv");
    let all = BlockStream::new(open_trace(&path, &TraceOptions::default()).unwrap(), 4096)
        .map(|access| access.unwrap())
        .collect::<Vec<_>>();
    let reads = BlockStream::new(open_trace(&path, &TraceOptions::default()).unwrap(), 4096)
        .with_reads_only(true)
        .map(|access| access.unwrap())
        .collect::<Vec<_>>();
    assert!(reads.iter().all(|access| access.kind == IoKind::Read));
    let reads_in_all = all
        .iter()
        .filter(|access| access.kind == IoKind::Read)
        .count();
    assert_eq!(reads.len(), reads_in_all);
    assert!(reads.len() < all.len());
}

#[test]
fn larger_units_coarsen_the_stream() {
    let path = fixture("arc_OLTP_head20k.lis.gz");
    let count = |unit: u64| {
        BlockStream::new(open_trace(&path, &TraceOptions::default()).unwrap(), unit)
            .map(|access| access.unwrap().block_id)
            .collect::<HashSet<u64>>()
            .len()
    };
    // stats.py: 1,207 distinct 4 KiB blocks; 1 MiB extents can only be fewer.
    assert_eq!(count(4096), 1_207);
    let extents = count(1 << 20);
    assert!((1..1_207).contains(&extents), "{extents}");
}
