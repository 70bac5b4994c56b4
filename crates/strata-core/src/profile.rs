//! Device profiles: how fast a tier is. The defaults are the table in DESIGN.md.

use serde::{Deserialize, Serialize};

/// Per-request latency, bandwidth and parallelism of a storage device.
///
/// Latencies are for a 4 KiB request; larger requests add their transfer time at the
/// device's bandwidth. A device with `seek_penalty` (a disk) pays its latency only when a
/// request does not continue where the previous one ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceProfile {
    pub read_latency_us: f64,
    pub write_latency_us: f64,
    /// Sustained read bandwidth in MB/s (10^6 bytes per second).
    pub read_mbps: f64,
    /// Sustained write bandwidth in MB/s (10^6 bytes per second).
    pub write_mbps: f64,
    /// Requests the device serves at once.
    pub parallelism: u32,
    /// Random access costs the full latency, sequential access only the transfer.
    pub seek_penalty: bool,
}

impl DeviceProfile {
    pub const NVME: Self = Self {
        read_latency_us: 80.0,
        write_latency_us: 20.0,
        read_mbps: 3000.0,
        write_mbps: 2000.0,
        parallelism: 32,
        seek_penalty: false,
    };
    pub const SSD: Self = Self {
        read_latency_us: 150.0,
        write_latency_us: 60.0,
        read_mbps: 550.0,
        write_mbps: 500.0,
        parallelism: 8,
        seek_penalty: false,
    };
    pub const HDD: Self = Self {
        read_latency_us: 4000.0,
        write_latency_us: 4000.0,
        read_mbps: 180.0,
        write_mbps: 170.0,
        parallelism: 1,
        seek_penalty: true,
    };

    /// Checks that every number is usable (finite, positive, parallelism ≥ 1).
    pub fn validate(&self) -> Result<(), crate::ParseError> {
        let numbers = [
            self.read_latency_us,
            self.write_latency_us,
            self.read_mbps,
            self.write_mbps,
        ];
        if numbers.iter().any(|v| !v.is_finite() || *v < 0.0)
            || self.read_mbps == 0.0
            || self.write_mbps == 0.0
            || self.parallelism == 0
        {
            return Err(crate::ParseError::new(
                format!("{self:?}"),
                "finite, non-negative latencies, positive bandwidths and parallelism >= 1",
            ));
        }
        Ok(())
    }

    /// Fixed per-request cost (before transfer) in nanoseconds.
    pub fn access_ns(&self, kind: crate::IoKind, sequential: bool) -> u64 {
        if self.seek_penalty && sequential {
            return 0;
        }
        let us = match kind {
            crate::IoKind::Read => self.read_latency_us,
            crate::IoKind::Write => self.write_latency_us,
        };
        (us * 1000.0).round() as u64
    }

    /// Time to move `len_bytes` at the device's bandwidth, in nanoseconds.
    pub fn transfer_ns(&self, kind: crate::IoKind, len_bytes: u64) -> u64 {
        let mbps = match kind {
            crate::IoKind::Read => self.read_mbps,
            crate::IoKind::Write => self.write_mbps,
        };
        // bytes / (MB/s) = µs; × 1000 = ns.
        (len_bytes as f64 / mbps * 1000.0).round() as u64
    }

    /// The same device `factor` times slower: latencies multiplied, bandwidths divided.
    pub fn slowed_by(&self, factor: f64) -> Self {
        Self {
            read_latency_us: self.read_latency_us * factor,
            write_latency_us: self.write_latency_us * factor,
            read_mbps: self.read_mbps / factor,
            write_mbps: self.write_mbps / factor,
            ..*self
        }
    }

    /// Service time of one request on an idle device, in nanoseconds.
    pub fn service_ns(&self, kind: crate::IoKind, len_bytes: u64, sequential: bool) -> u64 {
        self.access_ns(kind, sequential) + self.transfer_ns(kind, len_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IoKind;

    #[test]
    fn four_k_latencies_match_design_md() {
        let nvme = DeviceProfile::NVME.service_ns(IoKind::Read, 4096, false);
        assert!((81_000..82_000).contains(&nvme), "{nvme}");
        let hdd_random = DeviceProfile::HDD.service_ns(IoKind::Read, 4096, false);
        let hdd_seq = DeviceProfile::HDD.service_ns(IoKind::Read, 4096, true);
        assert!(
            hdd_random > 4_000_000 && hdd_seq < 30_000,
            "{hdd_random} {hdd_seq}"
        );
        let ssd_seq = DeviceProfile::SSD.service_ns(IoKind::Write, 4096, true);
        assert!(
            ssd_seq > 60_000,
            "flash pays its latency even when sequential"
        );
    }

    #[test]
    fn validate_rejects_nonsense() {
        assert!(DeviceProfile::NVME.validate().is_ok());
        let mut bad = DeviceProfile::SSD;
        bad.parallelism = 0;
        assert!(bad.validate().is_err());
        bad = DeviceProfile::SSD;
        bad.read_mbps = f64::NAN;
        assert!(bad.validate().is_err());
    }
}
