//! The tier profile of a window: which fraction of the working set is wanted on nvme, ssd
//! and hdd, from the miss-ratio curve and the device profiles.
//!
//! Blocks are ranked by reuse (the LRU curve says how many accesses the hottest `c`
//! blocks take). The faster of two adjacent tiers keeps taking blocks until the accesses
//! left for the slower one would add no more mean latency than the faster tier's own
//! service time: capture share p = 1 − latency(fast) / latency(slow). Latencies are this
//! window's: its read/write mix, and for a seeking disk only the non-sequential share
//! pays the seek.

use serde::Serialize;
use strata_core::{DeviceProfile, IoKind};

use super::BLOCK_BYTES;
use super::features::WorkloadFeatures;
use super::reuse::MissRatioCurve;

/// The device profiles of the three tiers (DESIGN.md defaults unless configured).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierDevices {
    pub nvme: DeviceProfile,
    pub ssd: DeviceProfile,
    pub hdd: DeviceProfile,
}

impl Default for TierDevices {
    fn default() -> Self {
        Self {
            nvme: DeviceProfile::NVME,
            ssd: DeviceProfile::SSD,
            hdd: DeviceProfile::HDD,
        }
    }
}

/// Fractions of the working set per tier; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TierProfile {
    pub nvme: f64,
    pub ssd: f64,
    pub hdd: f64,
}

impl TierProfile {
    /// Scales a demand (bytes) into bytes per tier.
    pub fn split_bytes(&self, demand_bytes: f64) -> [f64; 3] {
        [self.nvme, self.ssd, self.hdd].map(|share| share * demand_bytes)
    }
}

/// Steps of the search for the smallest prefix that captures a share: 64 per doubling.
const SEARCH_STEPS_PER_DOUBLING: f64 = 64.0;

/// The tier profile of a window with curve `mrc` and `working_set_blocks` distinct blocks.
pub fn tier_profile(
    mrc: &MissRatioCurve,
    working_set_blocks: f64,
    features: &WorkloadFeatures,
    devices: &TierDevices,
) -> TierProfile {
    let latency = |device: &DeviceProfile| mean_block_latency_ns(device, features);
    let (nvme_ns, ssd_ns, hdd_ns) = (
        latency(&devices.nvme),
        latency(&devices.ssd),
        latency(&devices.hdd),
    );
    let fast_share = capture_share(nvme_ns, ssd_ns);
    let middle_share = capture_share(ssd_ns, hdd_ns);
    // Also catches NaN: an estimate that is not a number means nothing was seen.
    if working_set_blocks.is_nan() || working_set_blocks < 1.0 {
        return TierProfile {
            nvme: 0.0,
            ssd: 0.0,
            hdd: 1.0,
        };
    }
    let nvme_blocks = prefix_capturing(mrc, working_set_blocks, fast_share);
    let ssd_blocks = prefix_capturing(mrc, working_set_blocks, fast_share.max(middle_share));
    let nvme = (nvme_blocks / working_set_blocks).clamp(0.0, 1.0);
    let ssd = ((ssd_blocks / working_set_blocks).clamp(0.0, 1.0) - nvme).max(0.0);
    TierProfile {
        nvme,
        ssd,
        hdd: (1.0 - nvme - ssd).max(0.0),
    }
}

/// Share of accesses the faster tier should take so that the rest, served by the slower
/// one, adds at most the faster tier's latency: 1 − fast/slow, 0 when the slower is not
/// slower.
fn capture_share(fast_ns: f64, slow_ns: f64) -> f64 {
    if slow_ns <= fast_ns || slow_ns <= 0.0 {
        0.0
    } else {
        1.0 - fast_ns / slow_ns
    }
}

/// Mean service time of one 4 KiB block access of this window's mix on `device`.
fn mean_block_latency_ns(device: &DeviceProfile, features: &WorkloadFeatures) -> f64 {
    let random_share = if device.seek_penalty {
        1.0 - features.sequential_fraction
    } else {
        1.0
    };
    let per_kind = |kind: IoKind| {
        device.access_ns(kind, false) as f64 * random_share
            + device.transfer_ns(kind, BLOCK_BYTES) as f64
    };
    features.read_fraction * per_kind(IoKind::Read)
        + (1.0 - features.read_fraction) * per_kind(IoKind::Write)
}

/// The smallest number of hottest blocks that takes `share` of the reuse hits an
/// unbounded cache would get (0 when the window reuses nothing).
fn prefix_capturing(mrc: &MissRatioCurve, working_set_blocks: f64, share: f64) -> f64 {
    let reuse = 1.0 - mrc.cold_miss_ratio();
    if reuse <= 1e-9 || share <= 0.0 {
        return 0.0;
    }
    let captured = |blocks: f64| (1.0 - mrc.miss_ratio_at(blocks)) / reuse;
    let max_step = (working_set_blocks.log2() * SEARCH_STEPS_PER_DOUBLING)
        .ceil()
        .max(0.0) as u32;
    for step in 0..=max_step {
        let blocks = (f64::from(step) / SEARCH_STEPS_PER_DOUBLING).exp2();
        if captured(blocks) >= share - 1e-12 {
            return blocks.min(working_set_blocks);
        }
    }
    working_set_blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Request, WindowProfiler};

    fn profile_of(requests: impl Iterator<Item = Request>) -> TierProfile {
        let mut profiler = WindowProfiler::new();
        for request in requests {
            profiler.observe(&request);
        }
        let window = profiler.finish();
        tier_profile(
            &window.mrc,
            window.features.working_set_blocks,
            &window.features,
            &TierDevices::default(),
        )
    }

    fn read(block: u64, len_blocks: u64) -> Request {
        Request {
            stream: 0,
            offset_bytes: block * BLOCK_BYTES,
            len_bytes: len_blocks * BLOCK_BYTES,
            time_ns: None,
            kind: IoKind::Read,
        }
    }

    fn sums_to_one(p: &TierProfile) -> bool {
        (p.nvme + p.ssd + p.hdd - 1.0).abs() < 1e-9
            && [p.nvme, p.ssd, p.hdd].iter().all(|&f| f >= 0.0)
    }

    #[test]
    fn a_hot_set_goes_fast_and_a_stream_goes_slow() {
        // 100 hot blocks read over and over, then 10,000 blocks read once.
        let hot = (0..50).flat_map(|_| (0..100).map(|b| read(b * 7, 1)));
        let cold = (0..10_000).map(|b| read(1_000_000 + b * 13, 1));
        let p = profile_of(hot.chain(cold));
        assert!(sums_to_one(&p), "{p:?}");
        assert!(p.nvme > 0.0 && p.nvme < 0.05, "{p:?}");
        assert!(p.hdd > 0.9, "{p:?}");
    }

    #[test]
    fn a_sequential_backup_stays_on_hdd() {
        let p = profile_of((0..2000).map(|i| read(i * 256, 256)));
        assert_eq!(
            p,
            TierProfile {
                nvme: 0.0,
                ssd: 0.0,
                hdd: 1.0
            }
        );
    }

    #[test]
    fn fractions_always_sum_to_one() {
        for n in [1u64, 10, 1000] {
            let p = profile_of((0..n * 3).map(|i| read((i * 31) % n, 1)));
            assert!(sums_to_one(&p), "{n}: {p:?}");
        }
    }
}
