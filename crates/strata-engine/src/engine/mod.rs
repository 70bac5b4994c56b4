//! The engine: tiers, the volume registry, the metadata store, and the admin operations
//! (open, create, delete, list, flush, shutdown). The I/O path lives in `volume::io`,
//! durability rules in [`durability`], background tiering in `crate::migrate`; its
//! public face (log, stats, manual moves) is in [`tiering`].

mod durability;
mod load;
mod tiering;

pub(crate) use durability::DRAIN_TIMEOUT;

use crate::access::{AccessBatch, VolumeStats};
use crate::config::EngineConfig;
use crate::extent_lock::ExtentLocks;
use crate::migrate::log::MigrationLog;
use crate::migrate::view::{PolicyHook, SharedPolicy, VolumesById};
use crate::migrate::{AccessObserver, Tiering};
use crate::placement::{FastestFirst, PlacementHook};
use crate::store_format::{self, VolumeRecord};
use crate::tier::{QueueProbe, Tier, TierStatus, open_tier_probed};
use crate::volume::{
    Volume, VolumeInfo, VolumeSpec, validate_volume_geometry, validate_volume_name,
};
use crate::{EngineError, EngineErrorKind, Result, VolumeHandle};
use durability::Pending;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Foreground writes against the final phase of a migration.
    pub extent_locks: ExtentLocks,
    pub tiering: Tiering,
    /// Copy-on-write id → volume index for the policy view (a leaf lock, safe to take
    /// under a volume's map lock).
    pub volumes_by_id: RwLock<VolumesById>,
    /// The extent size the policy view counts tiers in
    /// ([`crate::migrate::view::view_extent_bytes`] of the published volumes).
    pub view_extent_bytes: AtomicU64,
    pub access_observers: RwLock<Vec<Arc<dyn AccessObserver>>>,
    pub prefetch: crate::prefetch::Prefetcher,
    /// This server's soft reservations and the counters of their effect.
    pub reservations: crate::reservation::Reservations,
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Engine {
    /// The engine's internals, for the crate's own tests.
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &Arc<EngineInner> {
        &self.inner
    }

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
        let (devices, probes): (Vec<_>, Vec<_>) = config
            .tiers
            .iter()
            .map(|tier| open_tier_probed(tier, &config.data_dir, config.emulation, clock.clone()))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        let store = RedbStore::open(config.data_dir.join(META_FILE_NAME))
            .map_err(|e| EngineError::store("open", e))?;
        Self::open_inner(config, devices, probes, Arc::new(store))
    }

    /// Opens an engine over devices and a store the caller built (tests: memory or faulty
    /// devices, a memory store). `devices[i]` backs `config.tiers[i]`; `config.data_dir`
    /// is not touched.
    pub fn open_with_devices(
        config: EngineConfig,
        devices: Vec<Arc<dyn TierDevice>>,
        store: Arc<dyn MetaStore>,
    ) -> Result<Arc<Engine>> {
        let probes = vec![None; devices.len()];
        Self::open_inner(config, devices, probes, store)
    }

    fn open_inner(
        config: EngineConfig,
        devices: Vec<Arc<dyn TierDevice>>,
        probes: Vec<Option<Arc<dyn QueueProbe>>>,
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
            .zip(probes)
            .map(|((tier, device), probe)| Tier::new(tier, device).with_queue_probe(probe))
            .collect();
        let tier_names = tiers.iter().map(|t| t.name().to_owned()).collect();
        // `strata`'s shadows start their copies as this engine's mover does.
        let policy_config =
            strata_policy::PolicyConfig::default().with_copies(strata_policy::CopyModel::Mover {
                disk_time_share: config.placement.disk_time_share,
                max_queued: config.placement.max_queued_moves,
            });
        let mut policy = strata_policy::policy_by_name(&config.placement.policy, &policy_config)
            .map_err(|e| {
                EngineError::new(EngineErrorKind::InvalidArgument, "open", e.to_string())
            })?;
        let clock_base_ns = crate::migrate::state::load(store.as_ref(), policy.as_mut())?;
        let policy: SharedPolicy = Arc::new(Mutex::new(policy));
        let tier_kinds: Vec<_> = config.tiers.iter().map(|t| t.kind.clone()).collect();
        let log = MigrationLog::open(store.as_ref(), config.placement.log_max_records)?;
        let tiering = Tiering::new(
            config.placement.clone(),
            policy.clone(),
            policy_config.strata.heat.half_life_ns,
            &tier_kinds,
            log,
            clock_base_ns,
        );
        let prefetch =
            crate::prefetch::Prefetcher::new(config.prefetch.clone(), &config.placement)?;
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
            extent_locks: ExtentLocks::default(),
            tiering,
            volumes_by_id: RwLock::new(Arc::default()),
            view_extent_bytes: AtomicU64::new(strata_core::DEFAULT_EXTENT_SIZE),
            access_observers: RwLock::new(Vec::new()),
            prefetch,
            reservations: crate::reservation::Reservations::default(),
        };
        inner.load()?;
        crate::migrate::state::hand_over_placement(&inner);
        let inner = Arc::new(inner);
        // `static` keeps today's rule exactly (fastest tier with room); any other policy
        // decides where new extents go.
        if inner.config.placement.policy != "static" {
            *inner.placement.write() = Arc::new(PolicyHook::new(Arc::downgrade(&inner), policy));
        }
        crate::migrate::start(&inner).map_err(|e| {
            EngineError::new(EngineErrorKind::Device, "open", "starting tiering threads")
                .with_source(e)
        })?;
        Ok(Arc::new(Engine { inner }))
    }

    /// Replaces the placement hook consulted when a write allocates a new extent.
    pub fn set_placement_hook(&self, hook: Arc<dyn PlacementHook>) {
        *self.inner.placement.write() = hook;
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The engine's metadata store, so a single server's control plane can keep its records
    /// (under `ctl/`, apart from the engine's `vol/`, `map/` and `miglog/`) in the same file.
    pub fn store(&self) -> Arc<dyn MetaStore> {
        Arc::clone(&self.inner.store)
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
        inner.publish_volumes(&volumes);
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
        inner.publish_volumes(&volumes);
        drop(volumes);
        let deleted = volume.record.id;
        inner
            .tiering
            .policy
            .lock()
            .retain_volumes(&|id| id != deleted);
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

    /// Replaces this server's soft reservations: each hold keeps `bytes` of its tier for
    /// its volume (by name; the volume need not exist yet). Other volumes' new extents and
    /// background moves stay out of what a tier holds and the reserving volume has not
    /// filled yet; holds on tiers this engine lacks are ignored. The `strata` policy gets
    /// the same reservations for its own planning. Returns the (volume, tier) entries now
    /// enforced. See [`crate::reservation`] for the rule.
    pub fn set_reservations(&self, holds: &[crate::ReservationHold]) -> usize {
        self.inner.set_reservations(holds)
    }

    /// The reservations in force per tier and the counters of placements and moves they
    /// redirected or skipped.
    pub fn reservation_stats(&self) -> crate::ReservationStats {
        self.inner.reservation_stats()
    }

    /// Makes every acknowledged write and map change durable.
    pub fn flush_all(&self) -> Result<()> {
        self.inner.flush_all()
    }

    /// Makes everything durable and refuses further writes (reads still work). Idempotent.
    /// Dropping an engine without it is a crash as far as unflushed changes are concerned.
    ///
    /// Background tiering is cancelled first and waited for: a move in progress either
    /// completes its map switch or leaves the extent where it was, never half-done.
    pub fn shutdown(&self) -> Result<()> {
        self.inner.stop_tiering();
        self.inner.shut_down.store(true, Ordering::SeqCst);
        let saved = crate::migrate::state::save(self.inner.store.as_ref(), &self.inner.tiering);
        self.inner.flush_all()?;
        saved
    }
}

impl Engine {
    /// Cancels background tiering and waits for it, flushing nothing (a move in progress
    /// is abandoned before its map switch). Shutdown and drop do this too.
    pub fn stop_background(&self) {
        self.inner.stop_tiering();
    }
}

impl Drop for Engine {
    /// Stops the background threads (they hold the engine's state alive); unlike
    /// [`Engine::shutdown`] nothing is flushed.
    fn drop(&mut self) {
        self.inner.stop_tiering();
    }
}

pub(crate) fn not_found(op: &'static str, name: &str) -> EngineError {
    EngineError::new(EngineErrorKind::NotFound, op, "no such volume").with_volume(name)
}

impl EngineInner {
    pub fn volumes_by_id(&self) -> VolumesById {
        self.volumes_by_id.read().clone()
    }

    /// Rebuilds the id index; callers hold the `volumes` write lock. A volume that holds a
    /// reservation gets (or loses) its id, so the policy's copy is refreshed.
    pub fn publish_volumes(&self, volumes: &BTreeMap<String, Arc<Volume>>) {
        let by_id = volumes.values().map(|v| (v.record.id, v.clone())).collect();
        self.view_extent_bytes.store(
            crate::migrate::view::view_extent_bytes(&by_id),
            Ordering::Relaxed,
        );
        *self.volumes_by_id.write() = Arc::new(by_id);
        if self.reservations.any() {
            self.feed_policy_reservations();
        }
    }

    pub fn stop_tiering(&self) {
        self.tiering.gate.close(&self.tiering.cancel);
    }

    pub fn tier_index(&self, kind: &strata_core::TierKind) -> Option<usize> {
        self.tiers.iter().position(|t| &t.config.kind == kind)
    }
}
