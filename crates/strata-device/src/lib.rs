//! `strata-device`: where the bytes of a tier live.
//!
//! [`TierDevice`] is a positioned, blocking block device: read, write, flush, discard and a
//! fixed capacity. Backends store bytes (a sparse file, memory); decorators wrap any
//! device and implement the same trait, adding device-model emulation, fault injection or
//! statistics. Nothing here knows about volumes or extents.

pub mod error;
pub mod memory;

pub use error::{DeviceError, DeviceErrorKind, DeviceOp};
pub use memory::MemoryDevice;

/// Result of a device operation.
pub type Result<T, E = DeviceError> = std::result::Result<T, E>;

/// A tier's storage: a fixed-size array of bytes with positioned I/O.
///
/// Calls block the calling thread until the operation is complete; callers on an async
/// runtime run them on a blocking pool. Implementations are shared between threads and
/// must allow concurrent calls on disjoint ranges.
pub trait TierDevice: Send + Sync + std::fmt::Debug {
    /// Fills `buf` from `offset`. Errors with `OutOfRange` past `capacity()`.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Writes all of `buf` at `offset`. Not durable until [`TierDevice::flush`] returns.
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()>;

    /// Makes every completed write durable.
    fn flush(&self) -> Result<()>;

    /// Tells the device the range's contents are no longer needed. Later reads of the
    /// range return zeros or the old bytes; callers must not rely on either.
    fn discard(&self, offset: u64, len: u64) -> Result<()>;

    /// Size of the device in bytes.
    fn capacity(&self) -> u64;
}

/// Checks that `[offset, offset + len)` lies within a device of `capacity` bytes.
pub fn check_range(op: DeviceOp, offset: u64, len: u64, capacity: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= capacity => Ok(()),
        _ => Err(
            DeviceError::new(DeviceErrorKind::OutOfRange, op, offset).with_message(format!(
                "range {offset}+{len} exceeds device capacity {capacity}"
            )),
        ),
    }
}

impl<D: TierDevice + ?Sized> TierDevice for std::sync::Arc<D> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        (**self).read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        (**self).write_at(buf, offset)
    }
    fn flush(&self) -> Result<()> {
        (**self).flush()
    }
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        (**self).discard(offset, len)
    }
    fn capacity(&self) -> u64 {
        (**self).capacity()
    }
}

impl<D: TierDevice + ?Sized> TierDevice for Box<D> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        (**self).read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        (**self).write_at(buf, offset)
    }
    fn flush(&self) -> Result<()> {
        (**self).flush()
    }
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        (**self).discard(offset, len)
    }
    fn capacity(&self) -> u64 {
        (**self).capacity()
    }
}
