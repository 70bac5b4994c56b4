//! Throughput of the CSV trace path: parse a generated MSR-format file (written to a
//! temporary file here, so the bench needs no data set) and count its records.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_sim::trace::{Format, TraceOptions, open_trace};

const RECORDS: u64 = 1_000_000;

fn write_msr(path: &Path) {
    let mut text = String::with_capacity(64 * RECORDS as usize);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..RECORDS {
        // xorshift: varied offsets and sizes without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let kind = if state & 1 == 0 { "Read" } else { "Write" };
        let offset = (state >> 20) % (1 << 36) / 512 * 512;
        let size = 512 * (1 + (state >> 8) % 128);
        let response = (state >> 40) % 100_000;
        writeln!(
            text,
            "{},hm,{},{kind},{offset},{size},{response}",
            128_166_385_295_514_663 + i * 1_271,
            i % 2
        )
        .unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn bench_msr(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated_msr.csv");
    write_msr(&path);
    let options = TraceOptions::default().with_format(Format::Msr);
    let mut group = c.benchmark_group("trace_read");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    group.bench_function("msr_csv_1m_records", |b| {
        b.iter(|| {
            let reader = open_trace(&path, &options).unwrap();
            let mut bytes = 0u64;
            for record in reader {
                bytes += record.unwrap().len_bytes;
            }
            black_box(bytes)
        });
    });
    group.bench_function("msr_csv_1m_records_auto", |b| {
        b.iter(|| {
            let reader = open_trace(&path, &TraceOptions::default()).unwrap();
            black_box(reader.count())
        });
    });
    group.finish();
}

criterion_group!(benches, bench_msr);
criterion_main!(benches);
