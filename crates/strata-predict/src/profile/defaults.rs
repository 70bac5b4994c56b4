//! Per-class defaults: what a volume of a class starts with before its own history says
//! more — the prefetch predictor, the tier new extents land on, and the soft reservations
//! asked for on the fast tiers (as a share of the volume's size).

use strata_core::TierKind;

use crate::PredictorKind;
use crate::class::WorkloadClass;

/// The starting choices for a class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDefaults {
    pub prefetch: PredictorKind,
    pub initial_tier: TierKind,
    /// Share of the volume's size reserved on nvme and on ssd.
    pub reserve_nvme_fraction: f64,
    pub reserve_ssd_fraction: f64,
}

/// The defaults of `class`. Why each row: databases reuse a small hot set at random
/// offsets (Markov deltas, hot data fast); web and vdi serve a small popular image or
/// file set mostly read; file servers and dev trees read files in runs (readahead,
/// stride); backups stream once (readahead only, straight to hdd, nothing reserved).
pub fn class_defaults(class: WorkloadClass) -> ClassDefaults {
    let (prefetch, initial_tier, nvme, ssd) = match class {
        WorkloadClass::Database => (PredictorKind::Markov, TierKind::Nvme, 0.10, 0.30),
        WorkloadClass::Web => (PredictorKind::Auto, TierKind::Ssd, 0.05, 0.20),
        WorkloadClass::File => (PredictorKind::Readahead, TierKind::Ssd, 0.02, 0.15),
        WorkloadClass::Dev => (PredictorKind::Stride, TierKind::Ssd, 0.05, 0.25),
        WorkloadClass::Vdi => (PredictorKind::Leap, TierKind::Ssd, 0.05, 0.30),
        WorkloadClass::Backup => (PredictorKind::Readahead, TierKind::Hdd, 0.0, 0.0),
        _ => (PredictorKind::Auto, TierKind::Ssd, 0.0, 0.10),
    };
    ClassDefaults {
        prefetch,
        initial_tier,
        reserve_nvme_fraction: nvme,
        reserve_ssd_fraction: ssd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_exceed_the_volume() {
        for class in WorkloadClass::ALL {
            let d = class_defaults(class);
            assert!(
                d.reserve_nvme_fraction + d.reserve_ssd_fraction <= 1.0,
                "{class}"
            );
        }
        assert_eq!(
            class_defaults(WorkloadClass::Backup).initial_tier,
            TierKind::Hdd
        );
    }
}
