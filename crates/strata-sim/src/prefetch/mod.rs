//! Prefetch mode (`strata sim --mode prefetch`): replays the canonical block stream through
//! an LRU demand cache of `cache_entries` entries plus an access predictor from
//! `strata-predict` — the same code the engine runs. After every demand access the
//! predictor observes it and is asked for predictions; those at or above the confidence
//! threshold, up to the current depth, are inserted as prefetched entries (at the MRU end,
//! so they can evict). Fully deterministic.
//!
//! Measures (every prefetched block is resolved exactly once: used, evicted unused, or
//! still unused at the end, so `issued = used + wasted`):
//! - **precision** = prefetched blocks demanded before eviction / prefetched blocks
//!   inserted (a prediction of a block already resident is not inserted and not counted);
//! - **coverage** = covered / (covered + misses), where *covered* counts demand accesses
//!   that hit a prefetched, not yet demanded block and *misses* are the demand misses that
//!   remain with prefetching on: the share of would-be misses that prefetching removed;
//! - **timeliness** = used prefetches issued at least `latency_accesses` accesses before
//!   their demand / used prefetches. In a stream model every insert "arrives" before the
//!   next access, so a prefetch is modelled as taking `latency_accesses` accesses to land;
//!   one demanded sooner still counts as a hit (the I/O was in flight) but not as timely;
//! - **wasted_bytes** = (prefetched blocks evicted unused + left unused at the end) × unit.
//!
//! `hits` and `misses` count demand accesses only (`hits + misses = accesses`).

mod cache;
mod run;

pub use run::{
    CanonicalStream, load_canonical_stream, load_canonical_streams, result_row, run_prefetch_on,
    run_prefetch_with, training_accesses,
};

use serde::Serialize;
use strata_predict::{Access, AccessPredictor, EpochOutcome, PrefetchTuner};
/// Re-exported so callers of prefetch mode need no direct dependency on the predictors.
pub use strata_predict::{PredictError, PredictorKind, PredictorModels, TunerConfig};

use crate::stream::disk_of;
use cache::{Demand, PrefetchCache};

/// The tuner backs off when more than this share of an epoch's prefetch benefit was lost to
/// misses prefetching caused. Break-even is 0.5, but once the cache's contents differ from
/// the no-prefetch shadow's, each side misses some blocks the other holds, which pushes the
/// share of a harmless epoch towards 0.5 too; over the shared traces at 1 MiB a limit of
/// 0.5 lost coverage for no lower miss ratio (BENCHMARKS.md, "Prefetch mode").
const PRESSURE_LIMIT: f32 = 0.7;

/// How many predictions are prefetched after each access.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tuning {
    /// A constant depth and confidence threshold: how the baselines run.
    Fixed { depth: usize, threshold: f32 },
    /// The self-tuning state machine of `strata_predict::tuning`, fed every
    /// `epoch_accesses` accesses with that epoch's used and wasted prefetches and, as
    /// pressure, the share of prefetch benefit lost to misses the prefetches caused.
    Adaptive {
        config: TunerConfig,
        epoch_accesses: u64,
    },
}

impl Tuning {
    /// `auto` self-tunes; the other predictors run at a fixed depth of 32 with no
    /// threshold, their own adaptivity (readahead's window, Leap's window) left in charge.
    pub fn default_for(kind: PredictorKind) -> Self {
        match kind {
            PredictorKind::Auto => Tuning::Adaptive {
                config: TunerConfig {
                    pressure_limit: PRESSURE_LIMIT,
                    ..TunerConfig::default()
                },
                epoch_accesses: 1024,
            },
            _ => Tuning::Fixed {
                depth: 32,
                threshold: 0.0,
            },
        }
    }
}

/// One prefetch-mode run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrefetchConfig {
    pub predictor: PredictorKind,
    /// Demand cache capacity in entries (blocks of the stream's unit), at least 1.
    pub cache_entries: usize,
    /// Bytes per block of the stream, for `wasted_bytes`.
    pub unit_bytes: u64,
    /// Accesses a prefetch takes to arrive (see the module docs on timeliness).
    pub latency_accesses: u64,
    pub tuning: Tuning,
}

impl PrefetchConfig {
    /// Defaults: a prefetch latency of 4 accesses and [`Tuning::default_for`].
    pub fn new(predictor: PredictorKind, cache_entries: usize, unit_bytes: u64) -> Self {
        Self {
            predictor,
            cache_entries,
            unit_bytes,
            latency_accesses: 4,
            tuning: Tuning::default_for(predictor),
        }
    }
}

/// Counters of one run; the ratios are methods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefetchStats {
    pub accesses: u64,
    /// Demand hits, including first hits on prefetched blocks.
    pub hits: u64,
    pub misses: u64,
    /// Prefetched blocks inserted into the cache.
    pub prefetch_issued: u64,
    /// Prefetched blocks demanded before eviction (= covered demand accesses).
    pub prefetch_used: u64,
    /// Used prefetches issued at least `latency_accesses` accesses before their demand.
    pub prefetch_timely: u64,
    /// Prefetched blocks evicted unused or still unused at the end.
    pub prefetch_wasted: u64,
    /// Demand misses that the same LRU without prefetching would have hit: the misses
    /// prefetching caused (pollution).
    pub induced_misses: u64,
    /// Demand hits that the same LRU without prefetching would have missed: the misses
    /// prefetching saved.
    pub saved_misses: u64,
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

impl PrefetchStats {
    pub fn precision(&self) -> f64 {
        ratio(self.prefetch_used, self.prefetch_issued)
    }

    pub fn coverage(&self) -> f64 {
        ratio(self.prefetch_used, self.prefetch_used + self.misses)
    }

    pub fn timeliness(&self) -> f64 {
        ratio(self.prefetch_timely, self.prefetch_used)
    }

    pub fn miss_ratio(&self) -> f64 {
        ratio(self.misses, self.accesses)
    }

    pub fn wasted_bytes(&self, unit_bytes: u64) -> u64 {
        self.prefetch_wasted.saturating_mul(unit_bytes)
    }
}

/// One result row of `strata sim --mode prefetch --json` (INTERFACE.md: the cache-mode
/// fields plus `predictor`, `precision`, `coverage`, `timeliness`, `wasted_bytes`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrefetchResult {
    pub predictor: String,
    pub policy: String,
    pub cache_size: usize,
    pub hits: u64,
    pub misses: u64,
    pub miss_ratio: f64,
    pub precision: f64,
    pub coverage: f64,
    pub timeliness: f64,
    pub wasted_bytes: u64,
}

impl PrefetchResult {
    pub fn new(config: &PrefetchConfig, stats: &PrefetchStats) -> Self {
        Self {
            predictor: config.predictor.name().to_owned(),
            policy: "lru".to_owned(),
            cache_size: config.cache_entries.max(1),
            hits: stats.hits,
            misses: stats.misses,
            miss_ratio: stats.miss_ratio(),
            precision: stats.precision(),
            coverage: stats.coverage(),
            timeliness: stats.timeliness(),
            wasted_bytes: stats.wasted_bytes(config.unit_bytes),
        }
    }
}

/// Per-epoch counters for the tuner.
#[derive(Debug, Default)]
struct Epoch {
    accesses: u64,
    used: u64,
    wasted: u64,
    induced: u64,
    saved: u64,
}

/// Replays `stream` (canonical block ids, in order) under `config`. Fails only on an
/// invalid tuner configuration.
pub fn simulate(stream: &[u64], config: &PrefetchConfig) -> Result<PrefetchStats, PredictError> {
    simulate_with(stream, config, config.predictor.build().as_mut())
}

/// [`simulate`] with a predictor the caller built (with a loaded model, or warmed on
/// earlier accesses); `config.predictor` only names the row and picks the tuning.
pub fn simulate_with(
    stream: &[u64],
    config: &PrefetchConfig,
    predictor: &mut dyn AccessPredictor,
) -> Result<PrefetchStats, PredictError> {
    let (mut tuner, epoch_accesses) = match config.tuning {
        Tuning::Fixed { .. } => (None, u64::MAX),
        Tuning::Adaptive {
            config: tuner_config,
            epoch_accesses,
        } => (
            Some(PrefetchTuner::new(tuner_config)?),
            epoch_accesses.max(1),
        ),
    };
    let mut cache = PrefetchCache::new(config.cache_entries);
    // The same LRU without prefetching, to tell the misses prefetching caused from the ones
    // it saved.
    let mut shadow = PrefetchCache::new(config.cache_entries);
    let mut stats = PrefetchStats::default();
    let mut epoch = Epoch::default();
    let mut predictions = Vec::with_capacity(128);
    for (tick, &block) in (0u64..).zip(stream) {
        stats.accesses += 1;
        let (outcome, evicted) = cache.demand(block);
        let shadow_hit = shadow.demand(block).0 != Demand::Miss;
        match (outcome == Demand::Miss, shadow_hit) {
            (true, true) => {
                stats.induced_misses += 1;
                epoch.induced += 1;
            }
            (false, false) => {
                stats.saved_misses += 1;
                epoch.saved += 1;
            }
            _ => {}
        }
        match outcome {
            Demand::Hit => stats.hits += 1,
            Demand::PrefetchHit { issued_at } => {
                stats.hits += 1;
                stats.prefetch_used += 1;
                epoch.used += 1;
                if tick - issued_at >= config.latency_accesses {
                    stats.prefetch_timely += 1;
                }
            }
            Demand::Miss => stats.misses += 1,
        }
        if evicted.is_some_and(|e| e.unused_prefetch) {
            stats.prefetch_wasted += 1;
            epoch.wasted += 1;
        }

        predictor.observe(&Access {
            stream: u64::from(disk_of(block)),
            block,
            time_ns: None,
            kind: strata_core::IoKind::Read,
        });
        let (depth, threshold) = match (&tuner, config.tuning) {
            (Some(tuner), _) => (tuner.depth(), tuner.threshold()),
            (None, Tuning::Fixed { depth, threshold }) => (depth, threshold),
            (None, Tuning::Adaptive { .. }) => (0, 1.0),
        };
        if depth > 0 {
            predictions.clear();
            predictor.predict(depth, &mut predictions);
            for prediction in predictions
                .iter()
                .filter(|p| p.confidence >= threshold)
                .take(depth)
            {
                let Some(evicted) = cache.prefetch(prediction.block, tick) else {
                    continue;
                };
                stats.prefetch_issued += 1;
                if evicted.is_some_and(|e| e.unused_prefetch) {
                    stats.prefetch_wasted += 1;
                    epoch.wasted += 1;
                }
            }
        }

        epoch.accesses += 1;
        if epoch.accesses >= epoch_accesses {
            if let Some(tuner) = tuner.as_mut() {
                let benefit = epoch.saved + epoch.induced;
                let pressure = if benefit == 0 {
                    0.0
                } else {
                    epoch.induced as f32 / benefit as f32
                };
                tuner.end_epoch(&EpochOutcome {
                    used: epoch.used,
                    wasted: epoch.wasted,
                    pressure,
                });
            }
            epoch = Epoch::default();
        }
    }
    stats.prefetch_wasted += cache.unused_prefetches();
    Ok(stats)
}
