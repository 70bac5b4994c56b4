//! The crate's error type ([`NbdError`] with a matchable [`NbdErrorKind`]) and the mapping from
//! `io::Error` returned by an export to the NBD error values sent on the wire.

use std::io;

use crate::proto::{NBD_EINVAL, NBD_EIO, NBD_ENOMEM, NBD_ENOSPC, NBD_EPERM};

/// What went wrong, for callers to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NbdErrorKind {
    /// The socket failed or closed.
    Io,
    /// The peer sent bytes that break the protocol.
    Protocol,
    /// The server refused an option as unsupported (or lacks a required feature).
    Unsupported,
    /// The server has no export of that name.
    UnknownExport,
    /// The server refused an option for another reason (policy, invalid, shutdown...).
    OptionRefused { reply_type: u32 },
    /// A command got an error reply carrying this NBD error value (`NBD_EIO`, ...).
    Command { nbd_errno: u32 },
    /// The caller asked for something the client cannot send (e.g. a length over u32).
    InvalidArgument,
    /// The TLS handshake failed, or TLS was required and not negotiated.
    Tls,
}

/// An NBD error: its kind, what was being done, and the underlying I/O error if any.
#[derive(Debug, thiserror::Error)]
#[error("nbd {kind:?}: {context}")]
pub struct NbdError {
    kind: NbdErrorKind,
    context: String,
    #[source]
    source: Option<io::Error>,
}

impl NbdError {
    pub fn new(kind: NbdErrorKind, context: impl Into<String>) -> Self {
        Self {
            kind,
            context: context.into(),
            source: None,
        }
    }

    pub fn protocol(context: impl Into<String>) -> Self {
        Self::new(NbdErrorKind::Protocol, context)
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self {
            kind: NbdErrorKind::Io,
            context: context.into(),
            source: Some(source),
        }
    }

    pub fn kind(&self) -> NbdErrorKind {
        self.kind
    }

    /// The NBD error value of a failed command, if this is one.
    pub fn nbd_errno(&self) -> Option<u32> {
        match self.kind {
            NbdErrorKind::Command { nbd_errno } => Some(nbd_errno),
            _ => None,
        }
    }

    pub fn context(&self) -> &str {
        &self.context
    }
}

/// Maps an export's `io::Error` to the NBD error value sent in the reply.
///
/// OS error codes win over the error kind; `EFBIG`/`EDQUOT` become `ENOSPC` as the spec asks.
pub fn nbd_errno_from_io(error: &io::Error) -> u32 {
    if let Some(code) = error.raw_os_error() {
        return match code {
            libc::ENOSPC | libc::EFBIG | libc::EDQUOT => NBD_ENOSPC,
            libc::EINVAL => NBD_EINVAL,
            libc::EPERM | libc::EACCES | libc::EROFS => NBD_EPERM,
            libc::ENOMEM => NBD_ENOMEM,
            _ => NBD_EIO,
        };
    }
    match error.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            NBD_ENOSPC
        }
        io::ErrorKind::InvalidInput => NBD_EINVAL,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => NBD_EPERM,
        io::ErrorKind::OutOfMemory => NBD_ENOMEM,
        _ => NBD_EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_os_errors_and_kinds() {
        let cases = [
            (io::Error::from_raw_os_error(libc::ENOSPC), NBD_ENOSPC),
            (io::Error::from_raw_os_error(libc::EFBIG), NBD_ENOSPC),
            (io::Error::from_raw_os_error(libc::EINVAL), NBD_EINVAL),
            (io::Error::from_raw_os_error(libc::EPERM), NBD_EPERM),
            (io::Error::from_raw_os_error(libc::EACCES), NBD_EPERM),
            (io::Error::from_raw_os_error(libc::ENOMEM), NBD_ENOMEM),
            (io::Error::from_raw_os_error(libc::EBADF), NBD_EIO),
            (io::Error::from(io::ErrorKind::StorageFull), NBD_ENOSPC),
            (io::Error::from(io::ErrorKind::InvalidInput), NBD_EINVAL),
            (io::Error::from(io::ErrorKind::PermissionDenied), NBD_EPERM),
            (io::Error::other("disk on fire"), NBD_EIO),
        ];
        for (error, expected) in cases {
            assert_eq!(nbd_errno_from_io(&error), expected, "{error:?}");
        }
    }
}
