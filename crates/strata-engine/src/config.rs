//! Engine configuration: which tiers exist, where their bytes live and what they cost.
//!
//! This is the validated runtime form; the binary crate turns its TOML file into it.

use crate::{EngineError, EngineErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use strata_core::{DeviceProfile, TierKind};

/// Granule of every tier allocator: the smallest extent size.
pub const GRANULE_BYTES: u64 = strata_core::MIN_EXTENT_SIZE;

/// Most tiers one engine can hold (the extent-map entry keeps the tier index in 7 bits).
pub const MAX_TIERS: usize = 127;

/// Default [`PlacementConfig::disk_time_share`]: copies at 5 % of a disk's time keep its
/// foreground p99 within 10 % (BENCHMARKS.md, "Foreground p99 while migrating").
pub const DEFAULT_DISK_TIME_SHARE: f64 = strata_policy::disk_time::DEFAULT_SHARE;

/// Default [`PlacementConfig::max_move_age_ms`]: six default planning intervals. A move the
/// mover has not reached by then was decided on accesses that old.
pub const DEFAULT_MAX_MOVE_AGE_MS: u64 = 30_000;

/// Everything [`crate::Engine::open`] needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Holds `meta.redb` and, by default, `tiers/<kind>.img`.
    pub data_dir: PathBuf,
    /// Fastest first: index 0 is the tier new data goes to when it has room.
    pub tiers: Vec<TierConfig>,
    /// Wrap each tier in the device-model emulation of its profile.
    pub emulation: bool,
    /// Placement policy and background migration; the default keeps new data on the
    /// fastest tier with room and never moves anything.
    #[serde(default)]
    pub placement: PlacementConfig,
    /// The prefetcher (on by default; see `crate::prefetch`).
    #[serde(default)]
    pub prefetch: crate::prefetch::PrefetchConfig,
}

/// Which placement policy runs and how hard background migration may work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlacementConfig {
    /// A name from `strata_policy::policy_names()`; `static` never moves data.
    pub policy: String,
    /// How often the policy plans background moves.
    pub plan_interval_ms: u64,
    /// How often access events are taken from the volumes' rings and shown to the policy.
    pub access_poll_ms: u64,
    /// Migration bandwidth over all tier pairs, in MB/s (10^6 bytes); 0 = unlimited.
    pub migration_mbps: u64,
    /// Tighter limits for particular tier pairs (on top of the global one).
    pub pair_limits: Vec<PairLimit>,
    /// Bytes a bucket may hand out at once after being idle; at least `copy_chunk_bytes`.
    pub burst_bytes: u64,
    /// A move copies its extent in chunks of this size, yielding to foreground I/O between.
    pub copy_chunk_bytes: u64,
    /// Share of a disk's time (a tier whose profile has a seek penalty) that copies may
    /// take while foreground requests use it, in (0, 1]; 1 = no limit beyond the rates.
    pub disk_time_share: f64,
    /// Attempts per move before it is given up (device errors only).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub retry_backoff_ms: u64,
    /// Consecutive failed moves into a tier after which it is marked degraded and no
    /// longer used as a migration target.
    pub degrade_after_failures: u32,
    /// Moves waiting for the executor beyond this are dropped (the policy plans again).
    pub max_queued_moves: usize,
    /// A move that waited for the executor this long is dropped unrun, and the policy told
    /// (it plans again on fresher accesses); 0 = no bound.
    pub max_move_age_ms: u64,
    /// Migration-log records kept in the store; older ones are trimmed.
    pub log_max_records: u64,
}

/// A bandwidth limit for moves from one tier kind to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairLimit {
    pub from: TierKind,
    pub to: TierKind,
    pub mbps: u64,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        Self {
            policy: "static".to_owned(),
            plan_interval_ms: 5_000,
            access_poll_ms: 250,
            migration_mbps: 64,
            pair_limits: Vec::new(),
            burst_bytes: 1 << 20,
            copy_chunk_bytes: 128 << 10,
            disk_time_share: DEFAULT_DISK_TIME_SHARE,
            max_attempts: 3,
            retry_backoff_ms: 20,
            degrade_after_failures: 3,
            max_queued_moves: strata_policy::DEFAULT_MAX_QUEUED_MOVES,
            max_move_age_ms: DEFAULT_MAX_MOVE_AGE_MS,
            log_max_records: 100_000,
        }
    }
}

impl PlacementConfig {
    /// Bytes per second of a limit given in MB/s; `None` for unlimited.
    pub fn bytes_per_s(mbps: u64) -> Option<u64> {
        (mbps > 0).then(|| mbps.saturating_mul(1_000_000))
    }

    /// The migration budget of one planning interval (what `plan()` is given).
    pub fn plan_budget_bytes(&self) -> u64 {
        match Self::bytes_per_s(self.migration_mbps) {
            Some(rate) => {
                let per_interval = u128::from(rate) * u128::from(self.plan_interval_ms) / 1000;
                u64::try_from(per_interval).unwrap_or(u64::MAX)
            }
            None => u64::MAX,
        }
    }

    fn validate(&self, tiers: &[TierConfig]) -> Result<()> {
        let invalid = |msg: String| {
            EngineError::new(
                EngineErrorKind::InvalidArgument,
                "config",
                format!("placement: {msg}"),
            )
        };
        let policy =
            strata_policy::policy_by_name(&self.policy, &strata_policy::PolicyConfig::default())
                .map_err(|e| invalid(e.to_string()))?;
        if policy.tier_sizing() != strata_policy::TierSizing::AsConfigured {
            return Err(invalid(format!(
                "policy {} is a simulator bound and cannot run in the engine",
                self.policy
            )));
        }
        if self.plan_interval_ms == 0 || self.access_poll_ms == 0 {
            return Err(invalid(
                "plan_interval_ms and access_poll_ms must be > 0".into(),
            ));
        }
        if self.copy_chunk_bytes < strata_core::BLOCK_SIZE
            || !self
                .copy_chunk_bytes
                .is_multiple_of(strata_core::BLOCK_SIZE)
            || self.copy_chunk_bytes > GRANULE_BYTES << crate::alloc::MAX_ORDER
        {
            return Err(invalid(format!(
                "copy_chunk_bytes {} must be a multiple of 4096 up to 64 MiB",
                self.copy_chunk_bytes
            )));
        }
        if self.burst_bytes < self.copy_chunk_bytes {
            return Err(invalid(
                "burst_bytes must be at least copy_chunk_bytes".into(),
            ));
        }
        if !(self.disk_time_share > 0.0 && self.disk_time_share <= 1.0) {
            return Err(invalid(format!(
                "disk_time_share {} must be in (0, 1]",
                self.disk_time_share
            )));
        }
        if self.max_attempts == 0 || self.degrade_after_failures == 0 {
            return Err(invalid(
                "max_attempts and degrade_after_failures must be > 0".into(),
            ));
        }
        for pair in &self.pair_limits {
            for kind in [&pair.from, &pair.to] {
                if !tiers.iter().any(|t| &t.kind == kind) {
                    return Err(invalid(format!(
                        "pair limit names unconfigured tier {kind}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// One tier of storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub kind: TierKind,
    /// Backing file or block device; `None` means `data_dir/tiers/<kind>.img`.
    pub path: Option<PathBuf>,
    pub capacity_bytes: u64,
    pub profile: DeviceProfile,
    pub cost_per_gib_month: f64,
    /// Open the backing file with `O_DIRECT`.
    pub direct_io: bool,
}

impl TierConfig {
    /// A tier of a built-in kind with its default profile and the given capacity and cost.
    pub fn builtin(kind: TierKind, capacity_bytes: u64, cost_per_gib_month: f64) -> Self {
        let profile = kind.default_profile().unwrap_or(DeviceProfile::SSD);
        Self {
            kind,
            path: None,
            capacity_bytes,
            profile,
            cost_per_gib_month,
            direct_io: false,
        }
    }

    /// Where this tier's bytes live.
    pub fn resolved_path(&self, data_dir: &Path) -> PathBuf {
        self.path.clone().unwrap_or_else(|| {
            data_dir
                .join("tiers")
                .join(format!("{}.img", self.kind.as_str()))
        })
    }
}

impl EngineConfig {
    /// The embedded default of INTERFACE.md: nvme 2 GiB, ssd 8 GiB, hdd 32 GiB, emulation on.
    pub fn embedded_default(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            tiers: vec![
                TierConfig::builtin(TierKind::Nvme, 2 << 30, 0.25),
                TierConfig::builtin(TierKind::Ssd, 8 << 30, 0.10),
                TierConfig::builtin(TierKind::Hdd, 32 << 30, 0.03),
            ],
            emulation: true,
            placement: PlacementConfig::default(),
            prefetch: crate::prefetch::PrefetchConfig::default(),
        }
    }

    /// Checks the rules: 1..=127 tiers with distinct kinds, each at least one 64 KiB granule,
    /// a usable profile and a finite, non-negative cost.
    pub fn validate(&self) -> Result<()> {
        let invalid =
            |msg: String| EngineError::new(EngineErrorKind::InvalidArgument, "config", msg);
        if self.tiers.is_empty() || self.tiers.len() > MAX_TIERS {
            return Err(invalid(format!(
                "need 1 to {MAX_TIERS} tiers, got {}",
                self.tiers.len()
            )));
        }
        for (i, tier) in self.tiers.iter().enumerate() {
            if self.tiers[..i].iter().any(|t| t.kind == tier.kind) {
                return Err(invalid(format!("tier {} configured twice", tier.kind)));
            }
            if tier.capacity_bytes < GRANULE_BYTES {
                return Err(invalid(format!(
                    "tier {} capacity {} is below {GRANULE_BYTES} bytes",
                    tier.kind, tier.capacity_bytes
                )));
            }
            tier.profile
                .validate()
                .map_err(|e| invalid(format!("tier {} profile: {e}", tier.kind)))?;
            if !tier.cost_per_gib_month.is_finite() || tier.cost_per_gib_month < 0.0 {
                return Err(invalid(format!(
                    "tier {} cost_per_gib_month must be finite and >= 0",
                    tier.kind
                )));
            }
        }
        self.placement.validate(&self.tiers)?;
        self.prefetch.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid_and_fastest_first() {
        let config = EngineConfig::embedded_default("data");
        config.validate().unwrap();
        let kinds: Vec<_> = config.tiers.iter().map(|t| t.kind.clone()).collect();
        assert_eq!(kinds, [TierKind::Nvme, TierKind::Ssd, TierKind::Hdd]);
        assert_eq!(
            config.tiers[0].resolved_path(Path::new("data")),
            Path::new("data/tiers/nvme.img")
        );
    }

    #[test]
    fn validate_rejects_duplicates_and_tiny_tiers() {
        let mut config = EngineConfig::embedded_default("data");
        config.tiers[1].kind = TierKind::Nvme;
        assert_eq!(
            config.validate().unwrap_err().kind,
            EngineErrorKind::InvalidArgument
        );
        let mut config = EngineConfig::embedded_default("data");
        config.tiers[2].capacity_bytes = 4096;
        assert!(config.validate().is_err());
        config.tiers.clear();
        assert!(config.validate().is_err());
    }

    #[test]
    fn placement_defaults_are_static_and_bad_values_are_refused() {
        let config = EngineConfig::embedded_default("data");
        assert_eq!(config.placement.policy, "static");
        assert_eq!(config.placement.plan_budget_bytes(), 64_000_000 * 5);
        for bad in ["nope", "all-fast"] {
            let mut config = EngineConfig::embedded_default("data");
            config.placement.policy = bad.into();
            assert!(config.validate().is_err(), "{bad}");
        }
        let mut config = EngineConfig::embedded_default("data");
        config.placement.copy_chunk_bytes = 1000;
        assert!(config.validate().is_err());
        for share in [0.0, -0.1, 1.5, f64::NAN] {
            let mut config = EngineConfig::embedded_default("data");
            config.placement.disk_time_share = share;
            let err = config.validate().expect_err("share out of range");
            assert!(err.to_string().contains("disk_time_share"), "{err}");
        }
        let parsed: PlacementConfig =
            serde_json::from_str(r#"{"policy":"lru-promote","migration_mbps":0}"#).unwrap();
        assert_eq!(parsed.plan_budget_bytes(), u64::MAX);
        assert!(serde_json::from_str::<PlacementConfig>(r#"{"bogus":1}"#).is_err());
    }
}
