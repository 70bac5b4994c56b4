//! Deterministic, seeded synthetic request streams typical of each workload class, for
//! training and testing the classifier where no real trace of a class exists (web,
//! backup) and to widen the few that do. Every window draws its own parameters (mix,
//! sizes, region, skew, rate) from the seed, so one class is a family of streams, not
//! one stream repeated.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use strata_core::IoKind;

use super::Request;
use crate::class::WorkloadClass;

/// The classes the generator knows (every class but `unknown`, which the classifier
/// gives to windows it is not confident about).
pub const SYNTHETIC_CLASSES: [WorkloadClass; 6] = [
    WorkloadClass::Database,
    WorkloadClass::Web,
    WorkloadClass::File,
    WorkloadClass::Dev,
    WorkloadClass::Vdi,
    WorkloadClass::Backup,
];

const KIB: u64 = 1024;
const GIB: u64 = 1 << 30;

/// A generator of one class's requests.
#[derive(Debug)]
pub struct SyntheticStream {
    class: WorkloadClass,
    rng: ChaCha8Rng,
    time_ns: u64,
    mean_gap_ns: f64,
    /// Probability of a burst gap (very short) instead of a Poisson gap.
    burst_share: f64,
    read_share: f64,
    region_bytes: u64,
    hot_bytes: u64,
    hot_share: f64,
    /// Current sequential run: next offset, bytes left, request size, kind.
    run: Option<(u64, u64, u64, IoKind)>,
    log_offset: u64,
}

impl SyntheticStream {
    /// A stream of `class` whose parameters and requests all follow from `seed`.
    pub fn new(class: WorkloadClass, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ class_salt(class));
        let (read_share, region_gib, hot_fraction, hot_share, iops, burst_share) = match class {
            WorkloadClass::Database => (
                rng.random_range(0.55..0.8),
                rng.random_range(8.0..64.0),
                rng.random_range(0.05..0.2),
                rng.random_range(0.7..0.9),
                rng.random_range(800.0..5000.0),
                0.1,
            ),
            WorkloadClass::Web => (
                rng.random_range(0.88..0.98),
                rng.random_range(2.0..16.0),
                rng.random_range(0.01..0.05),
                rng.random_range(0.8..0.95),
                rng.random_range(200.0..3000.0),
                0.3,
            ),
            WorkloadClass::File => (
                rng.random_range(0.65..0.9),
                rng.random_range(100.0..800.0),
                rng.random_range(0.1..0.3),
                rng.random_range(0.3..0.6),
                rng.random_range(300.0..2000.0),
                0.2,
            ),
            WorkloadClass::Dev => (
                rng.random_range(0.4..0.7),
                rng.random_range(4.0..40.0),
                rng.random_range(0.02..0.1),
                rng.random_range(0.5..0.8),
                rng.random_range(50.0..800.0),
                0.6,
            ),
            WorkloadClass::Vdi => (
                rng.random_range(0.6..0.9),
                rng.random_range(20.0..100.0),
                rng.random_range(0.05..0.15),
                rng.random_range(0.6..0.85),
                rng.random_range(500.0..4000.0),
                0.5,
            ),
            _ => (
                if rng.random_bool(0.5) { 0.02 } else { 0.98 },
                rng.random_range(200.0..2000.0),
                1.0,
                0.0,
                rng.random_range(100.0..600.0),
                0.0,
            ),
        };
        let region_bytes = ((region_gib * GIB as f64) as u64).max(GIB);
        let hot_bytes = ((region_bytes as f64 * hot_fraction) as u64).max(64 * KIB);
        let log_offset = region_bytes + rng.random_range(0..GIB) / 4096 * 4096;
        Self {
            class,
            rng,
            time_ns: 0,
            mean_gap_ns: 1e9 / iops,
            burst_share,
            read_share,
            region_bytes,
            hot_bytes,
            hot_share,
            run: None,
            log_offset,
        }
    }

    /// The next `count` requests.
    pub fn take_requests(&mut self, count: usize) -> Vec<Request> {
        (0..count).map(|_| self.next_request()).collect()
    }

    /// The next request.
    pub fn next_request(&mut self) -> Request {
        self.advance_time();
        let (offset_bytes, len_bytes, kind) = self.next_extent();
        Request {
            stream: 0,
            offset_bytes,
            len_bytes,
            time_ns: Some(self.time_ns),
            kind,
        }
    }

    fn advance_time(&mut self) {
        let uniform: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let mut gap = -uniform.ln() * self.mean_gap_ns;
        if self.rng.random_bool(self.burst_share) {
            gap *= 0.02;
        } else {
            // Balance the bursts so the mean rate stays about the drawn IOPS.
            gap /= 1.0 - 0.98 * self.burst_share;
        }
        self.time_ns = self.time_ns.saturating_add(gap as u64);
    }

    /// Continues the current sequential run, or starts a request (or run) of the class.
    fn next_extent(&mut self) -> (u64, u64, IoKind) {
        if let Some((offset, left, size, kind)) = self.run {
            let len = size.min(left);
            self.run = (left > len).then_some((offset + len, left - len, size, kind));
            return (offset, len, kind);
        }
        let read = self.rng.random_bool(self.read_share);
        let kind = if read { IoKind::Read } else { IoKind::Write };
        match self.class {
            WorkloadClass::Database => {
                if !read && self.rng.random_bool(0.3) {
                    // Redo log: small sequential appends.
                    let len = self.pick(&[4, 8, 16]) * KIB;
                    return self.log_append(len);
                }
                let size = self.pick(&[8, 8, 8, 16, 4]) * KIB;
                (self.skewed_offset(size), size, kind)
            }
            WorkloadClass::Web => {
                if !read {
                    return self.log_append(4 * KIB);
                }
                // A small file read whole: 1–16 blocks in one or two requests.
                let file = self.rng.random_range(1..=16u64) * 4 * KIB;
                let size = self.pick(&[16, 32, 64]) * KIB;
                let offset = self.skewed_offset(file);
                self.start_run(offset, file, size, kind)
            }
            WorkloadClass::File => {
                let file = self.rng.random_range(2..=256u64) * 4 * KIB;
                let size = self.pick(&[4, 8, 8, 32, 64, 64]) * KIB;
                let offset = self.skewed_offset(file);
                self.start_run(offset, file, size, kind)
            }
            WorkloadClass::Dev => {
                if self.rng.random_bool(0.15) {
                    let file = self.rng.random_range(4..=64u64) * 4 * KIB;
                    let offset = self.skewed_offset(file);
                    return self.start_run(offset, file, 32 * KIB, kind);
                }
                let size = self.pick(&[4, 4, 4, 8, 16]) * KIB;
                (self.skewed_offset(size), size, kind)
            }
            WorkloadClass::Vdi => {
                let size = self.pick(&[4, 4, 8, 16, 32, 64]) * KIB;
                (self.skewed_offset(size), size, kind)
            }
            _ => {
                // One long stream per window; 256 KiB–1 MiB requests.
                let size = self.pick(&[256, 512, 1024]) * KIB;
                let start = self.rng.random_range(0..self.region_bytes / GIB) * GIB;
                self.start_run(start, self.region_bytes, size, kind)
            }
        }
    }

    fn start_run(
        &mut self,
        offset: u64,
        bytes: u64,
        size: u64,
        kind: IoKind,
    ) -> (u64, u64, IoKind) {
        let len = size.min(bytes);
        self.run = (bytes > len).then_some((offset + len, bytes - len, size, kind));
        (offset, len, kind)
    }

    fn log_append(&mut self, len: u64) -> (u64, u64, IoKind) {
        let offset = self.log_offset;
        self.log_offset += len;
        (offset, len, IoKind::Write)
    }

    /// An aligned offset: in the hot region with probability `hot_share`, else anywhere.
    fn skewed_offset(&mut self, len: u64) -> u64 {
        let span = if self.rng.random_bool(self.hot_share) {
            self.hot_bytes
        } else {
            self.region_bytes
        };
        let slots = (span / 4096).max(1);
        let slot = self.rng.random_range(0..slots);
        // Keep whole requests inside the span, aligned to 4 KiB.
        (slot * 4096).min(span.saturating_sub(len)) / 4096 * 4096
    }

    fn pick(&mut self, choices: &[u64]) -> u64 {
        choices[self.rng.random_range(0..choices.len())]
    }
}

/// Keeps classes apart even for equal seeds.
fn class_salt(class: WorkloadClass) -> u64 {
    let index = WorkloadClass::ALL
        .iter()
        .position(|&c| c == class)
        .unwrap_or(0);
    0x9e37_79b9_7f4a_7c15u64.wrapping_mul(index as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::WindowProfiler;

    fn features(class: WorkloadClass, seed: u64) -> crate::profile::WorkloadFeatures {
        let mut profiler = WindowProfiler::new();
        for request in SyntheticStream::new(class, seed).take_requests(5000) {
            profiler.observe(&request);
        }
        profiler.finish().features
    }

    #[test]
    fn same_seed_same_stream() {
        let a = SyntheticStream::new(WorkloadClass::Dev, 7).take_requests(100);
        let b = SyntheticStream::new(WorkloadClass::Dev, 7).take_requests(100);
        let c = SyntheticStream::new(WorkloadClass::Dev, 8).take_requests(100);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn backup_is_large_and_sequential() {
        let f = features(WorkloadClass::Backup, 1);
        assert!(f.sequential_fraction > 0.95, "{}", f.sequential_fraction);
        assert!(f.mean_request_bytes >= 256.0 * 1024.0);
        assert!(f.reuse_histogram[0] > 0.99);
    }

    #[test]
    fn database_is_small_random_and_mixed() {
        let f = features(WorkloadClass::Database, 1);
        assert!(f.mean_request_bytes <= 16.0 * 1024.0);
        assert!(f.sequential_fraction < 0.3, "{}", f.sequential_fraction);
        assert!(
            (0.3..0.95).contains(&f.read_fraction),
            "{}",
            f.read_fraction
        );
    }

    #[test]
    fn web_is_read_mostly() {
        let f = features(WorkloadClass::Web, 3);
        assert!(f.read_fraction > 0.8, "{}", f.read_fraction);
    }
}
