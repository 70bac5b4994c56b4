//! Results of a tier replay: the JSON row of INTERFACE.md, the per-interval time series and
//! the latency CDF for plots, and the recorder that collects them.
//!
//! Latency percentiles are exact: every request's latency is kept and sorted once at the end
//! (nearest-rank percentiles).

use super::ExecutorCounters;
use serde::Serialize;
use strata_policy::TierId;

/// One result row: the cache-mode fields for the fast tier plus the tier-mode fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierResult {
    pub policy: String,
    /// Fast-tier capacity in extents (as configured; `all-fast` runs it unbounded).
    pub cache_size: u64,
    /// Middle-tier capacity in extents, when there is a middle tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_size: Option<u64>,
    /// Foreground extent accesses served by the fast tier.
    pub hits: u64,
    /// Foreground extent accesses served by any slower tier.
    pub misses: u64,
    pub miss_ratio: f64,
    pub requests: u64,
    pub mean_latency_us: f64,
    pub p99_latency_us: f64,
    pub fast_hit_ratio: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_hit_ratio: Option<f64>,
    pub migrated_bytes: u64,
    /// Of `migrated_bytes`, those whose copy was done within the replay (the rest waited
    /// for the mover).
    pub copied_bytes: u64,
    pub moves: u64,
    pub rejected_moves: u64,
    /// With prefetch on: what the prefetcher achieved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<PrefetchMeasures>,
}

/// The prefetch measures of a tier run (definitions in `super::prefetch`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrefetchMeasures {
    pub predictor: String,
    pub precision: f64,
    pub coverage: f64,
    pub timeliness: f64,
    pub wasted_bytes: u64,
    #[serde(skip)]
    pub stats: super::TierPrefetchStats,
}

/// One point of the time series (one planning interval of virtual time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalPoint {
    /// Start of the interval, in seconds of virtual time.
    pub time_s: f64,
    pub requests: u64,
    pub mean_latency_us: f64,
    pub fast_hit_ratio: f64,
    pub migrated_bytes: u64,
}

/// One point of the latency CDF: `fraction` of requests completed within `latency_us`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdfPoint {
    pub latency_us: f64,
    pub fraction: f64,
}

/// Everything one replay produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TierRun {
    pub result: TierResult,
    pub series: Vec<IntervalPoint>,
    pub latency_cdf: Vec<CdfPoint>,
    /// Capacity of each tier in extents as executed (`None` = unbounded), fastest first.
    pub capacity_extents: Vec<Option<u64>>,
    /// The most extents each tier ever held.
    pub max_used_extents: Vec<u64>,
    pub counters: ExecutorCounters,
}

#[derive(Debug, Clone, Copy, Default)]
struct Interval {
    requests: u64,
    latency_sum_ns: u128,
    pieces: u64,
    fast_pieces: u64,
    migrated_bytes: u64,
}

/// Collects latencies, per-tier hits and the time series during a replay.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    interval_ns: u64,
    latencies_ns: Vec<u64>,
    served_by_tier: Vec<u64>,
    intervals: Vec<Interval>,
}

impl Recorder {
    pub(crate) fn new(interval_ns: u64, tiers: usize, expected_requests: usize) -> Self {
        Self {
            interval_ns: interval_ns.max(1),
            latencies_ns: Vec::with_capacity(expected_requests),
            served_by_tier: vec![0; tiers],
            intervals: Vec::new(),
        }
    }

    fn interval(&mut self, time_ns: u64) -> &mut Interval {
        let index = usize::try_from(time_ns / self.interval_ns).unwrap_or(usize::MAX);
        if index >= self.intervals.len() {
            self.intervals.resize(index + 1, Interval::default());
        }
        &mut self.intervals[index]
    }

    pub(crate) fn piece(&mut self, time_ns: u64, tier: TierId) {
        if let Some(count) = self.served_by_tier.get_mut(tier.rank()) {
            *count += 1;
        }
        let interval = self.interval(time_ns);
        interval.pieces += 1;
        interval.fast_pieces += u64::from(tier == TierId::FASTEST);
    }

    pub(crate) fn request(&mut self, time_ns: u64, latency_ns: u64) {
        self.latencies_ns.push(latency_ns);
        let interval = self.interval(time_ns);
        interval.requests += 1;
        interval.latency_sum_ns += u128::from(latency_ns);
    }

    pub(crate) fn migrated(&mut self, time_ns: u64, bytes: u64) {
        self.interval(time_ns).migrated_bytes += bytes;
    }

    /// Fast-tier hits, other-tier misses and the middle tier's share, if there is one.
    fn hits(&self) -> (u64, u64, Option<f64>) {
        let total: u64 = self.served_by_tier.iter().sum();
        let hits = self.served_by_tier.first().copied().unwrap_or(0);
        let middle = (self.served_by_tier.len() == 3)
            .then(|| ratio(self.served_by_tier.get(1).copied().unwrap_or(0), total));
        (hits, total - hits, middle)
    }

    pub(crate) fn finish(
        mut self,
        policy: &str,
        cache_size: u64,
        middle_size: Option<u64>,
        counters: ExecutorCounters,
    ) -> (TierResult, Vec<IntervalPoint>, Vec<CdfPoint>) {
        let (hits, misses, middle_hit_ratio) = self.hits();
        let total = hits + misses;
        self.latencies_ns.sort_unstable();
        let n = self.latencies_ns.len();
        let sum_ns: u128 = self.latencies_ns.iter().map(|&l| u128::from(l)).sum();
        let mean_latency_us = if n == 0 {
            0.0
        } else {
            sum_ns as f64 / n as f64 / 1000.0
        };
        let result = TierResult {
            policy: policy.to_owned(),
            cache_size,
            middle_size,
            hits,
            misses,
            miss_ratio: ratio(misses, total),
            requests: n as u64,
            mean_latency_us,
            p99_latency_us: percentile_ns(&self.latencies_ns, 0.99) as f64 / 1000.0,
            fast_hit_ratio: ratio(hits, total),
            middle_hit_ratio: middle_hit_ratio.filter(|_| middle_size.is_some()),
            migrated_bytes: counters.migrated_bytes,
            copied_bytes: counters.copied_bytes,
            moves: counters.moves,
            rejected_moves: counters.rejected_moves + counters.rejected_placements,
            prefetch: None,
        };
        let interval_s = self.interval_ns as f64 / 1e9;
        let series = self
            .intervals
            .iter()
            .enumerate()
            .map(|(i, iv)| IntervalPoint {
                time_s: i as f64 * interval_s,
                requests: iv.requests,
                mean_latency_us: if iv.requests == 0 {
                    0.0
                } else {
                    iv.latency_sum_ns as f64 / iv.requests as f64 / 1000.0
                },
                fast_hit_ratio: ratio(iv.fast_pieces, iv.pieces),
                migrated_bytes: iv.migrated_bytes,
            })
            .collect();
        let cdf = cdf(&self.latencies_ns);
        (result, series, cdf)
    }
}

pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `q` of the
/// values at or below it.
pub(crate) fn percentile_ns(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0)
}

/// The CDF at every percent, plus 99.5 % and 99.9 % for the tail.
fn cdf(sorted: &[u64]) -> Vec<CdfPoint> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let mut fractions: Vec<f64> = (1..=100).map(|p| f64::from(p) / 100.0).collect();
    fractions.extend([0.995, 0.999]);
    fractions.sort_by(f64::total_cmp);
    fractions
        .into_iter()
        .map(|fraction| CdfPoint {
            latency_us: percentile_ns(sorted, fraction) as f64 / 1000.0,
            fraction,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_ns(&values, 0.99), 99);
        assert_eq!(percentile_ns(&values, 1.0), 100);
        assert_eq!(percentile_ns(&values, 0.0), 1);
        assert_eq!(percentile_ns(&[7], 0.99), 7);
        assert_eq!(percentile_ns(&[], 0.99), 0);
    }

    #[test]
    fn recorder_splits_hits_and_intervals() {
        let mut r = Recorder::new(1_000, 3, 4);
        r.piece(10, TierId(0));
        r.piece(10, TierId(1));
        r.piece(1_500, TierId(2));
        r.request(10, 2_000);
        r.request(1_500, 4_000);
        r.migrated(1_600, 1 << 20);
        let (result, series, cdf) = r.finish("x", 1, Some(2), ExecutorCounters::default());
        assert_eq!((result.hits, result.misses), (1, 2));
        assert_eq!(result.middle_hit_ratio, Some(1.0 / 3.0));
        assert!((result.mean_latency_us - 3.0).abs() < 1e-9);
        assert_eq!(series.len(), 2);
        assert_eq!(series[1].migrated_bytes, 1 << 20);
        assert_eq!(series[0].fast_hit_ratio, 0.5);
        assert_eq!(cdf.last().map(|p| p.latency_us), Some(4.0));
    }
}
