//! One volume's live profile: its access stream folded into the current window, and at
//! the window's end the class, the demand forecast with its band, the tier profile, and
//! the check of the observed demand against the band forecast for this window.
//!
//! Access events carry extents, not byte offsets (the I/O path records one packed word
//! per extent touched), so the stream the profiler sees places each piece at its extent's
//! start, or right after the previous piece when the planner marked it sequential. Sizes,
//! read/write mix and sequentiality are exact; reuse and working set are at extent
//! granularity, which is also the granularity placement acts on.
//!
//! The window's accesses per extent also feed the volume's [`HeatHistory`]; with the
//! model's heat forecaster, each closed window yields a forecast of every remembered
//! extent's accesses in the next window, which the profiler hands the placement policy.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use strata_predict::WorkloadClass;
use strata_predict::profile::{
    BandTracker, DemandForecaster, DemandHistory, ForecastBand, HeatHistory, HeatMethod, HeatModel,
    Request, TierDevices, WindowProfiler, WorkloadClassifier, tier_profile,
};

use super::report::{ClassSource, DemandForecast, DeviationEvent, WindowReport};
use super::{ProfilerConfig, unix_now_s};

/// Distinct extents remembered per window for its demand and heat; a window touching more
/// counts them all but remembers only this many (bounded memory for huge volumes).
pub(crate) const MAX_WINDOW_EXTENTS: usize = 1 << 18;
/// Extents whose heat history a volume remembers (about 40 bytes each, so about 10 MiB at
/// most); the coolest are forgotten first.
pub(crate) const MAX_HEAT_EXTENTS: usize = MAX_WINDOW_EXTENTS;
/// Promoted extents watched per volume for a later read (the learning loop's evidence).
pub(crate) const MAX_WATCHED_PROMOTIONS: usize = 4096;

/// What closing a window produced, for the profiler to act on outside its lock.
#[derive(Debug)]
pub(crate) struct Closed {
    pub class: WorkloadClass,
    pub deviation: Option<DeviationEvent>,
}

/// The model pieces a window is read with.
pub(crate) struct Models<'a> {
    pub classifier: &'a WorkloadClassifier,
    pub forecaster: &'a DemandForecaster,
    /// The per-extent heat forecaster, when the model has one.
    pub heat: Option<&'a HeatModel>,
    pub devices: &'a TierDevices,
}

#[derive(Debug)]
pub(crate) struct VolumeTracker {
    pub name: String,
    extent_bytes: u64,
    profiler: WindowProfiler,
    window_started: Instant,
    window_start_unix_s: f64,
    /// Accesses per extent in the current window.
    extents: HashMap<u64, u32>,
    extents_overflow: u64,
    heat: HeatHistory,
    /// The latest forecast of each remembered extent's accesses in the window now filling,
    /// sorted by extent; empty without a heat forecaster.
    pub heat_forecast: Vec<(u64, f64)>,
    next_sequential_offset: u64,
    history: DemandHistory,
    band: BandTracker,
    /// The band forecast for the window now filling.
    expected: Option<ForecastBand>,
    /// Demands of closed windows, oldest first, for the learning loop (bounded).
    pub demand: VecDeque<f64>,
    pub class: WorkloadClass,
    pub last: Option<WindowReport>,
    pub windows: u64,
    pub deviations: VecDeque<DeviationEvent>,
    pub deviations_total: u64,
    pub app_hint: Option<WorkloadClass>,
    /// Extents promoted by the placement and not read since.
    promoted_unread: HashSet<u64>,
    /// Promotions watched, and of those, read afterwards.
    pub promotions_watched: u64,
    pub promotions_read: u64,
}

impl VolumeTracker {
    pub fn new(name: String, extent_bytes: u64, config: &ProfilerConfig) -> Self {
        Self {
            name,
            extent_bytes: extent_bytes.max(1),
            profiler: WindowProfiler::new(),
            window_started: Instant::now(),
            window_start_unix_s: unix_now_s(),
            extents: HashMap::new(),
            extents_overflow: 0,
            heat: HeatHistory::bounded(MAX_HEAT_EXTENTS),
            heat_forecast: Vec::new(),
            next_sequential_offset: 0,
            history: DemandHistory::default(),
            band: BandTracker::new(config.band_tolerance),
            expected: None,
            demand: VecDeque::with_capacity(config.history_windows),
            class: WorkloadClass::Unknown,
            last: None,
            windows: 0,
            deviations: VecDeque::with_capacity(config.deviations_kept),
            deviations_total: 0,
            app_hint: None,
            promoted_unread: HashSet::new(),
            promotions_watched: 0,
            promotions_read: 0,
        }
    }

    pub fn current_window_start_unix_s(&self) -> f64 {
        self.window_start_unix_s
    }

    pub fn current_window_requests(&self) -> u64 {
        self.profiler.requests()
    }

    /// Watches a promoted extent for a read (bounded; further promotions are not watched).
    pub fn watch_promotion(&mut self, extent: u64) {
        if self.promoted_unread.len() < MAX_WATCHED_PROMOTIONS
            && self.promoted_unread.insert(extent)
        {
            self.promotions_watched += 1;
        }
    }

    /// Folds one access into the current window.
    pub fn observe(&mut self, access: &strata_policy::Access) {
        if access.kind == strata_policy::IoKind::Read
            && self.promoted_unread.remove(&access.extent.index)
        {
            self.promotions_read += 1;
        }
        let extent_start = access.extent.index.saturating_mul(self.extent_bytes);
        let offset_bytes = if access.sequential {
            self.next_sequential_offset
        } else {
            extent_start
        };
        self.next_sequential_offset = offset_bytes.saturating_add(access.len_bytes);
        self.profiler.observe(&Request {
            stream: 0,
            offset_bytes,
            len_bytes: access.len_bytes,
            time_ns: Some(access.time_ns),
            kind: access.kind,
        });
        let index = access.extent.index;
        if let Some(count) = self.extents.get_mut(&index) {
            *count = count.saturating_add(1);
        } else if self.extents.len() < MAX_WINDOW_EXTENTS {
            self.extents.insert(index, 1);
        } else {
            self.extents_overflow += 1;
        }
    }

    /// Whether the current window has run its length.
    pub fn window_due(&self, now: Instant, config: &ProfilerConfig) -> bool {
        now.duration_since(self.window_started).as_secs_f64() >= config.window_s
    }

    /// Closes the current window. A window without requests cools the heat and restarts
    /// the clock: an idle volume is neither classified nor compared with its forecast.
    pub fn close_window(
        &mut self,
        now: Instant,
        models: &Models<'_>,
        config: &ProfilerConfig,
    ) -> Option<Closed> {
        let start_unix_s = self.window_start_unix_s;
        let end_unix_s = start_unix_s + now.duration_since(self.window_started).as_secs_f64();
        self.window_started = now;
        self.window_start_unix_s = end_unix_s;
        let demand_bytes =
            (self.extents.len() as u64 + self.extents_overflow) as f64 * self.extent_bytes as f64;
        let mut counts: Vec<(u64, u32)> = self.extents.drain().collect();
        counts.sort_unstable();
        self.extents_overflow = 0;
        // An idle window still cools every extent's heat.
        self.heat.push(&counts);
        if let Some(model) = models.heat {
            self.heat_forecast = self.heat.forecast(HeatMethod::Model(model));
        }
        if self.profiler.requests() == 0 {
            self.profiler = WindowProfiler::new();
            return None;
        }
        let window = self.profiler.finish();
        let features = window.features;
        let answer = models
            .classifier
            .classify(&features.classifier_vector())
            .ok()?;
        let (class, class_source) = match (answer.class, self.app_hint) {
            (WorkloadClass::Unknown, Some(hint)) if hint != WorkloadClass::Unknown => {
                (hint, ClassSource::Telemetry)
            }
            (class, _) => (class, ClassSource::Classifier),
        };

        let deviation = self.expected.take().and_then(|band| {
            self.band.record(band.point, demand_bytes);
            band.deviation(demand_bytes).map(|ratio| DeviationEvent {
                window_end_unix_s: end_unix_s,
                forecast: band,
                observed_bytes: demand_bytes,
                ratio,
                replanned: config.replan_on_deviation,
            })
        });
        if let Some(event) = deviation {
            if self.deviations.len() >= config.deviations_kept {
                self.deviations.pop_front();
            }
            self.deviations.push_back(event);
            self.deviations_total += 1;
        }

        self.history.push(demand_bytes);
        let point = models
            .forecaster
            .forecast(class, &self.history)
            .unwrap_or(demand_bytes);
        let band = self.band.band(point);
        self.expected = Some(band);
        if self.demand.len() >= config.history_windows {
            self.demand.pop_front();
        }
        self.demand.push_back(demand_bytes);

        let shares = tier_profile(
            &window.mrc,
            features.working_set_blocks,
            &features,
            models.devices,
        );
        self.class = class;
        self.windows += 1;
        self.last = Some(WindowReport {
            start_unix_s,
            end_unix_s,
            class: class.name(),
            confidence: answer.confidence,
            class_source,
            classifier_top_class: answer.top_class.name(),
            features,
            demand_bytes,
            tier_profile: shares,
            forecast: DemandForecast::new(band, &shares),
        });
        Some(Closed { class, deviation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::IoKind;
    use strata_predict::profile::WorkloadModel;

    fn access(
        extent: u64,
        kind: IoKind,
        len_bytes: u64,
        sequential: bool,
    ) -> strata_policy::Access {
        strata_policy::Access {
            extent: strata_policy::ExtentId::new(1, extent),
            kind,
            time_ns: 0,
            len_bytes,
            offset_in_extent_bytes: None,
            sequential,
            run_bytes: len_bytes,
        }
    }

    /// Drives one window of `accesses` through a tracker and closes it.
    fn close_one(
        tracker: &mut VolumeTracker,
        model: &WorkloadModel,
        config: &ProfilerConfig,
        accesses: impl Iterator<Item = strata_policy::Access>,
    ) -> Option<Closed> {
        for a in accesses {
            tracker.observe(&a);
        }
        let models = Models {
            classifier: &model.classifier,
            forecaster: &model.forecaster,
            heat: model.heat.as_ref(),
            devices: &TierDevices::default(),
        };
        tracker.close_window(Instant::now(), &models, config)
    }

    fn random_small(seed: u64, extents: u64) -> impl Iterator<Item = strata_policy::Access> {
        let mut x = seed;
        (0..4000).map(move |i| {
            // xorshift: a reproducible scatter over the extents.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let kind = if i % 10 < 7 {
                IoKind::Read
            } else {
                IoKind::Write
            };
            access(x % extents, kind, 4096, false)
        })
    }

    fn sequential_large(extents: u64) -> impl Iterator<Item = strata_policy::Access> {
        (0..extents).map(|e| access(e, IoKind::Write, 1 << 20, e > 0))
    }

    #[test]
    fn random_small_and_sequential_large_windows_read_differently() {
        let model = WorkloadModel::shipped().unwrap();
        let config = ProfilerConfig::default();
        let mut db = VolumeTracker::new("db".into(), 1 << 20, &config);
        let mut backup = VolumeTracker::new("bk".into(), 1 << 20, &config);
        assert!(close_one(&mut db, &model, &config, random_small(7, 16)).is_some());
        assert!(close_one(&mut backup, &model, &config, sequential_large(200)).is_some());
        let (db, backup) = (db.last.unwrap(), backup.last.unwrap());
        assert_eq!(backup.class, "backup", "{backup:?}");
        assert_ne!(db.class, "backup", "{db:?}");
        assert_eq!(db.demand_bytes, 16.0 * 1048576.0);
        assert_eq!(backup.demand_bytes, 200.0 * 1048576.0);
        assert!(db.features.sequential_fraction < 0.05);
        assert!(backup.features.sequential_fraction > 0.95);
        for w in [&db, &backup] {
            let t = w.tier_profile;
            assert!((t.nvme + t.ssd + t.hdd - 1.0).abs() < 1e-9, "{t:?}");
        }
    }

    #[test]
    fn closed_windows_forecast_each_extents_heat() {
        let model = WorkloadModel::shipped().unwrap();
        assert!(model.heat.is_some(), "the shipped model forecasts heat");
        let config = ProfilerConfig::default();
        let mut t = VolumeTracker::new("v".into(), 1 << 20, &config);
        // Extent 3 is hit 100 times a window, extent 9 once, in three windows.
        let window = || {
            (0..100)
                .map(|_| access(3, IoKind::Read, 4096, false))
                .chain(std::iter::once(access(9, IoKind::Read, 4096, false)))
        };
        for _ in 0..3 {
            close_one(&mut t, &model, &config, window()).unwrap();
        }
        let forecast = |t: &VolumeTracker, e: u64| {
            t.heat_forecast
                .iter()
                .find(|&&(k, _)| k == e)
                .map_or(0.0, |&(_, v)| v)
        };
        let (hot, cold) = (forecast(&t, 3), forecast(&t, 9));
        assert!(hot > 50.0 && hot > 10.0 * cold, "hot {hot}, cold {cold}");
        // Idle windows cool it.
        for _ in 0..3 {
            assert!(close_one(&mut t, &model, &config, std::iter::empty()).is_none());
        }
        let cooled = forecast(&t, 3);
        assert!(
            cooled < hot / 2.0,
            "{cooled} after idle windows, {hot} before"
        );
    }

    #[test]
    fn a_demand_jump_is_a_deviation_and_an_idle_window_is_not_profiled() {
        let model = WorkloadModel::shipped().unwrap();
        let config = ProfilerConfig::default();
        let mut t = VolumeTracker::new("v".into(), 1 << 20, &config);
        for seed in 1..=3 {
            let closed = close_one(&mut t, &model, &config, random_small(seed, 16)).unwrap();
            assert!(
                closed.deviation.is_none(),
                "steady demand must stay in its band"
            );
        }
        assert!(close_one(&mut t, &model, &config, std::iter::empty()).is_none());
        assert_eq!(t.windows, 3);
        let closed = close_one(&mut t, &model, &config, sequential_large(256)).unwrap();
        let event = closed.deviation.expect("16 MiB to 256 MiB leaves the band");
        assert_eq!(event.observed_bytes, 256.0 * 1048576.0);
        assert!(event.ratio > 10.0, "{event:?}");
        assert!(event.replanned);
        assert_eq!(t.deviations_total, 1);
        assert_eq!(t.deviations.len(), 1);
        assert_eq!(t.demand.len(), 4);
    }
}
