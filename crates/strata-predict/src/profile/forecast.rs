//! The demand forecaster: predicts a volume's next-window demand (its working set in
//! bytes, which sizes its fast-tier reservations) from its recent windows, and the two
//! baselines it is judged against, last value and EWMA.
//!
//! Candidates per class: last value, EWMA, the running mean, an *adaptive* forecast, a
//! linear regression (smartcore, SVD solver) in log space on the last two demands and their
//! EWMA, and [`DemandTrees`]: LAD-boosted trees over the scale-free history, fitted on every
//! series together (as the heat forecaster's, `heat.rs`). The adaptive forecast follows,
//! per volume, whichever of last value, EWMA and running mean has the lowest decayed
//! absolute error on that volume's own windows so far: a volume whose demand persists is
//! forecast by its last value, one whose windows vary around a level by its mean. Each
//! class keeps the candidate with the lowest mean absolute error on the validation part of
//! its training windows (the fits learn from the earlier part); a class with too few
//! training windows uses the pooled choice. [`compare_forecasters`] fits on the first part of every series and scores
//! the chosen method and both baselines on the held-out rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::linear_regression::{LinearRegression, LinearRegressionParameters};

use super::heat::{HeatModelParams, LadTrees, model_row};
use crate::class::WorkloadClass;
use crate::error::{PredictError, PredictErrorKind};

/// Smoothing factor of the EWMA baseline and of the model's EWMA input.
pub const EWMA_ALPHA: f64 = 0.3;
/// A class needs this many training transitions for its own fit.
const MIN_CLASS_SAMPLES: usize = 12;
/// Per window, the adaptive forecast's error sums keep this share of their past.
const ERROR_DECAY: f64 = 0.8;
/// Share of each series' training windows held back to choose a class's method.
const VALIDATION_SHARE: f64 = 0.3;
/// Windows the adaptive forecast scores before it trusts its errors (EWMA until then).
const ADAPTIVE_MIN_SCORED: u32 = 2;

/// What a forecaster remembers of one volume's demand series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DemandHistory {
    last: Option<f64>,
    previous: Option<f64>,
    ewma: Option<f64>,
    sum: f64,
    windows: u32,
    /// Decayed absolute errors of the last-value, EWMA and mean forecasts of this volume.
    errors: [f64; 3],
    scored: u32,
}

impl DemandHistory {
    /// Adds the demand of the window that just closed.
    pub fn push(&mut self, demand: f64) {
        if let Some(candidates) = self.candidates() {
            for (error, forecast) in self.errors.iter_mut().zip(candidates) {
                *error = ERROR_DECAY * *error + (forecast - demand).abs();
            }
            self.scored = self.scored.saturating_add(1);
        }
        self.sum += demand;
        self.windows = self.windows.saturating_add(1);
        self.previous = self.last;
        self.last = Some(demand);
        self.ewma = Some(match self.ewma {
            Some(e) => EWMA_ALPHA * demand + (1.0 - EWMA_ALPHA) * e,
            None => demand,
        });
    }

    pub fn last_value(&self) -> Option<f64> {
        self.last
    }

    pub fn ewma(&self) -> Option<f64> {
        self.ewma
    }

    /// Mean demand of every window so far.
    pub fn mean(&self) -> Option<f64> {
        (self.windows > 0).then(|| self.sum / f64::from(self.windows))
    }

    /// The forecast of whichever of last value, EWMA and mean has done best on this volume.
    pub fn adaptive(&self) -> Option<f64> {
        let candidates = self.candidates()?;
        if self.scored < ADAPTIVE_MIN_SCORED {
            return self.ewma;
        }
        let best = (0..3)
            .min_by(|&a, &b| self.errors[a].total_cmp(&self.errors[b]))
            .unwrap_or(1);
        Some(candidates[best])
    }

    fn candidates(&self) -> Option<[f64; 3]> {
        Some([self.last?, self.ewma?, self.mean()?])
    }

    /// The regression inputs: log demand now, a window ago, and of the EWMA.
    fn inputs(&self) -> Option<[f64; 3]> {
        let last = self.last?;
        Some([
            log(last),
            log(self.previous.unwrap_or(last)),
            log(self.ewma.unwrap_or(last)),
        ])
    }
}

impl DemandHistory {
    /// The trees' inputs, scale-free, and the scale (last + EWMA) their multiple applies to.
    fn tree_inputs(&self) -> Option<(Vec<f32>, f64)> {
        let last = self.last?;
        let ewma = self.ewma.unwrap_or(last);
        let scale = last + ewma;
        if scale <= 0.0 {
            return None;
        }
        let share = |x: f64| (x / scale) as f32;
        Some((
            vec![
                share(last),
                share(self.previous.unwrap_or(last)),
                share(self.mean().unwrap_or(last)),
            ],
            scale,
        ))
    }
}

/// Inputs of the demand trees.
const DEMAND_TREE_FEATURES: usize = 3;

/// Settings of the demand trees: the series are short, so the trees are shallow and
/// their leaves small.
fn demand_tree_params() -> HeatModelParams {
    HeatModelParams {
        trees: 60,
        max_depth: 3,
        shrinkage: 0.1,
        min_leaf_size: 5,
    }
}

/// Gradient-boosted LAD trees over a volume's scale-free demand history (as the heat
/// forecaster's, `heat.rs`): the next demand as a multiple of last + EWMA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DemandTrees {
    trees: LadTrees,
}

impl DemandTrees {
    /// Fits on `rows` of (history, next demand), each series' rows weighted to the same
    /// total; `None` when there are too few rows.
    fn fit(series_rows: &[Vec<(DemandHistory, f64)>]) -> Result<Option<Self>, PredictError> {
        let mut data = Vec::new();
        for rows in series_rows {
            let inputs: Vec<(Vec<f32>, f64, f64)> = rows
                .iter()
                .filter_map(|(h, next)| h.tree_inputs().map(|(x, scale)| (x, scale, *next)))
                .collect();
            if inputs.is_empty() {
                continue;
            }
            let mean_scale = inputs.iter().map(|r| r.1).sum::<f64>() / inputs.len() as f64;
            for (x, scale, next) in inputs {
                data.push(model_row(
                    x,
                    (scale / mean_scale) as f32,
                    (next / scale) as f32,
                ));
            }
        }
        match LadTrees::fit(
            data,
            DEMAND_TREE_FEATURES,
            &demand_tree_params(),
            "demand trees",
        ) {
            Ok(trees) => Ok(Some(Self { trees })),
            Err(e) if e.kind == PredictErrorKind::Training => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn predict(&self, history: &DemandHistory) -> Option<f64> {
        let (inputs, scale) = history.tree_inputs()?;
        let multiple = self.trees.predict(vec![inputs]).pop()?;
        Some(f64::from(multiple) * scale)
    }
}

fn log(x: f64) -> f64 {
    x.max(0.0).ln_1p()
}

/// Intercept and weights of one linear fit in log space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogLinear {
    pub intercept: f64,
    pub weights: [f64; 3],
}

impl LogLinear {
    fn predict(&self, inputs: [f64; 3]) -> f64 {
        let z = self.intercept
            + self
                .weights
                .iter()
                .zip(inputs)
                .map(|(w, x)| w * x)
                .sum::<f64>();
        // Stay within the range of logs of real demands (about 1 EiB).
        z.clamp(0.0, 42.0).exp_m1()
    }
}

/// How a class is forecast: the fit, or a baseline where the fit did not beat it on the
/// training windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastMethod {
    LastValue,
    Ewma,
    Mean,
    Adaptive,
    Fit(LogLinear),
    /// The forecaster's [`DemandTrees`].
    Trees,
}

impl ForecastMethod {
    fn forecast(&self, history: &DemandHistory, trees: Option<&DemandTrees>) -> Option<f64> {
        match self {
            ForecastMethod::LastValue => history.last_value(),
            ForecastMethod::Ewma => history.ewma(),
            ForecastMethod::Mean => history.mean(),
            ForecastMethod::Adaptive => history.adaptive(),
            ForecastMethod::Fit(fit) => history.inputs().map(|inputs| fit.predict(inputs)),
            // Without trees (or inputs for them), EWMA.
            ForecastMethod::Trees => trees.and_then(|t| t.predict(history)).or(history.ewma()),
        }
    }

    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            ForecastMethod::LastValue => "last value",
            ForecastMethod::Ewma => "EWMA",
            ForecastMethod::Mean => "mean",
            ForecastMethod::Adaptive => "adaptive",
            ForecastMethod::Fit(_) => "log-linear fit",
            ForecastMethod::Trees => "trees",
        }
    }
}

/// The trained forecaster: one fit per class plus a pooled one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandForecaster {
    pooled: ForecastMethod,
    per_class: BTreeMap<String, ForecastMethod>,
    /// Trees fitted on every series together; files without them still load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trees: Option<DemandTrees>,
}

impl Default for DemandForecaster {
    fn default() -> Self {
        Self {
            pooled: ForecastMethod::LastValue,
            per_class: BTreeMap::new(),
            trees: None,
        }
    }
}

/// One volume's demand series and class, for fitting and evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandSeries {
    pub class: WorkloadClass,
    pub group: String,
    pub demand: Vec<f64>,
}

impl DemandForecaster {
    /// Forecast of the next window's demand for a volume of `class`; `None` before the
    /// first window.
    pub fn forecast(&self, class: WorkloadClass, history: &DemandHistory) -> Option<f64> {
        self.method(class).forecast(history, self.trees.as_ref())
    }

    /// The method `class` is forecast with.
    pub fn method(&self, class: WorkloadClass) -> &ForecastMethod {
        self.per_class.get(class.name()).unwrap_or(&self.pooled)
    }

    /// Fits on every transition of every series (the first `train_share` of each).
    pub fn fit(series: &[DemandSeries], train_share: f64) -> Result<Self, PredictError> {
        let mut by_class: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
        let mut pooled: Vec<Sample> = Vec::new();
        let mut tree_rows: Vec<Vec<(DemandHistory, f64)>> = Vec::new();
        for s in series {
            let mut rows = Vec::new();
            let cut = training_cut(s.demand.len(), train_share);
            let validation_from = training_cut(cut, 1.0 - VALIDATION_SHARE);
            let mut history = DemandHistory::default();
            for window in 0..cut {
                history.push(s.demand[window]);
                let (Some(inputs), Some(&next)) = (history.inputs(), s.demand.get(window + 1))
                else {
                    continue;
                };
                if window + 1 >= cut {
                    continue;
                }
                let sample = Sample {
                    inputs,
                    history,
                    next,
                    validation: window + 1 >= validation_from,
                };
                if !sample.validation {
                    rows.push((history, next));
                }
                by_class.entry(s.class.name()).or_default().push(sample);
                pooled.push(sample);
            }
            tree_rows.push(rows);
        }
        // The trees learn from the earlier training windows of every series; like the
        // log-linear fit they are chosen for a class only on its validation windows.
        let mut forecaster = Self {
            trees: DemandTrees::fit(&tree_rows)?,
            ..Self::default()
        };
        let trees = forecaster.trees.clone();
        if pooled.len() >= MIN_CLASS_SAMPLES {
            forecaster.pooled = choose_method(&pooled, trees.as_ref())?;
        }
        for (class, samples) in by_class {
            if samples.len() >= MIN_CLASS_SAMPLES {
                forecaster
                    .per_class
                    .insert(class.to_owned(), choose_method(&samples, trees.as_ref())?);
            }
        }
        Ok(forecaster)
    }
}

pub(crate) fn training_cut(len: usize, train_share: f64) -> usize {
    ((len as f64 * train_share.clamp(0.0, 1.0)).round() as usize).min(len)
}

/// One training transition: the regression inputs, the history they came from and the
/// truth.
#[derive(Debug, Clone, Copy)]
struct Sample {
    inputs: [f64; 3],
    history: DemandHistory,
    next: f64,
    /// In the last [`VALIDATION_SHARE`] of its series' training part: used to choose the
    /// method, never to fit it.
    validation: bool,
}

/// Fits the log-linear model on the earlier training samples and keeps whichever
/// candidate has the lowest mean absolute error on the later ones (the validation
/// samples; the earlier in the list on a tie). Choosing on the samples a fit was made on
/// would favour the fit, which then loses on new windows.
fn choose_method(
    samples: &[Sample],
    trees: Option<&DemandTrees>,
) -> Result<ForecastMethod, PredictError> {
    use smartcore::linalg::basic::arrays::Array;
    let error = |e: smartcore::error::Failed| {
        PredictError::new(PredictErrorKind::Training, "forecaster", e.to_string())
    };
    let (validation, fitting): (Vec<Sample>, Vec<Sample>) =
        samples.iter().partition(|s| s.validation);
    let (fitting, validation) = if fitting.len() < 3 || validation.is_empty() {
        (samples.to_vec(), samples.to_vec())
    } else {
        (fitting, validation)
    };
    let x: Vec<Vec<f64>> = fitting.iter().map(|s| s.inputs.to_vec()).collect();
    let y: Vec<f64> = fitting.iter().map(|s| log(s.next)).collect();
    let matrix = DenseMatrix::from_2d_vec(&x).map_err(error)?;
    let fit: LinearRegression<f64, f64, DenseMatrix<f64>, Vec<f64>> =
        LinearRegression::fit(&matrix, &y, LinearRegressionParameters::default()).map_err(error)?;
    let coefficients = fit.coefficients();
    let fitted = LogLinear {
        intercept: *fit.intercept(),
        weights: [0, 1, 2].map(|i| *coefficients.get((i, 0))),
    };
    // A singular fit (constant series) gives NaN coefficients and is not a candidate.
    let fit_is_finite =
        fitted.intercept.is_finite() && fitted.weights.iter().all(|w| w.is_finite());
    let mut candidates = vec![
        ForecastMethod::LastValue,
        ForecastMethod::Ewma,
        ForecastMethod::Mean,
        ForecastMethod::Adaptive,
    ];
    if fit_is_finite {
        candidates.push(ForecastMethod::Fit(fitted));
    }
    if trees.is_some() {
        candidates.push(ForecastMethod::Trees);
    }
    let mae = |method: &ForecastMethod| {
        validation
            .iter()
            .map(|s| (method.forecast(&s.history, trees).unwrap_or(0.0) - s.next).abs())
            .sum::<f64>()
            / validation.len() as f64
    };
    let mut best = (ForecastMethod::LastValue, f64::INFINITY);
    for method in candidates {
        let error = mae(&method);
        if error < best.1 {
            best = (method, error);
        }
    }
    Ok(best.0)
}

/// Mean absolute forecast errors (bytes) on held-out windows, per class.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForecastComparison {
    /// class → (forecasts scored, MAE last value, MAE EWMA, MAE model).
    pub per_class: BTreeMap<String, (usize, f64, f64, f64)>,
    /// class → the method the model forecasts it with.
    pub methods: BTreeMap<String, &'static str>,
}

impl ForecastComparison {
    /// The method with the lowest error for `class` (`last`, `ewma` or `model`).
    pub fn winner(&self, class: &str) -> Option<&'static str> {
        let &(_, last, ewma, model) = self.per_class.get(class)?;
        Some(if model < last && model < ewma {
            "model"
        } else if ewma <= last {
            "ewma"
        } else {
            "last"
        })
    }

    /// Scored forecasts and errors over every class together.
    pub fn overall(&self) -> (usize, f64, f64, f64) {
        let n: usize = self.per_class.values().map(|v| v.0).sum();
        let weighted = |pick: fn(&(usize, f64, f64, f64)) -> f64| {
            self.per_class
                .values()
                .map(|v| pick(v) * v.0 as f64)
                .sum::<f64>()
                / n.max(1) as f64
        };
        (n, weighted(|v| v.1), weighted(|v| v.2), weighted(|v| v.3))
    }
}

/// Fits on the first `train_share` of every series and scores last value, EWMA and the
/// model on the forecasts of the remaining windows.
pub fn compare_forecasters(
    series: &[DemandSeries],
    train_share: f64,
) -> Result<ForecastComparison, PredictError> {
    let model = DemandForecaster::fit(series, train_share)?;
    let mut sums: BTreeMap<String, (usize, f64, f64, f64)> = BTreeMap::new();
    for s in series {
        let cut = training_cut(s.demand.len(), train_share);
        let mut history = DemandHistory::default();
        for (window, &demand) in s.demand.iter().enumerate() {
            if window >= cut.max(1)
                && let (Some(last), Some(ewma), Some(forecast)) = (
                    history.last_value(),
                    history.ewma(),
                    model.forecast(s.class, &history),
                )
            {
                let entry = sums.entry(s.class.name().to_owned()).or_default();
                entry.0 += 1;
                entry.1 += (last - demand).abs();
                entry.2 += (ewma - demand).abs();
                entry.3 += (forecast - demand).abs();
            }
            history.push(demand);
        }
    }
    let per_class = sums
        .into_iter()
        .map(|(class, (n, last, ewma, model))| {
            let d = n.max(1) as f64;
            (class, (n, last / d, ewma / d, model / d))
        })
        .collect();
    let methods = series
        .iter()
        .map(|s| (s.class.name().to_owned(), model.method(s.class).name()))
        .collect();
    Ok(ForecastComparison { per_class, methods })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_and_last_value_follow_their_definitions() {
        let mut h = DemandHistory::default();
        h.push(100.0);
        h.push(200.0);
        assert_eq!(h.last_value(), Some(200.0));
        assert!((h.ewma().unwrap_or(0.0) - (0.3 * 200.0 + 0.7 * 100.0)).abs() < 1e-9);
        let untrained = DemandForecaster::default();
        let f = untrained.forecast(WorkloadClass::Web, &h).unwrap_or(0.0);
        assert!((f - 200.0).abs() < 1e-6, "{f}");
    }

    #[test]
    fn a_mean_reverting_series_is_forecast_better_than_last_value() {
        // Alternating demand around a level: last value is always far off.
        let series: Vec<DemandSeries> = (0..4)
            .map(|g| DemandSeries {
                class: WorkloadClass::Database,
                group: format!("v{g}"),
                demand: (0..60)
                    .map(|i| if i % 2 == 0 { 1000.0 } else { 3000.0 })
                    .collect(),
            })
            .collect();
        let comparison = compare_forecasters(&series, 0.7).unwrap();
        let &(n, last, _, model) = comparison.per_class.get("database").unwrap();
        assert!(n > 0);
        assert!(model < 0.5 * last, "model {model} last {last}");
        assert_eq!(comparison.winner("database"), Some("model"));
    }

    /// Demands drawn independently around a level: the best forecast is the mean; last
    /// value chases every draw.
    fn noisy_level(seed: u64, windows: usize) -> Vec<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..windows)
            .map(|_| rng.random_range(500.0..1500.0))
            .collect()
    }

    /// Volumes of very different sizes repeat one shape (two quiet windows, then a busy one
    /// four times their size): the scale-free trees learn the shape once for all of them.
    #[test]
    fn a_shape_shared_across_scales_is_learnt_by_the_trees() {
        let series: Vec<DemandSeries> = (0..6u32)
            .map(|g| {
                let level = 10f64.powi(g as i32 % 3 + 3) * f64::from(g + 1);
                DemandSeries {
                    class: WorkloadClass::Vdi,
                    group: format!("v{g}"),
                    demand: (0..36)
                        .map(|w| if w % 3 == 2 { 4.0 * level } else { level })
                        .collect(),
                }
            })
            .collect();
        let comparison = compare_forecasters(&series, 0.7).unwrap();
        let &(n, _, ewma, model) = comparison.per_class.get("vdi").unwrap();
        assert!(n > 0);
        assert_eq!(comparison.methods["vdi"], "trees", "{comparison:?}");
        assert!(model < 0.3 * ewma, "model {model} ewma {ewma}");
        // And the trees survive the model file.
        let fitted = DemandForecaster::fit(&series, 1.0).unwrap();
        let back: DemandForecaster =
            serde_json::from_str(&serde_json::to_string(&fitted).unwrap()).unwrap();
        let mut history = DemandHistory::default();
        for &d in &series[0].demand[..7] {
            history.push(d);
        }
        assert_eq!(
            fitted.forecast(WorkloadClass::Vdi, &history),
            back.forecast(WorkloadClass::Vdi, &history)
        );
    }

    #[test]
    fn windows_that_vary_around_a_level_are_forecast_by_their_mean() {
        let series: Vec<DemandSeries> = (0..6)
            .map(|g| DemandSeries {
                class: WorkloadClass::Backup,
                group: format!("v{g}"),
                demand: noisy_level(g, 40),
            })
            .collect();
        let comparison = compare_forecasters(&series, 0.7).unwrap();
        let &(n, last, ewma, model) = comparison.per_class.get("backup").unwrap();
        assert!(n > 0);
        // Independent draws: the mean's error is well below last value's and about
        // EWMA's (uniform draws: E|X - mean| = 250 here, EWMA(0.3) about 270).
        assert!(
            model < 0.85 * last && model < 1.1 * ewma,
            "model {model} ewma {ewma} last {last} {:?}",
            comparison.methods
        );
        let method = comparison.methods["backup"];
        assert!(matches!(method, "mean" | "adaptive"), "{method}");
    }

    #[test]
    fn the_adaptive_forecast_follows_the_candidate_that_does_best_on_this_volume() {
        // A level that steps up and stays: last value is right after one window.
        let mut stepping = DemandHistory::default();
        for demand in [100.0, 100.0, 5000.0, 5000.0, 5000.0, 5000.0] {
            stepping.push(demand);
        }
        assert_eq!(stepping.adaptive(), Some(5000.0));
        // Independent draws around a level: it stops chasing the last window.
        let (mut noisy, mut adaptive_error, mut last_error) = (DemandHistory::default(), 0.0, 0.0);
        for demand in noisy_level(7, 200) {
            if let (Some(a), Some(l)) = (noisy.adaptive(), noisy.last_value()) {
                adaptive_error += (a - demand).abs();
                last_error += (l - demand).abs();
            }
            noisy.push(demand);
        }
        assert!(
            adaptive_error < 0.85 * last_error,
            "adaptive {adaptive_error} last {last_error}"
        );
        // Before two scored windows it is the EWMA.
        let mut fresh = DemandHistory::default();
        fresh.push(10.0);
        fresh.push(30.0);
        assert_eq!(fresh.adaptive(), fresh.ewma());
    }
}
