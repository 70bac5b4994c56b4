//! The live workload profiler: every volume's access stream, all the time, off the I/O
//! path. It is an [`AccessObserver`], so the engine's planner thread hands it the same
//! accesses the placement policy sees; per volume it keeps a `WindowProfiler` from
//! `strata-predict` and, when a window of `window_s` ends, classifies it (the shipped
//! model, with the VM manager's posted application type as a prior when the classifier
//! is unsure), forecasts the next window's demand with a deviation band, and derives the
//! tier profile from the window's miss-ratio curve and the tiers' device profiles.
//!
//! When a window's observed demand leaves the band forecast for it, the event is logged
//! and counted and the placement policy re-plans at once ([`Engine::plan_now`]) instead
//! of waiting for its interval. The learning loop ([`LiveProfiler::learn_once`], driven
//! by the server under a duty-cycle cap) refits the forecaster from the volumes' recent
//! windows and swaps it in only if it scores better on held-out windows.
//!
//! Memory is bounded per volume (one window's profiler, a capped extent set, bounded
//! demand and deviation rings); a deleted volume's state goes at the next [`tick`].
//!
//! [`tick`]: LiveProfiler::tick

mod learn;
mod report;
mod tracker;

pub use learn::next_learn_delay;
pub use report::{
    ClassSource, DemandForecast, DeviationEvent, ModelStatus, VolumeProfileReport, WindowReport,
};

use crate::migrate::AccessObserver;
use crate::{Engine, EngineError, EngineErrorKind, Result, VolumeInfo};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;
use strata_core::{DeviceProfile, TierKind};
use strata_policy::{ExtentId, Forecast};
use strata_predict::WorkloadClass;
use strata_predict::profile::{
    DemandForecaster, HeatModel, TierDevices, WorkloadClassifier, WorkloadModel,
};
use tracker::{Models, VolumeTracker};

/// The `[profile]` table of the server's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfilerConfig {
    /// Profile volumes at all.
    pub enabled: bool,
    /// Length of a profiling window, seconds.
    pub window_s: f64,
    /// Smallest relative band around a forecast: observed demand within
    /// `forecast / (1 + t) ..= forecast · (1 + t)` is no deviation.
    pub band_tolerance: f64,
    /// Ask the placement policy to re-plan at once when a window deviates.
    pub replan_on_deviation: bool,
    /// Closed windows' demands kept per volume for the learning loop.
    pub history_windows: usize,
    /// Recent deviations kept per volume for the profile response.
    pub deviations_kept: usize,
    /// Least time between learning rounds, seconds.
    pub learn_interval_s: f64,
    /// Most of one core's time the learning loop may take on average (0..1].
    pub learn_duty_cycle: f64,
    /// Newest windows of every volume held out to score old and new forecaster.
    pub learn_held_out: usize,
    /// A refit replaces the forecaster only if its held-out error is this much lower.
    pub learn_min_gain: f64,
}

impl Default for ProfilerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_s: 60.0,
            band_tolerance: 0.5,
            replan_on_deviation: true,
            history_windows: 64,
            deviations_kept: 16,
            learn_interval_s: 300.0,
            learn_duty_cycle: 0.02,
            learn_held_out: 2,
            learn_min_gain: 0.05,
        }
    }
}

impl ProfilerConfig {
    /// Checks every field's range; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(EngineError::new(
                    EngineErrorKind::InvalidArgument,
                    "profile config",
                    format!("profile.{what}"),
                ))
            }
        };
        check(
            (0.1..=86_400.0).contains(&self.window_s),
            "window_s must be within 0.1..=86400 seconds",
        )?;
        check(
            self.band_tolerance > 0.0 && self.band_tolerance <= 100.0,
            "band_tolerance must be within (0, 100]",
        )?;
        check(
            (1..=64).contains(&self.learn_held_out),
            "learn_held_out must be within 1..=64",
        )?;
        check(
            (self.learn_held_out + 4..=4096).contains(&self.history_windows),
            "history_windows must be within learn_held_out + 4 ..= 4096",
        )?;
        check(
            (1..=1024).contains(&self.deviations_kept),
            "deviations_kept must be within 1..=1024",
        )?;
        check(
            (1.0..=86_400.0).contains(&self.learn_interval_s),
            "learn_interval_s must be within 1..=86400 seconds",
        )?;
        check(
            self.learn_duty_cycle > 0.0 && self.learn_duty_cycle <= 1.0,
            "learn_duty_cycle must be within (0, 1]",
        )?;
        check(
            (0.0..1.0).contains(&self.learn_min_gain),
            "learn_min_gain must be within [0, 1)",
        )
    }
}

/// One volume's headline numbers, for `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeProfileSummary {
    pub volume: String,
    /// `None` before the first window closes.
    pub class: Option<&'static str>,
    pub confidence: Option<f64>,
    pub windows: u64,
    pub deviations_total: u64,
}

/// The live profiler of one engine. Build with [`LiveProfiler::attach`].
pub struct LiveProfiler {
    config: ProfilerConfig,
    engine: Weak<Engine>,
    classifier: WorkloadClassifier,
    devices: TierDevices,
    /// The placement policy's heat half-life, the unit its forecasts are counted over.
    heat_half_life_ns: u64,
    forecaster: RwLock<Arc<DemandForecaster>>,
    heat: Option<HeatModel>,
    /// Extents in the last heat forecast handed to the placement policy.
    forecast_extents: AtomicU64,
    model: Mutex<ModelStatus>,
    volumes: Mutex<HashMap<u64, VolumeTracker>>,
    replans: AtomicU64,
    /// Newest migration-log sequence number the learning loop has read.
    migration_cursor: Mutex<u64>,
}

impl std::fmt::Debug for LiveProfiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveProfiler")
            .field("config", &self.config)
            .field("volumes", &self.volumes.lock().len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl LiveProfiler {
    /// Loads the shipped workload model and registers the profiler as an observer of
    /// `engine`'s access stream. The profiler holds the engine weakly (the engine holds
    /// the profiler), so dropping the engine drops both.
    pub fn attach(engine: &Arc<Engine>, config: ProfilerConfig) -> Result<Arc<Self>> {
        config.validate()?;
        let model = WorkloadModel::shipped().map_err(|e| {
            EngineError::new(EngineErrorKind::InvalidArgument, "profiler", e.to_string())
        })?;
        let profile_of = |kind: TierKind, fallback: DeviceProfile| {
            engine
                .config()
                .tiers
                .iter()
                .find(|t| t.kind == kind)
                .map_or(fallback, |t| t.profile)
        };
        let devices = TierDevices {
            nvme: profile_of(TierKind::Nvme, DeviceProfile::NVME),
            ssd: profile_of(TierKind::Ssd, DeviceProfile::SSD),
            hdd: profile_of(TierKind::Hdd, DeviceProfile::HDD),
        };
        let profiler = Arc::new(Self {
            config,
            engine: Arc::downgrade(engine),
            classifier: model.classifier,
            devices,
            heat_half_life_ns: engine.heat_half_life_ns(),
            forecaster: RwLock::new(Arc::new(model.forecaster)),
            heat: model.heat,
            forecast_extents: AtomicU64::new(0),
            model: Mutex::new(ModelStatus {
                forecaster_version: 1,
                last_score: None,
                last_candidate_score: None,
                learning_rounds: 0,
                replacements: 0,
                last_round_unix_s: None,
                promotions_watched: 0,
                promotions_read: 0,
            }),
            migration_cursor: Mutex::new(0),
            volumes: Mutex::new(HashMap::new()),
            replans: AtomicU64::new(0),
        });
        engine.add_access_observer(profiler.clone());
        Ok(profiler)
    }

    pub fn config(&self) -> &ProfilerConfig {
        &self.config
    }

    /// Re-plans the placement asked for by deviations so far.
    pub fn replans(&self) -> u64 {
        self.replans.load(Ordering::Relaxed)
    }

    /// Extents the last heat forecast handed to the placement policy predicted.
    pub fn forecast_extents(&self) -> u64 {
        self.forecast_extents.load(Ordering::Relaxed)
    }

    pub fn model_status(&self) -> ModelStatus {
        *self.model.lock()
    }

    /// Follows the engine's volume list (new volumes get a tracker, deleted ones lose
    /// theirs) and closes every window that has run its length, also on idle volumes.
    pub fn tick(&self) {
        let Some(engine) = self.engine.upgrade() else {
            return;
        };
        let live = engine.list_volumes();
        let closed = {
            let mut volumes = self.volumes.lock();
            volumes.retain(|id, _| live.iter().any(|v| v.id == *id));
            for info in &live {
                self.tracker_for(&mut volumes, info);
            }
            let ids = volumes_ids(&volumes);
            let closed = self.close_due(&mut volumes, ids);
            let forecast = self.heat_forecast(&volumes, &closed);
            (closed, forecast)
        };
        self.after_close(&engine, closed);
    }

    /// The profile of one volume; `None` when the profiler has not seen it yet.
    pub fn report(&self, volume_id: u64) -> Option<VolumeProfileReport> {
        let model = self.model_status();
        let volumes = self.volumes.lock();
        let t = volumes.get(&volume_id)?;
        Some(VolumeProfileReport {
            volume: t.name.clone(),
            window_s: self.config.window_s,
            windows: t.windows,
            current_window_start_unix_s: t.current_window_start_unix_s(),
            current_window_requests: t.current_window_requests(),
            last_window: t.last.clone(),
            deviations_total: t.deviations_total,
            recent_deviations: t.deviations.iter().copied().collect(),
            telemetry_app_type: t.app_hint.map(WorkloadClass::name),
            model,
        })
    }

    /// Records the application type a VM manager posted for `volume` (a class name), the
    /// prior used when the classifier is unsure.
    pub fn set_app_hint(&self, volume: &VolumeInfo, class: &str) -> Result<()> {
        let class: WorkloadClass = class.parse().map_err(|e: strata_predict::PredictError| {
            EngineError::new(EngineErrorKind::InvalidArgument, "profiler", e.to_string())
        })?;
        let mut volumes = self.volumes.lock();
        self.tracker_for(&mut volumes, volume).app_hint = Some(class);
        Ok(())
    }

    /// Headline numbers of every tracked volume, by name.
    pub fn summaries(&self) -> Vec<VolumeProfileSummary> {
        let mut out: Vec<VolumeProfileSummary> = self
            .volumes
            .lock()
            .values()
            .map(|t| VolumeProfileSummary {
                volume: t.name.clone(),
                class: t.last.as_ref().map(|w| w.class),
                confidence: t.last.as_ref().map(|w| w.confidence),
                windows: t.windows,
                deviations_total: t.deviations_total,
            })
            .collect();
        out.sort_by(|a, b| a.volume.cmp(&b.volume));
        out
    }

    fn tracker_for<'a>(
        &self,
        volumes: &'a mut HashMap<u64, VolumeTracker>,
        info: &VolumeInfo,
    ) -> &'a mut VolumeTracker {
        volumes.entry(info.id).or_insert_with(|| {
            VolumeTracker::new(info.name.clone(), info.extent_size_bytes, &self.config)
        })
    }

    fn close_due(
        &self,
        volumes: &mut HashMap<u64, VolumeTracker>,
        ids: Vec<u64>,
    ) -> Vec<(String, tracker::Closed)> {
        let now = Instant::now();
        let forecaster = self.forecaster.read().clone();
        let models = Models {
            classifier: &self.classifier,
            forecaster: &forecaster,
            heat: self.heat.as_ref(),
            devices: &self.devices,
        };
        ids.into_iter()
            .filter_map(|id| {
                let t = volumes.get_mut(&id)?;
                if !t.window_due(now, &self.config) {
                    return None;
                }
                let closed = t.close_window(now, &models, &self.config)?;
                Some((t.name.clone(), closed))
            })
            .collect()
    }

    /// After windows closed, every volume's latest heat forecast as one [`Forecast`] in
    /// the policy's unit (visits over the heat map's half-life, from accesses per window);
    /// `None` when nothing closed or there is no heat forecaster.
    fn heat_forecast(
        &self,
        volumes: &HashMap<u64, VolumeTracker>,
        closed: &[(String, tracker::Closed)],
    ) -> Option<Forecast> {
        if closed.is_empty() || self.heat.is_none() {
            return None;
        }
        let half_life_s = self.heat_half_life_ns as f64 / 1e9;
        let per_window = half_life_s / self.config.window_s.max(f64::MIN_POSITIVE);
        let mut forecast = Forecast::new();
        for (&volume, t) in volumes {
            for &(index, accesses) in &t.heat_forecast {
                forecast.predict(ExtentId::new(volume, index), (accesses * per_window) as f32);
            }
        }
        Some(forecast)
    }

    /// Hands the policy the heat forecast, logs deviations and re-plans once for all of
    /// them, with no profiler lock held.
    fn after_close(
        &self,
        engine: &Engine,
        (closed, forecast): (Vec<(String, tracker::Closed)>, Option<Forecast>),
    ) {
        if let Some(forecast) = forecast {
            self.forecast_extents
                .store(forecast.len() as u64, Ordering::Relaxed);
            engine.observe_heat_forecast(&forecast);
        }
        let mut replan = false;
        for (volume, c) in &closed {
            tracing::debug!(volume, class = c.class.name(), "profiling window closed");
            if let Some(d) = &c.deviation {
                tracing::info!(
                    volume,
                    observed_bytes = d.observed_bytes,
                    forecast_bytes = d.forecast.point,
                    low_bytes = d.forecast.low,
                    high_bytes = d.forecast.high,
                    ratio = d.ratio,
                    "workload deviated from its forecast"
                );
                replan |= d.replanned;
            }
        }
        if replan {
            self.replans.fetch_add(1, Ordering::Relaxed);
            engine.plan_now();
        }
    }
}

fn volumes_ids(volumes: &HashMap<u64, VolumeTracker>) -> Vec<u64> {
    volumes.keys().copied().collect()
}

impl AccessObserver for LiveProfiler {
    fn observe(&self, accesses: &[strata_policy::Access]) {
        let Some(engine) = self.engine.upgrade() else {
            return;
        };
        let closed = {
            let mut volumes = self.volumes.lock();
            if accesses
                .iter()
                .any(|a| !volumes.contains_key(&a.extent.volume))
            {
                // A volume created since the last tick: learn its extent size first.
                for info in engine.list_volumes() {
                    self.tracker_for(&mut volumes, &info);
                }
            }
            let mut touched = Vec::new();
            for access in accesses {
                if let Some(t) = volumes.get_mut(&access.extent.volume) {
                    t.observe(access);
                    if touched.last() != Some(&access.extent.volume) {
                        touched.push(access.extent.volume);
                    }
                }
            }
            touched.sort_unstable();
            touched.dedup();
            let closed = self.close_due(&mut volumes, touched);
            let forecast = self.heat_forecast(&volumes, &closed);
            (closed, forecast)
        };
        self.after_close(&engine, closed);
    }
}
