//! Reuse (LRU stack) distances and the miss-ratio curve, exact or SHARDS-sampled
//! (Waldspurger et al., "Efficient MRC Construction with SHARDS", FAST 2015).
//!
//! A block's reuse distance is the number of distinct other blocks touched since its
//! previous access; an LRU cache of `c` blocks hits exactly the accesses with distance
//! below `c`, so the distance histogram *is* the LRU miss-ratio curve. Distances are
//! counted with a Fenwick tree over access positions, where a position is marked while it
//! holds the latest access of some block: O(log n) per access. SHARDS keeps only blocks
//! whose hash falls under a threshold (rate R) and scales their distances by 1/R, so the
//! cost and memory shrink by R while the curve stays close.

use rustc_hash::FxHashMap;

/// Distance buckets: bucket 0 holds distance 0, bucket k ≥ 1 distances in [2^(k-1), 2^k).
/// 41 buckets cover distances up to 2^40 blocks (4 PiB of 4 KiB blocks).
pub const DISTANCE_BUCKETS: usize = 41;

/// Hash space of the SHARDS sampling test (`hash mod 2^24 < rate × 2^24`).
const SAMPLE_SPACE: u64 = 1 << 24;

/// Reuse distances of one window's block accesses, exact (rate 1) or sampled.
#[derive(Debug, Clone)]
pub struct ReuseDistances {
    /// Blocks with `hash mod SAMPLE_SPACE < threshold` are tracked.
    threshold: u64,
    rate: f64,
    /// Block → its latest position (1-based) in `fenwick`.
    latest: FxHashMap<u64, u32>,
    /// Fenwick tree over positions; a position counts 1 while it is some block's latest.
    fenwick: Vec<i32>,
    histogram: [u64; DISTANCE_BUCKETS],
    cold: u64,
    sampled: u64,
}

impl ReuseDistances {
    /// Tracks every block: exact distances.
    pub fn exact() -> Self {
        Self::sampled(1.0)
    }

    /// Tracks about `rate` (0 < rate ≤ 1) of the blocks, chosen by hash (SHARDS).
    pub fn sampled(rate: f64) -> Self {
        let rate = if rate.is_finite() {
            rate.clamp(1e-6, 1.0)
        } else {
            1.0
        };
        let threshold = ((rate * SAMPLE_SPACE as f64).round() as u64).max(1);
        Self {
            threshold,
            rate: threshold as f64 / SAMPLE_SPACE as f64,
            latest: FxHashMap::default(),
            fenwick: vec![0],
            histogram: [0; DISTANCE_BUCKETS],
            cold: 0,
            sampled: 0,
        }
    }

    /// The effective sampling rate (the requested one rounded to the hash space).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Records an access to `block`.
    pub fn observe(&mut self, block: u64) {
        if mix64(block) % SAMPLE_SPACE >= self.threshold {
            return;
        }
        self.sampled += 1;
        let newest = (self.fenwick.len() - 1) as u32;
        match self.latest.get(&block).copied() {
            Some(previous) => {
                let distinct_since = self.prefix(newest) - self.prefix(previous);
                let distance = (f64::from(distinct_since.max(0)) / self.rate).round() as u64;
                self.histogram[bucket_of(distance)] += 1;
                self.add(previous, -1);
            }
            None => self.cold += 1,
        }
        let position = self.push_marked();
        self.latest.insert(block, position);
    }

    /// Distinct blocks seen, scaled to the whole stream.
    pub fn distinct_blocks(&self) -> f64 {
        self.latest.len() as f64 / self.rate
    }

    /// Distinct blocks actually tracked (memory use).
    pub fn tracked_blocks(&self) -> usize {
        self.latest.len()
    }

    /// Accesses that passed the sampling test.
    pub fn sampled_accesses(&self) -> u64 {
        self.sampled
    }

    /// First accesses of a block (misses in any cache).
    pub fn cold_accesses(&self) -> u64 {
        self.cold
    }

    /// Counts of reuse accesses per distance bucket (see [`DISTANCE_BUCKETS`]).
    pub fn histogram(&self) -> &[u64; DISTANCE_BUCKETS] {
        &self.histogram
    }

    /// The LRU miss-ratio curve at cache sizes 1, 2, 4, … 2^40 blocks.
    pub fn miss_ratio_curve(&self) -> MissRatioCurve {
        let mut miss_ratio = [1.0; DISTANCE_BUCKETS];
        if self.sampled > 0 {
            let mut hits = 0u64;
            for (k, ratio) in miss_ratio.iter_mut().enumerate() {
                // A cache of 2^k blocks hits distances below 2^k: buckets 0..=k.
                hits += self.histogram[k];
                *ratio = 1.0 - hits as f64 / self.sampled as f64;
            }
        }
        MissRatioCurve { miss_ratio }
    }

    fn prefix(&self, mut position: u32) -> i32 {
        let mut sum = 0;
        while position > 0 {
            sum += self.fenwick[position as usize];
            position &= position - 1;
        }
        sum
    }

    fn add(&mut self, mut position: u32, delta: i32) {
        while (position as usize) < self.fenwick.len() {
            self.fenwick[position as usize] += delta;
            position += position & position.wrapping_neg();
        }
    }

    /// Appends a position holding 1; a Fenwick node covers (i − lowbit(i), i], so its
    /// value is that range's sum of the existing positions plus the new 1.
    fn push_marked(&mut self) -> u32 {
        let position = self.fenwick.len() as u32;
        let low = position & position.wrapping_neg();
        let covered = self.prefix(position - 1) - self.prefix(position - low);
        self.fenwick.push(covered + 1);
        position
    }
}

/// An LRU miss-ratio curve: `miss_ratio[k]` is the miss ratio of a cache of 2^k blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MissRatioCurve {
    pub miss_ratio: [f64; DISTANCE_BUCKETS],
}

impl MissRatioCurve {
    /// Miss ratio of a cache of `cache_blocks` blocks, interpolated linearly in log2 of
    /// the size between the measured powers of two (a cache of 0 blocks misses always).
    pub fn miss_ratio_at(&self, cache_blocks: f64) -> f64 {
        if cache_blocks.is_nan() || cache_blocks < 1.0 {
            return 1.0;
        }
        let position = cache_blocks.log2().min((DISTANCE_BUCKETS - 1) as f64);
        let below = position.floor() as usize;
        let above = (below + 1).min(DISTANCE_BUCKETS - 1);
        let weight = position - below as f64;
        self.miss_ratio[below] * (1.0 - weight) + self.miss_ratio[above] * weight
    }

    /// The miss ratio of an unbounded cache: the share of first accesses.
    pub fn cold_miss_ratio(&self) -> f64 {
        self.miss_ratio[DISTANCE_BUCKETS - 1]
    }
}

/// The bucket of a distance: 0 for 0, else floor(log2(d)) + 1, capped.
pub fn bucket_of(distance: u64) -> usize {
    if distance == 0 {
        0
    } else {
        ((64 - distance.leading_zeros()) as usize).min(DISTANCE_BUCKETS - 1)
    }
}

/// SplitMix64's finaliser: a fast hash whose low bits are uniform even for dense ids.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_of_a_hand_made_stream() {
        // a b c a b b: a at distance 2 (b, c), b at 2 (c, a), b at 0.
        let mut reuse = ReuseDistances::exact();
        for block in [1, 2, 3, 1, 2, 2] {
            reuse.observe(block);
        }
        assert_eq!(reuse.cold_accesses(), 3);
        assert_eq!(reuse.histogram()[0], 1);
        assert_eq!(reuse.histogram()[bucket_of(2)], 2);
        let mrc = reuse.miss_ratio_curve();
        // 1 block: only the distance-0 reuse hits; 4 blocks: every reuse hits.
        assert!((mrc.miss_ratio[0] - 5.0 / 6.0).abs() < 1e-12);
        assert!((mrc.miss_ratio[2] - 0.5).abs() < 1e-12);
        assert!((mrc.cold_miss_ratio() - 0.5).abs() < 1e-12);
        assert_eq!(reuse.distinct_blocks(), 3.0);
    }

    #[test]
    fn a_loop_larger_than_the_cache_always_misses() {
        let mut reuse = ReuseDistances::exact();
        for _ in 0..5 {
            for block in 0..100 {
                reuse.observe(block);
            }
        }
        let mrc = reuse.miss_ratio_curve();
        // Every reuse is at distance 99: caches up to 64 blocks miss everything.
        assert_eq!(mrc.miss_ratio[6], 1.0);
        assert!((mrc.miss_ratio[7] - 100.0 / 500.0).abs() < 1e-12);
    }

    #[test]
    fn sampling_keeps_about_the_rate() {
        let mut reuse = ReuseDistances::sampled(0.1);
        for block in 0..100_000 {
            reuse.observe(block);
        }
        let kept = reuse.tracked_blocks() as f64 / 100_000.0;
        assert!((kept - 0.1).abs() < 0.01, "kept {kept}");
        assert!((reuse.distinct_blocks() - 100_000.0).abs() < 10_000.0);
    }

    #[test]
    fn interpolation_is_monotone_between_powers() {
        let mut reuse = ReuseDistances::exact();
        for round in 0..3u64 {
            for block in 0..1000 {
                reuse.observe(block * (round + 1) % 1000);
            }
        }
        let mrc = reuse.miss_ratio_curve();
        let mut previous = 1.0;
        for size in [0.0, 1.0, 3.0, 10.0, 100.0, 700.0, 1000.0, 5000.0] {
            let ratio = mrc.miss_ratio_at(size);
            assert!(ratio <= previous + 1e-12, "{size}: {ratio} > {previous}");
            previous = ratio;
        }
    }
}
