//! `strata-engine`: thin, extent-mapped volumes over tier devices.
//!
//! # Shape
//!
//! An [`Engine`] owns the tiers (fastest first), the metadata store and the volumes. Each
//! tier device is cut into slots by a buddy allocator over 64 KiB granules, so volumes with
//! different extent sizes share a tier. Each volume has an extent map (one `AtomicU64` per
//! extent: tier index + slot, or unallocated) that the I/O path reads without locks;
//! allocation happens under a per-volume mutex with a re-check, so two connections writing
//! the same new extent end up with one slot. New extents go where the [`PlacementHook`]
//! says (today: fastest tier with room; a pinned volume only ever uses its pinned tier, and
//! a full pinned tier is `NoSpace`).
//!
//! # Durability
//!
//! Map changes are queued and committed in one [`strata_meta::MetaStore::commit`] by FLUSH,
//! after the tier devices that saw writes have been flushed. FUA flushes the devices it
//! wrote and, if its extent's map entry is not committed yet, runs a full flush. A slot
//! freed by TRIM, WRITE_ZEROES or delete is reused only after the change that freed it is
//! committed and every request that might still hold its old mapping has finished (I/O
//! epochs, see `epoch`). A fresh extent is written whole (data plus zeros), so a recycled slot never
//! shows another volume's bytes. Volume create and delete commit at once. Allocators are not
//! stored: [`Engine::open`] rebuilds them from the maps. The store layout is documented in
//! [`store_format`].
//!
//! # Request semantics
//!
//! Requests past the volume's end fail with `OutOfRange` and change nothing. TRIM frees
//! only extents lying wholly inside its range (NBD lets TRIM do nothing on the rest).
//! WRITE_ZEROES unmaps whole extents and writes zeros into allocated partial ones. On
//! direct-I/O tiers, requests that are not 4 KiB-aligned are served by bounce buffers and
//! read-modify-write (see [`tier`]).
//!
//! # Tiering
//!
//! A placement policy from `strata-policy` (config `placement.policy`, default `static`)
//! chooses tiers for new extents and plans moves; background threads feed it access events
//! and execute its moves under a bandwidth limit, below foreground I/O, with a
//! crash-safe copy → flush → switch → free protocol and a durable migration log (see
//! [`migrate`]). Foreground writes take a striped read lock per extent so the final phase
//! of a move can exclude them briefly. Soft reservations handed in by
//! [`Engine::set_reservations`] keep other volumes' new extents and moves out of the room
//! a tier holds for a volume, whatever the policy (see [`reservation`]).
//!
//! # Observation
//!
//! Every request bumps per-volume counters (including which tier served each read) and
//! records one event per extent touched in a bounded lock-free ring ([`access`]) for the
//! heat map. The live workload profiler ([`profiler`]) watches the same stream from the
//! planner thread: class, demand forecast, deviations and tier profile per volume.

pub mod access;
pub mod alloc;
pub mod config;
mod engine;
mod epoch;
pub mod error;
mod extent_lock;
pub mod extent_map;
mod handle;
pub mod migrate;
pub mod placement;
pub mod prefetch;
pub mod profiler;
pub mod reservation;
pub mod store_format;
pub mod testing;
pub mod tier;
mod volume;

pub use access::{AccessBatch, AccessEvent, AccessKind, VolumeStats};
pub use config::{EngineConfig, GRANULE_BYTES, PairLimit, PlacementConfig, TierConfig};
pub use engine::{Engine, META_FILE_NAME};
pub use error::{EngineError, EngineErrorKind};
pub use handle::VolumeHandle;
pub use migrate::{AccessObserver, MigrationOutcome, MigrationRecord, MigrationStats};
pub use placement::{FastestFirst, PlacementHook, PlacementRequest};
pub use prefetch::{PrefetchConfig, PrefetchCounters, PrefetchStats, VolumePrefetchStats};
pub use profiler::{LiveProfiler, ProfilerConfig, VolumeProfileReport};
pub use reservation::{ReservationHold, ReservationStats, TierReservation};
pub use tier::{TierIoStats, TierStatus, open_tier};
pub use volume::{
    MAX_VOLUME_NAME_LEN, MAX_VOLUME_SIZE_BYTES, VolumeInfo, VolumeSpec, validate_volume_geometry,
    validate_volume_name,
};

/// Result of an engine operation.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
