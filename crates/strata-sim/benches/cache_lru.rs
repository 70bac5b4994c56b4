//! The fast LRU against a naive `HashMap` + `VecDeque` LRU on one generated 4 KiB-block
//! stream (Zipf-like, 1 M accesses over 100 k ids, seeded; capacity 1,000 entries): accesses per second of each.
//!
//! Run: `cargo bench -p strata-sim --bench cache_lru`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use strata_sim::cache::{CachePolicy, Lru};

const ACCESSES: usize = 1_000_000;
const IDS: u64 = 100_000;
/// Small enough that the naive queue scan finishes in a benchmark run.
const CAPACITY: usize = 1_000;

/// Zipf(≈1) ids by inverse-CDF sampling over a harmonic-ish table, scattered across the id
/// space so neighbouring ranks are not neighbouring blocks.
fn zipf_stream() -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let weights: Vec<f64> = (1..=IDS).map(|rank| 1.0 / rank as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    (0..ACCESSES)
        .map(|_| {
            let u: f64 = rng.random();
            let rank = cdf.partition_point(|&c| c < u) as u64;
            rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20
        })
        .collect()
}

/// The textbook LRU a newcomer writes first: a recency queue scanned on every hit.
struct NaiveLru {
    capacity: usize,
    queue: VecDeque<u64>,
    present: HashMap<u64, ()>,
}

impl NaiveLru {
    fn access(&mut self, id: u64) -> bool {
        if self.present.contains_key(&id) {
            if let Some(pos) = self.queue.iter().position(|&x| x == id) {
                self.queue.remove(pos);
            }
            self.queue.push_back(id);
            return true;
        }
        if self.queue.len() == self.capacity
            && let Some(old) = self.queue.pop_front()
        {
            self.present.remove(&old);
        }
        self.queue.push_back(id);
        self.present.insert(id, ());
        false
    }
}

fn bench(c: &mut Criterion) {
    let stream = zipf_stream();
    let mut group = c.benchmark_group("lru_4k_zipf");
    group.sample_size(10);
    group.throughput(Throughput::Elements(stream.len() as u64));
    group.bench_function("fast", |b| {
        b.iter(|| {
            let mut lru = Lru::new(CAPACITY);
            black_box(stream.iter().filter(|&&id| lru.access(id)).count())
        })
    });
    group.bench_function("naive_hashmap_vecdeque", |b| {
        b.iter(|| {
            let mut lru = NaiveLru {
                capacity: CAPACITY,
                queue: VecDeque::new(),
                present: HashMap::new(),
            };
            black_box(stream.iter().filter(|&&id| lru.access(id)).count())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
