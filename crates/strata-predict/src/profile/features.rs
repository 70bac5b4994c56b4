//! Per-window workload features of one volume: the [`WindowProfiler`] folds requests in
//! one at a time (O(1) amortised, plus O(log n) for the reuse distance of each block) and
//! hands out [`WorkloadFeatures`] and the window's miss-ratio curve when the window closes.
//!
//! Working set and reuse come from exact distances while the window's footprint is small
//! and from a SHARDS sample when it is large; both run side by side until the exact one
//! passes its budget, so a window never has to be replayed.

use rustc_hash::FxHashMap;
use serde::Serialize;
use strata_core::IoKind;

use super::reuse::{MissRatioCurve, ReuseDistances, bucket_of};
use super::{BLOCK_BYTES, Request};

/// Exact reuse tracking stops once a window touches more distinct blocks than this
/// (256 MiB of 4 KiB blocks) and the SHARDS sample takes over.
pub const EXACT_MAX_BLOCKS: usize = 1 << 16;
/// SHARDS sampling rate used beyond [`EXACT_MAX_BLOCKS`].
pub const SHARDS_RATE: f64 = 1.0 / 64.0;

/// Upper bounds (inclusive, bytes) of the request-size histogram buckets; the last bucket
/// takes everything larger.
pub const SIZE_BUCKET_MAX_BYTES: [u64; 5] = [4096, 8192, 16_384, 65_536, 262_144];

/// Signed log2 bins of the start-block delta: 0, ±1, ±[2,4), … up to ±2^39 and beyond.
const DELTA_BIN_HALF: usize = 40;
const DELTA_BINS: usize = 2 * DELTA_BIN_HALF + 1;

/// Reuse-distance histogram edges in blocks: < 64 (256 KiB), < 1024 (4 MiB),
/// < 16384 (64 MiB), and the rest.
const REUSE_EDGES_BLOCKS: [u64; 3] = [64, 1024, 16_384];

/// The features of one window. Fractions are of requests unless named otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WorkloadFeatures {
    pub requests: u64,
    pub block_accesses: u64,
    pub read_fraction: f64,
    /// Request-size histogram: ≤ 4 KiB, ≤ 8 KiB, ≤ 16 KiB, ≤ 64 KiB, ≤ 256 KiB, larger.
    pub size_histogram: [f64; 6],
    pub mean_request_bytes: f64,
    /// Share of requests starting exactly where the previous one of their stream ended.
    pub sequential_fraction: f64,
    /// Shannon entropy of the signed log2 start-block deltas, over its maximum (0..1).
    pub delta_entropy: f64,
    /// Goh–Barabási burstiness of inter-arrival gaps, (σ − μ)/(σ + μ) in −1..1 (0 for a
    /// Poisson stream); `None` without timestamps.
    pub burstiness: Option<f64>,
    pub duration_s: Option<f64>,
    pub iops: Option<f64>,
    pub bandwidth_mb_s: Option<f64>,
    /// Reuse-distance histogram over block accesses: first access, distance < 64 blocks,
    /// < 1024, < 16384, and farther.
    pub reuse_histogram: [f64; 5],
    /// Distinct 4 KiB blocks touched (exact, or SHARDS-estimated when `sampled`).
    pub working_set_blocks: f64,
    pub working_set_bytes: f64,
    /// Distinct blocks over block accesses: 1 when nothing is touched twice.
    pub unique_fraction: f64,
    /// Whether reuse and working set are SHARDS estimates.
    pub sampled: bool,
}

/// The shape features the classifier uses, in this order (the model file stores the list
/// and refuses to load under another). Rates (IOPS, bandwidth, burstiness) are left out:
/// they depend on each trace's clock and some traces have none.
pub const CLASSIFIER_FEATURES: [&str; 16] = [
    "read_fraction",
    "size_le_4k",
    "size_le_8k",
    "size_le_16k",
    "size_le_64k",
    "size_le_256k",
    "size_gt_256k",
    "log2_mean_request_bytes",
    "sequential_fraction",
    "delta_entropy",
    "reuse_cold",
    "reuse_lt_64",
    "reuse_lt_1024",
    "reuse_lt_16384",
    "reuse_far",
    "unique_fraction",
];

impl WorkloadFeatures {
    /// The classifier's input vector, ordered as [`CLASSIFIER_FEATURES`].
    pub fn classifier_vector(&self) -> Vec<f64> {
        let mut vector = Vec::with_capacity(CLASSIFIER_FEATURES.len());
        vector.push(self.read_fraction);
        vector.extend_from_slice(&self.size_histogram);
        vector.push(self.mean_request_bytes.max(1.0).log2());
        vector.push(self.sequential_fraction);
        vector.push(self.delta_entropy);
        vector.extend_from_slice(&self.reuse_histogram);
        vector.push(self.unique_fraction);
        vector
    }
}

/// The features and the miss-ratio curve of a closed window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowProfile {
    pub features: WorkloadFeatures,
    pub mrc: MissRatioCurve,
}

#[derive(Debug, Clone, Copy)]
struct StreamState {
    end_bytes: u64,
    start_block: u64,
}

/// Folds a window's requests into features; [`finish`](Self::finish) closes the window
/// and starts the next one empty.
#[derive(Debug, Clone)]
pub struct WindowProfiler {
    requests: u64,
    reads: u64,
    bytes: u64,
    size_counts: [u64; 6],
    sequential: u64,
    streams: FxHashMap<u32, StreamState>,
    delta_counts: [u64; DELTA_BINS],
    deltas: u64,
    first_time_ns: Option<u64>,
    last_time_ns: Option<u64>,
    gap_count: u64,
    gap_sum_ns: f64,
    gap_sq_sum_ns: f64,
    exact: Option<ReuseDistances>,
    shards: ReuseDistances,
    block_accesses: u64,
}

impl Default for WindowProfiler {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowProfiler {
    pub fn new() -> Self {
        Self {
            requests: 0,
            reads: 0,
            bytes: 0,
            size_counts: [0; 6],
            sequential: 0,
            streams: FxHashMap::default(),
            delta_counts: [0; DELTA_BINS],
            deltas: 0,
            first_time_ns: None,
            last_time_ns: None,
            gap_count: 0,
            gap_sum_ns: 0.0,
            gap_sq_sum_ns: 0.0,
            exact: Some(ReuseDistances::exact()),
            shards: ReuseDistances::sampled(SHARDS_RATE),
            block_accesses: 0,
        }
    }

    /// Requests folded into the current window.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Time of the window's first request, if requests carry time.
    pub fn first_time_ns(&self) -> Option<u64> {
        self.first_time_ns
    }

    /// Folds one request in; zero-length requests touch nothing and are ignored.
    pub fn observe(&mut self, request: &Request) {
        if request.len_bytes == 0 {
            return;
        }
        self.requests += 1;
        if request.kind == IoKind::Read {
            self.reads += 1;
        }
        self.bytes = self.bytes.saturating_add(request.len_bytes);
        let size_bucket = SIZE_BUCKET_MAX_BYTES
            .iter()
            .position(|&max| request.len_bytes <= max)
            .unwrap_or(SIZE_BUCKET_MAX_BYTES.len());
        self.size_counts[size_bucket] += 1;

        let start_block = request.offset_bytes / BLOCK_BYTES;
        let end_bytes = request.offset_bytes.saturating_add(request.len_bytes);
        let last_block = (end_bytes - 1) / BLOCK_BYTES;
        let state = StreamState {
            end_bytes,
            start_block,
        };
        if let Some(previous) = self.streams.insert(request.stream, state) {
            if previous.end_bytes == request.offset_bytes {
                self.sequential += 1;
            }
            self.delta_counts[delta_bin(previous.start_block, start_block)] += 1;
            self.deltas += 1;
        }

        if let Some(time_ns) = request.time_ns {
            if let Some(last) = self.last_time_ns {
                // Some traces (SYSTOR) are not sorted: an early request is a zero gap.
                let gap = time_ns.saturating_sub(last) as f64;
                self.gap_count += 1;
                self.gap_sum_ns += gap;
                self.gap_sq_sum_ns += gap * gap;
            }
            self.first_time_ns = Some(self.first_time_ns.map_or(time_ns, |t| t.min(time_ns)));
            self.last_time_ns = Some(self.last_time_ns.map_or(time_ns, |t| t.max(time_ns)));
        }

        let stream_base = u64::from(request.stream) << 40;
        for block in start_block..=last_block {
            let id = stream_base.wrapping_add(block);
            self.block_accesses += 1;
            self.shards.observe(id);
            if let Some(exact) = &mut self.exact {
                exact.observe(id);
                if exact.tracked_blocks() > EXACT_MAX_BLOCKS {
                    self.exact = None;
                }
            }
        }
    }

    /// Closes the window: its features and miss-ratio curve; the profiler starts afresh.
    pub fn finish(&mut self) -> WindowProfile {
        let profile = self.profile();
        *self = Self::new();
        profile
    }

    fn profile(&self) -> WindowProfile {
        let requests = self.requests.max(1) as f64;
        let reuse = self.exact.as_ref().unwrap_or(&self.shards);
        let sampled = self.exact.is_none();
        let mut size_histogram = [0.0; 6];
        for (share, &count) in size_histogram.iter_mut().zip(&self.size_counts) {
            *share = count as f64 / requests;
        }
        let duration_s = match (self.first_time_ns, self.last_time_ns) {
            (Some(first), Some(last)) if last > first => Some((last - first) as f64 / 1e9),
            _ => None,
        };
        let working_set_blocks = reuse.distinct_blocks();
        let block_accesses = self.block_accesses.max(1) as f64;
        let features = WorkloadFeatures {
            requests: self.requests,
            block_accesses: self.block_accesses,
            read_fraction: self.reads as f64 / requests,
            size_histogram,
            mean_request_bytes: self.bytes as f64 / requests,
            sequential_fraction: self.sequential as f64 / requests,
            delta_entropy: normalised_entropy(&self.delta_counts, self.deltas),
            burstiness: self.burstiness(),
            duration_s,
            iops: duration_s.map(|d| self.requests as f64 / d),
            bandwidth_mb_s: duration_s.map(|d| self.bytes as f64 / d / 1e6),
            reuse_histogram: reuse_histogram(reuse),
            working_set_blocks,
            working_set_bytes: working_set_blocks * BLOCK_BYTES as f64,
            unique_fraction: (working_set_blocks / block_accesses).min(1.0),
            sampled,
        };
        WindowProfile {
            features,
            mrc: reuse.miss_ratio_curve(),
        }
    }

    fn burstiness(&self) -> Option<f64> {
        if self.gap_count < 2 {
            return None;
        }
        let n = self.gap_count as f64;
        let mean = self.gap_sum_ns / n;
        let variance = (self.gap_sq_sum_ns / n - mean * mean).max(0.0);
        let sigma = variance.sqrt();
        if sigma + mean == 0.0 {
            return Some(0.0);
        }
        Some((sigma - mean) / (sigma + mean))
    }
}

/// The signed log2 bin of the delta between two start blocks.
fn delta_bin(from: u64, to: u64) -> usize {
    let magnitude = from.abs_diff(to);
    let bin = bucket_of(magnitude).min(DELTA_BIN_HALF);
    if to >= from {
        DELTA_BIN_HALF + bin
    } else {
        DELTA_BIN_HALF - bin
    }
}

/// Shannon entropy of `counts` (summing to `total`) over log2 of the number of bins.
fn normalised_entropy(counts: &[u64], total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = count as f64 / total;
            -p * p.log2()
        })
        .sum();
    bits / (counts.len() as f64).log2()
}

/// Shares of block accesses per reuse class: first access, then the distance edges.
fn reuse_histogram(reuse: &ReuseDistances) -> [f64; 5] {
    let accesses = reuse.sampled_accesses();
    if accesses == 0 {
        return [0.0; 5];
    }
    let mut counts = [0u64; 5];
    counts[0] = reuse.cold_accesses();
    for (bucket, &count) in reuse.histogram().iter().enumerate() {
        // Bucket b holds distances below 2^b (and at least 2^(b-1)).
        let below = if bucket == 0 {
            1
        } else {
            1u64 << bucket.min(63)
        };
        let class = REUSE_EDGES_BLOCKS
            .iter()
            .position(|&edge| below <= edge)
            .unwrap_or(REUSE_EDGES_BLOCKS.len());
        counts[1 + class] += count;
    }
    counts.map(|count| count as f64 / accesses as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(offset_bytes: u64, len_bytes: u64, kind: IoKind, time_ns: u64) -> Request {
        Request {
            stream: 0,
            offset_bytes,
            len_bytes,
            time_ns: Some(time_ns),
            kind,
        }
    }

    #[test]
    fn hand_made_stream_has_hand_computed_features() {
        let mut profiler = WindowProfiler::new();
        // Two sequential 8 KiB reads, a 4 KiB write back at block 0, a 1 MiB read far away.
        let requests = [
            request(0, 8192, IoKind::Read, 0),
            request(8192, 8192, IoKind::Read, 1_000_000_000),
            request(0, 4096, IoKind::Write, 2_000_000_000),
            request(1 << 30, 1 << 20, IoKind::Read, 4_000_000_000),
        ];
        for r in &requests {
            profiler.observe(r);
        }
        let f = profiler.finish().features;
        assert_eq!(f.requests, 4);
        assert_eq!(f.read_fraction, 0.75);
        assert_eq!(f.size_histogram, [0.25, 0.5, 0.0, 0.0, 0.0, 0.25]);
        assert_eq!(f.sequential_fraction, 0.25);
        // Blocks: 0 1 | 2 3 | 0 | 256 blocks at 2^18.
        assert_eq!(f.block_accesses, 261);
        assert_eq!(f.working_set_blocks, 260.0);
        assert_eq!(f.working_set_bytes, 260.0 * 4096.0);
        assert!(!f.sampled);
        // The write re-reads block 0 after blocks 1, 2, 3: distance 3 (< 64).
        assert!((f.reuse_histogram[0] - 260.0 / 261.0).abs() < 1e-12);
        assert!((f.reuse_histogram[1] - 1.0 / 261.0).abs() < 1e-12);
        assert_eq!(f.duration_s, Some(4.0));
        assert_eq!(f.iops, Some(1.0));
        let bytes = (8192 * 2 + 4096 + (1 << 20)) as f64;
        assert_eq!(f.bandwidth_mb_s, Some(bytes / 4.0 / 1e6));
        assert_eq!(f.mean_request_bytes, bytes / 4.0);
        // Gaps 1, 1, 2 s: μ = 4/3, σ = √(2/9); B = (σ − μ)/(σ + μ).
        let (mu, sigma) = (4.0 / 3.0, (2.0f64 / 9.0).sqrt());
        let b = f.burstiness.unwrap_or(f64::NAN);
        assert!((b - (sigma - mu) / (sigma + mu)).abs() < 1e-9, "{b}");
        // Deltas +2, -2, +2^18 blocks: bins +2, -2, +19, each once: log2(3) bits.
        let expected = 3f64.log2() / (DELTA_BINS as f64).log2();
        assert!((f.delta_entropy - expected).abs() < 1e-12);
        // The profiler starts afresh.
        assert_eq!(profiler.requests(), 0);
    }

    #[test]
    fn untimed_requests_have_no_rates() {
        let mut profiler = WindowProfiler::new();
        for i in 0..10 {
            profiler.observe(&Request {
                stream: 1,
                offset_bytes: i * 4096,
                len_bytes: 4096,
                time_ns: None,
                kind: IoKind::Read,
            });
        }
        let f = profiler.finish().features;
        assert_eq!(f.iops, None);
        assert_eq!(f.burstiness, None);
        assert_eq!(f.sequential_fraction, 0.9);
        assert_eq!(f.delta_entropy, 0.0);
        assert_eq!(f.classifier_vector().len(), CLASSIFIER_FEATURES.len());
    }

    #[test]
    fn a_large_window_switches_to_the_shards_sample() {
        let mut profiler = WindowProfiler::new();
        let blocks = (EXACT_MAX_BLOCKS as u64) * 4;
        for i in 0..blocks {
            profiler.observe(&Request {
                stream: 0,
                offset_bytes: i * 4096,
                len_bytes: 4096,
                time_ns: None,
                kind: IoKind::Write,
            });
        }
        let f = profiler.finish().features;
        assert!(f.sampled);
        let error = (f.working_set_blocks - blocks as f64).abs() / blocks as f64;
        assert!(
            error < 0.1,
            "estimated {} of {blocks}",
            f.working_set_blocks
        );
    }
}
