//! The workload classifier: a bagged forest of smartcore CART trees, each grown on a
//! bootstrap sample of the labelled windows and a random subset of the features (a random
//! forest with per-tree feature subspaces). The confidence of a class is its share of the
//! trees' votes; windows no class wins with [`MIN_CONFIDENCE`] are `unknown`.
//!
//! [`cross_validate`] reports k-fold accuracy and a confusion matrix; folds are either
//! window-stratified or hold out whole groups (a trace, a synthetic volume), which says
//! how the model does on a volume it has never seen.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters,
};

use crate::class::WorkloadClass;
use crate::error::{PredictError, PredictErrorKind};

/// Below this vote share the classifier answers `unknown`.
pub const MIN_CONFIDENCE: f64 = 0.4;

type Tree = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// One training example: a window's classifier features and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledWindow {
    pub class: WorkloadClass,
    pub features: Vec<f64>,
    /// Where the window came from (trace name, synthetic volume): group folds hold out
    /// whole groups.
    pub group: String,
}

/// Forest hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub trees: usize,
    pub max_depth: u16,
    pub min_samples_leaf: usize,
    /// Share of the features each tree sees.
    pub feature_share: f64,
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            trees: 25,
            max_depth: 10,
            min_samples_leaf: 2,
            feature_share: 0.6,
            seed: 5,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SubspaceTree {
    features: Vec<usize>,
    tree: Tree,
}

/// A trained classifier.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkloadClassifier {
    feature_count: usize,
    trees: Vec<SubspaceTree>,
}

/// A classifier's answer for one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    /// The winning class, or `unknown` below [`MIN_CONFIDENCE`].
    pub class: WorkloadClass,
    /// The winning class's vote share, whether or not it cleared the threshold.
    pub confidence: f64,
    /// The class with the most votes.
    pub top_class: WorkloadClass,
}

fn class_index(class: WorkloadClass) -> u32 {
    WorkloadClass::ALL
        .iter()
        .position(|&c| c == class)
        .unwrap_or(WorkloadClass::ALL.len() - 1) as u32
}

fn training_error(message: impl Into<String>) -> PredictError {
    PredictError::new(PredictErrorKind::Training, "classifier", message)
}

impl WorkloadClassifier {
    /// Grows the forest on `windows` (all with the same feature count).
    pub fn fit(windows: &[LabelledWindow], params: &ForestParams) -> Result<Self, PredictError> {
        let feature_count = windows
            .first()
            .map(|w| w.features.len())
            .ok_or_else(|| training_error("no labelled windows to train on"))?;
        if feature_count == 0 || windows.iter().any(|w| w.features.len() != feature_count) {
            return Err(training_error(
                "windows have differing or empty feature vectors",
            ));
        }
        if let Some(w) = windows
            .iter()
            .find(|w| w.features.iter().any(|v| !v.is_finite()))
        {
            return Err(training_error(format!(
                "a window of {} has a non-finite feature",
                w.group
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let subspace = ((feature_count as f64 * params.feature_share).round() as usize)
            .clamp(1, feature_count);
        let mut trees = Vec::with_capacity(params.trees);
        for tree_index in 0..params.trees.max(1) {
            let mut features: Vec<usize> = (0..feature_count).collect();
            features.shuffle(&mut rng);
            features.truncate(subspace);
            features.sort_unstable();
            let rows: Vec<&LabelledWindow> = (0..windows.len())
                .map(|_| &windows[rng.random_range(0..windows.len())])
                .collect();
            let x = matrix(rows.iter().map(|w| select(&w.features, &features)))?;
            let y: Vec<u32> = rows.iter().map(|w| class_index(w.class)).collect();
            let tree_params = DecisionTreeClassifierParameters::default()
                .with_max_depth(params.max_depth)
                .with_min_samples_leaf(params.min_samples_leaf);
            let tree_params = DecisionTreeClassifierParameters {
                seed: Some(params.seed.wrapping_add(tree_index as u64)),
                ..tree_params
            };
            let tree = Tree::fit(&x, &y, tree_params).map_err(|e| training_error(e.to_string()))?;
            trees.push(SubspaceTree { features, tree });
        }
        Ok(Self {
            feature_count,
            trees,
        })
    }

    /// The number of features the classifier expects.
    pub fn feature_count(&self) -> usize {
        self.feature_count
    }

    /// Classifies one window's feature vector.
    pub fn classify(&self, features: &[f64]) -> Result<Classification, PredictError> {
        if features.len() != self.feature_count {
            return Err(PredictError::new(
                PredictErrorKind::InvalidModel,
                "classifier",
                format!(
                    "expected {} features, got {}",
                    self.feature_count,
                    features.len()
                ),
            ));
        }
        let mut votes = [0u32; WorkloadClass::ALL.len()];
        for member in &self.trees {
            let x = matrix(std::iter::once(select(features, &member.features)))?;
            let predicted = member.tree.predict(&x).map_err(|e| {
                PredictError::new(PredictErrorKind::InvalidModel, "classifier", e.to_string())
            })?;
            if let Some(&class) = predicted.first() {
                votes[(class as usize).min(votes.len() - 1)] += 1;
            }
        }
        let (top, &top_votes) = votes
            .iter()
            .enumerate()
            .max_by_key(|&(index, &count)| (count, std::cmp::Reverse(index)))
            .unwrap_or((votes.len() - 1, &0));
        let confidence = f64::from(top_votes) / self.trees.len().max(1) as f64;
        let top_class = WorkloadClass::ALL[top];
        Ok(Classification {
            class: if confidence >= MIN_CONFIDENCE {
                top_class
            } else {
                WorkloadClass::Unknown
            },
            confidence,
            top_class,
        })
    }
}

fn select(features: &[f64], indices: &[usize]) -> Vec<f64> {
    indices.iter().map(|&i| features[i]).collect()
}

fn matrix(rows: impl Iterator<Item = Vec<f64>>) -> Result<DenseMatrix<f64>, PredictError> {
    let rows: Vec<Vec<f64>> = rows.collect();
    DenseMatrix::from_2d_vec(&rows).map_err(|e| training_error(e.to_string()))
}

/// How folds are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldKind {
    /// Windows shuffled and dealt round-robin per class.
    Stratified,
    /// Whole groups (traces, synthetic volumes) held out together.
    Group,
}

/// The result of a k-fold cross-validation.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossValidation {
    pub folds: usize,
    pub windows: usize,
    pub correct: usize,
    /// `confusion[true][predicted]`, indexed like [`WorkloadClass::ALL`].
    pub confusion: [[u64; 7]; 7],
}

impl CrossValidation {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.windows.max(1) as f64
    }

    /// Accuracy over the windows whose true class is `class` (None if it has none).
    pub fn class_accuracy(&self, class: WorkloadClass) -> Option<f64> {
        let row = &self.confusion[class_index(class) as usize];
        let total: u64 = row.iter().sum();
        (total > 0).then(|| row[class_index(class) as usize] as f64 / total as f64)
    }
}

/// k-fold cross-validation of a forest with `params` over `windows`.
pub fn cross_validate(
    windows: &[LabelledWindow],
    folds: usize,
    kind: FoldKind,
    params: &ForestParams,
) -> Result<CrossValidation, PredictError> {
    let folds = folds.max(2);
    let fold_of = assign_folds(windows, folds, kind, params.seed);
    let mut confusion = [[0u64; 7]; 7];
    let mut correct = 0;
    for fold in 0..folds {
        let train: Vec<LabelledWindow> = windows
            .iter()
            .zip(&fold_of)
            .filter(|&(_, &f)| f != fold)
            .map(|(w, _)| w.clone())
            .collect();
        if train.is_empty() || train.len() == windows.len() {
            continue;
        }
        let model = WorkloadClassifier::fit(&train, params)?;
        for (window, _) in windows.iter().zip(&fold_of).filter(|&(_, &f)| f == fold) {
            let predicted = model.classify(&window.features)?.class;
            confusion[class_index(window.class) as usize][class_index(predicted) as usize] += 1;
            correct += usize::from(predicted == window.class);
        }
    }
    let tested = confusion.iter().flatten().sum::<u64>() as usize;
    Ok(CrossValidation {
        folds,
        windows: tested,
        correct,
        confusion,
    })
}

fn assign_folds(windows: &[LabelledWindow], folds: usize, kind: FoldKind, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xf01d);
    let mut fold_of = vec![0; windows.len()];
    match kind {
        FoldKind::Stratified => {
            for class in WorkloadClass::ALL {
                let mut members: Vec<usize> = (0..windows.len())
                    .filter(|&i| windows[i].class == class)
                    .collect();
                members.shuffle(&mut rng);
                for (n, i) in members.into_iter().enumerate() {
                    fold_of[i] = n % folds;
                }
            }
        }
        FoldKind::Group => {
            let mut groups: Vec<&str> = windows.iter().map(|w| w.group.as_str()).collect();
            groups.sort_unstable();
            groups.dedup();
            groups.shuffle(&mut rng);
            for (i, window) in windows.iter().enumerate() {
                fold_of[i] = groups.iter().position(|&g| g == window.group).unwrap_or(0) % folds;
            }
        }
    }
    fold_of
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Vec<LabelledWindow> {
        (0..n)
            .map(|i| {
                let class = if i % 2 == 0 {
                    WorkloadClass::Backup
                } else {
                    WorkloadClass::Database
                };
                let x = if i % 2 == 0 { 0.9 } else { 0.1 } + (i % 7) as f64 * 0.01;
                LabelledWindow {
                    class,
                    features: vec![x, (i % 3) as f64],
                    group: format!("g{}", i % 5),
                }
            })
            .collect()
    }

    #[test]
    fn separable_classes_are_learnt() {
        let windows = toy(60);
        let model = WorkloadClassifier::fit(&windows, &ForestParams::default()).unwrap();
        let answer = model.classify(&[0.92, 1.0]).unwrap();
        assert_eq!(answer.class, WorkloadClass::Backup);
        assert!(answer.confidence > 0.5);
        assert!(model.classify(&[0.1]).is_err());
        let cv =
            cross_validate(&windows, 5, FoldKind::Stratified, &ForestParams::default()).unwrap();
        assert_eq!(cv.windows, 60);
        assert!(cv.accuracy() > 0.95, "{cv:?}");
        let cv = cross_validate(&windows, 5, FoldKind::Group, &ForestParams::default()).unwrap();
        assert_eq!(cv.windows, 60);
    }

    #[test]
    fn training_refuses_bad_input() {
        assert!(WorkloadClassifier::fit(&[], &ForestParams::default()).is_err());
        let mut windows = toy(4);
        windows[1].features[0] = f64::NAN;
        assert!(WorkloadClassifier::fit(&windows, &ForestParams::default()).is_err());
    }
}
