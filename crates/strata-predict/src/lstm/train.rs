//! Training of the LSTM model, pure: accesses in, model out. Deltas are taken per stream
//! (interleaved volumes never see each other's jumps); the vocabulary is the most frequent
//! non-zero deltas; every position with a full window of history is one sample (evenly
//! thinned to `max_samples`). Minibatch AdamW on cross-entropy, in candle on the CPU.
//!
//! Deterministic: weights start from a seeded ChaCha stream (not candle's unseeded
//! initialisers), the sample order is shuffled from the same seed, and candle's CPU
//! kernels reduce in a fixed order.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;

use super::model::{LstmModel, LstmShape, MAX_CLASSES, Net, TENSOR_NAMES};
use crate::access::{Access, block_delta};
use crate::error::{PredictError, PredictErrorKind};

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmTrainConfig {
    pub shape: LstmShape,
    /// Deltas that get a class of their own (class 0 takes the rest).
    pub vocabulary: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Samples per epoch at most; more are thinned evenly over the trace.
    pub max_samples: usize,
    pub seed: u64,
}

impl Default for LstmTrainConfig {
    fn default() -> Self {
        Self {
            shape: LstmShape::default(),
            vocabulary: 127,
            epochs: 4,
            batch: 256,
            learning_rate: 0.01,
            max_samples: 100_000,
            // `strata train`'s default seed.
            seed: 5,
        }
    }
}

/// One finished epoch, for progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean cross-entropy over the epoch's batches.
    pub loss: f32,
    pub samples: usize,
}

/// A trained model and its loss curve.
#[derive(Debug)]
pub struct LstmTraining {
    pub model: LstmModel,
    /// Mean cross-entropy before training, on the same samples.
    pub initial_loss: f32,
    pub losses: Vec<f32>,
    pub samples: usize,
}

fn training_error(message: impl Into<String>) -> PredictError {
    PredictError::new(PredictErrorKind::Training, "lstm", message)
}

fn candle_error(error: candle_core::Error) -> PredictError {
    training_error(error.to_string())
}

/// Per-stream delta sequences, streams in order of first access.
fn stream_deltas(accesses: &[Access]) -> Vec<Vec<i64>> {
    let mut index: FxHashMap<u64, usize> = FxHashMap::default();
    let mut last: Vec<u64> = Vec::new();
    let mut deltas: Vec<Vec<i64>> = Vec::new();
    for access in accesses {
        let next = index.len();
        let i = *index.entry(access.stream).or_insert(next);
        if i == last.len() {
            last.push(access.block);
            deltas.push(Vec::new());
            continue;
        }
        // Repeats of a block carry no delta, as in `Markov`.
        if last[i] != access.block {
            deltas[i].push(block_delta(last[i], access.block));
            last[i] = access.block;
        }
    }
    deltas
}

/// The `size` most frequent deltas, ties broken by value so the order is reproducible.
fn vocabulary(streams: &[Vec<i64>], size: usize) -> Vec<i64> {
    let mut counts: FxHashMap<i64, u64> = FxHashMap::default();
    for &delta in streams.iter().flatten() {
        *counts.entry(delta).or_default() += 1;
    }
    let mut ranked: Vec<(i64, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(size).map(|(d, _)| d).collect()
}

/// Seeded initial weights: PyTorch's uniform(±1/√hidden) for the LSTM and the head, a
/// forget-gate bias of 1 (remember by default), small uniform embeddings.
fn initial_weights(classes: usize, shape: &LstmShape, seed: u64) -> candle_core::Result<VarMap> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (e, h) = (shape.embed, shape.hidden);
    let bound = 1.0 / (h as f32).sqrt();
    let dims: [Vec<usize>; 7] = [
        vec![classes, e],
        vec![4 * h, e],
        vec![4 * h, h],
        vec![4 * h],
        vec![4 * h],
        vec![classes, h],
        vec![classes],
    ];
    let varmap = VarMap::new();
    {
        let mut data = varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))?;
        for (name, dims) in TENSOR_NAMES.iter().zip(dims) {
            let count: usize = dims.iter().product();
            let values: Vec<f32> = (0..count)
                .map(|i| match *name {
                    "embedding.weight" => rng.random_range(-0.5..0.5),
                    "lstm.bias_ih_l0" if (h..2 * h).contains(&i) => 1.0,
                    "lstm.bias_ih_l0" | "lstm.bias_hh_l0" | "head.bias" => 0.0,
                    _ => rng.random_range(-bound..bound),
                })
                .collect();
            let tensor = Tensor::from_vec(values, dims, &Device::Cpu)?;
            data.insert((*name).to_owned(), Var::from_tensor(&tensor)?);
        }
    }
    Ok(varmap)
}

/// Trains a model on `accesses` (several streams may be interleaved); `on_epoch` hears
/// every finished epoch.
pub fn train_lstm(
    accesses: &[Access],
    config: &LstmTrainConfig,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<LstmTraining, PredictError> {
    let shape = config.shape;
    let window = shape.window;
    if config.vocabulary == 0 || config.vocabulary + 1 > MAX_CLASSES {
        return Err(training_error(format!(
            "vocabulary must be 1..{MAX_CLASSES}"
        )));
    }
    if config.epochs == 0 || config.batch == 0 || config.max_samples == 0 {
        return Err(training_error(
            "epochs, batch and max_samples must be at least 1",
        ));
    }
    if !(config.learning_rate > 0.0 && config.learning_rate.is_finite()) {
        return Err(training_error("learning rate must be positive"));
    }
    let streams = stream_deltas(accesses);
    let deltas = vocabulary(&streams, config.vocabulary);
    let class_of: FxHashMap<i64, u32> = deltas
        .iter()
        .enumerate()
        .map(|(i, &d)| (d, i as u32 + 1))
        .collect();
    let sequences: Vec<Vec<u32>> = streams
        .iter()
        .map(|s| {
            s.iter()
                .map(|d| class_of.get(d).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    // (stream, position of the target) for every position with a full window before it.
    let mut samples: Vec<(usize, usize)> = sequences
        .iter()
        .enumerate()
        .flat_map(|(s, seq)| (window..seq.len()).map(move |t| (s, t)))
        .collect();
    if samples.is_empty() {
        return Err(training_error(format!(
            "no stream has more than {window} deltas to learn from"
        )));
    }
    if samples.len() > config.max_samples {
        let total = samples.len();
        samples = (0..config.max_samples)
            .map(|i| samples[i * total / config.max_samples])
            .collect();
    }
    let classes = deltas.len() + 1;
    let varmap = initial_weights(classes, &shape, config.seed).map_err(candle_error)?;
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = Net::new(classes, &shape, &vb).map_err(candle_error)?;
    let params = ParamsAdamW {
        lr: config.learning_rate,
        weight_decay: 0.0,
        ..ParamsAdamW::default()
    };
    let mut optimizer = AdamW::new(varmap.all_vars(), params).map_err(candle_error)?;
    let batch_tensors = |chunk: &[(usize, usize)]| -> candle_core::Result<(Tensor, Tensor)> {
        let mut input = Vec::with_capacity(chunk.len() * window);
        let mut target = Vec::with_capacity(chunk.len());
        for &(s, t) in chunk {
            input.extend_from_slice(&sequences[s][t - window..t]);
            target.push(sequences[s][t]);
        }
        Ok((
            Tensor::from_vec(input, (chunk.len(), window), &Device::Cpu)?,
            Tensor::from_vec(target, chunk.len(), &Device::Cpu)?,
        ))
    };
    let loss_of = |chunk: &[(usize, usize)]| -> candle_core::Result<Tensor> {
        let (input, target) = batch_tensors(chunk)?;
        candle_nn::loss::cross_entropy(&net.logits(&input)?, &target)
    };
    let mean_loss = |losses: &[(f32, usize)]| {
        let n: usize = losses.iter().map(|(_, n)| n).sum();
        losses.iter().map(|(l, n)| l * *n as f32).sum::<f32>() / n.max(1) as f32
    };
    let initial: Vec<(f32, usize)> = samples
        .chunks(config.batch.max(1024))
        .map(|chunk| Ok((loss_of(chunk)?.to_scalar::<f32>()?, chunk.len())))
        .collect::<candle_core::Result<_>>()
        .map_err(candle_error)?;
    let initial_loss = mean_loss(&initial);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed);
    let mut losses = Vec::with_capacity(config.epochs);
    for epoch in 1..=config.epochs {
        // Fisher–Yates from the seeded stream: the same order on every run.
        for i in (1..samples.len()).rev() {
            samples.swap(i, rng.random_range(0..=i));
        }
        let mut batch_losses = Vec::with_capacity(samples.len() / config.batch + 1);
        for chunk in samples.chunks(config.batch) {
            let loss = loss_of(chunk).map_err(candle_error)?;
            optimizer.backward_step(&loss).map_err(candle_error)?;
            batch_losses.push((loss.to_scalar::<f32>().map_err(candle_error)?, chunk.len()));
        }
        let loss = mean_loss(&batch_losses);
        if !loss.is_finite() {
            return Err(training_error(format!("loss diverged in epoch {epoch}")));
        }
        losses.push(loss);
        on_epoch(&EpochReport {
            epoch,
            epochs: config.epochs,
            loss,
            samples: samples.len(),
        });
    }
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| training_error("variable map poisoned"))?
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    let model = LstmModel::from_parts(shape, deltas, tensors)?;
    Ok(LstmTraining {
        model,
        initial_loss,
        losses,
        samples: samples.len(),
    })
}
