//! `strata train`: builds a model from traces and writes it to `--out`.
//!
//! `--model workload` (the default) builds the workload model from labelled trace windows
//! (labelled by the trace's family) plus seeded synthetic mixes of every class, prints the
//! cross-validated accuracy, the confusion matrix and the forecaster against its
//! baselines, and writes the versioned JSON model file. `--model lstm` trains the LSTM
//! access predictor on the traces' canonical block streams and writes a safetensors file
//! that `strata sim --predictor lstm --lstm-model FILE` loads.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use strata_predict::profile::{
    CrossValidation, ForestParams, HeatComparison, HeatErrors, TrainingReport, TrainingSet,
    WindowSpec, train,
};
use strata_predict::{LstmShape, LstmTrainConfig, WorkloadClass, train_lstm};
use strata_sim::prefetch::{load_canonical_stream, training_accesses};
use strata_sim::trace::TraceOptions;
use strata_sim::workload::{add_labelled_traces, labelled_traces};

use super::profile::Spinner;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).multiple(true).args(["traces", "trace_dir"])))]
pub struct TrainArgs {
    /// Labelled trace (its family, told by the file name, gives its class); repeat.
    #[arg(long = "trace", value_name = "FILE")]
    traces: Vec<PathBuf>,
    /// Also train on every trace of known family in DIR.
    #[arg(long, value_name = "DIR")]
    trace_dir: Option<PathBuf>,
    /// Where to write the model file.
    #[arg(long, value_name = "MODEL_FILE")]
    out: PathBuf,
    /// Which model to train.
    #[arg(long, value_enum, default_value_t = ModelKind::Workload)]
    model: ModelKind,
    #[command(flatten)]
    lstm: LstmArgs,
    /// Window length (as for `strata profile`).
    #[arg(long, value_name = "SECONDS|Nr", allow_hyphen_values = true)]
    window: Option<WindowSpec>,
    /// Synthetic volumes generated per class.
    #[arg(long, default_value_t = 8)]
    synthetic_volumes: usize,
    /// Windows per synthetic volume.
    #[arg(long, default_value_t = 8)]
    synthetic_windows: usize,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Trees in the forest.
    #[arg(long, default_value_t = 25)]
    trees: usize,
    /// Seed of the synthetic mixes and of the forest.
    #[arg(long, default_value_t = 5)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelKind {
    /// The workload classifier and demand forecaster (JSON).
    Workload,
    /// The LSTM access predictor (safetensors).
    Lstm,
}

/// Options of `--model lstm` (defaults: `LstmTrainConfig::default()`).
#[derive(Debug, Args)]
struct LstmArgs {
    /// Block size of the canonical stream the LSTM learns deltas over.
    #[arg(long, value_name = "BYTES", default_value = "4096", value_parser = parse_unit)]
    unit: u64,
    /// Training epochs (LSTM).
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// Width of the LSTM's hidden state.
    #[arg(long, default_value_t = 32)]
    hidden: usize,
    /// Width of a delta-class embedding.
    #[arg(long, default_value_t = 16)]
    embed: usize,
    /// Deltas of history the LSTM reads per prediction (at most 32).
    #[arg(long, default_value_t = 8)]
    history: usize,
    /// Deltas with a class of their own; the rest share one.
    #[arg(long, default_value_t = 127)]
    vocabulary: usize,
    /// Training samples per epoch at most (thinned evenly over the traces).
    #[arg(long, default_value_t = 100_000)]
    max_samples: usize,
}

fn parse_unit(s: &str) -> Result<u64, String> {
    match strata_core::parse_size(s) {
        Ok(0) => Err("the unit must be at least 1 byte".to_owned()),
        Ok(unit) => Ok(unit),
        Err(e) => Err(e.to_string()),
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let spec = args.window.unwrap_or_default();
    let mut traces = args.traces.clone();
    if let Some(dir) = &args.trace_dir {
        traces.extend(labelled_traces(dir)?);
    }
    if args.model == ModelKind::Lstm {
        return run_lstm(&args, &traces);
    }
    let mut set = TrainingSet::default();
    let spinner = Spinner::new("reading traces", false);
    let skipped = add_labelled_traces(&mut set, &traces, &TraceOptions::default(), spec, &spinner)?;
    spinner.finish();
    for path in skipped {
        eprintln!(
            "note: {} belongs to no known trace family; not used",
            path.display()
        );
    }
    set.add_synthetic(
        args.synthetic_volumes,
        args.synthetic_windows,
        spec,
        args.seed,
    );
    let params = ForestParams {
        trees: args.trees,
        seed: args.seed,
        ..ForestParams::default()
    };
    let report = train(&set, &params, args.folds)?;
    let text = report.model.to_json()?;
    std::fs::write(&args.out, text)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    print!("{}", summary(&set, &report));
    println!("wrote {}", args.out.display());
    Ok(())
}

/// `--model lstm`: every trace's canonical stream (each disk of each trace its own
/// stream), one training run with a progress bar over epochs, one safetensors file.
fn run_lstm(args: &TrainArgs, traces: &[PathBuf]) -> anyhow::Result<()> {
    let lstm = &args.lstm;
    let streams = traces
        .iter()
        .map(|path| load_canonical_stream(path, &TraceOptions::default(), lstm.unit, false))
        .collect::<Result<Vec<_>, _>>()?;
    let accesses = training_accesses(&streams);
    let config = LstmTrainConfig {
        shape: LstmShape {
            embed: lstm.embed,
            hidden: lstm.hidden,
            window: lstm.history,
        },
        vocabulary: lstm.vocabulary,
        epochs: lstm.epochs,
        max_samples: lstm.max_samples,
        seed: args.seed,
        ..LstmTrainConfig::default()
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(config.epochs as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "training lstm [{elapsed_precise}] {wide_bar} epoch {pos}/{len} {msg}",
    ) {
        bar.set_style(style);
    }
    let training = train_lstm(&accesses, &config, &mut |epoch| {
        bar.set_position(epoch.epoch as u64);
        bar.set_message(format!("loss {:.3}", epoch.loss));
    })?;
    bar.finish_and_clear();
    let bytes = training.model.to_safetensors()?;
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let losses: Vec<String> = training.losses.iter().map(|l| format!("{l:.3}")).collect();
    println!(
        "lstm: {} accesses from {} trace(s), {} samples, {} delta classes, {} parameters",
        accesses.len(),
        traces.len(),
        training.samples,
        training.model.class_count(),
        training.model.parameter_count()
    );
    println!(
        "cross-entropy: {:.3} before training, per epoch {}",
        training.initial_loss,
        losses.join(", ")
    );
    println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}

fn summary(set: &TrainingSet, report: &TrainingReport) -> String {
    let mut out = String::from("sources:\n");
    for source in &set.sources {
        let _ = writeln!(out, "  {source}");
    }
    let _ = writeln!(
        out,
        "cross-validated accuracy: {:.3} ({} folds, stratified over {} windows); {:.3} with whole traces / synthetic volumes held out",
        report.stratified.accuracy(),
        report.stratified.folds,
        report.stratified.windows,
        report.grouped.accuracy()
    );
    out.push_str("confusion matrix, stratified folds (rows: true class, columns: predicted):\n");
    out.push_str(&confusion_table(&report.stratified));
    out.push_str("confusion matrix, whole traces / volumes held out:\n");
    out.push_str(&confusion_table(&report.grouped));
    out.push_str("forecast of the next window's working set, held-out last 30 % of each series (MAE, MiB):\n");
    let _ = writeln!(
        out,
        "| class | forecasts | last value | EWMA | model | model / EWMA | model uses | best |\n|---|---:|---:|---:|---:|---:|---|---|"
    );
    let mib = f64::from(1 << 20);
    for (class, &(n, last, ewma, model)) in &report.forecast.per_class {
        let _ = writeln!(
            out,
            "| {class} | {n} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            last / mib,
            ewma / mib,
            model / mib,
            model / ewma.max(f64::MIN_POSITIVE),
            report.forecast.methods.get(class).copied().unwrap_or("-"),
            report.forecast.winner(class).unwrap_or("-")
        );
    }
    let (n, last, ewma, model) = report.forecast.overall();
    let _ = writeln!(
        out,
        "| all | {n} | {:.2} | {:.2} | {:.2} | {:.2} | | |",
        last / mib,
        ewma / mib,
        model / mib,
        model / ewma.max(f64::MIN_POSITIVE)
    );
    out.push_str(&heat_table(&report.heat));
    out
}

/// The heat forecaster against its baselines, per source and per class.
fn heat_table(heat: &HeatComparison) -> String {
    if heat.per_series.is_empty() {
        return "heat forecaster: too few extent histories to fit or score it; the model has none\n"
            .to_owned();
    }
    let mut out = String::from(
        "forecast of each 1 MiB extent's accesses in the next window, held-out last 30 % of each series (absolute error per window):\n",
    );
    let _ = writeln!(
        out,
        "| source | class | windows | accesses | last value | EWMA | model | model / EWMA |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    let row = |out: &mut String, name: &str, class: &str, e: &HeatErrors| {
        let per = |x: f64| x / e.windows.max(1) as f64;
        let _ = writeln!(
            out,
            "| {name} | {class} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3} |",
            e.windows,
            per(e.accesses),
            per(e.last_value),
            per(e.ewma),
            per(e.model),
            e.model_over_ewma()
        );
    };
    let mut traces = HeatErrors::default();
    let mut trace_ratios = Vec::new();
    for (name, class, errors) in &heat.per_series {
        if !name.starts_with("synthetic-") {
            row(&mut out, name, class.name(), errors);
            traces.add(errors);
            trace_ratios.push(errors.model_over_ewma());
        }
    }
    row(&mut out, "all traces", "", &traces);
    for (class, errors) in &heat.per_class {
        row(&mut out, "all", class, errors);
    }
    row(&mut out, "all", "all", &heat.overall());
    let _ = writeln!(
        out,
        "mean over traces of model / EWMA: {:.3}; over every source (synthetic volumes too): {:.3}",
        trace_ratios.iter().sum::<f64>() / trace_ratios.len().max(1) as f64,
        heat.mean_series_ratio()
    );
    out
}

fn confusion_table(cv: &CrossValidation) -> String {
    let mut out = String::from("| true \\ predicted |");
    for class in WorkloadClass::ALL {
        let _ = write!(out, " {class} |");
    }
    out.push_str(" accuracy |\n|---|");
    out.push_str(&"---:|".repeat(WorkloadClass::ALL.len() + 1));
    out.push('\n');
    for (row, class) in WorkloadClass::ALL.into_iter().enumerate() {
        let Some(accuracy) = cv.class_accuracy(class) else {
            continue;
        };
        let _ = write!(out, "| {class} |");
        for count in cv.confusion[row] {
            let _ = write!(out, " {count} |");
        }
        let _ = writeln!(out, " {accuracy:.3} |");
    }
    out
}
