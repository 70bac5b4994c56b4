//! Workload profiling: per-volume features over windows ([`WindowProfiler`], with exact
//! or SHARDS-sampled reuse distances in [`reuse`]), the workload classifier
//! ([`WorkloadClassifier`], bagged CART trees from smartcore), the demand forecaster
//! ([`forecast`]), the tier profile derived from the miss-ratio curve and the device
//! profiles ([`tier`]), per-class defaults ([`defaults`]), the versioned model file
//! ([`model`]) and its training ([`train`]), the deviation band around a forecast
//! ([`deviation`]), refitting the forecaster from recent windows ([`refit`]), windowing ([`window`]), the whole reading of a window ([`analysis`]) and
//! a seeded generator of class-typical streams ([`synthetic`]).
//!
//! Everything here is pure computation over requests: no files, threads or clocks. The
//! simulator and the binary read traces and feed it.

pub mod analysis;
pub mod classify;
pub mod defaults;
pub mod deviation;
pub mod features;
pub mod forecast;
pub mod heat;
pub mod model;
pub mod refit;
pub mod reuse;
pub mod synthetic;
pub mod tier;
pub mod train;
pub mod window;

use strata_core::IoKind;

pub use analysis::WindowAnalysis;
pub use classify::{
    Classification, CrossValidation, FoldKind, ForestParams, LabelledWindow, WorkloadClassifier,
    cross_validate,
};
pub use defaults::{ClassDefaults, class_defaults};
pub use deviation::{BandTracker, ForecastBand};
pub use features::{CLASSIFIER_FEATURES, WindowProfile, WindowProfiler, WorkloadFeatures};
pub use forecast::{
    DemandForecaster, DemandHistory, DemandSeries, ForecastComparison, compare_forecasters,
};
pub use heat::{
    ExtentCounter, ExtentCounts, HEAT_EXTENT_BYTES, HeatComparison, HeatErrors, HeatHistory,
    HeatMethod, HeatModel, HeatModelParams, HeatSeries, compare_heat_forecasters,
};
pub use model::{MODEL_FORMAT_VERSION, TrainingSummary, WorkloadModel};
pub use refit::{
    ForecastScore, RefitOutcome, refit_forecaster, replace_if_better, score_forecaster,
};
pub use reuse::{MissRatioCurve, ReuseDistances};
pub use synthetic::{SYNTHETIC_CLASSES, SyntheticStream};
pub use tier::{TierDevices, TierProfile, tier_profile};
pub use train::{TrainingReport, TrainingSet, train};
pub use window::{ClosedWindow, WindowSpec, Windower};

/// The block size of reuse distances and working sets (DESIGN.md's canonical stream).
pub const BLOCK_BYTES: u64 = 4096;

/// One block request of a volume, as the profiler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request {
    /// The disk or volume within the trace; blocks of different streams never alias.
    pub stream: u32,
    pub offset_bytes: u64,
    pub len_bytes: u64,
    /// Arrival time on the trace's clock, when it has one.
    pub time_ns: Option<u64>,
    pub kind: IoKind,
}
