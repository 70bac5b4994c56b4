//! LSTM next-delta prediction (Hashemi et al., "Learning Memory Access Patterns",
//! ICML 2018): the deltas between consecutive accesses of a stream are classes, and an
//! LSTM over the classes of the last few deltas gives the distribution of the next one.
//!
//! [`Lstm`] is the [`AccessPredictor`]: `observe` only turns the access into a delta
//! class and pushes it into the stream's pre-sized ring (O(1), no allocation); `predict`
//! runs the model over the ring's window, emits the likeliest next deltas with their
//! softmax probabilities as confidence, and follows the likeliest one step by step to
//! predict further ahead (probabilities multiply along the chain, as in `Markov`).
//!
//! [`model`] holds the network and its safetensors file, [`train`] the training (pure:
//! accesses in, model out), `kernel` the allocation-free step `predict` runs.

mod kernel;
pub mod model;
pub mod train;

use std::sync::Arc;

use kernel::Scratch;
pub use model::{LSTM_FORMAT, LstmModel, LstmShape, MAX_WINDOW};
pub use train::{EpochReport, LstmTrainConfig, LstmTraining, train_lstm};

use crate::access::{Access, AccessPredictor, Prediction, block_delta, offset_block};
use crate::error::PredictError;
use crate::streams::StreamTable;

/// The model shipped with the crate, trained by `strata train --model lstm` on the trace
/// excerpts in `crates/strata-sim/tests/fixtures/traces` (command in
/// `docs/lstm-model.md`); what `--predictor lstm` uses when no model file is given.
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../../models/lstm-v1.safetensors");

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmConfig {
    /// Predictions below this probability are not emitted, and the chain stops there.
    pub min_probability: f32,
    /// Next deltas emitted per step of the chain.
    pub per_step: usize,
    /// Steps the chain follows at most.
    pub max_steps: usize,
    pub streams: usize,
}

impl Default for LstmConfig {
    fn default() -> Self {
        Self {
            min_probability: 0.05,
            per_step: 4,
            max_steps: 32,
            streams: 64,
        }
    }
}

/// A stream's recent history: its last block and the classes of its last deltas.
#[derive(Debug, Clone, Copy, Default)]
struct StreamState {
    last: Option<u64>,
    ring: [u16; MAX_WINDOW],
    /// Classes held, up to the model's window.
    len: usize,
    /// Where the next class goes.
    next: usize,
}

/// The LSTM access predictor.
#[derive(Debug, Clone)]
pub struct Lstm {
    model: Arc<LstmModel>,
    config: LstmConfig,
    streams: StreamTable<StreamState>,
    current: Option<u64>,
    scratch: Scratch,
}

impl Lstm {
    pub fn new(model: Arc<LstmModel>, config: LstmConfig) -> Self {
        Self {
            scratch: model.kernel().scratch(),
            streams: StreamTable::new(config.streams),
            model,
            config,
            current: None,
        }
    }

    /// A predictor over a model file's bytes, default configuration.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, PredictError> {
        Ok(Self::new(
            Arc::new(LstmModel::from_safetensors(bytes)?),
            LstmConfig::default(),
        ))
    }

    pub fn model(&self) -> &Arc<LstmModel> {
        &self.model
    }

    /// The `per_step` likeliest classes other than 0 in `scratch.probabilities`, best
    /// first (a fixed-size selection: no sort, no allocation).
    fn top_classes(&self) -> [(usize, f32); 8] {
        let mut top = [(0usize, 0.0f32); 8];
        let k = self.config.per_step.clamp(1, top.len());
        for (class, &p) in self.scratch.probabilities.iter().enumerate().skip(1) {
            if p <= top[k - 1].1 {
                continue;
            }
            let mut i = k - 1;
            while i > 0 && top[i - 1].1 < p {
                top[i] = top[i - 1];
                i -= 1;
            }
            top[i] = (class, p);
        }
        top
    }
}

impl Default for Lstm {
    /// The shipped model ([`SHIPPED_MODEL`]).
    fn default() -> Self {
        Self::from_safetensors(SHIPPED_MODEL)
            .expect("the shipped model is valid (checked by the crate's tests)")
    }
}

impl AccessPredictor for Lstm {
    fn name(&self) -> &'static str {
        "lstm"
    }

    fn observe(&mut self, access: &Access) {
        self.current = Some(access.stream);
        let window = self.model.shape().window;
        let class = {
            let state = self.streams.get_or_insert(access.stream);
            let Some(last) = state.last else {
                state.last = Some(access.block);
                return;
            };
            if last == access.block {
                return;
            }
            state.last = Some(access.block);
            block_delta(last, access.block)
        };
        let class = self.model.class_of(class);
        let state = self.streams.get_or_insert(access.stream);
        state.ring[state.next] = class;
        state.next = (state.next + 1) % window;
        state.len = (state.len + 1).min(window);
    }

    fn predict(&mut self, max: usize, out: &mut Vec<Prediction>) {
        let Some(stream) = self.current else { return };
        let Some(&state) = self.streams.get(stream) else {
            return;
        };
        let Some(mut block) = state.last else { return };
        if state.len == 0 || max == 0 {
            return;
        }
        let window = self.model.shape().window;
        let model = Arc::clone(&self.model);
        let kernel = model.kernel();
        kernel.reset(&mut self.scratch);
        // Oldest class first: the ring holds the last `len` classes ending before `next`.
        for i in 0..state.len {
            let slot = (state.next + window - state.len + i) % window;
            kernel.step(usize::from(state.ring[slot]), &mut self.scratch);
        }
        let start = out.len();
        let mut chain_probability = 1.0f32;
        for step in 1..=self.config.max_steps as u32 {
            kernel.probabilities(&mut self.scratch);
            let top = self.top_classes();
            for &(class, p) in top.iter().take(self.config.per_step) {
                let probability = chain_probability * p;
                if out.len() - start >= max {
                    return;
                }
                if p <= 0.0 || probability < self.config.min_probability {
                    continue;
                }
                let Some(target) = model.delta_of(class).and_then(|d| offset_block(block, d))
                else {
                    continue;
                };
                if Some(target) == state.last || out[start..].iter().any(|p| p.block == target) {
                    continue;
                }
                out.push(Prediction {
                    stream,
                    block: target,
                    confidence: probability.clamp(0.0, 1.0),
                    expected_in_accesses: step,
                    expected_time_ns: None,
                });
            }
            let (best, best_p) = top[0];
            chain_probability *= best_p;
            if best == 0 || chain_probability < self.config.min_probability {
                break;
            }
            let Some(next) = model.delta_of(best).and_then(|d| offset_block(block, d)) else {
                break;
            };
            block = next;
            kernel.step(best, &mut self.scratch);
        }
    }
}

#[cfg(test)]
mod tests;
