//! The versioned workload-model file: one JSON document whose header names the format,
//! its version and the classifier's feature list, followed by the forest, the forecaster
//! fits, the heat forecaster's trees (optional: files without them load, and the server
//! then forecasts no per-extent heat) and a summary of how the model was trained. A file of another version or for
//! another feature list is refused with an error naming the difference, never half-read.
//!
//! The repository ships one model (`models/workload-v1.json`, built by `strata train`),
//! compiled in so that `strata profile` works on a fresh clone.

use serde::{Deserialize, Serialize};

use super::classify::WorkloadClassifier;
use super::features::CLASSIFIER_FEATURES;
use super::forecast::DemandForecaster;
use super::heat::HeatModel;
use crate::error::{PredictError, PredictErrorKind};

/// The `format` field of every model file.
pub const MODEL_FORMAT: &str = "strata-workload-model";
/// The version this code reads and writes.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// The model shipped in the repository.
pub const SHIPPED_MODEL_JSON: &str = include_str!("../../models/workload-v1.json");

/// How the model was trained, for the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Labelled windows per source: trace names and `synthetic`.
    pub sources: Vec<String>,
    pub windows: usize,
    pub cv_folds: usize,
    pub cv_accuracy: f64,
}

/// A loaded model: classifier, forecasters and training summary.
#[derive(Debug)]
pub struct WorkloadModel {
    pub classifier: WorkloadClassifier,
    pub forecaster: DemandForecaster,
    pub heat: Option<HeatModel>,
    pub training: TrainingSummary,
}

#[derive(Deserialize)]
struct Header {
    format: String,
    format_version: u32,
    features: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct ModelFile<C, F, H> {
    format: String,
    format_version: u32,
    features: Vec<String>,
    training: TrainingSummary,
    forecaster: F,
    #[serde(default = "absent", skip_serializing_if = "Option::is_none")]
    heat: Option<H>,
    classifier: C,
}

/// An optional part a file may lack (older files have no heat forecaster).
fn absent<T>() -> Option<T> {
    None
}

fn invalid(message: impl Into<String>) -> PredictError {
    PredictError::new(PredictErrorKind::InvalidModel, "model", message)
}

impl WorkloadModel {
    /// The model compiled into the binary.
    pub fn shipped() -> Result<Self, PredictError> {
        Self::from_json(SHIPPED_MODEL_JSON)
    }

    /// Reads a model file's text, checking the header before the body.
    pub fn from_json(text: &str) -> Result<Self, PredictError> {
        let header: Header = serde_json::from_str(text)
            .map_err(|e| invalid(format!("not a workload model file: {e}")))?;
        if header.format != MODEL_FORMAT {
            return Err(invalid(format!(
                "format is {:?}, expected {MODEL_FORMAT:?}",
                header.format
            )));
        }
        if header.format_version != MODEL_FORMAT_VERSION {
            return Err(invalid(format!(
                "format version {} is not the supported version {MODEL_FORMAT_VERSION}",
                header.format_version
            )));
        }
        if header.features != CLASSIFIER_FEATURES {
            return Err(invalid(format!(
                "the model was trained on features [{}], this build computes [{}]",
                header.features.join(", "),
                CLASSIFIER_FEATURES.join(", ")
            )));
        }
        let file: ModelFile<WorkloadClassifier, DemandForecaster, HeatModel> =
            serde_json::from_str(text)
                .map_err(|e| invalid(format!("malformed model body: {e}")))?;
        if file.classifier.feature_count() != CLASSIFIER_FEATURES.len() {
            return Err(invalid(
                "the classifier's feature count does not match its header",
            ));
        }
        Ok(Self {
            classifier: file.classifier,
            forecaster: file.forecaster,
            heat: file.heat,
            training: file.training,
        })
    }

    /// The model file's text.
    pub fn to_json(&self) -> Result<String, PredictError> {
        let file = ModelFile {
            format: MODEL_FORMAT.to_owned(),
            format_version: MODEL_FORMAT_VERSION,
            features: CLASSIFIER_FEATURES.iter().map(|&f| f.to_owned()).collect(),
            training: self.training.clone(),
            forecaster: &self.forecaster,
            heat: self.heat.as_ref(),
            classifier: &self.classifier,
        };
        let mut text = serde_json::to_string(&file)
            .map_err(|e| invalid(format!("cannot serialise the model: {e}")))?;
        text.push('\n');
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::WorkloadClass;
    use crate::profile::classify::{ForestParams, LabelledWindow};

    fn tiny_model() -> WorkloadModel {
        let windows: Vec<LabelledWindow> = (0..20)
            .map(|i| LabelledWindow {
                class: if i % 2 == 0 {
                    WorkloadClass::Web
                } else {
                    WorkloadClass::Backup
                },
                features: (0..CLASSIFIER_FEATURES.len())
                    .map(|f| (i % 2 * f) as f64)
                    .collect(),
                group: "toy".into(),
            })
            .collect();
        WorkloadModel {
            classifier: WorkloadClassifier::fit(&windows, &ForestParams::default()).unwrap(),
            forecaster: DemandForecaster::default(),
            heat: None,
            training: TrainingSummary::default(),
        }
    }

    #[test]
    fn a_model_round_trips_and_keeps_its_answers() {
        let model = tiny_model();
        let text = model.to_json().unwrap();
        let loaded = WorkloadModel::from_json(&text).unwrap();
        let x: Vec<f64> = (0..CLASSIFIER_FEATURES.len()).map(|f| f as f64).collect();
        assert_eq!(
            model.classifier.classify(&x).unwrap(),
            loaded.classifier.classify(&x).unwrap()
        );
    }

    #[test]
    fn other_versions_and_feature_lists_are_refused() {
        let text = tiny_model().to_json().unwrap();
        let newer = text.replacen("\"format_version\":1", "\"format_version\":2", 1);
        let err = WorkloadModel::from_json(&newer).unwrap_err();
        assert!(err.message.contains("version 2"), "{err}");
        let renamed = text.replacen("\"read_fraction\"", "\"write_fraction\"", 1);
        let err = WorkloadModel::from_json(&renamed).unwrap_err();
        assert!(err.message.contains("trained on features"), "{err}");
        assert!(WorkloadModel::from_json("{\"format\": 3}").is_err());
    }

    #[test]
    fn the_shipped_model_loads() {
        let model = WorkloadModel::shipped().unwrap();
        assert_eq!(model.classifier.feature_count(), CLASSIFIER_FEATURES.len());
        assert!(model.training.windows > 0);
    }
}
