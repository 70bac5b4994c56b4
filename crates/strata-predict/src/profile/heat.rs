//! The per-extent heat forecaster: predicts how many accesses each extent of a volume gets
//! in the next window from what it got in the windows so far, and the two baselines it is
//! judged against, last value and EWMA (α = [`EWMA_ALPHA`], the demand forecaster's).
//!
//! Each extent keeps a few numbers ([`ExtentHeat`]): its count in the last two windows,
//! three exponential averages (fast, the baseline's, slow) and the windows since its last
//! access. The model is scale-free: it predicts the next count as a multiple of the
//! extent's own scale (last count + EWMA) from the shape of its history (each number
//! divided by that scale, and the idle windows), so one model serves a volume of ten
//! requests a window and one of ten thousand. The multiple comes from gradient-boosted
//! regression trees with least-absolute-deviation loss (the `gbdt` crate), each training
//! row weighted by its scale so that the fit minimises the absolute error in accesses,
//! the measure the comparison uses. Least absolute deviation forecasts the conditional
//! median, which for bursty counts is often below the mean: an extent touched once in a
//! burst is usually not touched again.
//!
//! [`compare_heat_forecasters`] fits on the first part of every series and scores the model
//! and both baselines on the held-out rest, over every extent (one never seen before is
//! forecast 0 by all three).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use gbdt::config::Config;
use gbdt::decision_tree::{Data, DataVec};
use gbdt::gradient_boost::GBDT;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::Request;
use super::forecast::{EWMA_ALPHA, training_cut};
use crate::class::WorkloadClass;
use crate::error::{PredictError, PredictErrorKind};

/// Extent size of the heat forecast: the tier simulator's and the engine's default extent.
pub const HEAT_EXTENT_BYTES: u64 = 1 << 20;
/// Smoothing factors of the fast and slow averages the model reads beside the EWMA.
const FAST_ALPHA: f32 = 0.7;
const SLOW_ALPHA: f32 = 0.05;
/// Idle windows are capped here as a model input.
const MAX_IDLE: u16 = 100;
/// An idle extent whose EWMA has fallen below this is forgotten (every forecast of it was
/// below this too).
const FORGET_BELOW: f32 = 1e-3;
/// Training rows taken from one series at most (evenly spaced).
const MAX_ROWS_PER_SERIES: usize = 20_000;
/// Where the boosting starts, as a multiple of the scale. `gbdt`'s LAD boosting fits each
/// tree to the signs of the residuals and counts a zero residual as positive; starting at
/// the weighted median (its default), which is 0 when most extents are not touched
/// again, gives every row a residual ≥ 0 and no split to learn from. A start that few
/// labels equal exactly gives both signs.
const INITIAL_MULTIPLE: f32 = 0.25;
/// Number of model inputs.
pub const HEAT_FEATURES: [&str; 5] = [
    "last_share",
    "previous_share",
    "slow_share",
    "fast_share",
    "idle_windows",
];

/// Accesses per extent in one window, sorted by extent key (`stream << 40 | extent`).
pub type ExtentCounts = Vec<(u64, u32)>;

/// Counts accesses per [`HEAT_EXTENT_BYTES`] extent within a window; a request spanning
/// extents counts once in each.
#[derive(Debug, Clone, Default)]
pub struct ExtentCounter {
    counts: FxHashMap<u64, u32>,
}

impl ExtentCounter {
    pub fn observe(&mut self, request: &Request) {
        if request.len_bytes == 0 {
            return;
        }
        let first = request.offset_bytes / HEAT_EXTENT_BYTES;
        let last = (request.offset_bytes.saturating_add(request.len_bytes) - 1) / HEAT_EXTENT_BYTES;
        let base = u64::from(request.stream) << 40;
        for extent in first..=last {
            let count = self.counts.entry(base | extent).or_insert(0);
            *count = count.saturating_add(1);
        }
    }

    /// The window's counts; the counter starts the next window empty.
    pub fn finish(&mut self) -> ExtentCounts {
        let mut counts: ExtentCounts = self.counts.drain().collect();
        counts.sort_unstable();
        counts
    }
}

/// What the forecaster remembers of one extent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExtentHeat {
    last: f32,
    previous: f32,
    ewma: f32,
    fast: f32,
    slow: f32,
    idle: u16,
}

impl ExtentHeat {
    fn first(count: f32) -> Self {
        Self {
            last: count,
            previous: 0.0,
            ewma: count,
            fast: count,
            slow: count,
            idle: 0,
        }
    }

    fn push(&mut self, count: f32) {
        let alpha = EWMA_ALPHA as f32;
        self.previous = self.last;
        self.last = count;
        self.ewma = alpha * count + (1.0 - alpha) * self.ewma;
        self.fast = FAST_ALPHA * count + (1.0 - FAST_ALPHA) * self.fast;
        self.slow = SLOW_ALPHA * count + (1.0 - SLOW_ALPHA) * self.slow;
        self.idle = if count > 0.0 {
            0
        } else {
            self.idle.saturating_add(1)
        };
    }

    /// The scale the model's multiple applies to.
    fn scale(&self) -> f32 {
        self.last + self.ewma
    }

    fn inputs(&self) -> Vec<f32> {
        let scale = self.scale().max(f32::MIN_POSITIVE);
        vec![
            self.last / scale,
            self.previous / scale,
            self.slow / scale,
            self.fast / scale,
            f32::from(self.idle.min(MAX_IDLE)),
        ]
    }

    fn forgotten(&self) -> bool {
        self.last == 0.0 && self.ewma < FORGET_BELOW
    }
}

/// One volume's per-extent history, optionally bounded.
#[derive(Debug, Clone, Default)]
pub struct HeatHistory {
    extents: FxHashMap<u64, ExtentHeat>,
    /// Most extents remembered; past it the coolest (lowest last + EWMA) are forgotten.
    limit: Option<usize>,
}

impl HeatHistory {
    /// A history that remembers at most `limit` extents (the server's memory bound).
    pub fn bounded(limit: usize) -> Self {
        Self {
            extents: FxHashMap::default(),
            limit: Some(limit),
        }
    }

    /// Adds the counts of the window that just closed.
    pub fn push(&mut self, counts: &[(u64, u32)]) {
        let mut fresh = Vec::new();
        let index: FxHashMap<u64, u32> = counts.iter().copied().collect();
        for (key, heat) in &mut self.extents {
            heat.push(index.get(key).copied().unwrap_or(0) as f32);
        }
        for &(key, count) in counts {
            if !self.extents.contains_key(&key) {
                fresh.push((key, ExtentHeat::first(count as f32)));
            }
        }
        self.extents.extend(fresh);
        self.extents.retain(|_, heat| !heat.forgotten());
        if let Some(limit) = self.limit
            && self.extents.len() > limit
        {
            self.forget_coolest(limit);
        }
    }

    /// Keeps the `limit` warmest extents (ties at the threshold by key, so the result does
    /// not depend on hash order).
    fn forget_coolest(&mut self, limit: usize) {
        let mut ranked: Vec<(f32, u64)> = self
            .extents
            .iter()
            .map(|(&key, heat)| (heat.scale(), key))
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, key) in &ranked[limit..] {
            self.extents.remove(&key);
        }
    }

    /// Extents remembered.
    pub fn len(&self) -> usize {
        self.extents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.extents.is_empty()
    }

    /// Forecasts of the next window's count of every remembered extent, by `method`.
    pub fn forecast(&self, method: HeatMethod<'_>) -> Vec<(u64, f64)> {
        let mut out: Vec<(u64, f64)> = match method {
            HeatMethod::LastValue => self
                .extents
                .iter()
                .map(|(&k, h)| (k, f64::from(h.last)))
                .collect(),
            HeatMethod::Ewma => self
                .extents
                .iter()
                .map(|(&k, h)| (k, f64::from(h.ewma)))
                .collect(),
            HeatMethod::Model(model) => {
                let keys: Vec<u64> = self.extents.keys().copied().collect();
                let inputs = keys.iter().map(|k| self.extents[k].inputs()).collect();
                let multiples = model.trees.predict(inputs);
                keys.iter()
                    .zip(multiples)
                    .map(|(k, m)| (*k, f64::from(m * self.extents[k].scale())))
                    .collect()
            }
        };
        out.sort_unstable_by_key(|&(k, _)| k);
        out
    }
}

/// How heat is forecast.
#[derive(Debug, Clone, Copy)]
pub enum HeatMethod<'a> {
    LastValue,
    Ewma,
    Model(&'a HeatModel),
}

/// The trained heat forecaster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HeatModel {
    trees: LadTrees,
}

/// Gradient-boosted trees with least-absolute-deviation loss, shared (they cannot be
/// cloned) and stored as `gbdt` writes them; used here and by the demand forecaster's
/// trees. Two are equal when they are the same trees.
#[derive(Clone)]
pub(crate) struct LadTrees(Arc<GBDT>);

impl fmt::Debug for LadTrees {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LadTrees").finish_non_exhaustive()
    }
}

impl PartialEq for LadTrees {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Serialize for LadTrees {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LadTrees {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(Arc::new(GBDT::deserialize(deserializer)?)))
    }
}

/// Settings of the boosted trees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatModelParams {
    pub trees: usize,
    pub max_depth: u32,
    pub shrinkage: f32,
    pub min_leaf_size: usize,
}

impl Default for HeatModelParams {
    fn default() -> Self {
        Self {
            trees: 60,
            max_depth: 4,
            shrinkage: 0.1,
            min_leaf_size: 50,
        }
    }
}

/// One volume's windows of extent counts, for fitting and evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatSeries {
    pub class: WorkloadClass,
    pub group: String,
    pub windows: Vec<ExtentCounts>,
}

impl HeatModel {
    /// Fits on the transitions of the first `train_share` of every series.
    pub fn fit(
        series: &[HeatSeries],
        train_share: f64,
        params: &HeatModelParams,
    ) -> Result<Self, PredictError> {
        let mut data: DataVec = Vec::new();
        for s in series {
            let cut = training_cut(s.windows.len(), train_share);
            let mut rows: Vec<(Vec<f32>, f32, f32)> = Vec::new();
            let mut history = HeatHistory::default();
            for window in 0..cut.saturating_sub(1) {
                history.push(&s.windows[window]);
                let next: FxHashMap<u64, u32> = s.windows[window + 1].iter().copied().collect();
                for (key, heat) in &history.extents {
                    let scale = heat.scale();
                    if scale <= 0.0 {
                        continue;
                    }
                    let truth = next.get(key).copied().unwrap_or(0) as f32;
                    rows.push((heat.inputs(), scale, truth / scale));
                }
            }
            if rows.is_empty() {
                continue;
            }
            // Each series weighs the same in the fit; within it, rows weigh by scale.
            let step = rows.len().div_ceil(MAX_ROWS_PER_SERIES);
            let kept: Vec<_> = rows.into_iter().step_by(step).collect();
            let mean_scale = kept.iter().map(|r| r.1).sum::<f32>() / kept.len() as f32;
            for (inputs, scale, multiple) in kept {
                data.push(model_row(inputs, scale / mean_scale, multiple));
            }
        }
        Ok(Self {
            trees: LadTrees::fit(data, HEAT_FEATURES.len(), params, "heat model")?,
        })
    }
}

impl LadTrees {
    /// Fits on `data` (rows made by [`model_row`]).
    pub(crate) fn fit(
        mut data: DataVec,
        feature_size: usize,
        params: &HeatModelParams,
        subject: &str,
    ) -> Result<Self, PredictError> {
        if data.len() < params.min_leaf_size.max(1) * 2 {
            return Err(PredictError::new(
                PredictErrorKind::Training,
                subject,
                format!("{} training rows are too few", data.len()),
            ));
        }
        let mut config = Config::new();
        config.set_feature_size(feature_size);
        config.set_max_depth(params.max_depth);
        config.set_iterations(params.trees);
        config.set_shrinkage(params.shrinkage);
        config.set_min_leaf_size(params.min_leaf_size);
        config.set_loss("LAD");
        config.enabled_initial_guess(true);
        config.set_training_optimization_level(2);
        let mut trees = GBDT::new(&config);
        trees.fit(&mut data);
        Ok(Self(Arc::new(trees)))
    }

    /// The trees' multiples for `inputs`, each at least 0.
    pub(crate) fn predict(&self, inputs: Vec<Vec<f32>>) -> Vec<f32> {
        let rows: DataVec = inputs.into_iter().map(|x| model_row(x, 1.0, 0.0)).collect();
        self.0
            .predict(&rows)
            .into_iter()
            .map(|m| m.max(0.0))
            .collect()
    }
}

/// One row of the trees' data, starting from [`INITIAL_MULTIPLE`].
pub(crate) fn model_row(inputs: Vec<f32>, weight: f32, multiple: f32) -> Data {
    Data::new_training_data(inputs, weight, multiple, Some(INITIAL_MULTIPLE))
}

/// Absolute errors, in accesses, of the three forecasts over some forecast windows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HeatErrors {
    /// Held-out windows forecast.
    pub windows: usize,
    /// Accesses in those windows.
    pub accesses: f64,
    pub last_value: f64,
    pub ewma: f64,
    pub model: f64,
}

impl HeatErrors {
    pub fn add(&mut self, other: &HeatErrors) {
        self.windows += other.windows;
        self.accesses += other.accesses;
        self.last_value += other.last_value;
        self.ewma += other.ewma;
        self.model += other.model;
    }

    /// The model's error over EWMA's.
    pub fn model_over_ewma(&self) -> f64 {
        self.model / self.ewma.max(f64::MIN_POSITIVE)
    }
}

/// The model and both baselines on held-out windows, per series and per class.
#[derive(Debug, Clone, Default)]
pub struct HeatComparison {
    pub per_series: Vec<(String, WorkloadClass, HeatErrors)>,
    pub per_class: BTreeMap<&'static str, HeatErrors>,
}

impl HeatComparison {
    /// Every held-out window of every series together.
    pub fn overall(&self) -> HeatErrors {
        let mut all = HeatErrors::default();
        for errors in self.per_class.values() {
            all.add(errors);
        }
        all
    }

    /// The mean over series of the model's error over EWMA's (series with held-out
    /// accesses only), so that a busy trace does not outweigh the rest.
    pub fn mean_series_ratio(&self) -> f64 {
        let ratios: Vec<f64> = self
            .per_series
            .iter()
            .filter(|(_, _, e)| e.ewma > 0.0)
            .map(|(_, _, e)| e.model_over_ewma())
            .collect();
        ratios.iter().sum::<f64>() / ratios.len().max(1) as f64
    }
}

/// Fits on the first `train_share` of every series and scores the model, last value and
/// EWMA on each series' remaining windows.
pub fn compare_heat_forecasters(
    series: &[HeatSeries],
    train_share: f64,
    params: &HeatModelParams,
) -> Result<HeatComparison, PredictError> {
    let model = HeatModel::fit(series, train_share, params)?;
    let mut comparison = HeatComparison::default();
    for s in series {
        let cut = training_cut(s.windows.len(), train_share).max(1);
        let mut history = HeatHistory::default();
        let mut errors = HeatErrors::default();
        for (window, counts) in s.windows.iter().enumerate() {
            if window >= cut {
                errors.windows += 1;
                errors.accesses += counts.iter().map(|&(_, c)| f64::from(c)).sum::<f64>();
                errors.last_value +=
                    absolute_error(&history.forecast(HeatMethod::LastValue), counts);
                errors.ewma += absolute_error(&history.forecast(HeatMethod::Ewma), counts);
                errors.model +=
                    absolute_error(&history.forecast(HeatMethod::Model(&model)), counts);
            }
            history.push(counts);
        }
        if errors.windows == 0 {
            continue;
        }
        comparison
            .per_class
            .entry(s.class.name())
            .or_default()
            .add(&errors);
        comparison
            .per_series
            .push((s.group.clone(), s.class, errors));
    }
    Ok(comparison)
}

/// Σ |forecast − truth| over every extent in either list (both sorted by key).
pub fn absolute_error(forecast: &[(u64, f64)], truth: &[(u64, u32)]) -> f64 {
    let (mut i, mut j, mut error) = (0, 0, 0.0);
    while i < forecast.len() || j < truth.len() {
        match (forecast.get(i), truth.get(j)) {
            (Some(&(fk, f)), Some(&(tk, t))) if fk == tk => {
                error += (f - f64::from(t)).abs();
                i += 1;
                j += 1;
            }
            (Some(&(fk, f)), Some(&(tk, _))) if fk < tk => {
                error += f.abs();
                i += 1;
            }
            (Some(&(_, f)), None) => {
                error += f.abs();
                i += 1;
            }
            (_, Some(&(_, t))) => {
                error += f64::from(t);
                j += 1;
            }
            (None, None) => break,
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(stream: u32, offset_bytes: u64, len_bytes: u64) -> Request {
        Request {
            stream,
            offset_bytes,
            len_bytes,
            time_ns: None,
            kind: strata_core::IoKind::Read,
        }
    }

    #[test]
    fn requests_are_counted_in_every_extent_they_touch() {
        let mut counter = ExtentCounter::default();
        counter.observe(&request(0, HEAT_EXTENT_BYTES - 4096, 8192));
        counter.observe(&request(0, 0, 4096));
        counter.observe(&request(1, 0, 4096));
        counter.observe(&request(1, 0, 0));
        assert_eq!(counter.finish(), vec![(0, 2), (1, 1), (1 << 40, 1)]);
        assert!(counter.finish().is_empty());
    }

    #[test]
    fn a_bounded_history_forgets_its_coolest_extents() {
        let mut history = HeatHistory::bounded(2);
        history.push(&[(1, 5), (2, 1), (3, 9)]);
        assert_eq!(history.len(), 2);
        let kept: Vec<u64> = history
            .forecast(HeatMethod::LastValue)
            .iter()
            .map(|&(k, _)| k)
            .collect();
        assert_eq!(kept, vec![1, 3]);
    }

    #[test]
    fn the_error_counts_extents_missing_from_either_side() {
        let forecast = vec![(1, 2.0), (3, 1.5)];
        let truth = vec![(1, 1), (2, 4)];
        assert_eq!(absolute_error(&forecast, &truth), 1.0 + 4.0 + 1.5);
        assert_eq!(absolute_error(&[], &truth), 5.0);
    }

    #[test]
    fn baselines_follow_their_definitions_and_idle_extents_are_forgotten() {
        let mut history = HeatHistory::default();
        history.push(&[(7, 10)]);
        history.push(&[]);
        assert_eq!(history.forecast(HeatMethod::LastValue), vec![(7, 0.0)]);
        let ewma = history.forecast(HeatMethod::Ewma)[0].1;
        assert!((ewma - 7.0).abs() < 1e-5, "{ewma}");
        for _ in 0..40 {
            history.push(&[]);
        }
        assert!(history.is_empty());
    }

    /// Bursts: an extent is hit hard for one window and then left alone, while a few
    /// extents stay steadily warm. EWMA keeps forecasting heat for every finished burst and
    /// last value for the latest; the model learns that a lone burst does not repeat and
    /// that steady extents stay.
    fn bursty_series(group: &str, windows: usize, offset: u64) -> HeatSeries {
        let windows = (0..windows as u64)
            .map(|w| {
                let mut counts: ExtentCounts = (0..4).map(|e| (offset + e, 5)).collect();
                counts.push((offset + 100 + w, 40));
                counts
            })
            .collect();
        HeatSeries {
            class: WorkloadClass::Dev,
            group: group.to_owned(),
            windows,
        }
    }

    #[test]
    fn the_model_beats_ewma_where_bursts_do_not_repeat() {
        let series: Vec<HeatSeries> = (0..3)
            .map(|i| bursty_series(&format!("v{i}"), 30, i * 1000))
            .collect();
        let comparison =
            compare_heat_forecasters(&series, 0.7, &HeatModelParams::default()).unwrap();
        let all = comparison.overall();
        assert_eq!(all.windows, 3 * 9);
        // Each window's new burst was never seen: every forecast misses its 40 accesses.
        let unseen = 40.0 * all.windows as f64;
        let avoidable = |error: f64| error - unseen;
        assert!(
            avoidable(all.model) < 0.1 * avoidable(all.ewma)
                && avoidable(all.model) < 0.1 * avoidable(all.last_value),
            "{all:?}"
        );
    }

    #[test]
    fn the_model_survives_a_round_trip_through_json() {
        let series = vec![bursty_series("v", 20, 0)];
        let model = HeatModel::fit(&series, 1.0, &HeatModelParams::default()).unwrap();
        let text = serde_json::to_string(&model).unwrap();
        let back: HeatModel = serde_json::from_str(&text).unwrap();
        let mut history = HeatHistory::default();
        for w in &series[0].windows[..5] {
            history.push(w);
        }
        assert_eq!(
            history.forecast(HeatMethod::Model(&model)),
            history.forecast(HeatMethod::Model(&back))
        );
    }

    #[test]
    fn too_little_data_is_an_error_not_a_model() {
        let series = vec![bursty_series("v", 1, 0)];
        let err = HeatModel::fit(&series, 1.0, &HeatModelParams::default()).unwrap_err();
        assert_eq!(err.kind, PredictErrorKind::Training);
    }
}
