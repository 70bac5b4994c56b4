//! `strata sim`: offline replay of block traces (INTERFACE.md, "Offline commands"), and
//! `strata sim verify`, which checks the fast cache policies against slow references on
//! every trace of a folder.
//!
//! Each `--mode` is a branch that turns the loaded canonical streams into result rows;
//! output (table, `--json`, `--csv`, `--plot`) is shared by all modes.

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::fmt::Display;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use strata_core::{SizeOrFraction, parse_size};
use strata_sim::cache::PolicyKind;
use strata_sim::cache::verify::{Check, verify_stream};
use strata_sim::report::{SimReport, render_csv, render_table, write_plots};
use strata_sim::run::{
    LoadedStream, Progress, cache_entries, load_stream, load_streams, run_cache_on,
};
use strata_sim::trace::{Format, TimeUnit, TraceOptions};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    /// Trace file to replay; repeat for several traces.
    #[arg(long = "trace", value_name = "FILE", required = true)]
    traces: Vec<PathBuf>,
    /// Trace format (auto-detected from the content by default).
    #[arg(long, default_value = "auto")]
    format: Format,
    /// What to simulate.
    #[arg(long, value_enum, default_value_t = Mode::Cache)]
    mode: Mode,
    /// Comma-separated policies (cache mode: lru, arc, s3fifo, belady, 2q).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    policy: Vec<String>,
    /// Comma-separated access predictors (prefetch mode; in tier mode, a prefetcher with
    /// each of them runs next to every policy).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    predictor: Vec<String>,
    /// LSTM model for `--predictor lstm` (from `strata train --model lstm`); without it
    /// the model shipped with Strata is used.
    #[arg(long, value_name = "FILE")]
    lstm_model: Option<PathBuf>,
    /// Comma-separated cache sizes: a fraction of the stream's unique ids (`10%` =
    /// max(1, floor(0.10 × unique)) entries) or bytes (`64M` = 64 MiB / unit entries).
    #[arg(
        long,
        value_name = "SIZE_OR_%",
        value_delimiter = ',',
        default_value = "1%,5%,10%,20%"
    )]
    cache: Vec<String>,
    /// Comma-separated fast-tier sizes (tier mode).
    #[arg(long, value_name = "SIZE_OR_%", value_delimiter = ',')]
    fast: Vec<String>,
    /// Comma-separated middle-tier sizes (tier mode).
    #[arg(long, value_name = "SIZE_OR_%", value_delimiter = ',')]
    middle: Vec<String>,
    /// Tier mode: every SECONDS of trace time, hand the policy the shipped heat
    /// forecaster's prediction of each extent's accesses, as the server's profiler does
    /// after each `[profile] window_s`; 0 hands none.
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = parse_heat_forecast,
        allow_hyphen_values = true
    )]
    heat_forecast: Option<u64>,
    /// Tier mode: how migration copies run.
    #[arg(long, value_name = "MODEL", default_value = "mover")]
    copies: Copies,
    /// Tier mode, one trace × policy × size: write every placement, accepted move, finished
    /// copy and served extent piece to FILE as CSV (time_ns, event, volume, extent,
    /// from_tier, to_tier, reason, latency_ns; tiers are ranks, 0 the fastest).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Tier mode with `--copies mover`: the share of a busy disk's time copies may take, as
    /// the server's `[placement] disk_time_share`.
    #[arg(
        long,
        value_name = "FRACTION",
        value_parser = parse_share,
        default_value_t = strata_sim::tier::DEFAULT_DISK_TIME_SHARE
    )]
    disk_time_share: f64,
    /// Block size of the canonical stream in bytes; a comma-separated list runs each.
    #[arg(
        long,
        value_name = "BYTES",
        value_delimiter = ',',
        default_value = "4096"
    )]
    unit: Vec<String>,
    /// Replay read requests only.
    #[arg(long)]
    reads_only: bool,
    #[command(flatten)]
    reader: ReaderArgs,
    /// Print one JSON document.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV with a header line.
    #[arg(long)]
    csv: bool,
    /// Write PNG plots of miss ratio against cache size (one per trace and unit) into DIR.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
}

/// Trace-reader options shared by `strata sim` and `strata sim verify`.
#[derive(Debug, Args)]
struct ReaderArgs {
    /// Skip (and count) malformed trace lines instead of failing on the first one.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Time unit of DiskSim / MQSim traces, which do not record it.
    #[arg(long, value_name = "ns|us|ms|s", default_value = "ms")]
    time_unit: TimeUnit,
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Check the fast LRU and Belady against slow reference models on every trace in a
    /// folder; prints a table and exits 1 on any mismatch.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Folder of traces: every file in it is checked (README/notes are skipped).
    #[arg(long, value_name = "DIR")]
    trace_dir: PathBuf,
    /// Comma-separated units in bytes.
    #[arg(
        long,
        value_name = "BYTES",
        value_delimiter = ',',
        default_value = "4096,1M"
    )]
    unit: Vec<String>,
    /// Comma-separated cache sizes.
    #[arg(
        long,
        value_name = "SIZE_OR_%",
        value_delimiter = ',',
        default_value = "1%,5%,10%,20%"
    )]
    cache: Vec<String>,
    #[command(flatten)]
    reader: ReaderArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Copies {
    /// As the server's mover: one copy at a time, in the order decided, each copy to or
    /// from a busy disk within `--disk-time-share` of its time; moves beyond its queue of
    /// 4,096 refused.
    Mover,
    /// Every copy starts when it is decided, overlapping the others on the devices.
    Overlapping,
}

impl Copies {
    fn model(self, disk_time_share: f64) -> strata_sim::tier::CopyModel {
        match self {
            Self::Mover => strata_sim::tier::CopyModel::Mover {
                disk_time_share,
                max_queued: strata_sim::tier::DEFAULT_MAX_QUEUED_MOVES,
            },
            Self::Overlapping => strata_sim::tier::CopyModel::Overlapping,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// A classic demand cache over the canonical stream.
    Cache,
    /// Placement policies over the device models, in virtual time.
    Tier,
    /// Access predictors feeding a demand cache.
    Prefetch,
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    if let Some(SimCommand::Verify(verify)) = args.command {
        return run_verify(verify);
    }
    let units = parse_list(&args.unit, "--unit", parse_unit);
    let options = args.reader.options(args.format);
    let quiet = args.json && !std::io::stdout().is_terminal();
    if args.events.is_some() && args.mode != Mode::Tier {
        usage_error("--events applies to --mode tier only");
    }
    let report = match args.mode {
        Mode::Cache => {
            let sizes = parse_list(&args.cache, "--cache", parse_cache_size);
            let names = if args.policy.is_empty() {
                vec!["lru".into(), "arc".into(), "s3fifo".into(), "belady".into()]
            } else {
                args.policy.clone()
            };
            let policies = parse_list(&names, "--policy", |s| s.parse::<PolicyKind>());
            let streams = load_streams(&args.traces, &options, &units, args.reads_only)?;
            note_skipped(&streams);
            let progress = Bar::new("replaying", quiet);
            let report = run_cache_on(&streams, &sizes, &policies, &progress);
            progress.finish();
            report
        }
        Mode::Prefetch => {
            use strata_sim::prefetch::{PredictorKind, load_canonical_streams, run_prefetch_with};
            let sizes = parse_list(&args.cache, "--cache", parse_cache_size);
            let names = if args.predictor.is_empty() {
                PredictorKind::ALL.map(|p| p.name().to_owned()).to_vec()
            } else {
                args.predictor.clone()
            };
            let predictors = parse_list(&names, "--predictor", |s| s.parse::<PredictorKind>());
            let models = load_models(args.lstm_model.as_deref())?;
            let streams = load_canonical_streams(&args.traces, &options, &units, args.reads_only)?;
            let progress = Bar::new("prefetching", quiet);
            let report = run_prefetch_with(&streams, &sizes, &predictors, &models, &progress)?;
            progress.finish();
            report
        }
        Mode::Tier => {
            use strata_sim::tier::{
                TierExperiment, TierSimConfig, policy_names, run_tier_experiment,
                run_tier_with_events, tier_report, write_tier_plots,
            };
            let fast = if args.fast.is_empty() {
                vec![SizeOrFraction::Fraction(0.10)]
            } else {
                parse_list(&args.fast, "--fast", parse_cache_size)
            };
            let middle = if args.middle.is_empty() {
                Vec::new()
            } else {
                parse_list(&args.middle, "--middle", parse_cache_size)
            };
            let names = if args.policy.is_empty() {
                policy_names().iter().map(|&name| name.to_owned()).collect()
            } else {
                args.policy.clone()
            };
            let policies = parse_list(&names, "--policy", |name| {
                if policy_names().contains(&name) {
                    Ok(name.to_owned())
                } else {
                    Err(format!(
                        "unknown placement policy {name:?}; known: {}",
                        policy_names().join(", ")
                    ))
                }
            });
            if args.lstm_model.is_some() {
                usage_error("--lstm-model applies to --mode prefetch only");
            }
            let experiment = TierExperiment {
                traces: args.traces.clone(),
                trace_options: options,
                units: units.clone(),
                reads_only: args.reads_only,
                policies,
                fast,
                middle,
                predictors: if args.predictor.is_empty() {
                    Vec::new()
                } else {
                    parse_list(&args.predictor, "--predictor", |s| {
                        s.parse::<strata_sim::prefetch::PredictorKind>()
                    })
                },
                config: TierSimConfig::default()
                    .with_heat_forecast_window_ns(args.heat_forecast.filter(|&ns| ns > 0))
                    .with_copies(args.copies.model(args.disk_time_share)),
            };
            let runs = match &args.events {
                Some(path) => {
                    // Checked before the file is created, so a bad call truncates nothing.
                    experiment.check_single()?;
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    vec![run_tier_with_events(&experiment, &mut out)?]
                }
                None => {
                    let progress = Bar::new("tiering", quiet);
                    let runs = run_tier_experiment(&experiment, &progress)?;
                    progress.finish();
                    runs
                }
            };
            if let Some(dir) = &args.plot {
                let files = write_tier_plots(&runs, dir)?;
                eprintln!("wrote {} tier plot(s) to {}", files.len(), dir.display());
            }
            tier_report(&runs)
        }
    };
    emit(&report, args.json, args.csv)?;
    if let Some(dir) = &args.plot {
        let files = write_plots(&report, dir)?;
        eprintln!("wrote {} plot(s) to {}", files.len(), dir.display());
    }
    Ok(())
}

/// The models named on the command line, read and checked before any trace is loaded.
fn load_models(lstm: Option<&Path>) -> anyhow::Result<strata_sim::prefetch::PredictorModels> {
    let mut models = strata_sim::prefetch::PredictorModels::default();
    if let Some(path) = lstm {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let model = strata_predict::LstmModel::from_safetensors(&bytes)
            .with_context(|| format!("{} is not a Strata LSTM model", path.display()))?;
        models.lstm = Some(std::sync::Arc::new(model));
    }
    Ok(models)
}

impl ReaderArgs {
    fn options(&self, format: Format) -> TraceOptions {
        TraceOptions::default()
            .with_format(format)
            .with_time_unit(self.time_unit)
            .with_skip_bad_lines(self.skip_bad_lines)
    }
}

fn emit(report: &SimReport, json: bool, csv: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let text = if json {
        let mut doc = report.to_json();
        doc.push('\n');
        doc
    } else if csv {
        render_csv(report)
    } else {
        render_table(report)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the report to stdout")
}

/// Bad usage found after parsing: one line on stderr, exit code 2, like clap's own errors.
fn usage_error(message: impl Display) -> ! {
    clap::Error::raw(ErrorKind::ValueValidation, format!("{message}\n")).exit()
}

/// Parses every item of a comma-separated flag, or stops with a usage error naming it.
fn parse_list<T, E: Display>(
    items: &[String],
    flag: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Vec<T> {
    if items.iter().all(|s| s.trim().is_empty()) {
        usage_error(format_args!("{flag} needs at least one value"));
    }
    items
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse(s).unwrap_or_else(|e| usage_error(format_args!("{flag}: {e}"))))
        .collect()
}

fn parse_unit(s: &str) -> Result<u64, String> {
    match parse_size(s) {
        Ok(0) => Err(format!(
            "invalid value {s:?}: the unit must be at least 1 byte"
        )),
        Ok(unit) => Ok(unit),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_cache_size(s: &str) -> Result<SizeOrFraction, String> {
    match s.parse::<SizeOrFraction>() {
        Ok(SizeOrFraction::Fraction(f)) if f <= 0.0 => Err(format!(
            "invalid value {s:?}: a cache fraction must be above 0%"
        )),
        Ok(size) => Ok(size),
        Err(e) => Err(e.to_string()),
    }
}

/// Tells on stderr how many malformed lines `--skip-bad-lines` skipped.
fn note_skipped(streams: &[LoadedStream]) {
    for stream in streams {
        if stream.stats.bad_lines > 0 {
            eprintln!(
                "note: skipped {} malformed line(s) in {}",
                stream.stats.bad_lines,
                stream.path.display()
            );
        }
    }
}

/// An indicatif bar on stderr that appears only once a run has taken a couple of seconds,
/// and never when stderr is not a terminal or `quiet` is set.
#[derive(Debug)]
struct Bar {
    bar: ProgressBar,
    started: Instant,
    enabled: bool,
    shown: AtomicBool,
}

impl Bar {
    const SHOW_AFTER: Duration = Duration::from_secs(2);

    fn new(label: &'static str, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {percent:>3}% (eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(label);
        Self {
            bar,
            started: Instant::now(),
            enabled: !quiet && std::io::stderr().is_terminal(),
            shown: AtomicBool::new(false),
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn add_total(&self, units: u64) {
        self.bar.inc_length(units);
    }

    fn advance(&self, units: u64) {
        self.bar.inc(units);
        if self.enabled
            && self.started.elapsed() >= Self::SHOW_AFTER
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

/// One verified stream: where it came from and every comparison made on it.
struct Verified {
    trace: String,
    unit: u64,
    accesses: usize,
    unique: u64,
    checks: Vec<Check>,
}

fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    let units = parse_list(&args.unit, "--unit", parse_unit);
    let sizes = parse_list(&args.cache, "--cache", parse_cache_size);
    let options = args.reader.options(Format::Auto);
    let files = trace_files(&args.trace_dir)?;
    let jobs: Vec<(&PathBuf, u64)> = files
        .iter()
        .flat_map(|path| units.iter().map(move |&unit| (path, unit)))
        .collect();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(jobs.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("verifying [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    let results: Vec<Verified> = jobs
        .par_iter()
        .map(|&(path, unit)| {
            let stream = load_stream(path, &options, unit, false)?;
            let capacities: Vec<u64> = sizes
                .iter()
                .map(|&size| cache_entries(size, stream.unique, unit))
                .collect();
            let checks = verify_stream(&stream.ids, &capacities);
            bar.inc(1);
            bar.set_message(stream.trace.clone());
            Ok(Verified {
                trace: stream.trace,
                unit,
                accesses: stream.ids.len(),
                unique: stream.unique,
                checks,
            })
        })
        .collect::<Result<_, strata_sim::trace::TraceError>>()?;
    bar.finish_and_clear();
    print!("{}", verify_table(&results));
    let total: usize = results.iter().map(|r| r.checks.len()).sum();
    let mismatches = results
        .iter()
        .flat_map(|r| &r.checks)
        .filter(|c| !c.matches())
        .count();
    if mismatches > 0 {
        anyhow::bail!("verification failed: {mismatches} of {total} comparisons differ");
    }
    println!(
        "all {total} comparisons match ({} traces × {} units × {} sizes × lru, belady)",
        files.len(),
        units.len(),
        sizes.len()
    );
    Ok(())
}

/// The files of `dir` that can be traces, sorted by name: notes and scripts are skipped.
fn trace_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let skip = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "md" | "py" | "txt" | "sh"));
        if path.is_file() && !skip {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no trace files in {}", dir.display());
    }
    Ok(files)
}

fn verify_table(results: &[Verified]) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "{:<36} {:>8} {:>9} {:>8} {:>7} {:>8} {:>10} {:>21} {}\n",
        "trace", "unit", "accesses", "unique", "policy", "capacity", "fast", "reference", "result"
    );
    for r in results {
        for c in &r.checks {
            let references: Vec<String> = c.reference_misses.iter().map(u64::to_string).collect();
            let _ = writeln!(
                out,
                "{:<36} {:>8} {:>9} {:>8} {:>7} {:>8} {:>10} {:>21} {}",
                r.trace,
                r.unit,
                r.accesses,
                r.unique,
                c.policy.name(),
                c.capacity,
                c.fast_misses,
                references.join("/"),
                if c.matches() { "ok" } else { "MISMATCH" }
            );
        }
    }
    out
}

/// `--heat-forecast SECONDS` as a window in nanoseconds (0: off).
fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if share > 0.0 && share <= 1.0 => Ok(share),
        _ => Err(format!(
            "{text:?} is not a share of the disk's time in (0, 1]"
        )),
    }
}

fn parse_heat_forecast(text: &str) -> Result<u64, String> {
    match text.parse::<f64>() {
        Ok(0.0) => Ok(0),
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Ok((seconds * 1e9).round().max(1.0) as u64)
        }
        _ => Err(format!("{text:?} is not a number of seconds, at least 0")),
    }
}
