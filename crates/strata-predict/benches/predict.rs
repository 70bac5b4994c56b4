//! ns per `observe` (and per `observe` + `predict` round) for every predictor, on a
//! sequential, a strided and a random stream. `observe` runs on the engine's per-access
//! path, so it must stay O(1) and allocation-free.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strata_predict::{Access, PredictorKind};

const ACCESSES: usize = 4096;

fn streams() -> Vec<(&'static str, Vec<Access>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let sequential = (0..ACCESSES as u64).map(|b| Access::read(0, b)).collect();
    let strided = (0..ACCESSES as u64)
        .map(|i| Access::read(0, 1000 + 9 * i))
        .collect();
    let random = (0..ACCESSES)
        .map(|_| Access::read(0, rng.random_range(0..1u64 << 30)))
        .collect();
    vec![
        ("sequential", sequential),
        ("strided", strided),
        ("random", random),
    ]
}

fn bench(c: &mut Criterion) {
    let streams = streams();
    let mut group = c.benchmark_group("observe");
    group.throughput(Throughput::Elements(ACCESSES as u64));
    for kind in PredictorKind::ALL {
        for (name, accesses) in &streams {
            // Warm the predictor once so the measurement is steady state.
            let mut warm = kind.build();
            for access in accesses {
                warm.observe(access);
            }
            group.bench_function(format!("{kind}/{name}"), |b| {
                b.iter(|| {
                    for access in accesses {
                        warm.observe(black_box(access));
                    }
                });
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("observe_predict16");
    group.throughput(Throughput::Elements(ACCESSES as u64));
    for kind in PredictorKind::ALL {
        for (name, accesses) in &streams {
            group.bench_function(format!("{kind}/{name}"), |b| {
                b.iter_batched_ref(
                    || (kind.build(), Vec::with_capacity(64)),
                    |(predictor, out)| {
                        for access in accesses {
                            predictor.observe(access);
                            out.clear();
                            predictor.predict(16, out);
                        }
                        black_box(out.len())
                    },
                    BatchSize::LargeInput,
                );
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
