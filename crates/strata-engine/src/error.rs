//! The one error type of `strata-engine`: a kind callers match on, plus where it happened.

use std::fmt;

/// What went wrong, for callers (the NBD server, the API) to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineErrorKind {
    /// No volume (or tier) of that name.
    NotFound,
    /// A volume of that name exists already.
    AlreadyExists,
    /// A name, size, extent size, pin or config value breaks the rules.
    InvalidArgument,
    /// A request reaches past the end of the volume.
    OutOfRange,
    /// No tier the volume may use has a free slot.
    NoSpace,
    /// The volume has open handles.
    InUse,
    /// A tier device failed.
    Device,
    /// The metadata store failed or holds data this version cannot read.
    Store,
}

/// A failed engine operation: the kind, the operation, and boxed context (kept behind a
/// box so `Result<T, EngineError>` stays small on the I/O path).
#[derive(Debug)]
pub struct EngineError {
    pub kind: EngineErrorKind,
    /// The operation (`read`, `write`, `create_volume`, `flush`, …).
    pub op: &'static str,
    pub context: Box<ErrorContext>,
}

/// Where an [`EngineError`] happened and what caused it.
#[derive(Debug, Default)]
pub struct ErrorContext {
    pub volume: Option<String>,
    pub extent: Option<u64>,
    pub tier: Option<String>,
    /// Byte offset in the volume the failure concerns.
    pub offset: Option<u64>,
    pub message: String,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl EngineError {
    pub fn new(kind: EngineErrorKind, op: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            op,
            context: Box::new(ErrorContext {
                message: message.into(),
                ..ErrorContext::default()
            }),
        }
    }

    pub fn with_volume(mut self, volume: impl Into<String>) -> Self {
        self.context.volume = Some(volume.into());
        self
    }

    pub fn with_extent(mut self, extent: u64) -> Self {
        self.context.extent = Some(extent);
        self
    }

    pub fn with_tier(mut self, tier: impl Into<String>) -> Self {
        self.context.tier = Some(tier.into());
        self
    }

    pub fn with_offset(mut self, offset: u64) -> Self {
        self.context.offset = Some(offset);
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.context.source = Some(Box::new(source));
        self
    }

    pub fn volume(&self) -> Option<&str> {
        self.context.volume.as_deref()
    }

    pub fn message(&self) -> &str {
        &self.context.message
    }

    /// A device failure during `op`.
    pub fn device(op: &'static str, err: strata_device::DeviceError) -> Self {
        Self::new(EngineErrorKind::Device, op, String::new()).with_source(err)
    }

    /// A metadata store failure during `op`.
    pub fn store(op: &'static str, err: strata_meta::MetaError) -> Self {
        Self::new(EngineErrorKind::Store, op, String::new()).with_source(err)
    }

    /// The errno an NBD reply or a POSIX caller should see.
    pub fn errno(&self) -> i32 {
        match self.kind {
            EngineErrorKind::OutOfRange | EngineErrorKind::InvalidArgument => libc::EINVAL,
            EngineErrorKind::NoSpace => libc::ENOSPC,
            _ => libc::EIO,
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.context
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed ({:?})", self.op, self.kind)?;
        let c = &self.context;
        if let Some(volume) = &c.volume {
            write!(f, " volume {volume}")?;
        }
        if let Some(extent) = c.extent {
            write!(f, " extent {extent}")?;
        }
        if let Some(tier) = &c.tier {
            write!(f, " tier {tier}")?;
        }
        if let Some(offset) = c.offset {
            write!(f, " offset {offset}")?;
        }
        if !c.message.is_empty() {
            write!(f, ": {}", c.message)?;
        }
        if let Some(source) = &c.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl From<EngineError> for std::io::Error {
    /// Becomes a raw OS error so `raw_os_error()` gives the NBD layer the errno to send;
    /// the message is lost, so log the engine error before converting when it matters.
    fn from(err: EngineError) -> Self {
        std::io::Error::from_raw_os_error(err.errno())
    }
}
