//! ns per request folded into the workload profiler (features, exact + SHARDS reuse
//! distances) on small-random, file-like and sequential-backup streams, and the cost of
//! closing a window (features, curve) plus classifying it. The profiler runs for every
//! volume all the time, so its per-request cost is what matters. Also the per-extent heat
//! forecast of a window (the shipped model's trees against the EWMA baseline, same run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_predict::WorkloadClass;
use strata_predict::profile::{
    ForestParams, HeatHistory, HeatMethod, SyntheticStream, TrainingSet, WindowProfiler,
    WindowSpec, WorkloadModel, train,
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

    // A volume with 10,000 extents remembered, each touched in some of three windows.
    const EXTENTS: u64 = 10_000;
    let shipped = WorkloadModel::shipped().expect("shipped model");
    let heat_model = shipped.heat.as_ref().expect("shipped heat forecaster");
    let mut history = HeatHistory::default();
    for w in 0..3u64 {
        let counts: Vec<(u64, u32)> = (0..EXTENTS)
            .filter(|e| (e + w) % 3 != 0)
            .map(|e| (e, (1 + (e * 7 + w) % 50) as u32))
            .collect();
        history.push(&counts);
    }
    let mut group = c.benchmark_group("heat_forecast_10k_extents");
    group.throughput(Throughput::Elements(EXTENTS));
    group.bench_function("model", |b| {
        b.iter(|| black_box(history.forecast(HeatMethod::Model(heat_model))))
    });
    group.bench_function("ewma", |b| {
        b.iter(|| black_box(history.forecast(HeatMethod::Ewma)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
