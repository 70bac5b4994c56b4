//! The LSTM step the predictor runs per prediction, on plain `f32` slices. The model is
//! trained and stored with candle; a candle forward pass over one window costs tens of
//! small tensor allocations per step, so `predict` runs this copy of the same arithmetic
//! (gate order i, f, g, o as in candle-nn and PyTorch) with no allocation. A unit test
//! checks that it matches candle's forward pass.
//!
//! The input projection of a class never changes, so it is tabulated once at load:
//! `input_gates[class] = W_ih · embedding[class] + b_ih + b_hh`, leaving one `4H × H`
//! matrix-vector product per step.

use std::collections::HashMap;

use candle_core::Tensor;

use super::model::{LstmShape, flat};

#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    classes: usize,
    hidden: usize,
    /// `[classes][4 × hidden]`.
    input_gates: Vec<f32>,
    /// `[4 × hidden][hidden]`.
    w_hh: Vec<f32>,
    /// `[classes][hidden]`.
    head_w: Vec<f32>,
    head_b: Vec<f32>,
}

/// Scratch state of one evaluation, sized once per predictor.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch {
    pub(crate) h: Vec<f32>,
    pub(crate) c: Vec<f32>,
    gates: Vec<f32>,
    pub(crate) probabilities: Vec<f32>,
}

fn tensor(tensors: &HashMap<String, Tensor>, name: &str) -> candle_core::Result<Vec<f32>> {
    let tensor = tensors
        .get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("tensor {name} is missing")))?;
    flat(tensor)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Kernel {
    /// Tabulates the model's weights; shapes were checked by the caller.
    pub(crate) fn new(
        classes: usize,
        shape: &LstmShape,
        tensors: &HashMap<String, Tensor>,
    ) -> candle_core::Result<Self> {
        let (embed, hidden) = (shape.embed, shape.hidden);
        let gates = 4 * hidden;
        let embedding = tensor(tensors, "embedding.weight")?;
        let w_ih = tensor(tensors, "lstm.weight_ih_l0")?;
        let b_ih = tensor(tensors, "lstm.bias_ih_l0")?;
        let b_hh = tensor(tensors, "lstm.bias_hh_l0")?;
        let mut input_gates = Vec::with_capacity(classes * gates);
        for class in 0..classes {
            let x = &embedding[class * embed..(class + 1) * embed];
            for gate in 0..gates {
                let row = &w_ih[gate * embed..(gate + 1) * embed];
                input_gates.push(dot(row, x) + b_ih[gate] + b_hh[gate]);
            }
        }
        Ok(Self {
            classes,
            hidden,
            input_gates,
            w_hh: tensor(tensors, "lstm.weight_hh_l0")?,
            head_w: tensor(tensors, "head.weight")?,
            head_b: tensor(tensors, "head.bias")?,
        })
    }

    pub(crate) fn scratch(&self) -> Scratch {
        Scratch {
            h: vec![0.0; self.hidden],
            c: vec![0.0; self.hidden],
            gates: vec![0.0; 4 * self.hidden],
            probabilities: vec![0.0; self.classes],
        }
    }

    /// Zeroes the state: the start of a window.
    pub(crate) fn reset(&self, scratch: &mut Scratch) {
        scratch.h.fill(0.0);
        scratch.c.fill(0.0);
    }

    /// Feeds one class into the state.
    pub(crate) fn step(&self, class: usize, scratch: &mut Scratch) {
        let n = self.hidden;
        let gates = &mut scratch.gates;
        gates.copy_from_slice(&self.input_gates[class * 4 * n..(class + 1) * 4 * n]);
        for (gate, row) in gates.iter_mut().zip(self.w_hh.chunks_exact(n)) {
            *gate += dot(row, &scratch.h);
        }
        for j in 0..n {
            let input = sigmoid(gates[j]);
            let forget = sigmoid(gates[n + j]);
            let cell = gates[2 * n + j].tanh();
            let output = sigmoid(gates[3 * n + j]);
            scratch.c[j] = forget * scratch.c[j] + input * cell;
            scratch.h[j] = output * scratch.c[j].tanh();
        }
    }

    /// Softmax over the classes of the head's output for the current state, into
    /// `scratch.probabilities`.
    pub(crate) fn probabilities(&self, scratch: &mut Scratch) {
        let out = &mut scratch.probabilities;
        for ((p, row), bias) in out
            .iter_mut()
            .zip(self.head_w.chunks_exact(self.hidden))
            .zip(&self.head_b)
        {
            *p = dot(row, &scratch.h) + bias;
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0;
        for p in out.iter_mut() {
            *p = (*p - max).exp();
            total += *p;
        }
        for p in out.iter_mut() {
            *p /= total;
        }
    }
}
