//! Client-side latency of every request of a run, whichever driver issued it, and the
//! summaries the report needs: mean and p99 overall, per volume and per second.

use serde::Serialize;

/// One completed request as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it completed, in ms since the workload started.
    pub at_ms: u64,
    pub latency_us: f64,
    pub read: bool,
    /// Index into the demo's profiles.
    pub volume: usize,
}

/// Count, mean and 99th percentile of a set of latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub requests: u64,
    pub mean_us: f64,
    pub p99_us: f64,
}

impl LatencySummary {
    pub fn of(latencies_us: impl Iterator<Item = f64>) -> Self {
        let mut all: Vec<f64> = latencies_us.collect();
        if all.is_empty() {
            return Self::default();
        }
        all.sort_by(f64::total_cmp);
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        // Nearest-rank percentile: the smallest value at or above 99 % of the requests.
        let rank = ((all.len() as f64 * 0.99).ceil() as usize).clamp(1, all.len());
        Self {
            requests: all.len() as u64,
            mean_us: round1(mean),
            p99_us: round1(all[rank - 1]),
        }
    }
}

/// Reads of `samples` (optionally of one volume only).
pub fn reads(samples: &[Sample], volume: Option<usize>) -> LatencySummary {
    LatencySummary::of(
        samples
            .iter()
            .filter(|s| s.read && volume.is_none_or(|v| v == s.volume))
            .map(|s| s.latency_us),
    )
}

pub fn writes(samples: &[Sample]) -> LatencySummary {
    LatencySummary::of(samples.iter().filter(|s| !s.read).map(|s| s.latency_us))
}

/// Mean read latency of each whole second `0..seconds` (`None` for a second without reads).
pub fn read_mean_per_second(samples: &[Sample], seconds: u64) -> Vec<Option<f64>> {
    let len = usize::try_from(seconds).unwrap_or(usize::MAX);
    let mut sums = vec![(0.0, 0u64); len];
    for s in samples.iter().filter(|s| s.read) {
        if let Some(slot) = usize::try_from(s.at_ms / 1000)
            .ok()
            .and_then(|i| sums.get_mut(i))
        {
            slot.0 += s.latency_us;
            slot.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(sum, n)| (n > 0).then(|| sum / n as f64))
        .collect()
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, latency_us: f64, read: bool) -> Sample {
        Sample {
            at_ms,
            latency_us,
            read,
            volume: 0,
        }
    }

    #[test]
    fn summary_is_mean_and_nearest_rank_p99() {
        let s = LatencySummary::of((1..=100).map(f64::from));
        assert_eq!(s.requests, 100);
        assert_eq!(s.mean_us, 50.5);
        assert_eq!(s.p99_us, 99.0);
        assert_eq!(
            LatencySummary::of(std::iter::empty()),
            LatencySummary::default()
        );
    }

    #[test]
    fn per_second_means_skip_writes_and_late_samples() {
        let samples = [
            sample(10, 100.0, true),
            sample(900, 300.0, true),
            sample(950, 9000.0, false),
            sample(2500, 50.0, true),
            sample(9000, 1.0, true),
        ];
        assert_eq!(
            read_mean_per_second(&samples, 3),
            [Some(200.0), None, Some(50.0)]
        );
        assert_eq!(reads(&samples, None).requests, 4);
        assert_eq!(writes(&samples).mean_us, 9000.0);
    }
}
