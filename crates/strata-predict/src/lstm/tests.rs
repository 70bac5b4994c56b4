//! Unit tests of the LSTM predictor: training learns a pattern, files round-trip, bad
//! files are refused, and the allocation-free kernel agrees with candle's forward pass.

use super::*;
use crate::PredictErrorKind;

/// Deltas +1, +1, +1, +50, -20 repeating on one stream: a pattern of order > 2 that a
/// window of history can tell apart.
fn pattern(len: usize) -> Vec<Access> {
    let cycle = [1i64, 1, 1, 50, -20];
    let mut block = 10_000u64;
    (0..len)
        .map(|i| {
            let access = Access::read(4, block);
            block = block.saturating_add_signed(cycle[i % cycle.len()]);
            access
        })
        .collect()
}

fn tiny() -> LstmTrainConfig {
    LstmTrainConfig {
        shape: LstmShape {
            embed: 8,
            hidden: 16,
            window: 6,
        },
        vocabulary: 16,
        epochs: 6,
        batch: 64,
        learning_rate: 0.02,
        max_samples: 2_000,
        seed: 1,
    }
}

fn trained() -> LstmTraining {
    train_lstm(&pattern(3_000), &tiny(), &mut |_| {}).unwrap()
}

/// Precision of the first prediction after each access of `accesses`.
fn next_access_precision(predictor: &mut Lstm, accesses: &[Access]) -> f64 {
    let mut hits = 0u32;
    let mut out = Vec::new();
    for pair in accesses.windows(2) {
        predictor.observe(&pair[0]);
        out.clear();
        predictor.predict(1, &mut out);
        hits += u32::from(out.first().is_some_and(|p| p.block == pair[1].block));
    }
    f64::from(hits) / (accesses.len() - 1) as f64
}

#[test]
fn training_reduces_loss_and_learns_a_repeating_pattern() {
    let mut epochs = Vec::new();
    let training = train_lstm(&pattern(3_000), &tiny(), &mut |e| epochs.push(*e)).unwrap();
    assert_eq!(epochs.len(), 6);
    assert_eq!(epochs.last().map(|e| e.epoch), Some(6));
    let last = *training.losses.last().unwrap();
    assert!(
        last < 0.2 * training.initial_loss,
        "loss {} -> {last}",
        training.initial_loss
    );
    assert_eq!(
        training.model.deltas().len(),
        3,
        "{:?}",
        training.model.deltas()
    );
    let mut predictor = Lstm::new(Arc::new(training.model), LstmConfig::default());
    // Held-out: the same pattern somewhere else in the block space.
    let held_out: Vec<Access> = pattern(400)
        .into_iter()
        .map(|a| Access::read(9, a.block + 1_000_000))
        .collect();
    let precision = next_access_precision(&mut predictor, &held_out);
    assert!(precision > 0.95, "precision {precision}");
}

#[test]
fn training_is_deterministic() {
    let (a, b) = (trained(), trained());
    assert_eq!(a.initial_loss, b.initial_loss);
    assert_eq!(a.losses, b.losses);
    assert_eq!(
        a.model.to_safetensors().unwrap(),
        b.model.to_safetensors().unwrap()
    );
}

#[test]
fn safetensors_round_trip_gives_identical_predictions() {
    let model = trained().model;
    let bytes = model.to_safetensors().unwrap();
    let loaded = LstmModel::from_safetensors(&bytes).unwrap();
    assert_eq!(loaded.shape(), model.shape());
    assert_eq!(loaded.deltas(), model.deltas());
    let run = |model: LstmModel| {
        let mut predictor = Lstm::new(Arc::new(model), LstmConfig::default());
        let mut out = Vec::new();
        for access in pattern(200) {
            predictor.observe(&access);
            predictor.predict(8, &mut out);
        }
        out
    };
    let (before, after) = (run(model), run(loaded));
    assert!(!before.is_empty());
    assert_eq!(before, after);
}

#[test]
fn corrupt_or_foreign_files_are_clear_errors() {
    let bytes = trained().model.to_safetensors().unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty", Vec::new(), "not a safetensors file"),
        ("truncated", bytes[..bytes.len() - 100].to_vec(), "tensors"),
        (
            "text",
            b"{\"classes\": []}".to_vec(),
            "not a safetensors file",
        ),
        (
            "no metadata",
            safetensors::serialize(
                [(
                    "x",
                    candle_core::Tensor::zeros(
                        2,
                        candle_core::DType::F32,
                        &candle_core::Device::Cpu,
                    )
                    .unwrap(),
                )],
                None,
            )
            .unwrap(),
            "no metadata",
        ),
    ];
    for (name, bytes, expected) in cases {
        let error = LstmModel::from_safetensors(&bytes).unwrap_err();
        assert_eq!(error.kind, PredictErrorKind::InvalidModel, "{name}");
        assert!(error.to_string().contains(expected), "{name}: {error}");
    }
}

#[test]
fn kernel_matches_the_candle_forward_pass() {
    let model = trained().model;
    let windows: Vec<Vec<u16>> = (0..5u16)
        .map(|i| (0..6).map(|j| (i + j) % 4).collect())
        .collect();
    let refs: Vec<&[u16]> = windows.iter().map(Vec::as_slice).collect();
    let batched = model.probabilities_batch(&refs).unwrap();
    let kernel = model.kernel();
    let mut scratch = kernel.scratch();
    for (window, expected) in windows.iter().zip(&batched) {
        kernel.reset(&mut scratch);
        for &class in window {
            kernel.step(usize::from(class), &mut scratch);
        }
        kernel.probabilities(&mut scratch);
        for (a, b) in scratch.probabilities.iter().zip(expected) {
            assert!(
                (a - b).abs() < 1e-5,
                "{:?} vs {expected:?}",
                scratch.probabilities
            );
        }
    }
}

#[test]
fn the_shipped_model_loads_and_is_small() {
    let model = LstmModel::from_safetensors(SHIPPED_MODEL).unwrap();
    assert!(
        SHIPPED_MODEL.len() < 1 << 20,
        "{} bytes",
        SHIPPED_MODEL.len()
    );
    assert!(model.deltas().contains(&1), "{:?}", &model.deltas()[..8]);
}
