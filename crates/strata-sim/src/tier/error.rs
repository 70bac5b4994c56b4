//! The error of the tier simulator: a configuration it cannot run (bad sizes, an unknown
//! policy), a trace it cannot read or an event log it cannot write. Replays themselves
//! cannot fail once configured.

use crate::trace::TraceError;
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
    /// The trace could not be read.
    Trace,
    /// The event log (`--events`) could not be written.
    Output,
}

/// A tier simulation that could not start.
#[derive(Debug, Error)]
#[error("tier simulation: {message}")]
pub struct TierError {
    pub kind: TierErrorKind,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TierError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: TierErrorKind::InvalidConfig,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn output(source: std::io::Error) -> Self {
        Self {
            kind: TierErrorKind::Output,
            message: format!("writing the event log: {source}"),
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn trace(source: TraceError) -> Self {
        Self {
            kind: TierErrorKind::Trace,
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }
}

impl From<PolicyError> for TierError {
    fn from(source: PolicyError) -> Self {
        Self {
            kind: TierErrorKind::Policy,
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }
}
