//! Tier mode with prefetch on (`strata sim --mode tier --predictor LIST`): the engine's
//! prefetcher (`strata-engine` `prefetch/`) in virtual time, next to the placement policy.
//!
//! * After every extent access (once the policy has seen it) the predictor observes it —
//!   stream = volume, block = extent index — and names the extents it expects next, up to
//!   the tuner's depth and above its confidence threshold (`auto` self-tunes every
//!   [`EPOCH_ACCESSES`]; the others run at a fixed depth of 32, as in prefetch mode).
//! * A predicted extent that is placed, not on the fastest tier and not being copied moves
//!   up to the fastest tier above it whose occupancy stays at or below [`WATERMARK`] after
//!   the copy, as in the engine. Unlike the engine, when the fastest tier has no such room
//!   the prefetcher may make it: it demotes the extent of that tier accessed least recently
//!   (to the slowest tier), but only one not accessed for [`HORIZON_NS`] — colder than any
//!   prefetch, which is wasted if not accessed within that time. The policies fill the
//!   fastest tier, so without this a prefetcher that only takes free room does nothing once
//!   it is full. Copies are ordinary moves through the same device queues as every other
//!   one, within a token bucket of [`BANDWIDTH_SHARE`] of the migration bandwidth (the
//!   engine's `bandwidth_share` default); an eviction and its prefetch take two extents.
//!   As in the engine, the tuner sees the fast tier's fill pressure only once a search for
//!   a cold extent came up empty: while prefetches can take cold extents' slots, a full
//!   fast tier crowds out nothing hotter than them.
//! * Measures, as in prefetch mode: a prefetched extent is *used* when it is accessed while
//!   still on (or being copied to) the tier it was brought to, and *timely* when its copy
//!   was done by then; it is *wasted* when the policy moves it away first, when
//!   [`HORIZON_NS`] of trace time pass without an access (the engine's `horizon_ms`), or when
//!   the trace ends. Precision = used / issued; coverage = used accesses served by the
//!   fastest tier / (those + accesses the fastest tier missed); timeliness = timely / used;
//!   `wasted_bytes` = wasted × unit.

use super::config::TokenBucket;
use super::stats::ratio;
use super::{TierError, TierExecutor};
use std::collections::{BTreeSet, HashMap, VecDeque};
use strata_core::IoKind;
use strata_policy::{ExtentId, Move, MoveReason, TierId, TierView};
use strata_predict::{
    Access, AccessPredictor, EpochOutcome, Prediction, PredictorKind, PrefetchTuner, TunerConfig,
    fill_pressure,
};

/// Accesses per tuning epoch of `auto` (prefetch mode's default).
pub const EPOCH_ACCESSES: u64 = 1024;
/// Depth of the predictors that do not self-tune (prefetch mode's baselines).
pub const FIXED_DEPTH: usize = 32;
/// A prefetch fills a tier only while its occupancy stays at or below this share.
pub const WATERMARK: f64 = 0.9;
/// Share of the migration bandwidth prefetch copies may use.
pub const BANDWIDTH_SHARE: f64 = 0.5;
/// A prefetched extent not accessed within this much trace time is wasted.
pub const HORIZON_NS: u64 = 30_000_000_000;

/// What the prefetches of one replay achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierPrefetchStats {
    /// Prefetch moves executed.
    pub issued: u64,
    pub used: u64,
    /// Used prefetches whose copy was done before the access.
    pub timely: u64,
    /// Used prefetches served by the fastest tier.
    pub used_fast: u64,
    pub wasted: u64,
    /// Cold extents demoted to make room for a prefetch.
    pub evicted: u64,
}

impl TierPrefetchStats {
    pub fn precision(&self) -> f64 {
        ratio(self.used, self.issued)
    }

    /// Share of the fastest tier's would-be misses that prefetching removed, given the
    /// misses that remained.
    pub fn coverage(&self, fast_misses: u64) -> f64 {
        ratio(self.used_fast, self.used_fast + fast_misses)
    }

    pub fn timeliness(&self) -> f64 {
        ratio(self.timely, self.used)
    }
}

#[derive(Debug, Clone, Copy)]
struct Prefetched {
    tier: TierId,
    issued_ns: u64,
}

#[derive(Debug, Default)]
struct Epoch {
    accesses: u64,
    used: u64,
    wasted: u64,
}

/// The prefetcher of one replay.
#[derive(Debug)]
pub(crate) struct TierPrefetcher {
    kind: PredictorKind,
    predictor: Box<dyn AccessPredictor>,
    tuner: Option<PrefetchTuner>,
    bucket: TokenBucket,
    unit_bytes: u64,
    outstanding: HashMap<ExtentId, Prefetched>,
    /// Prefetches in the order issued, for the horizon.
    order: VecDeque<(u64, ExtentId)>,
    epoch: Epoch,
    stats: TierPrefetchStats,
    predictions: Vec<Prediction>,
    /// Last access of every accessed extent, and the same ordered oldest first: the
    /// eviction candidates. An entry found off the fastest tier is dropped (its next
    /// access adds it back).
    last_access: HashMap<ExtentId, u64>,
    by_recency: BTreeSet<(u64, ExtentId)>,
    /// Whether the last eviction search found a victim (`None` before the first): while
    /// prefetches can take cold extents' slots, a full fast tier is no pressure on them.
    last_found: Option<bool>,
}

impl TierPrefetcher {
    pub(crate) fn new(
        kind: PredictorKind,
        unit_bytes: u64,
        migration_bytes_per_s: u64,
    ) -> Result<Self, TierError> {
        let tuner = match kind {
            PredictorKind::Auto => Some(
                PrefetchTuner::new(TunerConfig::default())
                    .map_err(|e| TierError::invalid(e.to_string()))?,
            ),
            _ => None,
        };
        let rate = (migration_bytes_per_s as f64 * BANDWIDTH_SHARE) as u64;
        Ok(Self {
            kind,
            predictor: kind.build(),
            tuner,
            // A second's worth, and at least one extent.
            bucket: TokenBucket::new(rate.max(1), rate.max(unit_bytes)),
            unit_bytes,
            outstanding: HashMap::new(),
            order: VecDeque::new(),
            epoch: Epoch::default(),
            stats: TierPrefetchStats::default(),
            predictions: Vec::with_capacity(FIXED_DEPTH),
            last_access: HashMap::new(),
            by_recency: BTreeSet::new(),
            last_found: None,
        })
    }

    pub(crate) fn kind(&self) -> PredictorKind {
        self.kind
    }

    /// A foreground access to `extent`, arriving at `arrival_ns`, before it is served:
    /// resolves a prefetch of it.
    pub(crate) fn demand(
        &mut self,
        executor: &mut TierExecutor,
        extent: ExtentId,
        arrival_ns: u64,
    ) {
        let Some(prefetched) = self.outstanding.remove(&extent) else {
            return;
        };
        if executor.map().location(extent) != Some(prefetched.tier) {
            self.waste();
            return;
        }
        self.stats.used += 1;
        self.epoch.used += 1;
        if executor.copy_done_ns(extent, arrival_ns).is_none() {
            self.stats.timely += 1;
        }
        if prefetched.tier == TierId::FASTEST {
            self.stats.used_fast += 1;
        }
    }

    fn waste(&mut self) {
        self.stats.wasted += 1;
        self.epoch.wasted += 1;
    }

    /// After the policy has seen an access: the predictor learns it, and the extents it
    /// names move up. Returns the bytes copied.
    pub(crate) fn after_access(
        &mut self,
        executor: &mut TierExecutor,
        extent: ExtentId,
        kind: IoKind,
        arrival_ns: u64,
    ) -> u64 {
        self.expire(arrival_ns);
        if let Some(previous) = self.last_access.insert(extent, arrival_ns) {
            self.by_recency.remove(&(previous, extent));
        }
        self.by_recency.insert((arrival_ns, extent));
        self.predictor.observe(&Access {
            stream: extent.volume,
            block: extent.index,
            time_ns: Some(arrival_ns),
            kind,
        });
        self.end_epoch_if_due(executor);
        let (depth, threshold) = match &self.tuner {
            Some(tuner) => (tuner.depth(), tuner.threshold()),
            None => (FIXED_DEPTH, 0.0),
        };
        if depth == 0 {
            return 0;
        }
        self.predictions.clear();
        self.predictor.predict(depth, &mut self.predictions);
        let mut copied = 0;
        for index in 0..self.predictions.len().min(depth) {
            let prediction = self.predictions[index];
            if prediction.confidence < threshold {
                continue;
            }
            let target = ExtentId::new(prediction.stream, prediction.block);
            if self.outstanding.contains_key(&target) {
                continue;
            }
            let Some(from) = executor.map().location(target) else {
                continue; // never written: nothing to copy
            };
            if executor.copy_done_ns(target, arrival_ns).is_some() {
                continue;
            }
            let (to, victim) = match target_tier(executor, from) {
                Some(to) => (to, None),
                None if from != TierId::FASTEST => match self.cold_victim(executor, arrival_ns) {
                    Some(victim) => (TierId::FASTEST, Some(victim)),
                    None => continue,
                },
                None => continue,
            };
            let bytes = self.unit_bytes * if victim.is_some() { 2 } else { 1 };
            if !self.bucket.try_take(arrival_ns, bytes) {
                break;
            }
            if let Some(victim) = victim {
                let eviction = Move {
                    extent: victim,
                    from: TierId::FASTEST,
                    to: executor.map().slowest(),
                    reason: MoveReason::Evict,
                };
                if executor.execute(arrival_ns, &eviction).is_err() {
                    continue;
                }
                self.stats.evicted += 1;
                copied += self.unit_bytes;
            }
            let mv = Move {
                extent: target,
                from,
                to,
                reason: MoveReason::Prefetch,
            };
            if executor.execute(arrival_ns, &mv).is_ok() {
                self.stats.issued += 1;
                copied += self.unit_bytes;
                self.outstanding.insert(
                    target,
                    Prefetched {
                        tier: to,
                        issued_ns: arrival_ns,
                    },
                );
                self.order.push_back((arrival_ns, target));
            }
        }
        copied
    }

    /// The fastest tier's least recently accessed extent, if it was last accessed more
    /// than [`HORIZON_NS`] before `now_ns` and is not being copied.
    fn cold_victim(&mut self, executor: &mut TierExecutor, now_ns: u64) -> Option<ExtentId> {
        let found = self.find_cold_victim(executor, now_ns);
        self.last_found = Some(found.is_some());
        found
    }

    fn find_cold_victim(&mut self, executor: &mut TierExecutor, now_ns: u64) -> Option<ExtentId> {
        while let Some(&(last_ns, extent)) = self.by_recency.first() {
            if last_ns.saturating_add(HORIZON_NS) > now_ns {
                return None;
            }
            let on_fastest = executor.map().location(extent) == Some(TierId::FASTEST);
            if on_fastest
                && !self.outstanding.contains_key(&extent)
                && executor.copy_done_ns(extent, now_ns).is_none()
            {
                return Some(extent);
            }
            // Off the fastest tier (or busy): not a candidate until its next access.
            self.by_recency.pop_first();
            self.last_access.remove(&extent);
        }
        None
    }

    /// Prefetches older than the horizon that nobody accessed are wasted.
    fn expire(&mut self, now_ns: u64) {
        while let Some(&(issued_ns, extent)) = self.order.front() {
            if issued_ns.saturating_add(HORIZON_NS) > now_ns {
                break;
            }
            self.order.pop_front();
            if self
                .outstanding
                .get(&extent)
                .is_some_and(|p| p.issued_ns == issued_ns)
            {
                self.outstanding.remove(&extent);
                self.waste();
            }
        }
    }

    fn end_epoch_if_due(&mut self, executor: &TierExecutor) {
        self.epoch.accesses += 1;
        if self.epoch.accesses < EPOCH_ACCESSES {
            return;
        }
        if let Some(tuner) = self.tuner.as_mut() {
            tuner.end_epoch(&EpochOutcome {
                used: self.epoch.used,
                wasted: self.epoch.wasted,
                pressure: if self.last_found == Some(false) {
                    pressure(executor)
                } else {
                    0.0
                },
            });
        }
        self.epoch = Epoch::default();
    }

    /// The end of the replay: what is still unused is wasted.
    pub(crate) fn finish(mut self) -> TierPrefetchStats {
        self.stats.wasted += self.outstanding.len() as u64;
        self.stats
    }
}

/// The fastest tier faster than `current` whose occupancy stays at or below the watermark
/// after taking one more extent (an unbounded tier always has room).
fn target_tier(executor: &TierExecutor, current: TierId) -> Option<TierId> {
    let view = executor.map();
    TierId::ranks(0..current.rank()).find(|&tier| {
        view.capacity_extents(tier).is_none_or(|capacity| {
            (view.used_extents(tier) + 1) as f64 <= capacity as f64 * WATERMARK
        })
    })
}

/// Fast-tier pressure for the tuner, as the engine computes it (when no swap is possible).
fn pressure(executor: &TierExecutor) -> f32 {
    let view = executor.map();
    match view.capacity_extents(TierId::FASTEST) {
        None => 0.0,
        Some(capacity) => {
            let occupancy = view.used_extents(TierId::FASTEST) as f64 / capacity.max(1) as f64;
            fill_pressure(occupancy, WATERMARK)
        }
    }
}
