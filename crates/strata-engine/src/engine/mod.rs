//! The engine: tiers, the volume registry, the metadata store, and the admin operations
//! (open, create, delete, list, flush, shutdown). The I/O path lives in `volume::io`,
//! durability rules in [`durability`].

mod durability;
mod load;

use crate::access::{AccessBatch, VolumeStats};
use crate::config::EngineConfig;
use crate::placement::{FastestFirst, PlacementHook};
use crate::store_format::{self, VolumeRecord};
use crate::tier::{Tier, TierStatus, open_tier};
use crate::volume::{
    Volume, VolumeInfo, VolumeSpec, validate_volume_geometry, validate_volume_name,
};
use crate::{EngineError, EngineErrorKind, Result, VolumeHandle};
use durability::Pending;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_core::SystemClock;
use strata_device::TierDevice;
use strata_meta::{MetaStore, Op, RedbStore};

/// File name of the embedded metadata store inside the data dir.
pub const META_FILE_NAME: &str = "meta.redb";

/// A running storage engine. Shared between threads; every method blocks.
#[derive(Debug)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
pub(crate) struct EngineInner {
    pub config: EngineConfig,
    pub tiers: Vec<Tier>,
    pub tier_names: Vec<String>,
    pub store: Arc<dyn MetaStore>,
    pub volumes: RwLock<BTreeMap<String, Arc<Volume>>>,
    pub next_volume_id: Mutex<u64>,
    pub pending: Mutex<Pending>,
    /// Serialises flushes (and FUA commits) so changes reach the store in order.
    pub flush_lock: Mutex<()>,
    pub placement: RwLock<Arc<dyn PlacementHook>>,
    /// Lets a flush wait out requests that may still use a slot it is about to free.
    pub io_epochs: crate::epoch::IoEpochs,
    pub shut_down: AtomicBool,
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Engine {
    /// Opens (creating if needed) the tiers and `data_dir/meta.redb`, and loads every
    /// volume and extent map.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            EngineError::new(
                EngineErrorKind::Store,
                "open",
                format!("creating data dir {}", config.data_dir.display()),
            )
            .with_source(e)
        })?;
        let clock: Arc<dyn strata_core::Clock> = Arc::new(SystemClock::new());
        let devices = config
            .tiers
            .iter()
            .map(|tier| open_tier(tier, &config.data_dir, config.emulation, clock.clone()))
            .collect::<Result<Vec<_>>>()?;
        let store = RedbStore::open(config.data_dir.join(META_FILE_NAME))
            .map_err(|e| EngineError::store("open", e))?;
        Self::open_with_devices(config, devices, Arc::new(store))
    }

    /// Opens an engine over devices and a store the caller built (tests: memory or faulty
    /// devices, a memory store). `devices[i]` backs `config.tiers[i]`; `config.data_dir`
    /// is not touched.
    pub fn open_with_devices(
        config: EngineConfig,
        devices: Vec<Arc<dyn TierDevice>>,
        store: Arc<dyn MetaStore>,
    ) -> Result<Arc<Engine>> {
        config.validate()?;
        if devices.len() != config.tiers.len() {
            return Err(EngineError::new(
                EngineErrorKind::InvalidArgument,
                "open",
                format!("{} devices for {} tiers", devices.len(), config.tiers.len()),
            ));
        }
        let tiers: Vec<Tier> = config
            .tiers
            .iter()
            .cloned()
            .zip(devices)
            .map(|(tier, device)| Tier::new(tier, device))
            .collect();
        let tier_names = tiers.iter().map(|t| t.name().to_owned()).collect();
        let inner = EngineInner {
            config,
            tiers,
            tier_names,
            store,
            volumes: RwLock::new(BTreeMap::new()),
            next_volume_id: Mutex::new(1),
            pending: Mutex::new(Pending::default()),
            flush_lock: Mutex::new(()),
            placement: RwLock::new(Arc::new(FastestFirst)),
            io_epochs: crate::epoch::IoEpochs::default(),
            shut_down: AtomicBool::new(false),
        };
        inner.load()?;
        Ok(Arc::new(Engine {
            inner: Arc::new(inner),
        }))
    }

    /// Replaces the placement hook consulted when a write allocates a new extent.
    pub fn set_placement_hook(&self, hook: Arc<dyn PlacementHook>) {
        *self.inner.placement.write() = hook;
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Creates a thin volume; durable when it returns.
    pub fn create_volume(&self, spec: VolumeSpec) -> Result<VolumeInfo> {
        let inner = &self.inner;
        validate_volume_name(&spec.name)?;
        let extent_size_bytes = validate_volume_geometry(&spec)?;
        let pin = match &spec.pin {
            Some(kind) => Some(inner.tier_index(kind).ok_or_else(|| {
                EngineError::new(
                    EngineErrorKind::InvalidArgument,
                    "create_volume",
                    format!("pin names tier {kind}, which is not configured"),
                )
                .with_volume(&spec.name)
            })?),
            None => None,
        };
        let mut volumes = inner.volumes.write();
        if volumes.contains_key(&spec.name) {
            return Err(EngineError::new(
                EngineErrorKind::AlreadyExists,
                "create_volume",
                "a volume of that name exists",
            )
            .with_volume(&spec.name));
        }
        let mut next_id = inner.next_volume_id.lock();
        let record = VolumeRecord {
            id: *next_id,
            name: spec.name.clone(),
            size_bytes: spec.size_bytes,
            extent_size_bytes,
            profile: spec.profile.clone(),
            pin: spec.pin.clone(),
            created_unix_s: now_unix_s(),
        };
        let batch = [
            Op::put(
                store_format::volume_key(&record.name),
                store_format::encode_volume(&record)?,
            ),
            Op::put(
                store_format::NEXT_VOLUME_ID_KEY.to_vec(),
                store_format::encode_u64(record.id + 1),
            ),
        ];
        inner
            .store
            .commit(&batch)
            .map_err(|e| EngineError::store("create_volume", e).with_volume(&spec.name))?;
        *next_id += 1;
        let volume = Arc::new(Volume::new(record, pin, inner.tiers.len()));
        let info = volume.info(&inner.tier_names);
        volumes.insert(spec.name, volume);
        tracing::info!(volume = %info.name, id = info.id, size_bytes = info.size_bytes, "volume created");
        Ok(info)
    }

    /// Deletes a volume and frees its slots; durable when it returns. Fails with `InUse`
    /// while handles are open.
    pub fn delete_volume(&self, name: &str) -> Result<()> {
        let inner = &self.inner;
        let mut volumes = inner.volumes.write();
        let volume = volumes
            .get(name)
            .cloned()
            .ok_or_else(|| not_found("delete_volume", name))?;
        if volume.open_handles.load(Ordering::SeqCst) > 0 {
            return Err(EngineError::new(
                EngineErrorKind::InUse,
                "delete_volume",
                "the volume has open handles",
            )
            .with_volume(name));
        }
        // No flush may commit this volume's queued changes after its keys are gone.
        let _flush = inner.flush_lock.lock();
        let prefix = store_format::map_prefix(volume.record.id);
        let stored = inner
            .store
            .list_prefix(&prefix)
            .map_err(|e| EngineError::store("delete_volume", e).with_volume(name))?;
        let mut batch: Vec<Op> = stored.into_iter().map(|(key, _)| Op::delete(key)).collect();
        batch.push(Op::delete(store_format::volume_key(name)));
        inner
            .store
            .commit(&batch)
            .map_err(|e| EngineError::store("delete_volume", e).with_volume(name))?;
        inner.forget_pending_with_prefix(&prefix);
        let frees = {
            let _map = volume.map_lock.lock();
            let allocated: Vec<_> = volume.map.allocated().collect();
            allocated
                .into_iter()
                .map(|(extent, placement)| {
                    volume.set_placement(extent, None);
                    (placement.tier, placement.slot(volume.slot_order))
                })
                .collect()
        };
        inner.release_slots(frees);
        volumes.remove(name);
        tracing::info!(volume = name, "volume deleted");
        Ok(())
    }

    pub fn list_volumes(&self) -> Vec<VolumeInfo> {
        let inner = &self.inner;
        inner
            .volumes
            .read()
            .values()
            .map(|v| v.info(&inner.tier_names))
            .collect()
    }

    fn volume(&self, op: &'static str, name: &str) -> Result<Arc<Volume>> {
        self.inner
            .volumes
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(op, name))
    }

    pub fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        Ok(self
            .volume("volume_info", name)?
            .info(&self.inner.tier_names))
    }

    /// Request counters and per-tier read hits of a volume.
    pub fn volume_stats(&self, name: &str) -> Result<VolumeStats> {
        let volume = self.volume("volume_stats", name)?;
        Ok(volume.counters.snapshot(&self.inner.tier_names))
    }

    /// Access events of a volume recorded since `cursor` (start with 0).
    pub fn access_events_since(&self, name: &str, cursor: u64) -> Result<AccessBatch> {
        Ok(self
            .volume("access_events", name)?
            .access
            .read_since(cursor))
    }

    /// A handle for I/O; the volume counts as open until every clone is dropped.
    pub fn open_volume(&self, name: &str) -> Result<VolumeHandle> {
        let volumes = self.inner.volumes.read();
        let volume = volumes
            .get(name)
            .ok_or_else(|| not_found("open_volume", name))?;
        Ok(VolumeHandle::new(self.inner.clone(), volume.clone()))
    }

    /// Capacity, occupancy, profile, cost and device counters of every tier, fastest first.
    pub fn tiers(&self) -> Vec<TierStatus> {
        self.inner.tiers.iter().map(Tier::status).collect()
    }

    /// Makes every acknowledged write and map change durable.
    pub fn flush_all(&self) -> Result<()> {
        self.inner.flush_all()
    }

    /// Makes everything durable and refuses further writes (reads still work). Idempotent.
    /// Dropping an engine without it is a crash as far as unflushed changes are concerned.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.shut_down.store(true, Ordering::SeqCst);
        self.inner.flush_all()
    }
}

pub(crate) fn not_found(op: &'static str, name: &str) -> EngineError {
    EngineError::new(EngineErrorKind::NotFound, op, "no such volume").with_volume(name)
}

impl EngineInner {
    pub fn tier_index(&self, kind: &strata_core::TierKind) -> Option<usize> {
        self.tiers.iter().position(|t| &t.config.kind == kind)
    }
}
