//! Prefetch mode over real traces: the excerpt fixtures in every run (counters consistent,
//! runs deterministic), and — ignored by default, for BENCHMARKS.md — a table of every
//! predictor over every shared trace at 4 KiB and 1 MiB units, and sweeps of `auto`'s
//! pressure limit and of the predictors' table sizing.

mod common;

use std::path::{Path, PathBuf};

use strata_core::SizeOrFraction;
use strata_sim::prefetch::{
    CanonicalStream, PredictorKind, PrefetchConfig, PrefetchStats, TunerConfig, Tuning,
    load_canonical_stream, run_prefetch_on, simulate, simulate_with,
};
use strata_sim::report::ResultRow;
use strata_sim::run::NoProgress;
use strata_sim::run::cache_entries;
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

/// The tuner's pressure compares the cache with the same LRU without prefetching: the
/// misses prefetching caused, less the ones it saved, are exactly the misses it added.
#[test]
fn caused_and_saved_misses_account_for_the_difference_to_no_prefetching() {
    let stream = load(
        &fixtures().join("cloudphysics_vscsi_head20k.csv.gz"),
        1 << 20,
    );
    let entries = cache_entries(SizeOrFraction::Fraction(0.05), stream.unique, stream.unit);
    let mut off = PrefetchConfig::new(PredictorKind::Readahead, entries as usize, stream.unit);
    off.tuning = Tuning::Fixed {
        depth: 0,
        threshold: 1.0,
    };
    let without = simulate(&stream.ids, &off).unwrap();
    assert_eq!((without.induced_misses, without.saved_misses), (0, 0));
    for kind in [
        PredictorKind::Markov,
        PredictorKind::Temporal,
        PredictorKind::Auto,
    ] {
        let config = PrefetchConfig::new(kind, entries as usize, stream.unit);
        let with = simulate(&stream.ids, &config).unwrap();
        assert!(
            with.induced_misses > 0 && with.saved_misses > 0,
            "{kind:?}: {with:?}"
        );
        assert_eq!(
            with.misses + with.saved_misses,
            without.misses + with.induced_misses,
            "{kind:?}: {with:?}"
        );
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

/// The predictors of the table: all but the LSTM, whose one forward pass per access would
/// take hours over the whole set (its evidence is `prefetch_lstm.rs`, on held-out data).
const TABLE_KINDS: [PredictorKind; 6] = [
    PredictorKind::Readahead,
    PredictorKind::Stride,
    PredictorKind::Leap,
    PredictorKind::Markov,
    PredictorKind::Temporal,
    PredictorKind::Auto,
];

/// `cargo test -p strata-sim --release --test prefetch_traces -- --ignored --nocapture`
#[test]
#[ignore = "evidence table for BENCHMARKS.md; reads ../shared/traces (minutes)"]
fn table_over_shared_traces() {
    let files = shared_traces();
    let sizes = [
        SizeOrFraction::Fraction(0.01),
        SizeOrFraction::Fraction(0.05),
    ];
    println!(
        "| trace | unit | cache | predictor | miss ratio | precision | coverage | timeliness | wasted MiB |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    let mut summary = Summary::default();
    for path in &files {
        for unit in [4096, 1 << 20] {
            let options = TraceOptions::default();
            let stream = load_canonical_stream(path, &options, unit, false).unwrap();
            let report = run_prefetch_on(
                std::slice::from_ref(&stream),
                &sizes,
                &TABLE_KINDS,
                &NoProgress,
            )
            .unwrap();
            summary.add_without_prefetch(unit, &stream, &sizes);
            for trace in &report.traces {
                for row in &trace.results {
                    println!(
                        "| {} | {} | {} | {} | {:.4} | {:.3} | {:.3} | {:.3} | {:.1} |",
                        trace.trace,
                        unit_name(unit),
                        row.cache_size,
                        row.extra["predictor"].as_str().unwrap_or("?"),
                        row.miss_ratio,
                        field(row, "precision"),
                        field(row, "coverage"),
                        field(row, "timeliness"),
                        field(row, "wasted_bytes") / f64::from(1 << 20),
                    );
                }
                summary.add(unit, &trace.results);
            }
        }
    }
    summary.print();
}

/// The shared trace files (`common::shared_traces`), sorted by name.
fn shared_traces() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = common::shared_traces()
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    files.sort();
    files
}

/// Means over every shared trace at `unit` and caches of 1 % and 5 % of its blocks of
/// (miss ratio, precision, coverage), each case run by `run(stream, cache entries)`.
fn means_over_shared_traces(
    unit: u64,
    mut run: impl FnMut(&CanonicalStream, usize) -> PrefetchStats,
) -> [f64; 3] {
    let mut sums = [0.0; 3];
    let mut cases = 0.0;
    for path in shared_traces() {
        let stream = load(&path, unit);
        for fraction in [0.01, 0.05] {
            let entries =
                cache_entries(SizeOrFraction::Fraction(fraction), stream.unique, unit) as usize;
            let stats = run(&stream, entries);
            sums[0] += stats.miss_ratio();
            sums[1] += stats.precision();
            sums[2] += stats.coverage();
            cases += 1.0;
        }
    }
    sums.map(|sum| sum / cases)
}

/// `cargo test -p strata-sim --release --test prefetch_traces -- --ignored --nocapture sweeps`
#[test]
#[ignore = "evidence for BENCHMARKS.md; reads ../shared/traces (minutes)"]
fn sweeps_of_pressure_limit_and_table_sizing() {
    let unit = 1 << 20;
    println!("| `auto`'s pressure limit | miss ratio / precision / coverage (1 MiB) |");
    println!("|---:|---:|");
    for limit in [0.5, 0.6, 0.7, 1.01] {
        let [miss, precision, coverage] = means_over_shared_traces(unit, |stream, entries| {
            let mut config = PrefetchConfig::new(PredictorKind::Auto, entries, unit);
            config.tuning = Tuning::Adaptive {
                config: TunerConfig {
                    pressure_limit: limit,
                    ..TunerConfig::default()
                },
                epoch_accesses: 1024,
            };
            simulate(&stream.ids, &config).unwrap()
        });
        println!("| {limit} | {miss:.4} / {precision:.3} / {coverage:.3} |");
    }
    println!();
    println!("| unit | predictor | default tables | sized for the trace's blocks |");
    println!("|---:|---|---:|---:|");
    for unit in [4096, 1 << 20] {
        for kind in [
            PredictorKind::Markov,
            PredictorKind::Temporal,
            PredictorKind::Auto,
        ] {
            let cells = [false, true].map(|sized| {
                let [miss, precision, coverage] =
                    means_over_shared_traces(unit, |stream, entries| {
                        let mut predictor = kind.build();
                        if sized {
                            predictor.size_for(stream.unique);
                        }
                        let config = PrefetchConfig::new(kind, entries, unit);
                        simulate_with(&stream.ids, &config, predictor.as_mut()).unwrap()
                    });
                format!("{miss:.4} / {precision:.3} / {coverage:.3}")
            });
            println!(
                "| {} | {} | {} | {} |",
                unit_name(unit),
                kind.name(),
                cells[0],
                cells[1]
            );
        }
    }
}

/// (miss ratio, precision, coverage) of one row.
fn measures(row: &ResultRow) -> [f64; 3] {
    [
        row.miss_ratio,
        field(row, "precision"),
        field(row, "coverage"),
    ]
}

/// Means per unit and predictor over every (trace × cache) case, and `auto` against the
/// better (by coverage) of readahead and Leap in each case — the target.
#[derive(Default)]
struct Summary {
    /// (unit, predictor) → sums of [miss ratio, precision, coverage] and the case count.
    means: std::collections::BTreeMap<(u64, String), ([f64; 3], u32)>,
    /// unit → sums of auto's and the baseline's [precision, coverage], cases, cases meeting
    /// the target (≥ 1.5× coverage at no lower precision).
    against_baseline: std::collections::BTreeMap<u64, ([f64; 4], u32, u32)>,
}

impl Summary {
    /// The same cases with prefetching off: the miss ratio every predictor should beat.
    fn add_without_prefetch(
        &mut self,
        unit: u64,
        stream: &CanonicalStream,
        sizes: &[SizeOrFraction],
    ) {
        for &size in sizes {
            let entries = cache_entries(size, stream.unique, stream.unit);
            let mut config = PrefetchConfig::new(PredictorKind::Readahead, entries as usize, unit);
            config.tuning = Tuning::Fixed {
                depth: 0,
                threshold: 1.0,
            };
            let stats = simulate(&stream.ids, &config).unwrap();
            let entry = self.means.entry((unit, "(none)".to_owned())).or_default();
            entry.0[0] += stats.miss_ratio();
            entry.1 += 1;
        }
    }

    fn add(&mut self, unit: u64, rows: &[ResultRow]) {
        let name = |row: &ResultRow| row.extra["predictor"].as_str().unwrap_or("?").to_owned();
        // Rows come cache size by cache size, one per predictor.
        for chunk in rows.chunks(TABLE_KINDS.len()) {
            for row in chunk {
                let entry = self.means.entry((unit, name(row))).or_default();
                for (sum, value) in entry.0.iter_mut().zip(measures(row)) {
                    *sum += value;
                }
                entry.1 += 1;
            }
            let of = |predictor: &str| chunk.iter().find(|r| name(r) == predictor).map(measures);
            let (Some(auto), Some(readahead), Some(leap)) =
                (of("auto"), of("readahead"), of("leap"))
            else {
                continue;
            };
            let base = if readahead[2] > leap[2] {
                readahead
            } else {
                leap
            };
            let entry = self.against_baseline.entry(unit).or_default();
            for (sum, value) in entry.0.iter_mut().zip([auto[1], auto[2], base[1], base[2]]) {
                *sum += value;
            }
            entry.1 += 1;
            entry.2 += u32::from(auto[2] >= 1.5 * base[2] && auto[1] >= base[1]);
        }
    }

    fn print(&self) {
        println!();
        println!("| unit | predictor | cases | mean miss ratio | mean precision | mean coverage |");
        println!("|---:|---|---:|---:|---:|---:|");
        for ((unit, predictor), (sums, n)) in &self.means {
            let n = f64::from(*n);
            println!(
                "| {} | {predictor} | {n} | {:.4} | {:.3} | {:.3} |",
                unit_name(*unit),
                sums[0] / n,
                sums[1] / n,
                sums[2] / n
            );
        }
        println!();
        println!(
            "| unit | auto mean precision | baseline mean precision | auto mean coverage | baseline mean coverage | coverage ratio | cases meeting the target |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for (unit, (sums, n, met)) in &self.against_baseline {
            let mean = |i: usize| sums[i] / f64::from(*n);
            println!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {met} of {n} |",
                unit_name(*unit),
                mean(0),
                mean(2),
                mean(1),
                mean(3),
                mean(1) / mean(3)
            );
        }
    }
}

fn unit_name(unit: u64) -> &'static str {
    if unit == 4096 { "4K" } else { "1M" }
}
