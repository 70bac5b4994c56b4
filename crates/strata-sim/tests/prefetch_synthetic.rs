//! Prefetch mode on synthetic streams whose right answer is known: sequential, strided,
//! random, and a mix for the consistency of the counters.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strata_predict::PredictorKind;
use strata_sim::prefetch::{PrefetchConfig, PrefetchResult, PrefetchStats, simulate};

fn run(kind: PredictorKind, stream: &[u64], cache_entries: usize) -> PrefetchStats {
    simulate(stream, &PrefetchConfig::new(kind, cache_entries, 4096)).unwrap()
}

/// The LSTM runs one forward pass per access, about a thousand times the others' cost, so
/// it sees only the start of each stream here (its own evidence is `prefetch_lstm.rs`).
fn affordable(kind: PredictorKind, stream: &[u64]) -> &[u64] {
    match kind {
        PredictorKind::Lstm => &stream[..stream.len().min(5_000)],
        _ => stream,
    }
}

fn random_stream(len: usize, span: u64, seed: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(0..span)).collect()
}

fn assert_consistent(kind: PredictorKind, stats: &PrefetchStats) {
    assert_eq!(
        stats.hits + stats.misses,
        stats.accesses,
        "{kind}: {stats:?}"
    );
    assert_eq!(
        stats.prefetch_used + stats.prefetch_wasted,
        stats.prefetch_issued,
        "{kind}: {stats:?}"
    );
    assert!(
        stats.prefetch_timely <= stats.prefetch_used,
        "{kind}: {stats:?}"
    );
    for (name, value) in [
        ("precision", stats.precision()),
        ("coverage", stats.coverage()),
        ("timeliness", stats.timeliness()),
        ("miss_ratio", stats.miss_ratio()),
    ] {
        assert!((0.0..=1.0).contains(&value), "{kind}: {name} = {value}");
    }
}

#[test]
fn readahead_is_precise_and_covers_a_sequential_stream() {
    let stream: Vec<u64> = (0..100_000).collect();
    let stats = run(PredictorKind::Readahead, &stream, 1000);
    assert_consistent(PredictorKind::Readahead, &stats);
    assert!(stats.precision() > 0.95, "{stats:?}");
    assert!(stats.coverage() > 0.95, "{stats:?}");
    assert!(stats.timeliness() > 0.8, "{stats:?}");
    // Temporal streaming predicts only what recurs: a first pass is new to it.
    let kinds = PredictorKind::ALL
        .into_iter()
        .filter(|&kind| kind != PredictorKind::Temporal);
    for kind in kinds {
        let stats = run(kind, affordable(kind, &stream), 1000);
        assert_consistent(kind, &stats);
        assert!(stats.coverage() > 0.8, "{kind}: {stats:?}");
    }
}

#[test]
fn stride_and_leap_beat_readahead_on_a_strided_stream() {
    // Two-block records every 16 blocks: readahead sees short sequential runs and guesses
    // wrong past each record; the deltas alternate +1, +15 (no single stride, so this is
    // for the trend and correlation predictors).
    let stream: Vec<u64> = (0..50_000u64).flat_map(|i| [16 * i, 16 * i + 1]).collect();
    let readahead = run(PredictorKind::Readahead, &stream, 1000);
    for kind in [PredictorKind::Leap, PredictorKind::Markov] {
        let stats = run(kind, &stream, 1000);
        assert_consistent(kind, &stats);
        assert!(
            stats.coverage() > readahead.coverage() + 0.2,
            "{kind} {stats:?} vs readahead {readahead:?}"
        );
    }
    // A plain constant stride: readahead never starts.
    let stream: Vec<u64> = (0..100_000u64).map(|i| 5 * i).collect();
    let readahead = run(PredictorKind::Readahead, &stream, 1000);
    assert_eq!(readahead.prefetch_issued, 0);
    for kind in [
        PredictorKind::Stride,
        PredictorKind::Leap,
        PredictorKind::Auto,
    ] {
        let stats = run(kind, &stream, 1000);
        assert_consistent(kind, &stats);
        assert!(
            stats.coverage() > 0.9 && stats.precision() > 0.9,
            "{kind}: {stats:?}"
        );
    }
}

#[test]
fn temporal_and_auto_cover_a_recurring_irregular_tour() {
    // The same 2,000 random blocks in the same order, twenty times, through a cache that
    // holds a quarter of them: LRU alone misses every access, and there is no trend.
    let tour = random_stream(2_000, 1 << 30, 5);
    let stream: Vec<u64> = (0..20).flat_map(|_| tour.iter().copied()).collect();
    let temporal = run(PredictorKind::Temporal, &stream, 500);
    assert_consistent(PredictorKind::Temporal, &temporal);
    assert!(
        temporal.coverage() > 0.9 && temporal.precision() > 0.9,
        "{temporal:?}"
    );
    let auto = run(PredictorKind::Auto, &stream, 500);
    assert!(auto.coverage() > 0.8, "auto: {auto:?}");
    let leap = run(PredictorKind::Leap, &stream, 500);
    assert!(leap.coverage() < 0.2, "leap: {leap:?}");
}

#[test]
fn random_stream_gives_low_precision_and_auto_nearly_stops() {
    let stream = random_stream(100_000, 10_000_000, 7);
    for kind in PredictorKind::ALL {
        let stats = run(kind, affordable(kind, &stream), 1000);
        assert_consistent(kind, &stats);
        assert!(stats.precision() < 0.05, "{kind}: {stats:?}");
    }
    let auto = run(PredictorKind::Auto, &stream, 1000);
    assert!(
        (auto.prefetch_issued as f64) < 0.02 * auto.accesses as f64,
        "auto kept prefetching: {auto:?}"
    );
}

#[test]
fn counters_are_consistent_and_runs_deterministic_on_a_mix() {
    let mut stream = Vec::new();
    let noise = random_stream(30_000, 1 << 30, 11);
    for (i, &jump) in noise.iter().enumerate() {
        let i = i as u64;
        stream.push(1 << 32 | i);
        stream.push((2 << 40) + 7 * i);
        stream.push(jump);
    }
    for kind in PredictorKind::ALL {
        let stream = affordable(kind, &stream);
        let config = PrefetchConfig::new(kind, 500, 1 << 20);
        let first = simulate(stream, &config).unwrap();
        assert_consistent(kind, &first);
        assert_eq!(first, simulate(stream, &config).unwrap(), "{kind}");
        let row = PrefetchResult::new(&config, &first);
        assert_eq!(row.wasted_bytes, first.prefetch_wasted << 20);
        let json = serde_json::to_value(&row).unwrap();
        for field in [
            "predictor",
            "policy",
            "cache_size",
            "hits",
            "misses",
            "miss_ratio",
            "precision",
            "coverage",
            "timeliness",
            "wasted_bytes",
        ] {
            assert!(json.get(field).is_some(), "{field} missing from {json}");
        }
    }
}
