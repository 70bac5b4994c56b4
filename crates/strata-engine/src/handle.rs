//! [`VolumeHandle`]: what an NBD connection (or any user) holds to do I/O on a volume.

use crate::Result;
use crate::access::{AccessBatch, VolumeStats};
use crate::engine::EngineInner;
use crate::volume::{Volume, VolumeInfo};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A cheap, clonable handle to one volume. The volume counts as open (and cannot be
/// deleted) until every clone is dropped. All methods block and may be called from many
/// threads at once.
#[derive(Debug)]
pub struct VolumeHandle {
    engine: Arc<EngineInner>,
    volume: Arc<Volume>,
}

impl VolumeHandle {
    pub(crate) fn new(engine: Arc<EngineInner>, volume: Arc<Volume>) -> Self {
        volume.open_handles.fetch_add(1, Ordering::SeqCst);
        Self { engine, volume }
    }

    pub fn name(&self) -> &str {
        &self.volume.record.name
    }

    pub fn size_bytes(&self) -> u64 {
        self.volume.record.size_bytes
    }

    pub fn extent_size_bytes(&self) -> u64 {
        self.volume.extent_size()
    }

    pub fn info(&self) -> VolumeInfo {
        self.volume.info(&self.engine.tier_names)
    }

    /// Fills `buf` from `offset`; unwritten ranges read as zeros.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.engine.read(&self.volume, offset, buf)
    }

    /// Writes `data` at `offset`. With `fua`, durable (data and map) when it returns.
    ///
    /// A request spanning several extents is not atomic: if a later extent fails (a full
    /// tier, a device error), the earlier ones may hold the new bytes, as on any disk. A
    /// failed allocation leaves no slot behind.
    pub fn write(&self, offset: u64, data: &[u8], fua: bool) -> Result<()> {
        self.engine.write(&self.volume, offset, data, fua)
    }

    /// Makes every write acknowledged so far durable (the whole engine is flushed).
    pub fn flush(&self) -> Result<()> {
        self.volume.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.engine.flush_all()
    }

    /// Frees every extent lying wholly inside the range; partial extents are left as they
    /// are (NBD allows a TRIM to do nothing). Freed extents read as zeros.
    pub fn trim(&self, offset: u64, len: u64) -> Result<()> {
        self.engine
            .unmap_range(&self.volume, offset, len, false, false)
    }

    /// Makes the range read as zeros: whole extents are unmapped, partial pieces of
    /// allocated extents are overwritten with zeros.
    pub fn write_zeroes(&self, offset: u64, len: u64, fua: bool) -> Result<()> {
        self.engine
            .unmap_range(&self.volume, offset, len, true, fua)
    }

    /// Request counters and per-tier read hits.
    pub fn stats(&self) -> VolumeStats {
        self.volume.counters.snapshot(&self.engine.tier_names)
    }

    /// Access events recorded since `cursor` (start with 0), for the heat map.
    pub fn access_events_since(&self, cursor: u64) -> AccessBatch {
        self.volume.access.read_since(cursor)
    }
}

impl Clone for VolumeHandle {
    fn clone(&self) -> Self {
        Self::new(self.engine.clone(), self.volume.clone())
    }
}

impl Drop for VolumeHandle {
    fn drop(&mut self) {
        self.volume.open_handles.fetch_sub(1, Ordering::SeqCst);
    }
}
