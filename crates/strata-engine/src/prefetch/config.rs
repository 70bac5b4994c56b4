//! The `[prefetch]` settings: whether the prefetcher runs, which predictor each volume
//! gets, how much it may queue, copy and fill, and how its measures are windowed.

use crate::{EngineError, EngineErrorKind, Result};
use serde::{Deserialize, Serialize};

/// `predictor` value that picks each volume's predictor from its declared workload class
/// (`strata_predict::profile::defaults::class_defaults`).
pub const PREDICTOR_BY_CLASS: &str = "class";

/// How the prefetcher runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrefetchConfig {
    /// Run the prefetcher at all.
    pub enabled: bool,
    /// A `strata_predict` predictor name (`auto`, `readahead`, `stride`, `leap`, `markov`,
    /// ...) or `class` for the per-class default of each volume's declared profile.
    pub predictor: String,
    /// Prefetch candidates kept per volume; the least urgent is dropped beyond it.
    pub queue_bound: usize,
    /// Share of the migration bandwidth (`placement.migration_mbps`) prefetch copies may
    /// use, in (0, 1]; with unlimited migration bandwidth prefetch is unlimited too.
    pub bandwidth_share: f64,
    /// Prefetch fills a tier only while its occupancy stays at or below this, in (0, 1]:
    /// the rest is left to demand data and the placement policy.
    pub watermark: f64,
    /// Length of one tuning epoch: depth and threshold are adjusted this often.
    pub epoch_ms: u64,
    /// A prefetched extent not read within this long counts as wasted.
    pub horizon_ms: u64,
    /// Prefetched extents whose use is followed per volume (oldest forgotten first).
    pub tracked_extents: usize,
    /// Most extents predicted ahead per round (the tuner's maximum depth).
    pub max_depth: u32,
    /// When no tier has room under the watermark, swap: demote an extent of the fastest
    /// tier untouched for `horizon_ms` to make room for the prefetch (see `evict.rs`).
    pub evict_idle: bool,
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            predictor: "auto".to_owned(),
            queue_bound: 256,
            bandwidth_share: 0.5,
            watermark: 0.9,
            epoch_ms: 1_000,
            horizon_ms: 30_000,
            tracked_extents: 4_096,
            max_depth: 64,
            evict_idle: true,
        }
    }
}

impl PrefetchConfig {
    /// The default with the prefetcher switched off.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Checks every value; the error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| {
            EngineError::new(
                EngineErrorKind::InvalidArgument,
                "config",
                format!("prefetch: {msg}"),
            )
        };
        if self.predictor != PREDICTOR_BY_CLASS
            && self
                .predictor
                .parse::<strata_predict::PredictorKind>()
                .is_err()
        {
            return Err(invalid(format!(
                "unknown predictor {:?} (known: {}, {PREDICTOR_BY_CLASS})",
                self.predictor,
                strata_predict::PredictorKind::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let unit = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        if !unit(self.bandwidth_share) || !unit(self.watermark) {
            return Err(invalid(
                "bandwidth_share and watermark must be within (0, 1]".into(),
            ));
        }
        if self.queue_bound == 0 || self.tracked_extents == 0 {
            return Err(invalid(
                "queue_bound and tracked_extents must be > 0".into(),
            ));
        }
        if self.epoch_ms == 0 || self.horizon_ms == 0 {
            return Err(invalid("epoch_ms and horizon_ms must be > 0".into()));
        }
        self.tuner()
            .validate()
            .map_err(|e| invalid(format!("max_depth: {e}")))
    }

    /// The self-tuner's settings: strata_predict's defaults up to `max_depth`.
    pub(crate) fn tuner(&self) -> strata_predict::TunerConfig {
        let defaults = strata_predict::TunerConfig::default();
        strata_predict::TunerConfig {
            max_depth: self.max_depth,
            initial_depth: defaults.initial_depth.min(self.max_depth),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        PrefetchConfig::default().validate().unwrap();
        assert!(!PrefetchConfig::disabled().enabled);
        for bad in [
            r#"{"predictor":"crystal-ball"}"#,
            r#"{"bandwidth_share":0}"#,
            r#"{"watermark":1.5}"#,
            r#"{"queue_bound":0}"#,
            r#"{"epoch_ms":0}"#,
            r#"{"max_depth":0}"#,
        ] {
            let config: PrefetchConfig = serde_json::from_str(bad).unwrap();
            assert!(config.validate().is_err(), "{bad}");
        }
        let by_class: PrefetchConfig =
            serde_json::from_str(r#"{"predictor":"class","max_depth":4}"#).unwrap();
        by_class.validate().unwrap();
        let tuner = by_class.tuner();
        assert_eq!(tuner.max_depth, 4);
        assert!(tuner.initial_depth <= tuner.max_depth, "{tuner:?}");
        assert!(serde_json::from_str::<PrefetchConfig>(r#"{"enable":true}"#).is_err());
    }
}
