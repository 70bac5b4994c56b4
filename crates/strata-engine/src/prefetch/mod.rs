//! The prefetcher: per volume, an access predictor from `strata-predict` (default `auto`,
//! seeded by the volume's declared workload class) learns the volume's demand reads in
//! extents and names the extents it expects next; those still on a slower tier are queued
//! and copied up to the fastest tier with room before they are read.
//!
//! Where each part runs:
//! - **Prediction** runs on the tiering planner thread, fed from the access events it
//!   already drains from the volumes' rings (`Prefetcher::observe`, after the placement
//!   policy has seen them), never on the I/O path.
//! - **Queue**: one per volume ([`queue`]), bounded and de-duplicated, ordered by a
//!   priority from the prediction's confidence and expected access distance, the volume's
//!   heat and the free room on the target tier.
//! - **Execution** is the migration executor's: when the placement policy has no move
//!   queued, it takes the most urgent prefetch of any volume ([`exec`]) and runs it as an
//!   ordinary move with reason `prefetch` — the same copy → flush → commit map switch and
//!   log record in one transaction → free protocol (`migrate::mover`), the same token
//!   buckets (plus the prefetch share of the bandwidth), the same yielding to foreground
//!   I/O. So the crash invariants that hold for migration hold for prefetch: the map never
//!   points at a copy that was not made durable, and a racing write is never lost.
//! - **Target**: the fastest tier above the extent's current one whose occupancy stays at
//!   or below `watermark` after the copy. When there is none (the policies keep the fast
//!   tier full), and `evict_idle` is on, a swap ([`evict`]): an extent of the fastest tier
//!   untouched for `horizon_ms` is demoted first and the prefetch takes its slot, so
//!   prefetch never displaces data hotter than what it brings. Unallocated extents,
//!   extents already on the target, pinned volumes and degraded tiers are skipped.
//! - **Self-tuning**: every `epoch_ms` each volume's `strata_predict::PrefetchTuner` sees
//!   that epoch's used and wasted prefetches and the fast tier's pressure, and sets the
//!   prediction depth and confidence threshold — up with precision, down with waste and
//!   pressure, down to off (with periodic probes).
//! - **Measures** ([`measures`]): precision, coverage, timeliness, prefetched and wasted
//!   bytes per volume, summed per predictor by the API.

mod config;
mod evict;
mod exec;
mod measures;
mod queue;
mod recency;
mod stream;

pub use config::{PREDICTOR_BY_CLASS, PrefetchConfig};
pub use measures::PrefetchCounters;

use crate::engine::EngineInner;
use crate::migrate::bucket::TokenBucket;
use crate::volume::Volume;
use crate::{EngineError, EngineErrorKind, Result};
use parking_lot::Mutex;
use queue::{Candidate, Pushed};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use strata_policy::{Access, IoKind};
use strata_predict::PrefetchTuner;
use stream::VolumePrefetch;

/// The prefetcher's state and counters, as `GET /v1/prefetch` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrefetchStats {
    pub enabled: bool,
    /// The configured predictor (`auto`, a predictor name, or `class`).
    pub predictor: String,
    pub bandwidth_share: f64,
    pub watermark: f64,
    /// Summed over every volume, including deleted ones.
    pub totals: PrefetchCounters,
    pub volumes: Vec<VolumePrefetchStats>,
}

/// One volume's prefetching.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumePrefetchStats {
    pub volume: String,
    /// The declared workload class the predictor was seeded with.
    pub class: String,
    /// The predictor this volume runs.
    pub predictor: String,
    /// Extents predicted ahead per round now (0 while the tuner has prefetching off).
    pub depth: usize,
    /// Minimum confidence of a prediction worth prefetching now.
    pub threshold: f32,
    pub tuner_off: bool,
    pub queue_len: usize,
    pub tracked_extents: usize,
    pub counters: PrefetchCounters,
}

/// Everything the prefetcher keeps in the engine.
#[derive(Debug)]
pub(crate) struct Prefetcher {
    config: PrefetchConfig,
    tuner: PrefetchTuner,
    volumes: Mutex<BTreeMap<u64, VolumePrefetch>>,
    /// Counters of volumes deleted since start-up.
    retired: Mutex<PrefetchCounters>,
    /// The prefetch share of the migration bandwidth; `None` = unlimited.
    bucket: Option<Mutex<TokenBucket>>,
    started: Instant,
    next_epoch_ns: Mutex<u64>,
    /// Last touches and the victim search of `evict_idle` (taken after `volumes`, never
    /// before it).
    sweep: Mutex<evict::Sweep>,
}

impl Prefetcher {
    pub fn new(config: PrefetchConfig, placement: &crate::PlacementConfig) -> Result<Self> {
        config.validate()?;
        let tuner = PrefetchTuner::new(config.tuner()).map_err(|e| {
            EngineError::new(EngineErrorKind::InvalidArgument, "config", e.to_string())
        })?;
        let bucket = crate::PlacementConfig::bytes_per_s(placement.migration_mbps).map(|rate| {
            let share = (rate as f64 * config.bandwidth_share) as u64;
            Mutex::new(TokenBucket::new(share.max(1), placement.burst_bytes, 0))
        });
        Ok(Self {
            next_epoch_ns: Mutex::new(config.epoch_ms * 1_000_000),
            config,
            tuner,
            volumes: Mutex::new(BTreeMap::new()),
            retired: Mutex::new(PrefetchCounters::default()),
            bucket,
            started: Instant::now(),
            sweep: Mutex::new(evict::Sweep::default()),
        })
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn state_for<'a>(
        &self,
        volumes: &'a mut BTreeMap<u64, VolumePrefetch>,
        volume: &Volume,
    ) -> &'a mut VolumePrefetch {
        volumes.entry(volume.record.id).or_insert_with(|| {
            VolumePrefetch::new(
                &self.config,
                self.tuner.clone(),
                volume.record.id,
                &volume.record.name,
                volume.record.profile.as_deref(),
                volume.extent_size(),
                volume.map.len(),
            )
        })
    }

    /// These `(volume id, extent)` were touched now (for the idle test of `evict_idle`).
    fn touch(&self, touched: impl IntoIterator<Item = (u64, u64)>) {
        if !self.config.evict_idle {
            return;
        }
        let now_ns = self.now_ns();
        let mut sweep = self.sweep.lock();
        for (volume, extent) in touched {
            sweep
                .recency
                .entry(volume)
                .or_default()
                .touch(extent, now_ns);
        }
    }

    /// Learns from one poll's accesses (planner thread) and queues what the predictors
    /// expect next. Writes are not predicted from: prefetch serves reads; but every
    /// access counts as a touch for the idle test.
    pub fn observe(&self, inner: &EngineInner, accesses: &[Access]) {
        if !self.config.enabled {
            return;
        }
        self.touch(accesses.iter().map(|a| (a.extent.volume, a.extent.index)));
        let by_id = inner.volumes_by_id();
        let mut queued = false;
        let mut volumes = self.volumes.lock();
        for access in accesses.iter().filter(|a| a.kind == IoKind::Read) {
            let Some(volume) = by_id.get(&access.extent.volume) else {
                continue;
            };
            let extent = access.extent.index;
            let state = self.state_for(&mut volumes, volume);
            state
                .measures
                .on_demand_read(extent, volume.map.get(extent).map(|p| p.tier));
            state.epoch_reads += 1;
            if state.queue.remove(extent) {
                state.measures.on_late();
            }
            if let Some((copying, late)) = &mut state.in_flight
                && *copying == extent
                && !*late
            {
                *late = true;
                state.measures.on_late();
            }
            if state.last_read_extent == Some(extent) {
                continue;
            }
            state.last_read_extent = Some(extent);
            state.predictor.observe(&strata_predict::Access {
                stream: volume.record.id,
                block: extent,
                time_ns: Some(access.time_ns),
                kind: IoKind::Read,
            });
            queued |= self.predict(inner, volume, state);
        }
        drop(volumes);
        if queued {
            inner.tiering.cancel.nudge();
        }
    }

    /// Asks the volume's predictor for its next extents and queues the worthwhile ones;
    /// `true` if anything new was queued.
    fn predict(&self, inner: &EngineInner, volume: &Volume, state: &mut VolumePrefetch) -> bool {
        let depth = state.tuner.depth();
        if depth == 0 || volume.pin.is_some() {
            return false;
        }
        let threshold = state.tuner.threshold();
        let mut predictions = std::mem::take(&mut state.scratch);
        predictions.clear();
        state.predictor.predict(depth, &mut predictions);
        let mut queued = false;
        for p in predictions.iter().filter(|p| p.confidence >= threshold) {
            let extent = p.block;
            let Some(placement) = volume.map.get(extent) else {
                continue;
            };
            if state
                .in_flight
                .is_some_and(|(copying, _)| copying == extent)
            {
                continue;
            }
            let free_share =
                match exec::target_tier(inner, volume, placement.tier, self.config.watermark) {
                    Some((_, free_share)) => free_share,
                    // A swap with an idle extent: no room left under the watermark.
                    None if self.swap_target(inner, volume, placement.tier).is_some() => 0.0,
                    None => continue,
                };
            let priority =
                queue::priority(p.confidence, p.expected_in_accesses, state.heat, free_share);
            match state.queue.push(Candidate { extent, priority }) {
                Pushed::Added => queued = true,
                Pushed::Replaced(_) => {
                    queued = true;
                    state.measures.counters.dropped += 1;
                }
                Pushed::Dropped => state.measures.counters.dropped += 1,
                Pushed::Merged => {}
            }
        }
        state.scratch = predictions;
        queued
    }

    /// Ends a tuning epoch when one is due (planner thread): sweeps the measures, updates
    /// the volumes' heat and lets each tuner adjust depth and threshold.
    pub fn end_epoch_if_due(&self, inner: &EngineInner) {
        if !self.config.enabled {
            return;
        }
        let now_ns = self.now_ns();
        {
            let mut next = self.next_epoch_ns.lock();
            if now_ns < *next {
                return;
            }
            *next = now_ns + self.config.epoch_ms * 1_000_000;
        }
        let by_id = inner.volumes_by_id();
        let swapping = self.config.evict_idle && self.sweep.lock().swapping();
        let pressure = exec::pressure(inner, self.config.watermark, swapping);
        let horizon_ns = self.config.horizon_ms * 1_000_000;
        let mut volumes = self.volumes.lock();
        volumes.retain(|id, state| {
            let alive = by_id.contains_key(id);
            if !alive {
                self.retired.lock().add(&state.measures.counters);
            }
            alive
        });
        self.sweep
            .lock()
            .recency
            .retain(|id, _| by_id.contains_key(id));
        let busiest = volumes.values().map(|s| s.epoch_reads).max().unwrap_or(0);
        for (id, state) in volumes.iter_mut() {
            let Some(volume) = by_id.get(id) else {
                continue;
            };
            state
                .measures
                .sweep(now_ns, horizon_ns, |e| volume.map.get(e).map(|p| p.tier));
            if busiest > 0 {
                state.heat = state.epoch_reads as f32 / busiest as f32;
            }
            state.epoch_reads = 0;
            state.end_epoch(pressure);
        }
    }

    pub fn stats(&self) -> PrefetchStats {
        let mut totals = *self.retired.lock();
        let volumes: Vec<VolumePrefetchStats> = self
            .volumes
            .lock()
            .values()
            .map(|s| {
                totals.add(&s.measures.counters);
                VolumePrefetchStats {
                    volume: s.name.clone(),
                    class: s.class.to_string(),
                    predictor: s.predictor.name().to_owned(),
                    depth: s.tuner.depth(),
                    threshold: s.tuner.threshold(),
                    tuner_off: s.tuner.is_off(),
                    queue_len: s.queue.len(),
                    tracked_extents: s.measures.tracked(),
                    counters: s.measures.counters,
                }
            })
            .collect();
        PrefetchStats {
            enabled: self.config.enabled,
            predictor: self.config.predictor.clone(),
            bandwidth_share: self.config.bandwidth_share,
            watermark: self.config.watermark,
            totals,
            volumes,
        }
    }
}
