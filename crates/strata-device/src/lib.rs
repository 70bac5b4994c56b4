//! `strata-device`: where the bytes of a tier live.
//!
//! [`TierDevice`] is a positioned, blocking block device: read, write, flush, discard and a
//! fixed capacity. Backends store bytes (a sparse file, memory); decorators wrap any
//! device and implement the same trait, adding device-model emulation, fault injection or
//! statistics. Nothing here knows about volumes or extents.
//!
//! Backends:
//! - [`FileDevice`] ([`file`](mod@file)): a sparse, pre-sized file (or a block device) with
//!   positioned I/O, `fdatasync` flushes, hole-punching discards and optional `O_DIRECT`.
//! - [`MemoryDevice`] ([`memory`]): sparse pages in memory, for tests and ephemeral tiers.
//!
//! Decorators (each wraps any `D: TierDevice` and is itself a `TierDevice`):
//! - [`EmulatedDevice`] ([`emulate`]): paces requests with the tier's
//!   [`strata_core::DeviceQueueModel`] so a file on one disk behaves like NVMe, SSD or HDD.
//! - [`FaultyDevice`] ([`fault`]): scriptable fault injection (EIO, ENOSPC, latency
//!   spikes, a vanishing device, failing flushes) driven at run time through a
//!   [`FaultHandle`].
//! - [`StatsDevice`] ([`stats`]): lock-free counters and latency histograms.
//!
//! [`conformance`] is the shared test suite every backend and decorator must pass.

mod aligned;
pub mod conformance;
pub mod emulate;
pub mod error;
pub mod fault;
pub mod file;
pub mod memory;
pub mod stats;

pub use emulate::{EmulatedDevice, Pacer};
pub use error::{DeviceError, DeviceErrorKind, DeviceOp};
pub use fault::{FaultCounts, FaultHandle, FaultyDevice};
pub use file::{FileDevice, FileOptions};
pub use memory::MemoryDevice;
pub use stats::{DeviceStatsSnapshot, LatencyHistogram, StatsDevice};

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

    /// Writes all of `buf` at `offset` and makes it durable before returning (NBD `FUA`).
    /// The default writes, then flushes the whole device; backends may do better.
    fn write_at_fua(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.write_at(buf, offset)?;
        self.flush()
    }

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
    fn write_at_fua(&self, buf: &[u8], offset: u64) -> Result<()> {
        (**self).write_at_fua(buf, offset)
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
    fn write_at_fua(&self, buf: &[u8], offset: u64) -> Result<()> {
        (**self).write_at_fua(buf, offset)
    }
    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        (**self).discard(offset, len)
    }
    fn capacity(&self) -> u64 {
        (**self).capacity()
    }
}
