//! The LSTM predictor against Markov on held-out data: the LSTM is trained on the first
//! 70 % of a trace's canonical stream, both predictors observe that 70 % (Markov learns
//! online from it, the LSTM only fills its history ring), and both are then measured in
//! prefetch mode on the last 30 %, with a cold demand cache of 5 % of the held-out part's
//! unique blocks. A fixture excerpt runs in every test run; the table over every shared
//! trace (BENCHMARKS.md, "LSTM against Markov on held-out data") is the ignored test.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashSet;
use strata_core::SizeOrFraction;
use strata_predict::{
    Access, AccessPredictor, Lstm, LstmConfig, LstmShape, LstmTrainConfig, Markov, train_lstm,
};
use strata_sim::prefetch::{
    CanonicalStream, PredictorKind, PrefetchConfig, PrefetchStats, load_canonical_stream,
    simulate_with, training_accesses,
};
use strata_sim::run::cache_entries;
use strata_sim::stream::disk_of;
use strata_sim::trace::TraceOptions;

fn accesses(ids: &[u64]) -> Vec<Access> {
    ids.iter()
        .map(|&id| Access::read(u64::from(disk_of(id)), id))
        .collect()
}

/// One held-out comparison.
struct HeldOut {
    cache_entries: usize,
    markov: PrefetchStats,
    lstm: PrefetchStats,
    initial_loss: f32,
    final_loss: f32,
}

fn held_out(ids: &[u64], unit: u64, config: &LstmTrainConfig) -> HeldOut {
    let (train, test) = ids.split_at(ids.len() * 7 / 10);
    let training = train_lstm(&accesses(train), config, &mut |_| {}).unwrap();
    let unique = test.iter().collect::<FxHashSet<_>>().len() as u64;
    let capacity = cache_entries(SizeOrFraction::Fraction(0.05), unique, unit) as usize;
    let run = |kind: PredictorKind, predictor: &mut dyn AccessPredictor| {
        for access in accesses(train) {
            predictor.observe(&access);
        }
        simulate_with(test, &PrefetchConfig::new(kind, capacity, unit), predictor).unwrap()
    };
    let markov = run(PredictorKind::Markov, &mut Markov::default());
    let model = Arc::new(training.model);
    let lstm = run(
        PredictorKind::Lstm,
        &mut Lstm::new(model, LstmConfig::default()),
    );
    HeldOut {
        cache_entries: capacity,
        markov,
        lstm,
        initial_loss: training.initial_loss,
        final_loss: training.losses.last().copied().unwrap_or(f32::NAN),
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

#[test]
fn lstm_learns_a_fixture_trace_and_is_measured_on_its_held_out_part() {
    let path = fixture("arc_P3_head20k.lis.gz");
    let stream = load_canonical_stream(&path, &TraceOptions::default(), 4096, false).unwrap();
    let config = LstmTrainConfig {
        shape: LstmShape {
            embed: 8,
            hidden: 16,
            window: 8,
        },
        vocabulary: 32,
        epochs: 3,
        max_samples: 8_000,
        ..LstmTrainConfig::default()
    };
    let result = held_out(&stream.ids, 4096, &config);
    assert!(
        result.final_loss < 0.8 * result.initial_loss,
        "loss {} -> {}",
        result.initial_loss,
        result.final_loss
    );
    for stats in [&result.lstm, &result.markov] {
        assert_eq!(stats.hits + stats.misses, stats.accesses);
        assert_eq!(
            stats.prefetch_used + stats.prefetch_wasted,
            stats.prefetch_issued
        );
    }
    // The trace is a third sequential runs: a model that learnt anything covers some of
    // the held-out misses, and is precise about it.
    assert!(result.lstm.coverage() > 0.2, "{:?}", result.lstm);
    assert!(result.lstm.precision() > 0.2, "{:?}", result.lstm);
    // Same data, same seed: the same numbers.
    assert_eq!(held_out(&stream.ids, 4096, &config).lstm, result.lstm);
}

/// `cargo test -p strata-sim --test prefetch_lstm -- --ignored lstm_against_markov --nocapture`
#[test]
#[ignore = "evidence table for BENCHMARKS.md; reads ../shared/traces and trains 18 models (minutes)"]
fn lstm_against_markov_on_shared_traces() {
    let mut files: Vec<PathBuf> = common::shared_traces()
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    files.sort();
    println!(
        "| trace | unit | held-out accesses | cache | markov precision | lstm precision | markov coverage | lstm coverage | markov miss ratio | lstm miss ratio | better |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for path in &files {
        for unit in [4096u64, 1 << 20] {
            let stream =
                load_canonical_stream(path, &TraceOptions::default(), unit, false).unwrap();
            let r = held_out(&stream.ids, unit, &LstmTrainConfig::default());
            let (m, l) = (&r.markov, &r.lstm);
            let better = match (l.precision() > m.precision(), l.coverage() > m.coverage()) {
                (true, true) => "lstm",
                (false, false) => "markov",
                _ if l.miss_ratio() < m.miss_ratio() => "lstm (miss ratio)",
                _ => "markov (miss ratio)",
            };
            println!(
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} | {better} |",
                stream.trace,
                if unit == 4096 { "4K" } else { "1M" },
                m.accesses,
                r.cache_entries,
                m.precision(),
                l.precision(),
                m.coverage(),
                l.coverage(),
                m.miss_ratio(),
                l.miss_ratio(),
            );
        }
    }
}

/// The fixture excerpts the shipped model (`strata-predict/models/lstm-v1.safetensors`)
/// is trained on, in the order of `docs/lstm-model.md`.
const SHIPPED_MODEL_TRACES: [&str; 9] = [
    "arc_OLTP_head20k.lis.gz",
    "arc_P3_head20k.lis.gz",
    "arc_P6_head20k.lis.gz",
    "arc_P12_head20k.lis.gz",
    "cloudphysics_vscsi_head20k.csv.gz",
    "msn_fs_head20k.trace.gz",
    "mqsim_tpcc-small.trace",
    "systor17_traces_sample.csv.gz",
    "msr_hm_0_sample1000.csv",
];

/// Rewrites the shipped model; the same as `strata train --model lstm` with its defaults
/// over `SHIPPED_MODEL_TRACES` (both call `training_accesses` and `train_lstm`).
/// `cargo test -p strata-sim --test prefetch_lstm -- --ignored write_shipped`
#[test]
#[ignore = "rewrites crates/strata-predict/models/lstm-v1.safetensors"]
fn write_shipped_lstm_model() {
    let streams: Vec<CanonicalStream> = SHIPPED_MODEL_TRACES
        .iter()
        .map(|name| {
            load_canonical_stream(&fixture(name), &TraceOptions::default(), 4096, false).unwrap()
        })
        .collect();
    let training = train_lstm(
        &training_accesses(&streams),
        &LstmTrainConfig::default(),
        &mut |epoch| {
            eprintln!(
                "epoch {}/{}: loss {:.3}",
                epoch.epoch, epoch.epochs, epoch.loss
            )
        },
    )
    .unwrap();
    let bytes = training.model.to_safetensors().unwrap();
    let out =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata-predict/models/lstm-v1.safetensors");
    std::fs::write(&out, &bytes).unwrap();
    println!(
        "{} samples, {} classes, loss {:.3} -> {:?}, {} bytes",
        training.samples,
        training.model.class_count(),
        training.initial_loss,
        training.losses,
        bytes.len()
    );
}
