//! `strata-policy`: placement policies and the vocabulary they decide in — pure decision
//! code shared by the server and the simulator.
//!
//! A policy ([`PlacementPolicy`]) sees the tiers through a [`TierView`] and foreground
//! [`Access`]es, and answers with a tier for new extents and [`Move`]s. It performs no I/O
//! and reads no clock. The executor contract (what a move may do, what happens to a move into
//! a full tier) is documented on the trait and enforced by [`PlacementMap`], which the
//! simulator executes on and the conformance test checks every policy against.

pub mod disk_time;
mod error;
mod forecast;
mod heat;
mod placement;
mod policies;
mod policy;
mod sequential;
mod tier_queues;
mod types;
mod view;

pub use error::{PolicyError, PolicyErrorKind};
pub use forecast::Forecast;
pub use heat::{HeatConfig, HeatEntry, HeatMap, HeatSample};
pub use placement::{AppliedMove, PlacementMap, Slot, SlotLayout, TierSpec};
pub use policies::{
    AllFast, AllSlow, ArcTier, CostAware, LruPromote, Pin, PolicyConfig, Reservation, Smq,
    StaticFill, Strata, StrataConfig, policy_by_name, policy_names,
};
pub use policy::{PlacementPolicy, TierSizing};
pub use sequential::{RunInfo, SequentialDetector};
pub use tier_queues::{
    CopyDone, CopyId, CopyModel, DEFAULT_MAX_QUEUED_MOVES, DevicePlace, HeldSources, TierQueues,
};
pub use types::{Access, ExtentId, IoKind, Move, MoveReason, MoveRejection, TierId};
pub use view::TierView;

/// The policies' maps and sets keyed by extents, looked up on every access: foldhash, fast
/// and seeded per map, so a guest choosing its offsets cannot aim at collisions the way it
/// could with a fixed hash.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
