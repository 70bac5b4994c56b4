//! Prefetch mode over real traces: the excerpt fixtures in every run (counters consistent,
//! runs deterministic), and — ignored by default, for BENCHMARKS.md — a table of every
//! predictor over every shared trace at 4 KiB and 1 MiB units.

use std::path::{Path, PathBuf};

use strata_core::SizeOrFraction;
use strata_sim::prefetch::{
    CanonicalStream, PredictorKind, load_canonical_stream, run_prefetch_on,
};
use strata_sim::report::ResultRow;
use strata_sim::run::NoProgress;
use strata_sim::trace::TraceOptions;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traces")
}

fn field(row: &ResultRow, name: &str) -> f64 {
    row.extra
        .get(name)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(f64::NAN)
}

fn load(path: &Path, unit: u64) -> CanonicalStream {
    load_canonical_stream(path, &TraceOptions::default(), unit, false).unwrap()
}

/// Accesses of each excerpt the LSTM sees here: one forward pass per access makes it about
/// a thousand times dearer than the others (its own evidence is `prefetch_lstm.rs`).
const LSTM_PREFIX: usize = 2_000;

#[test]
fn fixture_traces_give_consistent_deterministic_rows() {
    let names = [
        "arc_OLTP_head20k.lis.gz",
        "cloudphysics_vscsi_head20k.csv.gz",
        "mqsim_tpcc-small.trace",
    ];
    let streams: Vec<CanonicalStream> = names
        .iter()
        .map(|n| load(&fixtures().join(n), 4096))
        .collect();
    let prefixes: Vec<CanonicalStream> = streams
        .iter()
        .map(|s| {
            let ids = s.ids[..s.ids.len().min(LSTM_PREFIX)].to_vec();
            CanonicalStream::from_ids(s.trace.clone(), s.unit, ids)
        })
        .collect();
    let cheap: Vec<PredictorKind> = PredictorKind::ALL
        .into_iter()
        .filter(|k| *k != PredictorKind::Lstm)
        .collect();
    for (streams, kinds) in [(&streams, &cheap[..]), (&prefixes, &[PredictorKind::Lstm])] {
        assert_consistent_and_deterministic(streams, kinds);
    }
}

fn assert_consistent_and_deterministic(streams: &[CanonicalStream], kinds: &[PredictorKind]) {
    let sizes = [SizeOrFraction::Fraction(0.05)];
    let report = run_prefetch_on(streams, &sizes, kinds, &NoProgress).unwrap();
    assert_eq!(
        report,
        run_prefetch_on(streams, &sizes, kinds, &NoProgress).unwrap()
    );
    for (trace, stream) in report.traces.iter().zip(streams) {
        assert_eq!(trace.accesses, stream.ids.len() as u64);
        assert_eq!(trace.results.len(), kinds.len());
        for row in &trace.results {
            assert_eq!(row.hits + row.misses, trace.accesses, "{row:?}");
            for name in ["precision", "coverage", "timeliness"] {
                let value = field(row, name);
                assert!(
                    (0.0..=1.0).contains(&value),
                    "{}: {name} = {value}",
                    trace.trace
                );
            }
            assert!(row.extra.contains_key("wasted_bytes"));
        }
    }
}

/// `cargo test -p strata-sim --release --test prefetch_traces -- --ignored --nocapture`
#[test]
#[ignore = "evidence table for BENCHMARKS.md; reads ../shared/traces (minutes)"]
fn table_over_shared_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.extension().is_some_and(|e| e == "md" || e == "py"))
        .collect();
    files.sort();
    let sizes = [
        SizeOrFraction::Fraction(0.01),
        SizeOrFraction::Fraction(0.05),
    ];
    println!(
        "| trace | unit | cache | predictor | miss ratio | precision | coverage | timeliness | wasted MiB |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    for path in &files {
        for unit in [4096, 1 << 20] {
            let options = TraceOptions::default();
            let stream = load_canonical_stream(path, &options, unit, false).unwrap();
            let report =
                run_prefetch_on(&[stream], &sizes, &PredictorKind::ALL, &NoProgress).unwrap();
            for trace in &report.traces {
                for row in &trace.results {
                    println!(
                        "| {} | {} | {} | {} | {:.4} | {:.3} | {:.3} | {:.3} | {:.1} |",
                        trace.trace,
                        if unit == 4096 { "4K" } else { "1M" },
                        row.cache_size,
                        row.extra["predictor"].as_str().unwrap_or("?"),
                        row.miss_ratio,
                        field(row, "precision"),
                        field(row, "coverage"),
                        field(row, "timeliness"),
                        field(row, "wasted_bytes") / f64::from(1 << 20),
                    );
                }
            }
        }
    }
}
