//! The one error type of `strata-meta`.

use std::fmt;

/// What went wrong, for callers to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaErrorKind {
    /// Opening or reading/writing the backing file failed.
    Io,
    /// The store's contents are damaged or in an unknown format.
    Corrupt,
    /// The store is held by another process or user.
    Locked,
    /// Any other backend failure (transaction, commit).
    Backend,
    /// The lease named does not exist any more (expired or revoked).
    LeaseNotFound,
    /// The remote store (etcd) could not be reached or did not answer in time.
    Unavailable,
    /// This store does not offer the operation.
    Unsupported,
}

/// A failed store operation with the operation name and the backend's error.
#[derive(Debug, thiserror::Error)]
pub struct MetaError {
    pub kind: MetaErrorKind,
    /// The store operation that failed (`open`, `get`, `commit`, …).
    pub op: &'static str,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl MetaError {
    pub fn new(kind: MetaErrorKind, op: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            op,
            message: message.into(),
            source: None,
        }
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metadata store {} failed ({:?})", self.op, self.kind)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}
