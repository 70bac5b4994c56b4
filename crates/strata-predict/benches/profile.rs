//! ns per request folded into the workload profiler (features, exact + SHARDS reuse
//! distances) on small-random, file-like and sequential-backup streams, and the cost of
//! closing a window (features, curve) plus classifying it. The profiler runs for every
//! volume all the time, so its per-request cost is what matters.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_predict::WorkloadClass;
use strata_predict::profile::{
    ForestParams, SyntheticStream, TrainingSet, WindowProfiler, WindowSpec, train,
};

const REQUESTS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("profile_observe");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    for class in [
        WorkloadClass::Database,
        WorkloadClass::File,
        WorkloadClass::Backup,
    ] {
        let requests = SyntheticStream::new(class, 1).take_requests(REQUESTS);
        group.bench_function(format!("{class}"), |b| {
            b.iter(|| {
                let mut profiler = WindowProfiler::new();
                for request in &requests {
                    profiler.observe(black_box(request));
                }
                black_box(profiler.finish())
            });
        });
    }
    group.finish();

    let mut set = TrainingSet::default();
    let spec = WindowSpec {
        max_ns: None,
        max_requests: Some(2000),
    };
    set.add_synthetic(2, 4, spec, 1);
    let params = ForestParams::default();
    let report = train(&set, &params, 2).expect("synthetic training set trains");
    let mut profiler = WindowProfiler::new();
    for request in SyntheticStream::new(WorkloadClass::Database, 2).take_requests(2000) {
        profiler.observe(&request);
    }
    let features = profiler.finish().features.classifier_vector();
    c.bench_function("classify_window", |b| {
        b.iter(|| black_box(report.model.classifier.classify(black_box(&features))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
