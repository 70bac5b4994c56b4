//! Overhead of the engine's read path: a 4 KiB read of an allocated block through a volume
//! on a `MemoryDevice`, against the same read straight from a `MemoryDevice`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use strata_core::TierKind;
use strata_device::{MemoryDevice, TierDevice};
use strata_engine::{Engine, EngineConfig, TierConfig, VolumeSpec};
use strata_meta::MemoryStore;

fn read_4k(c: &mut Criterion) {
    let capacity = 256 << 20;
    let config = EngineConfig {
        data_dir: "unused".into(),
        tiers: vec![TierConfig::builtin(TierKind::Nvme, capacity, 0.25)],
        emulation: false,
        placement: Default::default(),
        prefetch: Default::default(),
    };
    let device: Arc<dyn TierDevice> = Arc::new(MemoryDevice::new(capacity));
    let engine =
        Engine::open_with_devices(config, vec![device], Arc::new(MemoryStore::new())).unwrap();
    engine
        .create_volume(VolumeSpec::new("bench", 64 << 20))
        .unwrap();
    let volume = engine.open_volume("bench").unwrap();
    volume.write(0, &vec![7u8; 8 << 20], false).unwrap();

    let raw = MemoryDevice::new(capacity);
    raw.write_at(&vec![7u8; 8 << 20], 0).unwrap();

    let mut group = c.benchmark_group("read_4k_allocated");
    let mut buf = vec![0u8; 4096];
    let mut i = 0u64;
    group.bench_function("engine_volume", |b| {
        b.iter(|| {
            i = (i + 1) % 2048;
            volume.read(black_box(i * 4096), &mut buf).unwrap();
            black_box(&buf);
        })
    });
    group.bench_function("memory_device_direct", |b| {
        b.iter(|| {
            i = (i + 1) % 2048;
            raw.read_at(&mut buf, black_box(i * 4096)).unwrap();
            black_box(&buf);
        })
    });
    group.finish();
}

criterion_group!(benches, read_4k);
criterion_main!(benches);
