//! `strata profile`: reads a trace, cuts it into windows (60 s of trace time or 10,000
//! requests by default, `--window SECONDS|Nr`) and prints, per window, the workload class
//! with its confidence, the tier profile and the features (INTERFACE.md, "Offline
//! commands"); a table by default, one JSON document with `--json`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use strata_predict::profile::{
    DemandHistory, TierDevices, WindowAnalysis, WindowSpec, WorkloadModel, class_defaults,
};
use strata_sim::run::Progress;
use strata_sim::trace::{Format, TimeUnit, TraceOptions};
use strata_sim::workload::{TraceWindows, family_options, profile_trace};

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Trace file to profile.
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,
    /// Window length: SECONDS of trace time (`60`, `2.5`) or a request count (`5000r`).
    /// Default: 60 s or 10,000 requests, whichever comes first (requests only for traces
    /// without timestamps).
    #[arg(long, value_name = "SECONDS|Nr", allow_hyphen_values = true)]
    window: Option<WindowSpec>,
    /// Print one JSON document. A window's `start` is seconds since the trace's first
    /// request, or the index of its first request for traces without timestamps.
    #[arg(long)]
    json: bool,
    /// Workload model file written by `strata train` (default: the model shipped in the
    /// binary).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Trace format (auto-detected from the content by default).
    #[arg(long, default_value = "auto")]
    format: Format,
    /// Time unit of DiskSim / MQSim traces (default: the family's, else ms).
    #[arg(long, value_name = "ns|us|ms|s")]
    time_unit: Option<TimeUnit>,
    /// Skip (and count) malformed trace lines instead of failing on the first one.
    #[arg(long)]
    skip_bad_lines: bool,
}

pub fn run(args: ProfileArgs) -> anyhow::Result<()> {
    let model = load_model(args.model.as_ref())?;
    let options = TraceOptions::default()
        .with_format(args.format)
        .with_time_unit(args.time_unit.unwrap_or_default())
        .with_skip_bad_lines(args.skip_bad_lines);
    let options = family_options(&args.trace, &options, args.time_unit.is_some());
    let spec = args.window.unwrap_or_default();
    let spinner = Spinner::new("profiling", args.json && !std::io::stdout().is_terminal());
    let profiled = profile_trace(&args.trace, &options, spec, &spinner)?;
    spinner.finish();
    let devices = TierDevices::default();
    let mut history = DemandHistory::default();
    let analyses = profiled
        .windows
        .iter()
        .map(|window| model.analyse(&window.profile, &mut history, &devices))
        .collect::<Result<Vec<_>, _>>()?;
    let text = if args.json {
        let model_name = args
            .model
            .as_ref()
            .map_or("shipped".to_owned(), |p| p.display().to_string());
        let mut doc =
            serde_json::to_string(&json_document(&profiled, &analyses, spec, &model_name))?;
        doc.push('\n');
        doc
    } else {
        table(&profiled, &analyses, spec)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the profile to stdout")
}

/// The model given by `--model`, or the shipped one.
pub(super) fn load_model(path: Option<&PathBuf>) -> anyhow::Result<WorkloadModel> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read model {}", path.display()))?;
            WorkloadModel::from_json(&text)
                .with_context(|| format!("cannot load model {}", path.display()))
        }
        None => WorkloadModel::shipped().context("the shipped workload model does not load"),
    }
}

fn json_document(
    profiled: &TraceWindows,
    analyses: &[WindowAnalysis],
    spec: WindowSpec,
    model: &str,
) -> serde_json::Value {
    let windows: Vec<serde_json::Value> = profiled
        .windows
        .iter()
        .zip(analyses)
        .map(|(window, analysis)| {
            let start = window.start_s.unwrap_or(window.start_request as f64);
            let [nvme_bytes, ssd_bytes, hdd_bytes] = analysis.forecast_tier_bytes;
            json!({
                "start": start,
                "start_request": window.start_request,
                "class": analysis.class.name(),
                "confidence": analysis.confidence,
                "tier_profile": analysis.tier_profile,
                "forecast": {
                    "working_set_bytes": analysis.forecast_bytes,
                    "nvme_bytes": nvme_bytes,
                    "ssd_bytes": ssd_bytes,
                    "hdd_bytes": hdd_bytes,
                },
                "features": window.profile.features,
                "defaults": defaults_json(analysis),
            })
        })
        .collect();
    json!({
        "trace": profiled.trace,
        "timed": profiled.timed,
        "window": spec.to_string(),
        "model": model,
        "windows": windows,
    })
}

/// The per-class starting choices the window's class selects.
fn defaults_json(analysis: &WindowAnalysis) -> serde_json::Value {
    let defaults = class_defaults(analysis.class);
    json!({
        "prefetch": defaults.prefetch.name(),
        "initial_tier": defaults.initial_tier.as_str(),
        "reserve_nvme_fraction": defaults.reserve_nvme_fraction,
        "reserve_ssd_fraction": defaults.reserve_ssd_fraction,
    })
}

fn table(profiled: &TraceWindows, analyses: &[WindowAnalysis], spec: WindowSpec) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{}: {} window(s) of {spec}\n",
        profiled.trace,
        profiled.windows.len()
    );
    let _ = writeln!(
        out,
        "{:>10} {:>8} {:<9} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>9} {:>11} {:>9}",
        "start",
        "requests",
        "class",
        "conf",
        "nvme",
        "ssd",
        "hdd",
        "read",
        "seq",
        "mean_kib",
        "wset_mib",
        "iops"
    );
    for (window, analysis) in profiled.windows.iter().zip(analyses) {
        let f = &window.profile.features;
        let start = match window.start_s {
            Some(s) => format!("{s:.1}s"),
            None => format!("#{}", window.start_request),
        };
        let p = analysis.tier_profile;
        let _ = writeln!(
            out,
            "{start:>10} {:>8} {:<9} {:>5.2} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>9.1} {:>11.1} {:>9}",
            f.requests,
            analysis.class.name(),
            analysis.confidence,
            p.nvme,
            p.ssd,
            p.hdd,
            f.read_fraction,
            f.sequential_fraction,
            f.mean_request_bytes / 1024.0,
            f.working_set_bytes / f64::from(1 << 20),
            f.iops.map_or("-".to_owned(), |v| format!("{v:.0}")),
        );
    }
    out
}

/// A spinner on stderr counting records, drawn only on a terminal and only once a run
/// has taken a moment.
#[derive(Debug)]
pub(super) struct Spinner {
    bar: ProgressBar,
}

impl Spinner {
    pub(super) fn new(label: &'static str, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}] {pos} records")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        bar.set_message(label);
        Self { bar }
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Spinner {
    fn advance(&self, records: u64) {
        self.bar.inc(records);
    }
}
