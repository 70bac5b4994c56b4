//! The one error type of `strata-predict`: a predictor or tuner that cannot be built from
//! its name or configuration, a workload model that cannot be loaded or trained.
//! Observing and predicting never fail.

use thiserror::Error;

/// What went wrong, for callers that match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PredictErrorKind {
    /// No predictor is registered under the requested name.
    UnknownPredictor,
    /// No workload class has the requested name.
    UnknownClass,
    /// A configuration value is out of range.
    InvalidConfig,
    /// A model file is malformed, of another format version, or for other features.
    InvalidModel,
    /// A model cannot be trained from the data given.
    Training,
}

/// A predictor, class or tuner could not be constructed.
#[derive(Debug, Clone, Error)]
#[error("{subject:?}: {message}")]
pub struct PredictError {
    pub kind: PredictErrorKind,
    /// The name or setting as given.
    pub subject: String,
    pub message: String,
}

impl PredictError {
    pub fn new(
        kind: PredictErrorKind,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            subject: subject.into(),
            message: message.into(),
        }
    }
}
