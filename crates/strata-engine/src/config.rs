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
        Ok(())
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
}
