//! The one error type of `strata-control`.

use std::fmt;
use strata_meta::MetaError;

/// What went wrong, for callers (CLI, REST) to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlErrorKind {
    /// The caller's input is malformed (fractions, TTL, sizes, ids).
    InvalidArgument,
    /// The named lease, server or reservation does not exist.
    NotFound,
    /// A record of that name exists already (a partitioned volume created twice).
    AlreadyExists,
    /// The volume is leased by another live holder.
    Held,
    /// A write or renewal carried a generation older than the volume's current one.
    StaleGeneration,
    /// The lease has expired or was released.
    Expired,
    /// The request does not fit the free capacity; the message says what would fit.
    NoCapacity,
    /// Concurrent updates kept winning; the caller may retry.
    Contended,
    /// The metadata store failed.
    Store,
    /// A stored record could not be decoded.
    Corrupt,
}

/// A failed control-plane operation with the volume or server it concerned.
#[derive(Debug, thiserror::Error)]
pub struct ControlError {
    pub kind: ControlErrorKind,
    /// The operation (`acquire`, `pre_allocate`, …).
    pub op: &'static str,
    /// The volume or server concerned, when there is one.
    pub subject: String,
    pub message: String,
    #[source]
    pub source: Option<Box<MetaError>>,
}

impl ControlError {
    pub fn new(
        kind: ControlErrorKind,
        op: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            op,
            subject: subject.into(),
            message: message.into(),
            source: None,
        }
    }

    /// A store failure during `op` on `subject`.
    pub fn store(op: &'static str, subject: impl Into<String>, err: MetaError) -> Self {
        Self {
            kind: ControlErrorKind::Store,
            op,
            subject: subject.into(),
            message: String::new(),
            source: Some(Box::new(err)),
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.op)?;
        if !self.subject.is_empty() {
            write!(f, " for {}", self.subject)?;
        }
        write!(f, " ({:?})", self.kind)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

/// Result of a control-plane operation.
pub type Result<T, E = ControlError> = std::result::Result<T, E>;
