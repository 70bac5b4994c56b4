//! The error of the tier simulator: a configuration it cannot run (bad sizes, an unknown
//! policy). Replays themselves cannot fail once configured.

use strata_policy::PolicyError;
use thiserror::Error;

/// What went wrong, for callers that match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TierErrorKind {
    /// A size, rate or interval that makes no sense (zero unit, zero interval, …).
    InvalidConfig,
    /// The placement policy could not be built.
    Policy,
}

/// A tier simulation that could not start.
#[derive(Debug, Error)]
#[error("tier simulation: {message}")]
pub struct TierError {
    pub kind: TierErrorKind,
    pub message: String,
    #[source]
    pub source: Option<PolicyError>,
}

impl TierError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: TierErrorKind::InvalidConfig,
            message: message.into(),
            source: None,
        }
    }
}

impl From<PolicyError> for TierError {
    fn from(source: PolicyError) -> Self {
        Self {
            kind: TierErrorKind::Policy,
            message: source.to_string(),
            source: Some(source),
        }
    }
}
