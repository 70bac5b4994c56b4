//! The LSTM model (Hashemi et al., ICML 2018): the deltas between consecutive accesses of
//! a stream are classes — the most frequent deltas of the training data, plus class 0 for
//! every other delta — and the network reads the classes of the last `window` deltas and
//! returns a distribution over the class of the next one.
//!
//! Network: embedding (classes × `embed`) → one LSTM layer (`hidden`) → linear head
//! (`hidden` × classes), as candle-nn builds them. The model is stored as safetensors with
//! the vocabulary and hyper-parameters in the header's metadata (`docs/lstm-model.md`);
//! it is loaded from bytes, never from a path: reading files is the caller's business.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LSTM, LSTMConfig, Linear, RNN, VarBuilder};
use rustc_hash::FxHashMap;

use super::kernel::Kernel;
use crate::error::{PredictError, PredictErrorKind};

/// The `format` metadata value of a model file; another value is refused.
pub const LSTM_FORMAT: &str = "strata-lstm-v1";
/// Longest window a model may have: the predictor's per-stream ring is this long.
pub const MAX_WINDOW: usize = 32;
/// Most delta classes a model may have (class ids are `u16`).
pub const MAX_CLASSES: usize = 4096;

/// The hyper-parameters that fix the shape of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmShape {
    /// Width of a class embedding.
    pub embed: usize,
    /// Width of the LSTM's hidden and cell state.
    pub hidden: usize,
    /// Deltas of history the network reads per prediction.
    pub window: usize,
}

impl Default for LstmShape {
    fn default() -> Self {
        Self {
            embed: 16,
            hidden: 32,
            window: 8,
        }
    }
}

/// The tensors of a model, by the names candle-nn gives them.
pub(crate) const TENSOR_NAMES: [&str; 7] = [
    "embedding.weight",
    "lstm.weight_ih_l0",
    "lstm.weight_hh_l0",
    "lstm.bias_ih_l0",
    "lstm.bias_hh_l0",
    "head.weight",
    "head.bias",
];

/// A trained LSTM next-delta model. Immutable; share it with `Arc` between predictors.
pub struct LstmModel {
    shape: LstmShape,
    /// Class `i + 1` is `deltas[i]`; class 0 stands for every delta not listed.
    deltas: Vec<i64>,
    classes: FxHashMap<i64, u16>,
    tensors: HashMap<String, Tensor>,
    net: Net,
    kernel: Kernel,
}

impl std::fmt::Debug for LstmModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LstmModel")
            .field("shape", &self.shape)
            .field("classes", &self.class_count())
            .finish_non_exhaustive()
    }
}

/// The candle network over the model's tensors (training builds the same over a `VarMap`).
#[derive(Debug, Clone)]
pub(crate) struct Net {
    embedding: Embedding,
    lstm: LSTM,
    head: Linear,
}

impl Net {
    pub(crate) fn new(
        classes: usize,
        shape: &LstmShape,
        vb: &VarBuilder<'_>,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            embedding: candle_nn::embedding(classes, shape.embed, vb.pp("embedding"))?,
            lstm: candle_nn::lstm(
                shape.embed,
                shape.hidden,
                LSTMConfig::default(),
                vb.pp("lstm"),
            )?,
            head: candle_nn::linear(shape.hidden, classes, vb.pp("head"))?,
        })
    }

    /// Logits `[batch, classes]` of the class following each window of `input`
    /// (`[batch, window]`, class ids as `u32`).
    pub(crate) fn logits(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        let embedded = self.embedding.forward(input)?;
        let states = self.lstm.seq(&embedded)?;
        let last = states
            .last()
            .ok_or_else(|| candle_core::Error::Msg("empty window".into()))?;
        self.head.forward(last.h())
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> PredictError {
    PredictError::new(PredictErrorKind::InvalidModel, "lstm model", message)
}

fn candle_invalid(error: candle_core::Error) -> PredictError {
    invalid(error.to_string())
}

impl LstmModel {
    /// A model from its parts; checks every shape and that every weight is finite.
    pub(crate) fn from_parts(
        shape: LstmShape,
        deltas: Vec<i64>,
        tensors: HashMap<String, Tensor>,
    ) -> Result<Self, PredictError> {
        let classes = deltas.len() + 1;
        if shape.embed == 0 || shape.hidden == 0 || shape.window == 0 {
            return Err(invalid("embed, hidden and window must be at least 1"));
        }
        if shape.window > MAX_WINDOW {
            return Err(invalid(format!("window {} > {MAX_WINDOW}", shape.window)));
        }
        if classes > MAX_CLASSES {
            return Err(invalid(format!("{classes} classes > {MAX_CLASSES}")));
        }
        let mut lookup = FxHashMap::default();
        for (i, &delta) in deltas.iter().enumerate() {
            if delta == 0 || lookup.insert(delta, (i + 1) as u16).is_some() {
                return Err(invalid(format!("delta {delta} is zero or listed twice")));
            }
        }
        let gates = 4 * shape.hidden;
        let expected: [&[usize]; 7] = [
            &[classes, shape.embed],
            &[gates, shape.embed],
            &[gates, shape.hidden],
            &[gates],
            &[gates],
            &[classes, shape.hidden],
            &[classes],
        ];
        for (name, dims) in TENSOR_NAMES.iter().zip(expected) {
            let tensor = tensors
                .get(*name)
                .ok_or_else(|| invalid(format!("tensor {name} is missing")))?;
            if tensor.dims() != dims || tensor.dtype() != DType::F32 {
                return Err(invalid(format!(
                    "tensor {name} is {:?} {:?}, expected f32 {dims:?}",
                    tensor.dtype(),
                    tensor.dims()
                )));
            }
            let values = flat(tensor).map_err(candle_invalid)?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(invalid(format!("tensor {name} holds a non-finite value")));
            }
        }
        if tensors.len() != TENSOR_NAMES.len() {
            return Err(invalid("model holds tensors other than the LSTM's"));
        }
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
        let net = Net::new(classes, &shape, &vb).map_err(candle_invalid)?;
        let kernel = Kernel::new(classes, &shape, &tensors).map_err(candle_invalid)?;
        Ok(Self {
            shape,
            deltas,
            classes: lookup,
            tensors,
            net,
            kernel,
        })
    }

    /// Loads a model written by [`to_safetensors`](Self::to_safetensors).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, PredictError> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| invalid(format!("not a safetensors file: {e}")))?;
        let meta = header
            .metadata()
            .as_ref()
            .ok_or_else(|| invalid("safetensors file has no metadata (not a Strata LSTM)"))?;
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| invalid(format!("metadata key {key:?} is missing")))
        };
        let format = get("format")?;
        if format != LSTM_FORMAT {
            return Err(invalid(format!(
                "format {format:?}, expected {LSTM_FORMAT:?}"
            )));
        }
        let number = |key: &str| -> Result<usize, PredictError> {
            get(key)?
                .parse()
                .map_err(|_| invalid(format!("metadata {key:?} is not a number")))
        };
        let shape = LstmShape {
            embed: number("embed")?,
            hidden: number("hidden")?,
            window: number("window")?,
        };
        let deltas: Vec<i64> = serde_json::from_str(get("deltas")?)
            .map_err(|e| invalid(format!("metadata \"deltas\": {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| invalid(format!("cannot read tensors: {e}")))?;
        Self::from_parts(shape, deltas, tensors)
    }

    /// The model as a safetensors file: the weights, and `format`, `embed`, `hidden`,
    /// `window` and `deltas` (a JSON array) in the metadata.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, PredictError> {
        let metadata = HashMap::from([
            ("format".to_owned(), LSTM_FORMAT.to_owned()),
            ("embed".to_owned(), self.shape.embed.to_string()),
            ("hidden".to_owned(), self.shape.hidden.to_string()),
            ("window".to_owned(), self.shape.window.to_string()),
            (
                "deltas".to_owned(),
                serde_json::to_string(&self.deltas).map_err(|e| invalid(e.to_string()))?,
            ),
        ]);
        let mut tensors: Vec<(&str, &Tensor)> = self
            .tensors
            .iter()
            .map(|(name, tensor)| (name.as_str(), tensor))
            .collect();
        tensors.sort_by_key(|(name, _)| *name);
        let bytes =
            safetensors::serialize(tensors, Some(metadata)).map_err(|e| invalid(e.to_string()))?;
        sorted_header(&bytes)
    }

    pub fn shape(&self) -> LstmShape {
        self.shape
    }

    /// Number of classes, the "other" class 0 included.
    pub fn class_count(&self) -> usize {
        self.deltas.len() + 1
    }

    /// The deltas with a class of their own, most frequent in training first.
    pub fn deltas(&self) -> &[i64] {
        &self.deltas
    }

    /// Number of weights.
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(Tensor::elem_count).sum()
    }

    /// The class of `delta`: its own, or 0.
    pub(crate) fn class_of(&self, delta: i64) -> u16 {
        self.classes.get(&delta).copied().unwrap_or(0)
    }

    /// The delta of a class other than 0.
    pub(crate) fn delta_of(&self, class: usize) -> Option<i64> {
        class
            .checked_sub(1)
            .and_then(|i| self.deltas.get(i))
            .copied()
    }

    pub(crate) fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// Next-class probabilities for a batch of windows, in one candle forward pass: row
    /// `i` of the result is the softmax over classes after `windows[i]`. Every window
    /// must have the same length, from 1 to `window`, and hold valid class ids.
    pub fn probabilities_batch(&self, windows: &[&[u16]]) -> Result<Vec<Vec<f32>>, PredictError> {
        let Some(first) = windows.first() else {
            return Ok(Vec::new());
        };
        let len = first.len();
        if len == 0 || len > self.shape.window || windows.iter().any(|w| w.len() != len) {
            return Err(invalid("windows must share one length in 1..=window"));
        }
        let classes = self.class_count();
        let ids: Vec<u32> = windows
            .iter()
            .flat_map(|w| w.iter())
            .map(|&c| u32::from(c))
            .collect();
        if ids.iter().any(|&c| c as usize >= classes) {
            return Err(invalid("window holds a class id the model does not have"));
        }
        let input =
            Tensor::from_vec(ids, (windows.len(), len), &Device::Cpu).map_err(candle_invalid)?;
        let probabilities = self
            .net
            .logits(&input)
            .and_then(|logits| candle_nn::ops::softmax_last_dim(&logits))
            .and_then(|p| p.to_vec2::<f32>())
            .map_err(candle_invalid)?;
        Ok(probabilities)
    }
}

/// The same safetensors file with its header's keys sorted: `safetensors` writes the
/// metadata in `HashMap` order, and the same model should be the same bytes.
fn sorted_header(bytes: &[u8]) -> Result<Vec<u8>, PredictError> {
    type Sorted = std::collections::BTreeMap<String, serde_json::Value>;
    let malformed = || invalid("safetensors wrote a malformed header");
    let len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(malformed)?;
    let header = bytes.get(8..8 + len).ok_or_else(malformed)?;
    let mut header: Sorted = serde_json::from_slice(header).map_err(|_| malformed())?;
    if let Some(meta) = header.get_mut("__metadata__") {
        let sorted: Sorted = serde_json::from_value(meta.take()).map_err(|_| malformed())?;
        *meta = serde_json::to_value(sorted).map_err(|_| malformed())?;
    }
    let mut text = serde_json::to_vec(&header).map_err(|_| malformed())?;
    // The data section stays 8-byte aligned, padded with spaces as safetensors does.
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - len);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + len..]);
    Ok(out)
}

/// A tensor's values, row-major.
pub(crate) fn flat(tensor: &Tensor) -> candle_core::Result<Vec<f32>> {
    tensor.flatten_all()?.to_vec1::<f32>()
}
