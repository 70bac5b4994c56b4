//! Training a [`WorkloadModel`] from labelled windows and demand series: the synthetic
//! mixes of every class (generated here, seeded) plus whatever real traces the caller
//! labelled, with stratified and group-held-out cross-validation and the forecaster's
//! comparison against its baselines.

use super::classify::{
    CrossValidation, FoldKind, ForestParams, LabelledWindow, WorkloadClassifier, cross_validate,
};
use super::forecast::{DemandForecaster, DemandSeries, ForecastComparison, compare_forecasters};
use super::heat::{
    HeatComparison, HeatModel, HeatModelParams, HeatSeries, compare_heat_forecasters,
};
use super::model::{TrainingSummary, WorkloadModel};
use super::synthetic::{SYNTHETIC_CLASSES, SyntheticStream};
use super::window::{WindowSpec, Windower};
use crate::error::{PredictError, PredictErrorKind};

/// Windows with fewer requests than this are too noisy to label.
pub const MIN_TRAINING_REQUESTS: u64 = 200;
/// Share of each demand series the forecaster is fitted on; the rest is held out.
pub const FORECAST_TRAIN_SHARE: f64 = 0.7;

/// Labelled windows and demand series, gathered from traces and synthetic mixes.
#[derive(Debug, Clone, Default)]
pub struct TrainingSet {
    pub windows: Vec<LabelledWindow>,
    pub series: Vec<DemandSeries>,
    /// Per-extent access counts per window, one series per volume.
    pub heat: Vec<HeatSeries>,
    /// One line per source: name, class and window count.
    pub sources: Vec<String>,
}

impl TrainingSet {
    /// Adds one volume's closed windows (in order) under `class` and `group`.
    pub fn add_volume(
        &mut self,
        class: crate::WorkloadClass,
        group: &str,
        windows: &[super::ClosedWindow],
    ) {
        let mut demand = Vec::with_capacity(windows.len());
        let mut kept = 0;
        for window in windows {
            let features = &window.profile.features;
            demand.push(features.working_set_bytes);
            if features.requests >= MIN_TRAINING_REQUESTS {
                kept += 1;
                self.windows.push(LabelledWindow {
                    class,
                    features: features.classifier_vector(),
                    group: group.to_owned(),
                });
            }
        }
        self.series.push(DemandSeries {
            class,
            group: group.to_owned(),
            demand,
        });
        self.heat.push(HeatSeries {
            class,
            group: group.to_owned(),
            windows: windows.iter().map(|w| w.extent_counts.clone()).collect(),
        });
        self.sources
            .push(format!("{group} ({class}, {kept} windows)"));
    }

    /// Adds `volumes` synthetic volumes of every class, each of `windows` windows.
    pub fn add_synthetic(&mut self, volumes: usize, windows: usize, spec: WindowSpec, seed: u64) {
        for class in SYNTHETIC_CLASSES {
            for volume in 0..volumes {
                let mut stream = SyntheticStream::new(
                    class,
                    seed.wrapping_mul(1000).wrapping_add(volume as u64),
                );
                let mut windower = Windower::new(spec);
                let mut closed = Vec::with_capacity(windows);
                while closed.len() < windows {
                    if let Some(window) = windower.push(&stream.next_request()) {
                        closed.push(window);
                    }
                }
                self.add_volume(class, &format!("synthetic-{class}-{volume}"), &closed);
            }
        }
    }
}

/// A trained model with its evaluation.
#[derive(Debug)]
pub struct TrainingReport {
    pub model: WorkloadModel,
    pub stratified: CrossValidation,
    pub grouped: CrossValidation,
    pub forecast: ForecastComparison,
    pub heat: HeatComparison,
}

/// Trains on everything in `set`, after `folds`-fold cross-validation.
pub fn train(
    set: &TrainingSet,
    params: &ForestParams,
    folds: usize,
) -> Result<TrainingReport, PredictError> {
    let stratified = cross_validate(&set.windows, folds, FoldKind::Stratified, params)?;
    let grouped = cross_validate(&set.windows, folds, FoldKind::Group, params)?;
    let forecast = compare_forecasters(&set.series, FORECAST_TRAIN_SHARE)?;
    let classifier = WorkloadClassifier::fit(&set.windows, params)?;
    let forecaster = DemandForecaster::fit(&set.series, 1.0)?;
    // Too few extent histories for the trees is not an error: the model then has no heat
    // forecaster and the server hands the policy none.
    let heat_params = HeatModelParams::default();
    let too_few = |e: &PredictError| e.kind == PredictErrorKind::Training;
    let heat = match compare_heat_forecasters(&set.heat, FORECAST_TRAIN_SHARE, &heat_params) {
        Err(e) if too_few(&e) => HeatComparison::default(),
        other => other?,
    };
    let heat_model = match HeatModel::fit(&set.heat, 1.0, &heat_params) {
        Err(e) if too_few(&e) => None,
        other => Some(other?),
    };
    let model = WorkloadModel {
        classifier,
        forecaster,
        heat: heat_model,
        training: TrainingSummary {
            sources: set.sources.clone(),
            windows: set.windows.len(),
            cv_folds: stratified.folds,
            cv_accuracy: stratified.accuracy(),
        },
    };
    Ok(TrainingReport {
        model,
        stratified,
        grouped,
        forecast,
        heat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkloadClass;
    use crate::profile::WindowProfiler;

    /// `volumes` synthetic volumes of every class, four 2,000-request windows each.
    fn synthetic_set(volumes: usize) -> TrainingSet {
        let mut set = TrainingSet::default();
        let spec = WindowSpec {
            max_ns: None,
            max_requests: Some(2000),
        };
        set.add_synthetic(volumes, 4, spec, 1);
        set
    }

    #[test]
    fn synthetic_classes_are_told_apart_and_backup_is_backup() {
        let set = synthetic_set(3);
        assert_eq!(set.windows.len(), SYNTHETIC_CLASSES.len() * 12);
        let params = ForestParams {
            trees: 9,
            ..ForestParams::default()
        };
        let report = train(&set, &params, 3).unwrap();
        assert!(
            report.stratified.accuracy() > 0.8,
            "{:?}",
            report.stratified
        );
        // A fresh sequential backup stream, never seen in training.
        let mut profiler = WindowProfiler::new();
        for request in SyntheticStream::new(WorkloadClass::Backup, 99).take_requests(2000) {
            profiler.observe(&request);
        }
        let features = profiler.finish().features;
        let answer = report
            .model
            .classifier
            .classify(&features.classifier_vector())
            .unwrap();
        assert_eq!(answer.class, WorkloadClass::Backup);
        assert!(report.model.heat.is_some());
        assert!(!report.heat.per_series.is_empty());
    }

    #[test]
    fn too_little_heat_history_gives_a_model_without_a_heat_forecaster() {
        let mut set = synthetic_set(2);
        set.heat.clear();
        let params = ForestParams {
            trees: 5,
            ..ForestParams::default()
        };
        let report = train(&set, &params, 2).unwrap();
        assert!(report.model.heat.is_none());
        assert!(report.heat.per_series.is_empty());
        let text = report.model.to_json().unwrap();
        assert!(WorkloadModel::from_json(&text).unwrap().heat.is_none());
    }
}
