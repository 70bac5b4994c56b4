//! The predictor family's vocabulary: what a predictor observes ([`Access`]), what it
//! returns ([`Prediction`]), and the [`AccessPredictor`] trait every member implements.

use std::fmt;

use strata_core::IoKind;

use crate::class::WorkloadClass;

/// One access as a predictor sees it, in units of the caller's choosing (4 KiB blocks or
/// 1 MiB extents); predictions come back in the same units and the same block space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access {
    /// The independent stream the access belongs to: a volume or a disk. Predictors keep
    /// per-stream state, so interleaved volumes never look random to each other.
    pub stream: u64,
    pub block: u64,
    /// Arrival time, when the source has a clock; predictors that estimate arrival times
    /// use it, the others ignore it.
    pub time_ns: Option<u64>,
    pub kind: IoKind,
}

impl Access {
    /// A read of `block` on `stream` without a timestamp.
    pub fn read(stream: u64, block: u64) -> Self {
        Self {
            stream,
            block,
            time_ns: None,
            kind: IoKind::Read,
        }
    }
}

/// A block the predictor expects to be accessed soon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub stream: u64,
    pub block: u64,
    /// Estimated probability that the block is accessed within the predictor's horizon,
    /// in 0..=1. Callers compare it against a threshold (see `tuning`).
    pub confidence: f32,
    /// Estimated number of accesses on the stream before this block's access (≥ 1).
    pub expected_in_accesses: u32,
    /// Estimated arrival time of that access, when the predictor has seen timestamps.
    pub expected_time_ns: Option<u64>,
}

/// An access predictor: fed every access of a volume, asked now and then for the blocks
/// it expects next.
///
/// Contract (checked for every member by `tests/conformance.rs`):
/// - [`observe`](Self::observe) is O(1) amortised and allocates nothing once the
///   predictor has warmed up: all tables are bounded and pre-sized, so the engine may call
///   it for every access.
/// - [`predict`](Self::predict) appends at most `max` predictions to `out` (it never
///   clears `out`), all for the stream of the most recent access, never that access's own
///   block, each with `confidence` in 0..=1. Order is the predictor's preference, most
///   useful first. It may be called after every access or at any slower cadence, and may
///   repeat blocks it predicted before: callers skip blocks they already hold.
/// - Same inputs, same outputs: no clocks, no randomness.
///
/// A batched model (an LSTM over a window of accesses) implements the same trait: it
/// buffers in `observe` or overrides [`observe_batch`](Self::observe_batch), and runs the
/// model in `predict`.
pub trait AccessPredictor: Send + fmt::Debug {
    /// The name `--predictor` uses (`readahead`, `stride`, `leap`, `markov`, `auto`, `lstm`).
    fn name(&self) -> &'static str;

    /// Learns from one access.
    fn observe(&mut self, access: &Access);

    /// Learns from accesses in order; the default calls [`observe`](Self::observe) on each.
    fn observe_batch(&mut self, accesses: &[Access]) {
        for access in accesses {
            self.observe(access);
        }
    }

    /// Appends up to `max` predictions for the stream of the latest access to `out`.
    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>);

    /// Tells the predictor which workload class a classifier sees on `stream`; members
    /// that do not use it ignore it.
    fn set_class(&mut self, stream: u64, class: WorkloadClass) {
        let _ = (stream, class);
    }

    /// Tells the predictor, before its first access, how many distinct blocks its streams
    /// address (a volume's extents): tables that need not be larger than that shrink to
    /// fit. Predictors with small fixed state ignore it.
    fn size_for(&mut self, blocks: u64) {
        let _ = blocks;
    }
}

/// Table entries per distinct block when a predictor is sized for a volume
/// ([`AccessPredictor::size_for`]). Markov has about one order-1 and one order-2 context
/// per block of a recurring tour, and `temporal` needs a ring of many tours, since hot
/// blocks stretch a cold block's reuse distance. On the shared traces at 1 MiB, 4 per block
/// (8 for Markov) lost 0.004 of `auto`'s coverage; 16 lost 0.001 (BENCHMARKS.md,
/// "Prefetch mode").
const SIZED_ENTRIES_PER_BLOCK: u64 = 16;
/// The smallest table a predictor is sized down to.
const MIN_SIZED_ENTRIES: usize = 256;

/// How many entries a table of `current` entries (a power of two) keeps when sized for
/// `blocks` distinct blocks: 16 per block, at least 256, a power of two, never more than
/// `current`.
pub(crate) fn sized_entries(blocks: u64, current: usize) -> usize {
    usize::try_from(blocks.saturating_mul(SIZED_ENTRIES_PER_BLOCK))
        .unwrap_or(usize::MAX)
        .max(MIN_SIZED_ENTRIES)
        .min(current)
        .next_power_of_two()
}

/// `block + delta` in the unsigned block space, or `None` when it leaves it.
pub(crate) fn offset_block(block: u64, delta: i64) -> Option<u64> {
    block.checked_add_signed(delta)
}

/// The signed distance from `from` to `to`, saturating at the `i64` range.
pub(crate) fn block_delta(from: u64, to: u64) -> i64 {
    let diff = i128::from(to) - i128::from(from);
    i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX })
}
