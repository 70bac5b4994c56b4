//! The one error type of `strata-policy`: a policy that cannot be built from its name and
//! configuration, or a serialised heat map that cannot be read. Decisions themselves never
//! fail; an executor rejects a bad decision.

use thiserror::Error;

/// What went wrong, for callers that match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// No policy is registered under the requested name.
    UnknownPolicy,
    /// A configuration value is out of range for the policy.
    InvalidConfig,
    /// A serialised heat map is truncated, corrupt or of an unknown version.
    CorruptHeatMap,
    /// A saved policy state around its heat map (`strata`'s leader) is truncated, corrupt,
    /// of an unknown version, or names no candidate.
    CorruptState,
}

/// A policy could not be constructed.
#[derive(Debug, Clone, Error)]
#[error("policy {policy:?}: {message}")]
pub struct PolicyError {
    pub kind: PolicyErrorKind,
    /// The policy name as given.
    pub policy: String,
    pub message: String,
}

impl PolicyError {
    pub fn new(
        kind: PolicyErrorKind,
        policy: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            policy: policy.into(),
            message: message.into(),
        }
    }
}
