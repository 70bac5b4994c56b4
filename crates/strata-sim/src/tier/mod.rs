//! The tier simulator (`strata sim --mode tier`): replays a trace in virtual time over
//! per-tier device queue models (`strata_core::DeviceQueueModel`) while a
//! `strata_policy::PlacementPolicy` decides placement — the same policy code the engine runs.
//!
//! * Extents are `--unit` bytes; a request is cut into extent pieces by the canonical
//!   block-stream rule and completes when its last piece completes.
//! * An extent is placed by the policy when first touched (read or write: the replay knows
//!   nothing of data written before the trace began).
//! * `on_access` moves execute right after the triggering request; `plan` runs at every
//!   planning boundary with that interval's migration budget. A move switches the map at
//!   once and starts its copy (read at the source, then write at the destination) on the
//!   same device queues as foreground I/O (`strata_policy::TierQueues`: every request,
//!   copy steps included, reaches its device in arrival order). Until the copy is done, a
//!   foreground access to the extent is served at the copy's source and the source slot
//!   stays taken, as in the engine; a move into room only held by earlier moves starts
//!   once the first of them is done, in its slot.
//! * Deterministic: no randomness, and no hash-map iteration decides anything.

mod config;
mod error;
mod executor;
mod experiment;
mod heat;
mod input;
mod plot;
mod prefetch;
mod replay;
mod stats;

pub use config::{TierSimConfig, TierSizes};
pub use error::{TierError, TierErrorKind};
pub use executor::{ExecutorCounters, Served, SimView, TierEvent, TierExecutor};
pub use experiment::{
    EVENTS_HEADER, TierExperiment, TierTraceRuns, load_tier_input, run_tier_experiment,
    run_tier_with_events, tier_report, tier_row,
};
pub use input::{Piece, TierInput, TierRequest, pieces};
pub use plot::write_tier_plots;
pub use prefetch::TierPrefetchStats;
pub use replay::{simulate_policy, simulate_tier, simulate_tier_with_events};
pub use stats::{CdfPoint, IntervalPoint, PrefetchMeasures, TierResult, TierRun};
pub use strata_policy::disk_time::DEFAULT_SHARE as DEFAULT_DISK_TIME_SHARE;
pub use strata_policy::{CopyModel, DEFAULT_MAX_QUEUED_MOVES, PolicyConfig, policy_names};
