//! Refitting the demand forecaster from a server's own recent windows, and the rule that
//! decides whether the refit replaces the model in use: both are scored on the same
//! held-out windows (the newest of every series, never seen by the fit), and the
//! candidate wins only with a strictly lower mean absolute error by at least a margin.

use serde::Serialize;

use super::forecast::{DemandForecaster, DemandHistory, DemandSeries};
use crate::error::PredictError;

/// A forecaster's error on held-out windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastScore {
    /// Forecasts scored.
    pub windows: usize,
    /// Mean absolute error of those forecasts, bytes.
    pub mae_bytes: f64,
}

/// What one refit produced and whether it was taken.
#[derive(Debug)]
pub struct RefitOutcome {
    pub candidate: DemandForecaster,
    pub candidate_score: ForecastScore,
    pub current_score: ForecastScore,
    pub replace: bool,
}

/// Scores `forecaster` on the last `held_out` windows of every series, each forecast made
/// from the whole series before it.
pub fn score_forecaster(
    forecaster: &DemandForecaster,
    series: &[DemandSeries],
    held_out: usize,
) -> ForecastScore {
    let mut windows = 0usize;
    let mut error = 0.0;
    for s in series {
        let first_scored = s.demand.len().saturating_sub(held_out).max(1);
        let mut history = DemandHistory::default();
        for (index, &demand) in s.demand.iter().enumerate() {
            if index >= first_scored
                && let Some(forecast) = forecaster.forecast(s.class, &history)
            {
                windows += 1;
                error += (forecast - demand).abs();
            }
            history.push(demand);
        }
    }
    ForecastScore {
        windows,
        mae_bytes: if windows == 0 {
            f64::INFINITY
        } else {
            error / windows as f64
        },
    }
}

/// The replacement rule: a candidate replaces the current model only when both were
/// scored on the same, non-empty held-out set and the candidate's error is below
/// `(1 − min_gain)` times the current one's.
pub fn replace_if_better(
    current: &ForecastScore,
    candidate: &ForecastScore,
    min_gain: f64,
) -> bool {
    candidate.windows > 0
        && candidate.windows == current.windows
        && candidate.mae_bytes.is_finite()
        && candidate.mae_bytes < current.mae_bytes * (1.0 - min_gain.clamp(0.0, 1.0))
}

/// Fits a candidate on every series without its last `held_out` windows and scores it and
/// `current` on those windows.
pub fn refit_forecaster(
    current: &DemandForecaster,
    series: &[DemandSeries],
    held_out: usize,
    min_gain: f64,
) -> Result<RefitOutcome, PredictError> {
    let training: Vec<DemandSeries> = series
        .iter()
        .map(|s| DemandSeries {
            class: s.class,
            group: s.group.clone(),
            demand: s.demand[..s.demand.len().saturating_sub(held_out)].to_vec(),
        })
        .collect();
    let candidate = DemandForecaster::fit(&training, 1.0)?;
    let candidate_score = score_forecaster(&candidate, series, held_out);
    let current_score = score_forecaster(current, series, held_out);
    let replace = replace_if_better(&current_score, &candidate_score, min_gain);
    Ok(RefitOutcome {
        candidate,
        candidate_score,
        current_score,
        replace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::WorkloadClass;

    fn score(windows: usize, mae_bytes: f64) -> ForecastScore {
        ForecastScore { windows, mae_bytes }
    }

    #[test]
    fn only_a_strictly_better_score_on_the_same_windows_replaces() {
        assert!(replace_if_better(&score(10, 100.0), &score(10, 80.0), 0.05));
        assert!(!replace_if_better(
            &score(10, 100.0),
            &score(10, 100.0),
            0.0
        ));
        assert!(!replace_if_better(
            &score(10, 100.0),
            &score(10, 97.0),
            0.05
        ));
        assert!(!replace_if_better(&score(10, 100.0), &score(9, 10.0), 0.05));
        assert!(!replace_if_better(
            &score(0, f64::INFINITY),
            &score(0, 1.0),
            0.05
        ));
        assert!(!replace_if_better(
            &score(4, 100.0),
            &score(4, f64::NAN),
            0.05
        ));
    }

    fn alternating(volumes: usize) -> Vec<DemandSeries> {
        (0..volumes)
            .map(|v| DemandSeries {
                class: WorkloadClass::Database,
                group: format!("v{v}"),
                demand: (0..40)
                    .map(|i| if i % 2 == 0 { 1e6 } else { 3e6 })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn a_refit_that_learns_the_pattern_replaces_last_value() {
        // The untrained forecaster is last value, always off by 2 MB on this series.
        let outcome =
            refit_forecaster(&DemandForecaster::default(), &alternating(3), 4, 0.05).unwrap();
        assert_eq!(outcome.current_score.windows, 12);
        assert!((outcome.current_score.mae_bytes - 2e6).abs() < 1.0);
        assert!(outcome.candidate_score.mae_bytes < 0.5 * 2e6);
        assert!(outcome.replace);
        // The refit model is not replaced by a refit of itself on the same data.
        let again = refit_forecaster(&outcome.candidate, &alternating(3), 4, 0.05).unwrap();
        assert!(!again.replace);
    }
}
