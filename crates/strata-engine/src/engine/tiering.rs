//! The engine's public tiering API: migration log and stats, manual moves, planning on
//! demand, degraded tiers and access observers. The machinery is in `crate::migrate`.

use super::{Engine, not_found};
use crate::migrate::log::MigrationLog;
use crate::migrate::{AccessObserver, MigrationRecord, MigrationStats};
use crate::{EngineError, EngineErrorKind, Result};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use strata_core::TierKind;
use strata_policy::{ExtentId, Move, MoveReason, TierId};

impl Engine {
    /// Executed moves, newest first, optionally of one volume only.
    pub fn migration_log(
        &self,
        volume: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MigrationRecord>> {
        MigrationLog::read(self.inner.store.as_ref(), volume, limit)
    }

    /// Counters of background migration, queue length and degraded tiers.
    pub fn migration_stats(&self) -> MigrationStats {
        let degraded = self
            .inner
            .tiers
            .iter()
            .filter(|t| t.degraded.load(Ordering::Relaxed))
            .map(|t| t.config.kind.clone())
            .collect();
        self.inner.tiering.stats(degraded)
    }

    /// Moves one extent to `to` now, in the calling thread, with the same protocol,
    /// bandwidth limit and log as background moves (reason `manual` unless given).
    /// Fails with `InvalidArgument` when the move breaks the executor contract (extent not
    /// allocated, same or unknown or degraded or full target, pinned volume).
    pub fn migrate_extent(
        &self,
        volume: &str,
        extent: u64,
        to: &TierKind,
    ) -> Result<MigrationRecord> {
        let inner = &self.inner;
        let by_id = inner.volumes_by_id();
        let vol = by_id
            .values()
            .find(|v| v.record.name == volume)
            .cloned()
            .ok_or_else(|| not_found("migrate_extent", volume))?;
        let to_index = inner.tier_index(to).ok_or_else(|| {
            EngineError::new(
                EngineErrorKind::NotFound,
                "migrate_extent",
                format!("no tier {to}"),
            )
        })?;
        let from = vol.map.get(extent).map_or(to_index, |p| p.tier);
        let rank = |i: usize| TierId(u8::try_from(i).unwrap_or(u8::MAX));
        let mv = Move {
            extent: ExtentId::new(vol.record.id, extent),
            from: rank(from),
            to: rank(to_index),
            reason: MoveReason::Rebalance,
        };
        let mut job = crate::migrate::resolve(inner, &mv).map_err(|why| {
            EngineError::new(
                EngineErrorKind::InvalidArgument,
                "migrate_extent",
                format!("move refused: {why:?}"),
            )
            .with_volume(volume)
            .with_extent(extent)
        })?;
        job.reason = crate::migrate::MANUAL_REASON;
        inner.migrate_now(&job)
    }

    /// The tier an extent lives on, or `None` when it is unallocated.
    pub fn extent_tier(&self, volume: &str, extent: u64) -> Result<Option<TierKind>> {
        let vol = self.volume("extent_tier", volume)?;
        Ok(vol
            .map
            .get(extent)
            .map(|p| self.inner.tiers[p.tier].config.kind.clone()))
    }

    /// Hands the placement policy the latest per-extent heat forecast (replacing the
    /// previous one); policies that use none ignore it.
    pub fn observe_heat_forecast(&self, forecast: &strata_policy::Forecast) {
        self.inner.tiering.policy.lock().observe_forecast(forecast);
    }

    /// The placement policy's heat half-life: forecasts count visits over it.
    pub fn heat_half_life_ns(&self) -> u64 {
        self.inner.tiering.heat_half_life_ns
    }

    /// Runs one planning round now (as the planner does every `plan_interval_ms`).
    pub fn plan_now(&self) {
        crate::migrate::plan_once(&self.inner);
    }

    /// Makes a degraded tier a migration target again (after the operator fixed it).
    pub fn clear_tier_degraded(&self, kind: &TierKind) -> Result<()> {
        let tier = self
            .inner
            .tier_index(kind)
            .and_then(|i| self.inner.tiers.get(i))
            .ok_or_else(|| {
                EngineError::new(
                    EngineErrorKind::NotFound,
                    "clear_tier_degraded",
                    format!("no tier {kind}"),
                )
            })?;
        tier.move_failures.store(0, Ordering::Relaxed);
        tier.degraded.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// The prefetcher's configuration, tuner state and measures, per volume and in total.
    pub fn prefetch_stats(&self) -> crate::PrefetchStats {
        self.inner.prefetch.stats()
    }

    /// Registers an observer of the access stream the policy sees (e.g. a heat map).
    pub fn add_access_observer(&self, observer: Arc<dyn AccessObserver>) {
        self.inner.access_observers.write().push(observer);
    }
}
