//! `strata train`: builds the workload model from labelled trace windows (labelled by the
//! trace's family) plus seeded synthetic mixes of every class, prints the cross-validated
//! accuracy, the confusion matrix and the forecaster against its baselines, and writes the
//! versioned model file.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Args};
use strata_predict::WorkloadClass;
use strata_predict::profile::{
    CrossValidation, ForestParams, TrainingReport, TrainingSet, WindowSpec, train,
};
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

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let spec = args.window.unwrap_or_default();
    let mut traces = args.traces.clone();
    if let Some(dir) = &args.trace_dir {
        traces.extend(labelled_traces(dir)?);
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
        "| class | forecasts | last value | EWMA | model | model / EWMA | best |\n|---|---:|---:|---:|---:|---:|---|"
    );
    let mib = f64::from(1 << 20);
    for (class, &(n, last, ewma, model)) in &report.forecast.per_class {
        let _ = writeln!(
            out,
            "| {class} | {n} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            last / mib,
            ewma / mib,
            model / mib,
            model / ewma.max(f64::MIN_POSITIVE),
            report.forecast.winner(class).unwrap_or("-")
        );
    }
    let (n, last, ewma, model) = report.forecast.overall();
    let _ = writeln!(
        out,
        "| all | {n} | {:.2} | {:.2} | {:.2} | {:.2} | |",
        last / mib,
        ewma / mib,
        model / mib,
        model / ewma.max(f64::MIN_POSITIVE)
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
