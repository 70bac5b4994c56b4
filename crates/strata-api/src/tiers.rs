//! The API's view of a tier: capacity and occupancy, device profile, cost and the device
//! counters the engine keeps. Own types (not the engine's) so the OpenAPI schema and the
//! wire format stay stable while the engine changes.

use serde::{Deserialize, Serialize};
use strata_core::DeviceProfile;
use strata_engine::{TierIoStats, TierStatus};
use utoipa::ToSchema;

/// One tier of this server, fastest first in every list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// `nvme`, `ssd`, `hdd` or an operator-named tier.
    #[schema(example = "nvme")]
    pub kind: String,
    /// Allocatable bytes.
    pub capacity_bytes: u64,
    /// Bytes held by allocated extents.
    pub used_bytes: u64,
    pub free_bytes: u64,
    /// Bytes of soft reservations held for leased volumes and not yet written.
    #[serde(default)]
    pub reserved_bytes: u64,
    /// `used_bytes / capacity_bytes`, 0 to 1.
    pub occupancy: f64,
    /// Allocation unit of the tier, in bytes.
    pub slot_granule_bytes: u64,
    pub cost_per_gib_month: f64,
    pub profile: Profile,
    pub io: TierIo,
    /// Disks only, after 16 copy requests ran alone on one: their measured time over what
    /// `profile` gives them (recent requests weighing most). From 1.25 the profile does not
    /// fit the disk, and copies are charged at the measured speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 1.02)]
    pub copy_service_ratio: Option<f64>,
}

/// The device model of a tier (DESIGN.md, "Device profiles").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub read_latency_us: f64,
    pub write_latency_us: f64,
    /// Sustained read bandwidth in MB/s (10^6 bytes per second).
    pub read_mbps: f64,
    pub write_mbps: f64,
    /// Requests served at once.
    pub parallelism: u32,
    /// Random access pays the full latency (a disk).
    pub seek_penalty: bool,
}

/// Everything the engine sent to a tier's device since start-up.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierIo {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub discards: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub errors: u64,
    pub read_latency_mean_us: f64,
    /// Estimate: upper bound of the log2 histogram bucket holding the 99th percentile.
    pub read_latency_p99_us: u64,
    pub write_latency_mean_us: f64,
    pub write_latency_p99_us: u64,
}

impl From<&TierStatus> for Tier {
    fn from(t: &TierStatus) -> Self {
        Self {
            kind: t.kind.as_str().to_owned(),
            capacity_bytes: t.capacity_bytes,
            used_bytes: t.used_bytes,
            free_bytes: t.free_bytes,
            reserved_bytes: 0,
            occupancy: ratio(t.used_bytes, t.capacity_bytes),
            slot_granule_bytes: t.slot_granule_bytes,
            cost_per_gib_month: t.cost_per_gib_month,
            profile: Profile::from(&t.profile),
            io: TierIo::from(&t.io),
            copy_service_ratio: t.copy_service_ratio,
        }
    }
}

impl From<&DeviceProfile> for Profile {
    fn from(p: &DeviceProfile) -> Self {
        Self {
            read_latency_us: p.read_latency_us,
            write_latency_us: p.write_latency_us,
            read_mbps: p.read_mbps,
            write_mbps: p.write_mbps,
            parallelism: p.parallelism,
            seek_penalty: p.seek_penalty,
        }
    }
}

impl From<&TierIoStats> for TierIo {
    fn from(io: &TierIoStats) -> Self {
        Self {
            reads: io.reads,
            writes: io.writes,
            flushes: io.flushes,
            discards: io.discards,
            read_bytes: io.read_bytes,
            write_bytes: io.write_bytes,
            errors: io.errors,
            read_latency_mean_us: io.read_latency_mean_us,
            read_latency_p99_us: io.read_latency_p99_us,
            write_latency_mean_us: io.write_latency_mean_us,
            write_latency_p99_us: io.write_latency_p99_us,
        }
    }
}

/// `part / whole`, 0 when `whole` is 0 (an idle volume has no hit ratio yet, not NaN).
pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk's copy service ratio reaches the API; a tier without one leaves the field out.
    #[test]
    fn the_copy_service_ratio_is_passed_on_and_left_out_when_unknown() {
        let status = |ratio| TierStatus {
            kind: strata_core::TierKind::Hdd,
            capacity_bytes: 1 << 30,
            used_bytes: 0,
            free_bytes: 1 << 30,
            slot_granule_bytes: 1 << 20,
            profile: DeviceProfile::HDD,
            cost_per_gib_month: 0.03,
            io: TierIoStats::default(),
            degraded: false,
            foreground_in_flight: 0,
            queue_delay_us: 0,
            copy_service_ratio: ratio,
        };
        let slow = serde_json::to_value(Tier::from(&status(Some(2.04)))).unwrap();
        assert_eq!(slow["copy_service_ratio"], 2.04);
        let unknown = serde_json::to_value(Tier::from(&status(None))).unwrap();
        assert!(unknown.get("copy_service_ratio").is_none(), "{unknown}");
        let back: Tier = serde_json::from_value(unknown).unwrap();
        assert_eq!(back.copy_service_ratio, None);
    }
}
