//! The LSTM predictor from the command line: `strata train --model lstm` on a fixture
//! trace writes a safetensors model, `strata sim --mode prefetch --predictor lstm
//! --lstm-model FILE` evaluates it, and a missing file or a file that is not a model is
//! one clear line with exit code 1.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../strata-sim/tests/fixtures/traces")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sim_lstm(trace: &str, model: &str) -> Output {
    strata(&[
        "sim",
        "--mode",
        "prefetch",
        "--trace",
        trace,
        "--predictor",
        "lstm,markov",
        "--lstm-model",
        model,
        "--cache",
        "5%",
        "--json",
    ])
}

#[test]
fn train_lstm_writes_a_model_that_sim_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("lstm.safetensors");
    let model_arg = model.to_string_lossy().into_owned();
    let trace = fixture("arc_P3_head20k.lis.gz");
    let out = strata(&[
        "train",
        "--model",
        "lstm",
        "--trace",
        &trace,
        "--out",
        &model_arg,
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--embed",
        "8",
        "--vocabulary",
        "32",
        "--max-samples",
        "5000",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("33 delta classes"), "{text}");
    assert!(text.contains("cross-entropy"), "{text}");
    let bytes = std::fs::read(&model).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header["__metadata__"]["format"], "strata-lstm-v1");
    assert_eq!(header["__metadata__"]["hidden"], "16");
    assert_eq!(
        header["lstm.weight_hh_l0"]["shape"],
        serde_json::json!([64, 16])
    );

    let out = sim_lstm(&trace, &model_arg);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = doc["traces"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["predictor"], "lstm");
    let accesses = doc["traces"][0]["accesses"].as_u64().unwrap();
    for row in results {
        assert_eq!(
            row["hits"].as_u64().unwrap() + row["misses"].as_u64().unwrap(),
            accesses
        );
    }
    // Trained on this very trace, the model predicts some of it.
    assert!(results[0]["precision"].as_f64().unwrap() > 0.1, "{doc}");
    assert!(results[0]["coverage"].as_f64().unwrap() > 0.1, "{doc}");
}

#[test]
fn sim_refuses_a_missing_or_foreign_lstm_model() {
    let trace = fixture("msr_hm_0_sample1000.csv");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.safetensors");
    let foreign = fixture("msr_hm_0_sample1000.csv");
    for (model, mentions) in [
        (missing.to_string_lossy().into_owned(), "cannot read"),
        (foreign, "is not a Strata LSTM model"),
    ] {
        let out = sim_lstm(&trace, &model);
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(mentions) && err.contains(&model), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn sim_without_a_model_file_uses_the_shipped_lstm() {
    let out = strata(&[
        "sim",
        "--mode",
        "prefetch",
        "--trace",
        &fixture("mqsim_tpcc-small.trace"),
        "--predictor",
        "lstm",
        "--cache",
        "5%",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["traces"][0]["results"][0]["predictor"], "lstm");
}
