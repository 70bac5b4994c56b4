//! Conformance of every trace reader on its fixture (`tests/fixtures/traces/`): record
//! counts, the first record decoded exactly (as in `../shared/traces/README.md`),
//! content-based format detection, identical records from compressed variants, read
//! counts / bytes / 4 KiB footprint equal to `stats.py` on the same files, and bad-line
//! reporting.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use strata_core::IoKind;
use strata_sim::stream::blocks;
use strata_sim::trace::{
    BlkparseAction, Format, IoRecord, TimeUnit, TraceOptions, TraceStats, open_trace,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

struct Read {
    format: Format,
    records: Vec<IoRecord>,
    stats: TraceStats,
}

fn read_all(path: &Path, options: &TraceOptions) -> Read {
    let mut reader = open_trace(path, options).unwrap_or_else(|e| panic!("{e}"));
    let mut records = Vec::new();
    for record in reader.by_ref() {
        records.push(record.unwrap_or_else(|e| panic!("{e}")));
    }
    Read {
        format: reader.format(),
        records,
        stats: reader.stats(),
    }
}

/// Reads, read bytes and distinct 4 KiB blocks, as `stats.py` computes them.
fn summary(records: &[IoRecord]) -> (usize, u64, usize) {
    let reads = records.iter().filter(|r| r.kind == IoKind::Read);
    let read_count = reads.clone().count();
    let read_bytes = reads.map(|r| r.len_bytes).sum();
    let footprint: HashSet<u64> = records.iter().flat_map(|r| blocks(r, 4096)).collect();
    (read_count, read_bytes, footprint.len())
}

struct Case {
    file: &'static str,
    format: Format,
    time_unit: TimeUnit,
    records: usize,
    /// (reads, read bytes, footprint in 4 KiB blocks) from
    /// `python3 ../shared/traces/stats.py --json FILE` on the fixture itself.
    stats_py: Option<(usize, u64, usize)>,
    first: IoRecord,
}

fn rec(
    time_ns: Option<u64>,
    disk: u32,
    offset_bytes: u64,
    len_bytes: u64,
    kind: IoKind,
) -> IoRecord {
    IoRecord {
        time_ns,
        disk,
        offset_bytes,
        len_bytes,
        kind,
    }
}

fn cases() -> Vec<Case> {
    use IoKind::{Read, Write};
    let ms = TimeUnit::Ms;
    vec![
        Case {
            file: "cloudphysics_vscsi_head20k.csv.gz",
            format: Format::CloudPhysics,
            time_unit: ms,
            records: 20_000,
            stats_py: Some((4_153, 262_836_224, 161_375)),
            // `1,5633898,2a,512,42932745`
            first: rec(Some(5_633_898_000_000_000), 0, 42_932_745 * 512, 512, Write),
        },
        Case {
            file: "msr_hm_0_sample1000.csv",
            format: Format::Msr,
            time_unit: ms,
            records: 1_000,
            stats_py: Some((508, 6_108_672, 1_917)),
            // `128166385295514663,hm,0,Write,9056014336,2048,2833`
            first: rec(
                Some(12_816_638_529_551_466_300),
                0,
                9_056_014_336,
                2_048,
                Write,
            ),
        },
        Case {
            file: "systor17_traces_sample.csv.gz",
            format: Format::Systor,
            time_unit: ms,
            records: 999,
            stats_py: Some((826, 36_355_584, 9_831)),
            // `1456095145.133076000,0.000806000,R,0,899056122368,131072`
            first: rec(
                Some(1_456_095_145_133_076_000),
                0,
                899_056_122_368,
                131_072,
                Read,
            ),
        },
        Case {
            file: "msn_fs_head20k.trace.gz",
            format: Format::DiskSim,
            time_unit: ms,
            records: 20_000,
            stats_py: Some((19_677, 205_324_288, 50_834)),
            // `0.000 5 174224064 16 1`
            first: rec(Some(0), 5, 174_224_064 * 512, 8_192, Read),
        },
        Case {
            file: "mqsim_tpcc-small.trace",
            format: Format::DiskSim,
            time_unit: TimeUnit::Ns,
            records: 6_999,
            stats_py: Some((4_381, 36_315_136, 20_470)),
            // `938513000 4 264719034 16 0`
            first: rec(Some(938_513_000), 4, 264_719_034 * 512, 8_192, Write),
        },
        Case {
            file: "arc_OLTP_head20k.lis.gz",
            format: Format::Arc,
            time_unit: ms,
            records: 20_000,
            stats_py: Some((20_000, 10_240_000, 1_207)),
            // `1 1 0 0`
            first: rec(None, 0, 512, 512, Read),
        },
        Case {
            file: "arc_P3_head20k.lis.gz",
            format: Format::Arc,
            time_unit: ms,
            records: 20_000,
            stats_py: Some((20_000, 196_812_288, 29_570)),
            first: rec(None, 0, 230_027 * 512, 8 * 512, Read),
        },
        Case {
            file: "arc_P6_head20k.lis.gz",
            format: Format::Arc,
            time_unit: ms,
            records: 20_000,
            stats_py: Some((20_000, 223_275_520, 27_829)),
            // `110765 64 0 0`
            first: rec(None, 0, 110_765 * 512, 64 * 512, Read),
        },
        Case {
            file: "arc_P12_head20k.lis.gz",
            format: Format::Arc,
            time_unit: ms,
            records: 20_000,
            stats_py: Some((20_000, 227_783_168, 28_505)),
            first: rec(None, 0, 1_936_993 * 512, 8 * 512, Read),
        },
        Case {
            file: "tencent_handwritten.csv",
            format: Format::Tencent,
            time_unit: ms,
            records: 6,
            stats_py: Some((4, 12_800, 38)),
            first: rec(
                Some(1_538_323_200_000_000_000),
                1063,
                8_390_656 * 512,
                4_096,
                Read,
            ),
        },
        Case {
            file: "lbn_handwritten.lbn",
            format: Format::Lbn,
            time_unit: ms,
            records: 6,
            // stats.py counts distinct ids (5) and no reads for lbn32.
            stats_py: Some((6, 6 * 4096, 5)),
            first: rec(None, 0, 5 * 4096, 4096, Read),
        },
        Case {
            file: "blkparse_handwritten.txt",
            format: Format::Blkparse,
            time_unit: ms,
            records: 4,
            stats_py: None,
            first: rec(Some(0), 0, 223_490 * 512, 8 * 512, Read),
        },
        Case {
            file: "fio_v2_handwritten.log",
            format: Format::Fio,
            time_unit: ms,
            records: 3,
            stats_py: None,
            first: rec(None, 0, 61_440, 4_096, Write),
        },
        Case {
            file: "fio_v3_fio333.log",
            format: Format::Fio,
            time_unit: ms,
            records: 20,
            stats_py: None,
            // `155 /dev/vdb write 61440 4096`, stamps in microseconds.
            first: rec(Some(155_000), 0, 61_440, 4_096, Write),
        },
    ]
}

#[test]
fn every_fixture_parses_with_expected_counts_and_first_record() {
    for case in cases() {
        let options = TraceOptions::default()
            .with_format(case.format)
            .with_time_unit(case.time_unit);
        let read = read_all(&fixture(case.file), &options);
        assert_eq!(read.format, case.format, "{}", case.file);
        assert_eq!(read.records.len(), case.records, "{}", case.file);
        assert_eq!(read.stats.records, case.records as u64, "{}", case.file);
        assert_eq!(read.stats.bad_lines, 0, "{}", case.file);
        assert_eq!(read.records[0], case.first, "{}", case.file);
        if let Some(expected) = case.stats_py {
            assert_eq!(summary(&read.records), expected, "{}", case.file);
        }
    }
}

#[test]
fn auto_detection_picks_each_fixtures_format() {
    for case in cases() {
        let options = TraceOptions::default().with_time_unit(case.time_unit);
        let auto = read_all(&fixture(case.file), &options);
        assert_eq!(auto.format, case.format, "{}", case.file);
        assert_eq!(auto.records.len(), case.records, "{}", case.file);
        assert_eq!(auto.records[0], case.first, "{}", case.file);
    }
}

#[test]
fn compressed_variants_give_identical_records() {
    let plain = read_all(
        &fixture("msr_hm_0_sample1000.csv"),
        &TraceOptions::default(),
    );
    for name in [
        "msr_hm_0_sample1000.csv.gz",
        "msr_hm_0_sample1000.csv.zst",
        "msr_hm_0_sample1000.csv.xz",
    ] {
        let packed = read_all(&fixture(name), &TraceOptions::default());
        assert_eq!(packed.format, Format::Msr, "{name}");
        assert_eq!(packed.records, plain.records, "{name}");
    }
}

#[test]
fn mqsim_trace_spans_its_documented_time_and_disks() {
    let options = TraceOptions::default().with_time_unit(TimeUnit::Ns);
    let read = read_all(&fixture("mqsim_tpcc-small.trace"), &options);
    let times: Vec<u64> = read.records.iter().filter_map(|r| r.time_ns).collect();
    let span_ns = times.iter().max().unwrap() - times.iter().min().unwrap();
    // README: 0.136 s on the nanosecond clock.
    assert_eq!(span_ns / 1_000_000, 136);
    let disks: HashSet<u32> = read.records.iter().map(|r| r.disk).collect();
    assert_eq!(disks.len(), 16);
}

#[test]
fn blkparse_reads_one_action_and_skips_discard_and_flush() {
    let path = fixture("blkparse_handwritten.txt");
    let queued = read_all(&path, &TraceOptions::default());
    assert_eq!(queued.stats.other_ops, 2, "FWS flush and D discard");
    let kinds: Vec<(u32, IoKind)> = queued.records.iter().map(|r| (r.disk, r.kind)).collect();
    assert_eq!(
        kinds,
        [
            (0, IoKind::Read),
            (0, IoKind::Write),
            (1, IoKind::Write),
            (1, IoKind::Read)
        ]
    );
    assert_eq!(queued.records[3].offset_bytes, 4_100 * 512);
    assert_eq!(queued.records[3].len_bytes, 512);
    assert_eq!(queued.records[3].time_ns, Some(6_000_000));
    for action in [BlkparseAction::Issue, BlkparseAction::Complete] {
        let options = TraceOptions::default().with_blkparse_action(action);
        let read = read_all(&path, &options);
        let offsets: Vec<u64> = read.records.iter().map(|r| r.offset_bytes).collect();
        assert_eq!(offsets, [223_490 * 512, 1_048_576 * 512], "{action:?}");
    }
}

#[test]
fn fio_logs_map_files_to_disks_and_count_other_ops() {
    let v2 = read_all(&fixture("fio_v2_handwritten.log"), &TraceOptions::default());
    let disks: Vec<u32> = v2.records.iter().map(|r| r.disk).collect();
    assert_eq!(disks, [0, 1, 0]);
    assert_eq!(v2.stats.other_ops, 2, "sync and trim");
    let v3 = read_all(&fixture("fio_v3_fio333.log"), &TraceOptions::default());
    let reads = v3.records.iter().filter(|r| r.kind == IoKind::Read).count();
    assert_eq!((reads, v3.records.len() - reads), (7, 13));
    assert!(
        v3.records
            .iter()
            .all(|r| r.disk == 0 && r.len_bytes == 4096)
    );
}

#[test]
fn disksim_time_unit_scales_times() {
    let path = fixture("msn_fs_head20k.trace.gz");
    let ms = read_all(&path, &TraceOptions::default());
    let us = read_all(&path, &TraceOptions::default().with_time_unit(TimeUnit::Us));
    // Second record: `0.221 5 162947904 16 1`.
    assert_eq!(ms.records[1].time_ns, Some(221_000));
    assert_eq!(us.records[1].time_ns, Some(221));
}
