//! One volume's prefetch state: its predictor (fed the volume's demand reads in extents),
//! its self-tuner, its queue, the extent being copied and its measures.

use super::config::{PREDICTOR_BY_CLASS, PrefetchConfig};
use super::measures::Measures;
use super::queue::PrefetchQueue;
use strata_predict::{
    AccessPredictor, EpochOutcome, Prediction, PredictorKind, PrefetchTuner, WorkloadClass,
};

/// The prediction state of one volume (its predictor stream is the volume id).
#[derive(Debug)]
pub(crate) struct VolumePrefetch {
    pub name: String,
    pub class: WorkloadClass,
    pub predictor: Box<dyn AccessPredictor>,
    pub tuner: PrefetchTuner,
    pub queue: PrefetchQueue,
    pub measures: Measures,
    /// The extent the executor is copying, and whether its demand already came (late).
    pub in_flight: Option<(u64, bool)>,
    /// The last extent read: repeated reads of one extent are one access to the predictor.
    pub last_read_extent: Option<u64>,
    /// Demand reads in the current epoch, for the volume's heat.
    pub epoch_reads: u64,
    /// This volume's share of the busiest volume's reads last epoch, 0..=1.
    pub heat: f32,
    pub scratch: Vec<Prediction>,
}

impl VolumePrefetch {
    pub fn new(
        config: &PrefetchConfig,
        tuner: PrefetchTuner,
        id: u64,
        name: &str,
        profile: Option<&str>,
        extent_bytes: u64,
        extents: u64,
    ) -> Self {
        let class = profile
            .and_then(|p| p.parse().ok())
            .unwrap_or(WorkloadClass::Unknown);
        let kind = if config.predictor == PREDICTOR_BY_CLASS {
            strata_predict::profile::class_defaults(class).prefetch
        } else {
            // Validated at open; `auto` if it somehow is not a name.
            config.predictor.parse().unwrap_or(PredictorKind::Auto)
        };
        let mut predictor = kind.build();
        // Tables sized for the volume's extents (a 256 MiB volume's Markov and `temporal`
        // tables take 384 KiB, not their default 5 MiB); `auto` seeds its members' trust
        // from the class. Predictors that need neither ignore them.
        predictor.size_for(extents);
        predictor.set_class(id, class);
        Self {
            name: name.to_owned(),
            class,
            predictor,
            tuner,
            queue: PrefetchQueue::new(config.queue_bound),
            measures: Measures::new(extent_bytes, config.tracked_extents),
            in_flight: None,
            last_read_extent: None,
            epoch_reads: 0,
            heat: 1.0,
            scratch: Vec::with_capacity(config.max_depth as usize),
        }
    }

    /// Ends a tuning epoch: the tuner sees what this volume's prefetches achieved and the
    /// fast tier's pressure.
    pub fn end_epoch(&mut self, pressure: f32) {
        let (used, wasted) = self.measures.take_epoch();
        self.tuner.end_epoch(&EpochOutcome {
            used,
            wasted,
            pressure,
        });
    }
}
