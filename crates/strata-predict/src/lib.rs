//! `strata-predict`: access predictors and prefetch self-tuning, pure decision code that
//! the engine and the simulator run unchanged (no threads, files, sockets or clocks).
//!
//! The family is one trait, [`AccessPredictor`], and one file per member:
//! [`Readahead`] (Linux-style, the baseline), [`Stride`], [`Leap`] (majority trend),
//! [`Markov`] (delta correlation), [`Temporal`] (address correlation: replays what
//! followed a block's previous occurrence), [`Lstm`] (a learnt next-delta model, run with candle's
//! weights) and [`Auto`] (picks and blends the others by measured precision). `tests/conformance.rs` holds the test every member passes.
//! [`PrefetchTuner`] turns measured precision and fast-tier pressure into a depth and a
//! confidence threshold.
//!
//! [`profile`] holds workload profiling: window features, SHARDS miss-ratio curves, the
//! workload classifier, the demand forecaster and tier profiles.

mod access;
pub mod auto;
mod class;
mod error;
pub mod leap;
pub mod lstm;
pub mod markov;
pub mod profile;
pub mod readahead;
mod scoreboard;
mod streams;
pub mod stride;
pub mod temporal;
pub mod tuning;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use access::{Access, AccessPredictor, Prediction};
pub use auto::{Auto, AutoConfig, class_preference};
pub use class::WorkloadClass;
pub use error::{PredictError, PredictErrorKind};
pub use leap::{Leap, LeapConfig};
pub use lstm::{Lstm, LstmConfig, LstmModel, LstmShape, LstmTrainConfig, train_lstm};
pub use markov::{Markov, MarkovConfig};
pub use readahead::{Readahead, ReadaheadConfig};
pub use stride::{Stride, StrideConfig};
pub use temporal::{Temporal, TemporalConfig};
pub use tuning::{EpochOutcome, PrefetchTuner, TunerConfig, TunerState, fill_pressure};

/// The predictors `--predictor` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PredictorKind {
    Readahead,
    Stride,
    Leap,
    Markov,
    Auto,
    Lstm,
    Temporal,
}

impl PredictorKind {
    pub const ALL: [PredictorKind; 7] = [
        PredictorKind::Readahead,
        PredictorKind::Stride,
        PredictorKind::Leap,
        PredictorKind::Markov,
        PredictorKind::Temporal,
        PredictorKind::Auto,
        PredictorKind::Lstm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PredictorKind::Readahead => "readahead",
            PredictorKind::Stride => "stride",
            PredictorKind::Leap => "leap",
            PredictorKind::Markov => "markov",
            PredictorKind::Auto => "auto",
            PredictorKind::Lstm => "lstm",
            PredictorKind::Temporal => "temporal",
        }
    }

    /// A predictor with its default configuration (the LSTM with the shipped model).
    pub fn build(self) -> Box<dyn AccessPredictor> {
        self.build_with(&PredictorModels::default())
    }

    /// A predictor with its default configuration and the models in `models`.
    pub fn build_with(self, models: &PredictorModels) -> Box<dyn AccessPredictor> {
        match self {
            PredictorKind::Readahead => Box::new(Readahead::default()),
            PredictorKind::Stride => Box::new(Stride::default()),
            PredictorKind::Leap => Box::new(Leap::default()),
            PredictorKind::Markov => Box::new(Markov::default()),
            PredictorKind::Temporal => Box::new(Temporal::default()),
            PredictorKind::Auto => Box::new(Auto::default()),
            PredictorKind::Lstm => match &models.lstm {
                Some(model) => Box::new(Lstm::new(Arc::clone(model), LstmConfig::default())),
                None => Box::new(Lstm::default()),
            },
        }
    }
}

/// Models loaded at run time for the predictors that need one; a predictor whose model is
/// absent here uses the one shipped with the crate.
#[derive(Debug, Clone, Default)]
pub struct PredictorModels {
    pub lstm: Option<Arc<LstmModel>>,
}

impl fmt::Display for PredictorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PredictorKind {
    type Err = PredictError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == wanted)
            .ok_or_else(|| {
                PredictError::new(
                    PredictErrorKind::UnknownPredictor,
                    s,
                    "unknown predictor (known: readahead, stride, leap, markov, auto, lstm)",
                )
            })
    }
}

/// Parses a comma-separated `--predictor` list (`all` means every predictor).
pub fn parse_predictor_list(list: &str) -> Result<Vec<PredictorKind>, PredictError> {
    if list.trim().eq_ignore_ascii_case("all") {
        return Ok(PredictorKind::ALL.to_vec());
    }
    list.split(',').map(str::parse).collect()
}
