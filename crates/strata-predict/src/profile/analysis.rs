//! One window through the whole model: class and confidence, demand forecast, and the
//! tier profile — what `strata profile` prints and what the engine will act on.

use super::features::WindowProfile;
use super::forecast::DemandHistory;
use super::model::WorkloadModel;
use super::tier::{TierDevices, TierProfile, tier_profile};
use crate::class::WorkloadClass;
use crate::error::PredictError;

/// The model's reading of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowAnalysis {
    pub class: WorkloadClass,
    pub confidence: f64,
    pub tier_profile: TierProfile,
    /// Forecast working set of the next window, in bytes.
    pub forecast_bytes: f64,
    /// That forecast split over nvme, ssd and hdd.
    pub forecast_tier_bytes: [f64; 3],
}

impl WorkloadModel {
    /// Classifies `window`, forecasts the next one (updating `history`) and derives the
    /// tier profile at the forecast working set.
    pub fn analyse(
        &self,
        window: &WindowProfile,
        history: &mut DemandHistory,
        devices: &TierDevices,
    ) -> Result<WindowAnalysis, PredictError> {
        let features = &window.features;
        let answer = self.classifier.classify(&features.classifier_vector())?;
        history.push(features.working_set_bytes);
        let forecast_bytes = self
            .forecaster
            .forecast(answer.class, history)
            .unwrap_or(features.working_set_bytes);
        let tier_profile =
            tier_profile(&window.mrc, features.working_set_blocks, features, devices);
        Ok(WindowAnalysis {
            class: answer.class,
            confidence: answer.confidence,
            tier_profile,
            forecast_bytes,
            forecast_tier_bytes: tier_profile.split_bytes(forecast_bytes),
        })
    }
}
