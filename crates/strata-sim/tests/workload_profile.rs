//! Workload profiling over the trace fixtures: the exact miss-ratio curve is the LRU
//! simulator's, the SHARDS curve stays close to the exact one, windows follow the window
//! rule, families label the shared traces, and untimed traces refuse time windows.

use std::path::{Path, PathBuf};

use strata_predict::WorkloadClass;
use strata_predict::profile::{ReuseDistances, TierDevices, WindowSpec, tier_profile};
use strata_sim::cache::{PolicyKind, simulate};
use strata_sim::run::{NoProgress, load_stream};
use strata_sim::trace::{TimeUnit, TraceOptions, open_trace};
use strata_sim::workload::{ProfileError, profile_trace, request_of, trace_family};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

/// Exact and sampled reuse over the canonical 4 KiB stream of a fixture.
fn reuse_of(name: &str, rate: f64) -> ReuseDistances {
    let stream = load_stream(&fixture(name), &TraceOptions::default(), 4096, false).unwrap();
    let mut reuse = ReuseDistances::sampled(rate);
    for &id in &stream.ids {
        reuse.observe(id);
    }
    reuse
}

#[test]
fn the_exact_curve_is_the_lru_simulators() {
    let stream = load_stream(
        &fixture("msn_fs_head20k.trace.gz"),
        &TraceOptions::default(),
        4096,
        false,
    )
    .unwrap();
    let mrc = reuse_of("msn_fs_head20k.trace.gz", 1.0).miss_ratio_curve();
    for k in [0usize, 4, 8, 12, 14, 16] {
        let lru = simulate(PolicyKind::Lru, 1 << k, &stream.ids).miss_ratio();
        assert!(
            (mrc.miss_ratio[k] - lru).abs() < 1e-12,
            "2^{k} blocks: {} vs LRU {lru}",
            mrc.miss_ratio[k]
        );
    }
}

#[test]
fn the_shards_curve_stays_close_to_the_exact_one() {
    for name in [
        "msn_fs_head20k.trace.gz",
        "cloudphysics_vscsi_head20k.csv.gz",
        "arc_P3_head20k.lis.gz",
    ] {
        let exact = reuse_of(name, 1.0).miss_ratio_curve();
        let sampled = reuse_of(name, 0.1).miss_ratio_curve();
        let worst = (0..exact.miss_ratio.len())
            .map(|k| (exact.miss_ratio[k] - sampled.miss_ratio[k]).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 0.05,
            "{name}: SHARDS at 10 % is {worst} off the exact curve"
        );
    }
}

#[test]
fn a_timed_fixture_profiles_into_default_windows_with_valid_tier_profiles() {
    // 20,000 MSN requests over well under 60 s: two windows of 10,000 requests.
    let options = TraceOptions::default().with_time_unit(TimeUnit::Ms);
    let profiled = profile_trace(
        &fixture("msn_fs_head20k.trace.gz"),
        &options,
        WindowSpec::default(),
        &NoProgress,
    )
    .unwrap();
    assert!(profiled.timed);
    let counts: Vec<u64> = profiled
        .windows
        .iter()
        .map(|w| w.profile.features.requests)
        .collect();
    assert_eq!(counts, vec![10_000, 10_000]);
    assert_eq!(profiled.windows[0].start_s, Some(0.0));
    for window in &profiled.windows {
        let f = &window.profile.features;
        let p = tier_profile(
            &window.profile.mrc,
            f.working_set_blocks,
            f,
            &TierDevices::default(),
        );
        assert!((p.nvme + p.ssd + p.hdd - 1.0).abs() < 1e-9, "{p:?}");
        assert!(f.read_fraction > 0.5 && f.read_fraction <= 1.0);
    }
}

#[test]
fn an_untimed_trace_refuses_a_time_window_and_takes_a_request_window() {
    let path = fixture("arc_OLTP_head20k.lis.gz");
    let by_time: WindowSpec = "60".parse().unwrap();
    let err = profile_trace(&path, &TraceOptions::default(), by_time, &NoProgress).unwrap_err();
    assert!(matches!(err, ProfileError::Untimed { .. }), "{err}");
    assert!(err.to_string().contains("--window"), "{err}");
    let by_count: WindowSpec = "5000r".parse().unwrap();
    let profiled = profile_trace(&path, &TraceOptions::default(), by_count, &NoProgress).unwrap();
    assert!(!profiled.timed);
    assert_eq!(profiled.windows.len(), 4);
    assert_eq!(profiled.windows[1].start_s, None);
    assert_eq!(profiled.windows[1].start_request, 5000);
}

#[test]
fn families_label_the_shared_traces() {
    let class = |name: &str| trace_family(Path::new(name)).map(|f| f.class);
    assert_eq!(
        class("mqsim_tpcc-small.trace"),
        Some(WorkloadClass::Database)
    );
    assert_eq!(class("arc_OLTP.lis.gz"), Some(WorkloadClass::Database));
    assert_eq!(class("arc_P12.lis.gz"), Some(WorkloadClass::Dev));
    assert_eq!(class("msn_fs_excerpt.trace.gz"), Some(WorkloadClass::File));
    assert_eq!(
        class("systor17_traces_sample.csv.gz"),
        Some(WorkloadClass::Vdi)
    );
    assert_eq!(class("msr_hm_0_sample1000.csv"), None);
    let tpcc = trace_family(Path::new("mqsim_tpcc-small.trace")).and_then(|f| f.time_unit);
    assert_eq!(tpcc, Some(TimeUnit::Ns));
}

#[test]
fn records_become_requests_unchanged() {
    let mut reader = open_trace(
        &fixture("systor17_traces_sample.csv.gz"),
        &TraceOptions::default(),
    )
    .unwrap();
    let record = reader.next().unwrap().unwrap();
    let request = request_of(&record);
    assert_eq!(request.offset_bytes, record.offset_bytes);
    assert_eq!(request.len_bytes, record.len_bytes);
    assert_eq!(request.time_ns, record.time_ns);
    assert_eq!(request.stream, record.disk);
}
