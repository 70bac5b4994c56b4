//! The nouns of placement: extents, tiers, observed accesses and the moves policies decide.

use std::fmt;

pub use strata_core::IoKind;

/// One extent of one volume. `index` counts extents of the volume's extent size from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtentId {
    pub volume: u64,
    pub index: u64,
}

impl ExtentId {
    pub const fn new(volume: u64, index: u64) -> Self {
        Self { volume, index }
    }
}

impl fmt::Display for ExtentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.volume, self.index)
    }
}

/// A tier by rank: 0 is the fastest, higher numbers are slower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TierId(pub u8);

impl TierId {
    pub const FASTEST: Self = Self(0);

    pub const fn rank(self) -> usize {
        self.0 as usize
    }

    /// The tiers of the ranks in `ranks`, fastest first (a rank past `u8::MAX` is none).
    pub fn ranks(ranks: std::ops::Range<usize>) -> impl Iterator<Item = TierId> {
        ranks.filter_map(|rank| u8::try_from(rank).ok().map(TierId))
    }
}

impl fmt::Display for TierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tier{}", self.0)
    }
}

/// One foreground access to (part of) one extent, as the I/O path observed it.
///
/// A request that spans several extents produces one `Access` per extent, each carrying the
/// request's `run_bytes`, so a single large request counts as a sequential run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub extent: ExtentId,
    pub kind: IoKind,
    /// When the request arrived (virtual time in the simulator, monotonic time in the engine).
    pub time_ns: u64,
    /// Bytes of the request that fall into this extent.
    pub len_bytes: u64,
    /// Where those bytes start within the extent, when the observer tracks it (the
    /// simulator does, the engine's access ring does not).
    pub offset_in_extent_bytes: Option<u64>,
    /// The request continues a stream that ended exactly where it starts.
    pub sequential: bool,
    /// Length of the sequential run this request belongs to, itself included
    /// (equal to the whole request's length when it starts a new run).
    pub run_bytes: u64,
}

/// Why a move was decided; recorded in the migration log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MoveReason {
    /// Hot data moves to a faster tier.
    Promote,
    /// Cold data moves to a slower tier.
    Demote,
    /// Data leaves a tier to make room for something hotter.
    Evict,
    /// Data predicted to be needed soon moves up before it is accessed.
    Prefetch,
    /// Data moves to even out load or occupancy between tiers.
    Rebalance,
}

impl MoveReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::Demote => "demote",
            Self::Evict => "evict",
            Self::Prefetch => "prefetch",
            Self::Rebalance => "rebalance",
        }
    }
}

/// A decision to copy one extent from one tier to another and switch the map to the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub extent: ExtentId,
    pub from: TierId,
    pub to: TierId,
    pub reason: MoveReason,
}

/// Why an executor refused a move (see the contract on [`crate::PlacementPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MoveRejection {
    /// `from` is not where the extent lives (or the extent is not placed at all).
    WrongSource,
    /// `to` is not a tier of this view, or equals `from`.
    InvalidTarget,
    /// `to` has no free extent slot when the move is applied.
    TargetFull,
    /// Planned moves beyond the bandwidth budget of the planning call.
    OverBudget,
    /// The executor's queue of moves waiting to run is full.
    QueueFull,
    /// Another move of the extent waits in the executor's queue. (A repeat of the very
    /// move queued is counted too, but not refused: that one will still run.)
    AlreadyQueued,
    /// The move waited in the executor's queue longer than its bound and was dropped
    /// unrun: it was decided on accesses that old.
    Expired,
}

impl MoveRejection {
    /// Every reason, in the order counters list them.
    pub const ALL: [MoveRejection; 7] = [
        MoveRejection::WrongSource,
        MoveRejection::InvalidTarget,
        MoveRejection::TargetFull,
        MoveRejection::OverBudget,
        MoveRejection::QueueFull,
        MoveRejection::AlreadyQueued,
        MoveRejection::Expired,
    ];

    /// The reason as metrics and JSON name it (`wrong_source`, `over_budget`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MoveRejection::WrongSource => "wrong_source",
            MoveRejection::InvalidTarget => "invalid_target",
            MoveRejection::TargetFull => "target_full",
            MoveRejection::OverBudget => "over_budget",
            MoveRejection::QueueFull => "queue_full",
            MoveRejection::AlreadyQueued => "already_queued",
            MoveRejection::Expired => "expired",
        }
    }
}
