//! Configuration of a tier replay: extent unit, tier sizes, device profiles, planning
//! cadence and migration budget, arrival rate for traces without timestamps, copy model.

use super::TierError;
use strata_core::{DeviceProfile, SizeOrFraction};
use strata_policy::{CopyModel, PolicyConfig};
use strata_predict::PredictorKind;

/// Knobs shared by every (policy, size) combination of a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TierSimConfig {
    /// Extent size in bytes: the unit of placement and of every migration copy.
    pub unit_bytes: u64,
    /// Virtual time between two `plan` calls, and the width of one time-series point.
    pub planning_interval_ns: u64,
    /// Migration bandwidth a `plan` call may spend, in bytes per second of virtual time.
    pub migration_bytes_per_s: u64,
    /// Rate limit of the moves `on_access` returns, in bytes per second of virtual time
    /// (a token bucket holding one planning interval's worth and at least an eviction plus its
    /// promotion, like bcache's promotion
    /// throttle). `None`, the default, executes them all: the trait leaves them unbudgeted.
    pub on_access_bytes_per_s: Option<u64>,
    /// Arrival rate given to traces without timestamps (ARC), in requests per second.
    pub arrival_rate_per_s: u64,
    /// Device profiles of the fast (nvme), middle (ssd) and slow (hdd) tiers.
    pub fast_profile: DeviceProfile,
    pub middle_profile: DeviceProfile,
    pub slow_profile: DeviceProfile,
    pub policy: PolicyConfig,
    /// Windows of virtual time over which the shipped heat forecaster counts accesses and
    /// after which it hands the policy its forecast, as the server's profiler does; `None`
    /// (the default) hands no forecast.
    pub heat_forecast_window_ns: Option<u64>,
    /// The access predictor of the prefetcher that runs next to the policy
    /// (`super::prefetch`); `None`, the default, prefetches nothing.
    pub prefetch: Option<PredictorKind>,
    /// When migration copies start: by default as the engine's mover starts them.
    pub copies: CopyModel,
}

impl Default for TierSimConfig {
    fn default() -> Self {
        Self {
            unit_bytes: strata_core::BLOCK_SIZE,
            planning_interval_ns: 1_000_000_000,
            migration_bytes_per_s: 200_000_000,
            on_access_bytes_per_s: None,
            arrival_rate_per_s: 1_000,
            fast_profile: DeviceProfile::NVME,
            middle_profile: DeviceProfile::SSD,
            slow_profile: DeviceProfile::HDD,
            policy: PolicyConfig::default(),
            heat_forecast_window_ns: None,
            prefetch: None,
            copies: CopyModel::default(),
        }
    }
}

impl TierSimConfig {
    pub fn with_unit_bytes(mut self, unit_bytes: u64) -> Self {
        self.unit_bytes = unit_bytes;
        self
    }

    pub fn with_planning_interval_ns(mut self, interval_ns: u64) -> Self {
        self.planning_interval_ns = interval_ns;
        self
    }

    pub fn with_migration_bytes_per_s(mut self, bytes_per_s: u64) -> Self {
        self.migration_bytes_per_s = bytes_per_s;
        self
    }

    pub fn with_on_access_bytes_per_s(mut self, bytes_per_s: Option<u64>) -> Self {
        self.on_access_bytes_per_s = bytes_per_s;
        self
    }

    pub fn with_arrival_rate_per_s(mut self, rate: u64) -> Self {
        self.arrival_rate_per_s = rate;
        self
    }

    pub fn with_heat_forecast_window_ns(mut self, window_ns: Option<u64>) -> Self {
        self.heat_forecast_window_ns = window_ns;
        self
    }

    pub fn with_prefetch(mut self, predictor: Option<PredictorKind>) -> Self {
        self.prefetch = predictor;
        self
    }

    pub fn with_copies(mut self, copies: CopyModel) -> Self {
        self.copies = copies;
        self
    }

    pub fn with_policy_config(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
        self
    }

    /// Bytes one `plan` call may migrate.
    pub fn plan_budget_bytes(&self) -> u64 {
        let bytes = u128::from(self.migration_bytes_per_s) * u128::from(self.planning_interval_ns)
            / 1_000_000_000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// The token bucket for `on_access` moves, when they are rate-limited.
    pub(crate) fn on_access_bucket(&self) -> Option<TokenBucket> {
        self.on_access_bytes_per_s.map(|rate| {
            let burst = u128::from(rate) * u128::from(self.planning_interval_ns) / 1_000_000_000;
            TokenBucket::new(
                rate,
                u64::try_from(burst)
                    .unwrap_or(u64::MAX)
                    .max(2 * self.unit_bytes),
            )
        })
    }

    pub fn validate(&self) -> Result<(), TierError> {
        if self.unit_bytes == 0 {
            return Err(TierError::invalid("--unit must be at least 1 byte"));
        }
        if self.planning_interval_ns == 0 {
            return Err(TierError::invalid("the planning interval must be positive"));
        }
        if self.on_access_bytes_per_s == Some(0) {
            return Err(TierError::invalid(
                "the on-access move rate must be positive",
            ));
        }
        if let CopyModel::Mover {
            disk_time_share,
            max_queued,
        } = self.copies
        {
            if !(disk_time_share > 0.0 && disk_time_share <= 1.0) {
                return Err(TierError::invalid(format!(
                    "the disk-time share {disk_time_share} must be in (0, 1]"
                )));
            }
            if max_queued == 0 {
                return Err(TierError::invalid("the mover's queue must hold a move"));
            }
        }
        if self.heat_forecast_window_ns == Some(0) {
            return Err(TierError::invalid(
                "the heat forecast window must be positive",
            ));
        }
        if self.arrival_rate_per_s == 0 {
            return Err(TierError::invalid("the arrival rate must be positive"));
        }
        for profile in [self.fast_profile, self.middle_profile, self.slow_profile] {
            profile
                .validate()
                .map_err(|e| TierError::invalid(format!("device profile: {e}")))?;
        }
        Ok(())
    }
}

/// How big the fast tier and the optional middle tier are (`--fast`, `--middle`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierSizes {
    pub fast: SizeOrFraction,
    pub middle: Option<SizeOrFraction>,
}

impl TierSizes {
    /// Capacity in extents of a tier sized `size` over a footprint of `footprint_extents`,
    /// by the rule `--cache` uses: max(1, floor(f × footprint)) for a fraction,
    /// max(1, floor(bytes / unit)) for a byte size.
    pub fn extents(size: SizeOrFraction, footprint_extents: u64, unit_bytes: u64) -> u64 {
        crate::run::cache_entries(size, footprint_extents, unit_bytes)
    }
}

/// Bytes that may be spent now: refills at `rate_bytes_per_s` of virtual time up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenBucket {
    rate_bytes_per_s: u64,
    burst_bytes: u64,
    tokens_bytes: u64,
    updated_ns: u64,
}

impl TokenBucket {
    pub(crate) fn new(rate_bytes_per_s: u64, burst_bytes: u64) -> Self {
        Self {
            rate_bytes_per_s,
            burst_bytes,
            tokens_bytes: burst_bytes,
            updated_ns: 0,
        }
    }

    /// Takes `bytes` at `now_ns` if the bucket holds them; otherwise takes nothing.
    pub(crate) fn try_take(&mut self, now_ns: u64, bytes: u64) -> bool {
        let elapsed_ns = now_ns.saturating_sub(self.updated_ns);
        let refill = u128::from(elapsed_ns) * u128::from(self.rate_bytes_per_s) / 1_000_000_000;
        if refill > 0 {
            let refill = u64::try_from(refill).unwrap_or(u64::MAX);
            self.tokens_bytes = self
                .tokens_bytes
                .saturating_add(refill)
                .min(self.burst_bytes);
            self.updated_ns = now_ns;
        }
        if self.tokens_bytes < bytes {
            return false;
        }
        self.tokens_bytes -= bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_its_rate_up_to_its_burst() {
        let mut bucket = TokenBucket::new(1_000, 2_000);
        assert!(bucket.try_take(0, 1_500));
        assert!(!bucket.try_take(0, 1_000), "500 left");
        assert!(bucket.try_take(500_000_000, 1_000), "500 + 500 refilled");
        assert!(!bucket.try_take(500_000_000, 1));
        assert!(
            bucket.try_take(100_000_000_000, 2_000),
            "capped at the burst"
        );
        assert!(!bucket.try_take(100_000_000_000, 1));
    }
}
