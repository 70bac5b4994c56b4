//! The error type of every device backend and decorator.

use std::fmt;

/// What went wrong, for callers to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceErrorKind {
    /// The operating system or an injected fault reported an I/O error (EIO).
    Io,
    /// The device has no space left (ENOSPC).
    NoSpace,
    /// The request reaches past the device's capacity.
    OutOfRange,
    /// The device is gone (unplugged, removed, or declared vanished by a test).
    Gone,
    /// The request does not meet the device's alignment rules (O_DIRECT).
    Misaligned,
}

/// The operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceOp {
    Open,
    Read,
    Write,
    Flush,
    Discard,
}

/// A failed device operation, with the device, operation and offset it concerns.
#[derive(Debug, thiserror::Error)]
pub struct DeviceError {
    pub kind: DeviceErrorKind,
    pub op: DeviceOp,
    pub offset: u64,
    pub device: Option<String>,
    pub message: Option<String>,
    #[source]
    pub source: Option<std::io::Error>,
}

impl DeviceError {
    pub fn new(kind: DeviceErrorKind, op: DeviceOp, offset: u64) -> Self {
        Self {
            kind,
            op,
            offset,
            device: None,
            message: None,
            source: None,
        }
    }

    /// Classifies an OS error: ENOSPC → `NoSpace`, ENODEV/ENXIO/ENOENT → `Gone`, EINVAL on
    /// direct I/O → `Misaligned`, anything else → `Io`.
    pub fn from_io(op: DeviceOp, offset: u64, err: std::io::Error) -> Self {
        let kind = match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => DeviceErrorKind::NoSpace,
            Some(libc::ENODEV) | Some(libc::ENXIO) | Some(libc::ENOENT) => DeviceErrorKind::Gone,
            Some(libc::EINVAL) => DeviceErrorKind::Misaligned,
            _ => DeviceErrorKind::Io,
        };
        Self {
            source: Some(err),
            ..Self::new(kind, op, offset)
        }
    }

    pub fn with_device(mut self, device: impl Into<String>) -> Self {
        self.device = Some(device.into());
        self
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The errno an NBD reply or a POSIX caller should see for this error.
    pub fn errno(&self) -> i32 {
        match self.kind {
            DeviceErrorKind::NoSpace => libc::ENOSPC,
            DeviceErrorKind::OutOfRange | DeviceErrorKind::Misaligned => libc::EINVAL,
            DeviceErrorKind::Io | DeviceErrorKind::Gone => libc::EIO,
        }
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} failed", self.op)?;
        if let Some(device) = &self.device {
            write!(f, " on device {device}")?;
        }
        write!(f, " at offset {}: {:?}", self.offset, self.kind)?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}
