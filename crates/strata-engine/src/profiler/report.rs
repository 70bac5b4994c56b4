//! What the live profiler reports: the reading of a volume's last closed window, its
//! forecast with the deviation band, recent deviations, and the model in use.

use serde::Serialize;
use strata_predict::profile::{ForecastBand, ForecastScore, TierProfile, WorkloadFeatures};

/// Where a window's class came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassSource {
    /// The classifier cleared its confidence threshold.
    Classifier,
    /// The classifier was unsure and the VM manager's posted application type decided.
    Telemetry,
}

/// The next window's demand, in total and per tier (nvme, ssd, hdd), with its band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DemandForecast {
    pub total: ForecastBand,
    pub nvme: ForecastBand,
    pub ssd: ForecastBand,
    pub hdd: ForecastBand,
}

impl DemandForecast {
    pub fn new(total: ForecastBand, shares: &TierProfile) -> Self {
        Self {
            total,
            nvme: total.scaled(shares.nvme),
            ssd: total.scaled(shares.ssd),
            hdd: total.scaled(shares.hdd),
        }
    }
}

/// The model's reading of one closed window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowReport {
    /// Window bounds, Unix seconds.
    pub start_unix_s: f64,
    pub end_unix_s: f64,
    /// The class the profile acts on (`unknown` when neither source was sure).
    pub class: &'static str,
    /// The classifier's vote share for its top class.
    pub confidence: f64,
    pub class_source: ClassSource,
    /// The classifier's top class, whether or not it cleared the threshold.
    pub classifier_top_class: &'static str,
    /// The features `strata profile --json` prints, over the window's access stream.
    pub features: WorkloadFeatures,
    /// Observed demand: distinct extents touched times the extent size, bytes.
    pub demand_bytes: f64,
    /// Fractions of the working set wanted on each tier; they sum to 1.
    pub tier_profile: TierProfile,
    /// Forecast of the next window's demand.
    pub forecast: DemandForecast,
}

/// A window whose observed demand left the band forecast for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeviationEvent {
    /// End of the window that deviated, Unix seconds.
    pub window_end_unix_s: f64,
    pub forecast: ForecastBand,
    pub observed_bytes: f64,
    /// Observed over forecast (each plus one byte): above 1 grew, below 1 shrank.
    pub ratio: f64,
    /// Whether the placement policy was asked to re-plan at once.
    pub replanned: bool,
}

/// The forecaster in use and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelStatus {
    /// 1 for the shipped model; +1 each time a refit replaced it.
    pub forecaster_version: u64,
    /// Error of the model in use on the held-out windows of the last learning round.
    pub last_score: Option<ForecastScore>,
    /// Error of the last candidate, whether or not it replaced the model.
    pub last_candidate_score: Option<ForecastScore>,
    pub learning_rounds: u64,
    pub replacements: u64,
    /// When the last learning round ran, Unix seconds.
    pub last_round_unix_s: Option<f64>,
    /// Promotions and prefetches from the migration log the profiler watched, and how
    /// many of those extents were read afterwards (did moving them up pay off?).
    pub promotions_watched: u64,
    pub promotions_read: u64,
}

/// Everything the profiler knows about one volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeProfileReport {
    pub volume: String,
    pub window_s: f64,
    /// Closed windows so far (windows without requests are not counted).
    pub windows: u64,
    /// Start of the window now filling, Unix seconds.
    pub current_window_start_unix_s: f64,
    /// Requests folded into the window now filling.
    pub current_window_requests: u64,
    pub last_window: Option<WindowReport>,
    pub deviations_total: u64,
    /// The most recent deviations, oldest first (bounded).
    pub recent_deviations: Vec<DeviationEvent>,
    /// Application type posted as telemetry, used as a prior.
    pub telemetry_app_type: Option<&'static str>,
    pub model: ModelStatus,
}
