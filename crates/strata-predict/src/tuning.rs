//! Self-tuning of prefetch aggressiveness: a pure state machine fed once per epoch with
//! what the prefetches of that epoch achieved. Depth (blocks per prediction round) rises
//! and the confidence threshold falls while measured precision is high and the fast tier
//! has room; both move the other way when prefetches are wasted or the tier is under
//! pressure, down to "off" when prefetching does not pay. While off it probes now and
//! then at minimum depth, so a workload that turns predictable is noticed again.

use crate::error::{PredictError, PredictErrorKind};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunerConfig {
    pub min_depth: u32,
    pub max_depth: u32,
    pub initial_depth: u32,
    pub min_threshold: f32,
    pub max_threshold: f32,
    pub initial_threshold: f32,
    /// Epoch precision at or above which the tuner grows more aggressive.
    pub raise_precision: f32,
    /// Epoch precision below which it backs off.
    pub lower_precision: f32,
    /// Pressure at or above which it backs off whatever the precision.
    pub pressure_limit: f32,
    /// Epochs spent off before a probe at minimum depth.
    pub probe_after_epochs: u32,
}

impl Default for TunerConfig {
    fn default() -> Self {
        // Set on the shared traces (BENCHMARKS.md, "Prefetch mode"): rounds up to 64 deep
        // with thresholds down to 0.05 added candidates that were mostly wasted (auto's
        // mean precision at 4 KiB 0.41 against 0.64 here, for 0.004 more coverage), and a
        // precision floor of 0.25 switched prefetching off at 1 MiB extents, where even
        // the best predictors' precision is 0.1–0.3. Starting at depth 1 and doubling on
        // evidence protects small caches and short streams: starting at 4 cost 0.02 of
        // mean miss ratio at 1 MiB, all of it on the two traces shorter than a few epochs.
        Self {
            min_depth: 1,
            max_depth: 4,
            initial_depth: 1,
            min_threshold: 0.3,
            max_threshold: 0.8,
            initial_threshold: 0.3,
            raise_precision: 0.3,
            lower_precision: 0.1,
            pressure_limit: 0.5,
            probe_after_epochs: 16,
        }
    }
}

impl TunerConfig {
    pub fn validate(&self) -> Result<(), PredictError> {
        let invalid = |what: &str, message: &str| {
            Err(PredictError::new(
                PredictErrorKind::InvalidConfig,
                what,
                message,
            ))
        };
        if self.min_depth == 0 || self.min_depth > self.max_depth {
            return invalid("min_depth", "must be at least 1 and at most max_depth");
        }
        if !(self.min_depth..=self.max_depth).contains(&self.initial_depth) {
            return invalid("initial_depth", "must lie between min_depth and max_depth");
        }
        let unit = 0.0..=1.0;
        if !(unit.contains(&self.min_threshold)
            && unit.contains(&self.max_threshold)
            && self.min_threshold <= self.max_threshold
            && (self.min_threshold..=self.max_threshold).contains(&self.initial_threshold))
        {
            return invalid(
                "threshold",
                "thresholds must satisfy 0 <= min <= initial <= max <= 1",
            );
        }
        if !(unit.contains(&self.lower_precision) && self.lower_precision <= self.raise_precision) {
            return invalid("precision", "need 0 <= lower_precision <= raise_precision");
        }
        Ok(())
    }
}

/// What one epoch's prefetches achieved.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EpochOutcome {
    /// Prefetched blocks that were accessed.
    pub used: u64,
    /// Prefetched blocks dropped or evicted unaccessed.
    pub wasted: u64,
    /// Fast-tier pressure in 0..=1: how much prefetching is crowding out demand data
    /// (the engine passes occupancy over its target; the simulator passes the share of
    /// prefetch benefit lost to demand misses that prefetching caused).
    pub pressure: f32,
}

/// Fast-tier pressure for [`EpochOutcome::pressure`] from the fastest tier's occupancy
/// (used / capacity) and the prefetch fill watermark: 0 below 80 % of the watermark,
/// rising to 1 at the watermark. The engine and the simulator's tier mode both use it.
pub fn fill_pressure(occupancy: f64, watermark: f64) -> f32 {
    ((occupancy / watermark - 0.8) / 0.2).clamp(0.0, 1.0) as f32
}

/// Where the tuner stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TunerState {
    Active { depth: u32, threshold: f32 },
    Off { epochs: u32 },
}

/// The self-tuning state machine.
#[derive(Debug, Clone)]
pub struct PrefetchTuner {
    config: TunerConfig,
    state: TunerState,
}

impl PrefetchTuner {
    pub fn new(config: TunerConfig) -> Result<Self, PredictError> {
        config.validate()?;
        Ok(Self {
            state: TunerState::Active {
                depth: config.initial_depth,
                threshold: config.initial_threshold,
            },
            config,
        })
    }

    pub fn state(&self) -> TunerState {
        self.state
    }

    /// Blocks to prefetch per prediction round; 0 while off.
    pub fn depth(&self) -> usize {
        match self.state {
            TunerState::Active { depth, .. } => depth as usize,
            TunerState::Off { .. } => 0,
        }
    }

    /// Minimum confidence of a prediction worth prefetching (1 while off, so nothing is).
    pub fn threshold(&self) -> f32 {
        match self.state {
            TunerState::Active { threshold, .. } => threshold,
            TunerState::Off { .. } => 1.0,
        }
    }

    pub fn is_off(&self) -> bool {
        matches!(self.state, TunerState::Off { .. })
    }

    /// Moves to the next state after an epoch.
    pub fn end_epoch(&mut self, outcome: &EpochOutcome) {
        let config = self.config;
        self.state = match self.state {
            TunerState::Off { epochs } if epochs + 1 >= config.probe_after_epochs => {
                TunerState::Active {
                    depth: config.min_depth,
                    threshold: config.initial_threshold,
                }
            }
            TunerState::Off { epochs } => TunerState::Off { epochs: epochs + 1 },
            TunerState::Active { depth, threshold } => {
                let resolved = outcome.used + outcome.wasted;
                let pressure = outcome.pressure.clamp(0.0, 1.0);
                if resolved == 0 && pressure < config.pressure_limit {
                    // Nothing was prefetched or nothing resolved yet: no evidence either way.
                    TunerState::Active { depth, threshold }
                } else {
                    let precision = if resolved == 0 {
                        0.0
                    } else {
                        outcome.used as f32 / resolved as f32
                    };
                    if pressure >= config.pressure_limit || precision < config.lower_precision {
                        let depth = depth / 2;
                        if depth < config.min_depth {
                            TunerState::Off { epochs: 0 }
                        } else {
                            TunerState::Active {
                                depth,
                                threshold: (threshold + 0.1).min(config.max_threshold),
                            }
                        }
                    } else if precision >= config.raise_precision {
                        TunerState::Active {
                            depth: depth.saturating_mul(2).min(config.max_depth),
                            threshold: (threshold - 0.05).max(config.min_threshold),
                        }
                    } else {
                        TunerState::Active { depth, threshold }
                    }
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tuner with room to move both ways from its start.
    fn config() -> TunerConfig {
        TunerConfig {
            min_depth: 1,
            max_depth: 64,
            initial_depth: 8,
            min_threshold: 0.05,
            max_threshold: 0.8,
            initial_threshold: 0.2,
            raise_precision: 0.5,
            lower_precision: 0.25,
            pressure_limit: 0.5,
            probe_after_epochs: 16,
        }
    }

    fn tuner() -> PrefetchTuner {
        PrefetchTuner::new(config()).unwrap()
    }

    #[test]
    fn fill_pressure_rises_over_the_last_fifth_below_the_watermark() {
        assert_eq!(fill_pressure(0.5, 0.9), 0.0);
        assert!((fill_pressure(0.81, 0.9) - 0.5).abs() < 1e-6);
        assert_eq!(fill_pressure(0.95, 0.9), 1.0);
    }

    #[test]
    fn defaults_are_valid() {
        TunerConfig::default().validate().unwrap();
        let mut tuner = PrefetchTuner::new(TunerConfig::default()).unwrap();
        // Starts cautious and doubles on evidence, up to the maximum.
        assert_eq!(tuner.depth(), 1);
        for depth in [2, 4, 4] {
            tuner.end_epoch(&EpochOutcome {
                used: 9,
                wasted: 1,
                pressure: 0.0,
            });
            assert_eq!(tuner.depth(), depth);
        }
    }

    fn epoch(used: u64, wasted: u64, pressure: f32) -> EpochOutcome {
        EpochOutcome {
            used,
            wasted,
            pressure,
        }
    }

    #[test]
    fn precise_prefetching_grows_to_the_maximum() {
        let mut tuner = tuner();
        let start_threshold = tuner.threshold();
        for _ in 0..10 {
            tuner.end_epoch(&epoch(90, 10, 0.0));
        }
        assert_eq!(tuner.depth(), 64);
        assert!(tuner.threshold() < start_threshold);
        assert!((tuner.threshold() - 0.05).abs() < 1e-6);
    }

    #[test]
    fn wasted_prefetching_turns_off_then_probes() {
        let mut tuner = tuner();
        let mut epochs_to_off = 0;
        while !tuner.is_off() {
            tuner.end_epoch(&epoch(1, 99, 0.0));
            epochs_to_off += 1;
            assert!(epochs_to_off < 10, "never turned off");
        }
        assert_eq!(tuner.depth(), 0);
        assert!(tuner.threshold() >= 1.0);
        for _ in 0..15 {
            tuner.end_epoch(&epoch(0, 0, 0.0));
            assert!(tuner.is_off());
        }
        tuner.end_epoch(&epoch(0, 0, 0.0));
        assert_eq!(tuner.depth(), 1, "probe at minimum depth");
    }

    #[test]
    fn pressure_backs_off_even_when_precise() {
        let mut tuner = tuner();
        tuner.end_epoch(&epoch(95, 5, 0.9));
        assert_eq!(tuner.depth(), 4);
        assert!(tuner.threshold() > 0.2);
    }

    #[test]
    fn middling_precision_holds_and_no_evidence_holds() {
        let mut tuner = tuner();
        tuner.end_epoch(&epoch(40, 60, 0.0));
        assert_eq!(tuner.depth(), 8);
        tuner.end_epoch(&epoch(0, 0, 0.0));
        assert_eq!(tuner.depth(), 8);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let bad = TunerConfig {
            min_depth: 0,
            ..config()
        };
        assert!(PrefetchTuner::new(bad).is_err());
        let bad = TunerConfig {
            initial_threshold: 0.95,
            ..config()
        };
        assert!(PrefetchTuner::new(bad).is_err());
    }
}
