//! Tiers at run time: the device stack built from config, the slot allocator, the
//! "saw writes since the last flush" flag that lets FLUSH skip idle devices, and the
//! alignment shim for direct-I/O tiers, and the signals background migration reads:
//! foreground requests in flight, queue delay, and whether the tier is degraded.
//!
//! A direct-I/O file only takes 4 KiB-aligned offsets and lengths, while NBD clients may
//! send 512-byte requests. Unaligned reads go through an aligned bounce buffer; unaligned
//! writes read-modify-write the covering blocks under a striped lock, so two unaligned
//! writes to different bytes of one block cannot undo each other. (An aligned write to the
//! same block overlaps the unaligned one, and overlapping concurrent writes have no defined
//! order in NBD.)

use crate::alloc::{BuddyAllocator, Slot};
use crate::config::{GRANULE_BYTES, TierConfig};
use crate::{EngineError, EngineErrorKind, Result};
use parking_lot::Mutex;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use strata_core::{Clock, DeviceProfile, TierKind};
use strata_device::{
    DeviceStatsSnapshot, EmulatedDevice, FileDevice, FileOptions, StatsDevice, TierDevice,
};

/// Alignment of direct-I/O requests, in bytes.
const DIRECT_IO_ALIGN_BYTES: u64 = 4096;
/// Stripes of the read-modify-write lock.
const RMW_STRIPES: usize = 64;

/// Opens the device stack of one tier from config: the backing file (created sparse if
/// missing), wrapped in the device-model emulation of its profile when `emulation` is on.
/// The engine adds its own statistics layer on top.
pub fn open_tier(
    config: &TierConfig,
    data_dir: &Path,
    emulation: bool,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn TierDevice>> {
    open_tier_probed(config, data_dir, emulation, clock).map(|(device, _)| device)
}

/// Reports how long a request arriving now would queue (the device model's answer).
pub trait QueueProbe: Send + Sync + std::fmt::Debug {
    fn queue_delay_ns(&self) -> u64;
}

impl<D: TierDevice> QueueProbe for EmulatedDevice<D> {
    fn queue_delay_ns(&self) -> u64 {
        EmulatedDevice::queue_delay_ns(self)
    }
}

/// The emulated device's queue model, when the tier is emulated.
pub(crate) type ProbedDevice = Option<Arc<dyn QueueProbe>>;

/// [`open_tier`], plus the emulated device's queue model when emulation is on.
pub(crate) fn open_tier_probed(
    config: &TierConfig,
    data_dir: &Path,
    emulation: bool,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<dyn TierDevice>, ProbedDevice)> {
    let path = config.resolved_path(data_dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            EngineError::new(
                EngineErrorKind::Device,
                "open_tier",
                format!("creating {}", parent.display()),
            )
            .with_tier(config.kind.as_str())
            .with_source(e)
        })?;
    }
    let options = FileOptions::default().with_direct_io(config.direct_io);
    let file = FileDevice::open(&path, config.capacity_bytes, options)
        .map_err(|e| EngineError::device("open_tier", e).with_tier(config.kind.as_str()))?;
    Ok(if emulation {
        let emulated = Arc::new(EmulatedDevice::new(file, config.profile, clock));
        (emulated.clone(), Some(emulated))
    } else {
        (Arc::new(file), None)
    })
}

/// Counts a foreground device call as in flight until dropped.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the mover has seen of a disk's copy requests.
#[derive(Debug, Default)]
pub(crate) struct CopyPace {
    /// Requests that ran alone on the disk, against the profile.
    pub ratio: strata_policy::disk_time::ServiceRatio,
    /// Where the last copy request on the disk ended, and the tier's foreground call count
    /// then: the next one starting there with no foreground call between needs no seek.
    pub last_end: Option<u64>,
    pub calls_at_end: u64,
    /// The operator was told the disk is slower than its profile.
    pub warned: bool,
}

/// A tier as the engine uses it.
#[derive(Debug)]
pub(crate) struct Tier {
    pub config: TierConfig,
    pub device: StatsDevice<Arc<dyn TierDevice>>,
    pub alloc: Mutex<BuddyAllocator>,
    /// Set after a write completes, cleared by the flush that makes it durable.
    pub dirty: AtomicBool,
    /// 1, or 4096 for direct-I/O tiers.
    align_bytes: u64,
    rmw_locks: Box<[Mutex<()>]>,
    /// Foreground device calls in flight; migration yields while it is non-zero.
    pub fg_in_flight: AtomicU64,
    /// Foreground device calls started, ever; migration's disk-time share looks whether it
    /// moves.
    pub fg_calls: AtomicU64,
    /// No longer a migration target after repeated failed moves into it.
    pub degraded: AtomicBool,
    /// Failed moves in a row involving this tier's device.
    pub move_failures: AtomicU32,
    /// How the disk serves copy requests against its profile (disks only).
    pub copy_pace: Mutex<CopyPace>,
    queue_probe: Option<Arc<dyn QueueProbe>>,
}

impl Tier {
    pub fn new(config: TierConfig, device: Arc<dyn TierDevice>) -> Self {
        let granules = config.capacity_bytes.min(device.capacity()) / GRANULE_BYTES;
        Self {
            device: StatsDevice::new(device),
            alloc: Mutex::new(BuddyAllocator::new(granules)),
            dirty: AtomicBool::new(false),
            align_bytes: if config.direct_io {
                DIRECT_IO_ALIGN_BYTES
            } else {
                1
            },
            rmw_locks: (0..RMW_STRIPES).map(|_| Mutex::new(())).collect(),
            fg_in_flight: AtomicU64::new(0),
            fg_calls: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            move_failures: AtomicU32::new(0),
            copy_pace: Mutex::new(CopyPace::default()),
            queue_probe: None,
            config,
        }
    }

    pub fn with_queue_probe(mut self, probe: Option<Arc<dyn QueueProbe>>) -> Self {
        self.queue_probe = probe;
        self
    }

    /// The configured profile, slowed to the speed the disk showed serving copy requests
    /// alone once that is clearly slower ([`strata_policy::disk_time::ServiceRatio::cap_scale`]):
    /// latencies multiplied and bandwidths divided by the ratio. A disk that fits its profile
    /// keeps it.
    pub fn measured_profile(&self) -> DeviceProfile {
        let scale = self.copy_pace.lock().ratio.cap_scale();
        if scale <= 1.0 {
            return self.config.profile;
        }
        self.config.profile.slowed_by(scale)
    }

    /// Queue delay from the device model when emulated; otherwise estimated from the
    /// foreground requests in flight and the profile's read latency and parallelism.
    pub fn queue_delay_ns(&self) -> u64 {
        match &self.queue_probe {
            Some(probe) => probe.queue_delay_ns(),
            None => {
                let profile = &self.config.profile;
                let waiting = self
                    .fg_in_flight
                    .load(Ordering::Relaxed)
                    .saturating_sub(u64::from(profile.parallelism));
                waiting.saturating_mul(profile.access_ns(strata_core::IoKind::Read, false))
            }
        }
    }

    /// The covering aligned range of `[offset, offset + len)`, or `None` when aligned.
    fn widen(&self, offset: u64, len: usize) -> Option<(u64, usize)> {
        let a = self.align_bytes;
        let end = offset + len as u64;
        if offset.is_multiple_of(a) && end.is_multiple_of(a) {
            return None;
        }
        let start = offset / a * a;
        Some((start, (end.div_ceil(a) * a - start) as usize))
    }

    /// A foreground read (counted in `fg_in_flight`).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> strata_device::Result<()> {
        self.fg_calls.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight::enter(&self.fg_in_flight);
        let Some((start, len)) = self.widen(offset, buf.len()) else {
            return self.device.read_at(buf, offset);
        };
        let mut bounce = vec![0u8; len];
        self.device.read_at(&mut bounce, start)?;
        let skip = (offset - start) as usize;
        buf.copy_from_slice(&bounce[skip..skip + buf.len()]);
        Ok(())
    }

    /// A foreground write (counted in `fg_in_flight`).
    pub fn write_at(&self, data: &[u8], offset: u64) -> strata_device::Result<()> {
        self.fg_calls.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight::enter(&self.fg_in_flight);
        let Some((start, len)) = self.widen(offset, data.len()) else {
            return self.device.write_at(data, offset);
        };
        let a = self.align_bytes;
        let stripe = |block: u64| (block / a) as usize % RMW_STRIPES;
        let (first, last) = (stripe(start), stripe(start + len as u64 - a));
        let (low, high) = (first.min(last), first.max(last));
        let _low = self.rmw_locks[low].lock();
        let _high = (high != low).then(|| self.rmw_locks[high].lock());
        let mut bounce = vec![0u8; len];
        self.device.read_at(&mut bounce, start)?;
        let skip = (offset - start) as usize;
        bounce[skip..skip + data.len()].copy_from_slice(data);
        self.device.write_at(&bounce, start)
    }

    pub fn name(&self) -> &str {
        self.config.kind.as_str()
    }

    pub fn capacity_granules(&self) -> u64 {
        self.alloc.lock().capacity_granules()
    }

    pub fn slot_offset_bytes(slot: Slot) -> u64 {
        slot.granule * GRANULE_BYTES
    }

    /// Flushes the device if it saw writes since the last flush.
    pub fn flush_if_dirty(&self) -> Result<()> {
        if self.dirty.swap(false, Ordering::SeqCst)
            && let Err(e) = self.device.flush()
        {
            // Keep the flag so the next FLUSH retries.
            self.dirty.store(true, Ordering::SeqCst);
            return Err(EngineError::device("flush", e).with_tier(self.name()));
        }
        Ok(())
    }

    pub fn status(&self) -> TierStatus {
        let (capacity_granules, used_granules) = {
            let alloc = self.alloc.lock();
            (alloc.capacity_granules(), alloc.used_granules())
        };
        let capacity_bytes = capacity_granules * GRANULE_BYTES;
        let used_bytes = used_granules * GRANULE_BYTES;
        TierStatus {
            kind: self.config.kind.clone(),
            capacity_bytes,
            used_bytes,
            free_bytes: capacity_bytes.saturating_sub(used_bytes),
            slot_granule_bytes: GRANULE_BYTES,
            profile: self.config.profile,
            cost_per_gib_month: self.config.cost_per_gib_month,
            io: TierIoStats::from(self.device.stats()),
            degraded: self.degraded.load(Ordering::Relaxed),
            foreground_in_flight: self.fg_in_flight.load(Ordering::Relaxed),
            queue_delay_us: self.queue_delay_ns() / 1000,
            copy_service_ratio: self.copy_pace.lock().ratio.ratio(),
        }
    }
}

/// What [`crate::Engine::tiers`] reports for one tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierStatus {
    pub kind: TierKind,
    /// Allocatable bytes (the configured capacity rounded down to whole granules).
    pub capacity_bytes: u64,
    /// Bytes held by allocated slots (including slots whose free is not yet durable).
    pub used_bytes: u64,
    pub free_bytes: u64,
    /// Allocation unit; a volume's slots are its extent size, a multiple of this.
    pub slot_granule_bytes: u64,
    pub profile: DeviceProfile,
    pub cost_per_gib_month: f64,
    pub io: TierIoStats,
    /// Repeated failed moves into this tier: it is no longer a migration target (new
    /// extents may still be placed on it). Cleared by `Engine::clear_tier_degraded`.
    pub degraded: bool,
    /// Foreground device calls in flight right now.
    pub foreground_in_flight: u64,
    /// How long a request arriving now would queue (model or estimate).
    pub queue_delay_us: u64,
    /// Disks only: how much slower than the profile the disk served copy requests that ran
    /// alone on it (measured over modelled time, recent requests weighing most); `None`
    /// before [`strata_policy::disk_time::RATIO_MIN_SAMPLES`] of them. From
    /// [`strata_policy::disk_time::RATIO_DEAD_BAND`], the profile does not fit the disk,
    /// and copies are charged at the measured speed.
    pub copy_service_ratio: Option<f64>,
}

/// Device-level counters of a tier (everything the engine sent to it, including zero
/// fills and flushes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TierIoStats {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub discards: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub errors: u64,
    pub read_latency_mean_us: f64,
    pub read_latency_p99_us: u64,
    pub write_latency_mean_us: f64,
    pub write_latency_p99_us: u64,
}

impl From<DeviceStatsSnapshot> for TierIoStats {
    fn from(s: DeviceStatsSnapshot) -> Self {
        Self {
            reads: s.reads,
            writes: s.writes,
            flushes: s.flushes,
            discards: s.discards,
            read_bytes: s.read_bytes,
            write_bytes: s.write_bytes,
            errors: s.errors,
            read_latency_mean_us: s.read_latency.mean_us(),
            read_latency_p99_us: s.read_latency.p99_us(),
            write_latency_mean_us: s.write_latency.mean_us(),
            write_latency_p99_us: s.write_latency.p99_us(),
        }
    }
}
