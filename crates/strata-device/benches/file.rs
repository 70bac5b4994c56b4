//! Cost of a 4 KiB read from a `FileDevice` whose file is in the page cache (the syscall
//! floor of the data path), next to the same read from a `MemoryDevice` and through a
//! `StatsDevice` (the decorator overhead).
//!
//! Run: `cargo bench -p strata-device --bench file`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use strata_device::{FileDevice, FileOptions, MemoryDevice, StatsDevice, TierDevice};

const FILE_BYTES: u64 = 64 << 20;
const BLOCK_BYTES: u64 = 4096;

fn bench_device(c: &mut Criterion, name: &str, device: &dyn TierDevice) {
    let blocks = FILE_BYTES / BLOCK_BYTES;
    let mut buf = vec![0u8; BLOCK_BYTES as usize];
    let mut block = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            // A large odd stride visits every block without a sequential pattern.
            block = (block + 7919) % blocks;
            device
                .read_at(black_box(&mut buf), block * BLOCK_BYTES)
                .expect("read");
            black_box(&buf);
        })
    });
}

fn read_4k(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let path = dir.path().join("bench.img");
    let file = FileDevice::open(&path, FILE_BYTES, FileOptions::default()).expect("open");
    // Write every block so reads hit cached data pages, not holes.
    let chunk = vec![0x5Au8; 1 << 20];
    for offset in (0..FILE_BYTES).step_by(chunk.len()) {
        file.write_at(&chunk, offset).expect("fill");
    }
    let memory = MemoryDevice::new(FILE_BYTES);
    for offset in (0..FILE_BYTES).step_by(chunk.len()) {
        memory.write_at(&chunk, offset).expect("fill");
    }
    bench_device(c, "read_4k/file_cached", &file);
    bench_device(c, "read_4k/memory", &memory);
    let stats = StatsDevice::new(file);
    bench_device(c, "read_4k/stats_over_file_cached", &stats);
}

criterion_group!(benches, read_4k);
criterion_main!(benches);
