//! The demand forecaster: predicts a volume's next-window demand (its working set in
//! bytes, which sizes its fast-tier reservations) from its recent windows, and the two
//! baselines it is judged against, last value and EWMA.
//!
//! The trained model is a per-class linear regression (smartcore, SVD solver) in log
//! space on the last two demands and their EWMA. A class keeps its fit only if the fit
//! beats both baselines on the class's training windows, else it uses the better
//! baseline; a class with too few training windows falls back to the pooled choice. [`compare_forecasters`] fits on the first part of every
//! series and scores all three on the held-out rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::linear_regression::{LinearRegression, LinearRegressionParameters};

use crate::class::WorkloadClass;
use crate::error::{PredictError, PredictErrorKind};

/// Smoothing factor of the EWMA baseline and of the model's EWMA input.
pub const EWMA_ALPHA: f64 = 0.3;
/// A class needs this many training transitions for its own fit.
const MIN_CLASS_SAMPLES: usize = 12;

/// What a forecaster remembers of one volume's demand series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DemandHistory {
    last: Option<f64>,
    previous: Option<f64>,
    ewma: Option<f64>,
}

impl DemandHistory {
    /// Adds the demand of the window that just closed.
    pub fn push(&mut self, demand: f64) {
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
    Fit(LogLinear),
}

impl ForecastMethod {
    fn forecast(&self, history: &DemandHistory) -> Option<f64> {
        match self {
            ForecastMethod::LastValue => history.last_value(),
            ForecastMethod::Ewma => history.ewma(),
            ForecastMethod::Fit(fit) => history.inputs().map(|inputs| fit.predict(inputs)),
        }
    }
}

/// The trained forecaster: one fit per class plus a pooled one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandForecaster {
    pooled: ForecastMethod,
    per_class: BTreeMap<String, ForecastMethod>,
}

impl Default for DemandForecaster {
    fn default() -> Self {
        Self {
            pooled: ForecastMethod::LastValue,
            per_class: BTreeMap::new(),
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
        let method = self.per_class.get(class.name()).unwrap_or(&self.pooled);
        method.forecast(history)
    }

    /// Fits on every transition of every series (the first `train_share` of each).
    pub fn fit(series: &[DemandSeries], train_share: f64) -> Result<Self, PredictError> {
        let mut by_class: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
        let mut pooled: Vec<Sample> = Vec::new();
        for s in series {
            let cut = training_cut(s.demand.len(), train_share);
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
                    last: history.last_value().unwrap_or(0.0),
                    ewma: history.ewma().unwrap_or(0.0),
                    next,
                };
                by_class.entry(s.class.name()).or_default().push(sample);
                pooled.push(sample);
            }
        }
        let mut forecaster = Self::default();
        if pooled.len() >= MIN_CLASS_SAMPLES {
            forecaster.pooled = choose_method(&pooled)?;
        }
        for (class, samples) in by_class {
            if samples.len() >= MIN_CLASS_SAMPLES {
                forecaster
                    .per_class
                    .insert(class.to_owned(), choose_method(&samples)?);
            }
        }
        Ok(forecaster)
    }
}

fn training_cut(len: usize, train_share: f64) -> usize {
    ((len as f64 * train_share.clamp(0.0, 1.0)).round() as usize).min(len)
}

/// One training transition: the inputs, both baselines' forecasts and the truth.
#[derive(Debug, Clone, Copy)]
struct Sample {
    inputs: [f64; 3],
    last: f64,
    ewma: f64,
    next: f64,
}

/// Fits the log-linear model and keeps whichever of it and the baselines has the lowest
/// mean absolute error on the training samples.
fn choose_method(samples: &[Sample]) -> Result<ForecastMethod, PredictError> {
    use smartcore::linalg::basic::arrays::Array;
    let error = |e: smartcore::error::Failed| {
        PredictError::new(PredictErrorKind::Training, "forecaster", e.to_string())
    };
    let x: Vec<Vec<f64>> = samples.iter().map(|s| s.inputs.to_vec()).collect();
    let y: Vec<f64> = samples.iter().map(|s| log(s.next)).collect();
    let matrix = DenseMatrix::from_2d_vec(&x).map_err(error)?;
    let fit: LinearRegression<f64, f64, DenseMatrix<f64>, Vec<f64>> =
        LinearRegression::fit(&matrix, &y, LinearRegressionParameters::default()).map_err(error)?;
    let coefficients = fit.coefficients();
    let fitted = LogLinear {
        intercept: *fit.intercept(),
        weights: [0, 1, 2].map(|i| *coefficients.get((i, 0))),
    };
    let mae = |forecast: &dyn Fn(&Sample) -> f64| {
        samples
            .iter()
            .map(|s| (forecast(s) - s.next).abs())
            .sum::<f64>()
            / samples.len() as f64
    };
    let last = mae(&|s| s.last);
    let ewma = mae(&|s| s.ewma);
    // A singular fit (constant series) gives NaN coefficients and loses to the baselines.
    let model = if fitted.intercept.is_finite() && fitted.weights.iter().all(|w| w.is_finite()) {
        mae(&|s| fitted.predict(s.inputs))
    } else {
        f64::INFINITY
    };
    Ok(if model < last && model < ewma {
        ForecastMethod::Fit(fitted)
    } else if ewma <= last {
        ForecastMethod::Ewma
    } else {
        ForecastMethod::LastValue
    })
}

/// Mean absolute forecast errors (bytes) on held-out windows, per class.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForecastComparison {
    /// class → (forecasts scored, MAE last value, MAE EWMA, MAE model).
    pub per_class: BTreeMap<String, (usize, f64, f64, f64)>,
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
    Ok(ForecastComparison { per_class })
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
}
