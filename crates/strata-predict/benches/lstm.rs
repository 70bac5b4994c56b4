//! Cost of an LSTM prediction against Markov's, in one run: `predict` after every access
//! (the allocation-free kernel over the window, then the chain ahead), and the candle
//! forward pass over one window and over a batch of 256 windows. Prints the shipped
//! model's size first.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strata_predict::lstm::SHIPPED_MODEL;
use strata_predict::{Access, AccessPredictor, Lstm, LstmModel, Markov};

const ACCESSES: usize = 4096;

/// Sequential runs of 1–16 blocks at random places, as file and database reads look.
fn runs() -> Vec<Access> {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut out = Vec::with_capacity(ACCESSES);
    while out.len() < ACCESSES {
        let start = rng.random_range(0..1u64 << 24);
        for b in start..start + rng.random_range(1..=16) {
            out.push(Access::read(0, b));
        }
    }
    out.truncate(ACCESSES);
    out
}

fn bench(c: &mut Criterion) {
    let model = LstmModel::from_safetensors(SHIPPED_MODEL).expect("shipped model");
    eprintln!(
        "shipped LSTM model: {} bytes, {} parameters, {} classes, shape {:?}",
        SHIPPED_MODEL.len(),
        model.parameter_count(),
        model.class_count(),
        model.shape()
    );
    let accesses = runs();
    let mut group = c.benchmark_group("predict_per_access");
    group.throughput(Throughput::Elements(ACCESSES as u64));
    for depth in [1usize, 16] {
        let predictors: [(&str, Box<dyn AccessPredictor>); 2] = [
            ("markov", Box::new(Markov::default())),
            ("lstm", Box::new(Lstm::default())),
        ];
        for (name, mut predictor) in predictors {
            let mut out = Vec::with_capacity(64);
            group.bench_function(format!("{name}/depth{depth}"), |b| {
                b.iter(|| {
                    for access in &accesses {
                        predictor.observe(access);
                        out.clear();
                        predictor.predict(depth, &mut out);
                    }
                    black_box(out.len())
                });
            });
        }
    }
    group.finish();

    // The same next-delta distribution through candle: one window, and 256 at once.
    let window = model.shape().window;
    let classes = model.class_count() as u16;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let windows: Vec<Vec<u16>> = (0..256)
        .map(|_| (0..window).map(|_| rng.random_range(0..classes)).collect())
        .collect();
    let refs: Vec<&[u16]> = windows.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("lstm_candle_forward");
    for batch in [1usize, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch{batch}"), |b| {
            b.iter(|| black_box(model.probabilities_batch(&refs[..batch]).map(|p| p.len())));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
