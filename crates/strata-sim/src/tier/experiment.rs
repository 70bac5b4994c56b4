//! A whole `strata sim --mode tier` run: every trace × unit is read once, then every
//! (policy × predictor × fast size × middle size) combination is replayed over it in
//! parallel (rayon). Results come back in a fixed order — traces, units, fast sizes, middle
//! sizes, policies, predictors, as given — so the output is identical run to run.

use super::{
    TierError, TierEvent, TierInput, TierRun, TierSimConfig, TierSizes, simulate_tier,
    simulate_tier_with_events,
};
use crate::report::{ResultRow, SimReport, TraceReport, round6};
use crate::run::{Progress, trace_name};
use crate::trace::{IoRecord, TraceOptions, open_trace};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use strata_core::{IoKind, SizeOrFraction};
use strata_predict::PredictorKind;

/// What to run.
#[derive(Debug, Clone)]
pub struct TierExperiment {
    pub traces: Vec<PathBuf>,
    pub trace_options: TraceOptions,
    pub units: Vec<u64>,
    pub reads_only: bool,
    /// Policy names as `strata_policy::policy_by_name` knows them.
    pub policies: Vec<String>,
    pub fast: Vec<SizeOrFraction>,
    /// Middle-tier sizes; empty for two tiers (nvme over hdd).
    pub middle: Vec<SizeOrFraction>,
    /// Predictors of the prefetcher, each run next to every policy; empty for no
    /// prefetching.
    pub predictors: Vec<PredictorKind>,
    /// Everything but the unit, which comes from `units`.
    pub config: TierSimConfig,
}

impl TierExperiment {
    /// Whether this is one combination, as an event log needs: one trace, unit, policy and
    /// fast size, at most one middle size and predictor.
    pub fn check_single(&self) -> Result<(), TierError> {
        let one = |n: usize| n == 1;
        if one(self.traces.len())
            && one(self.units.len())
            && one(self.policies.len())
            && one(self.fast.len())
            && self.middle.len() <= 1
            && self.predictors.len() <= 1
        {
            Ok(())
        } else {
            Err(TierError::invalid(
                "an event log needs exactly one trace, unit, policy and fast size, and at \
                 most one middle size and predictor",
            ))
        }
    }
}

/// The runs of one trace at one unit.
#[derive(Debug, Clone)]
pub struct TierTraceRuns {
    pub trace: String,
    pub unit: u64,
    pub accesses: u64,
    pub unique: u64,
    pub requests: u64,
    pub runs: Vec<TierRun>,
}

impl TierTraceRuns {
    fn of(trace: String, input: &TierInput, runs: Vec<TierRun>) -> Self {
        Self {
            trace,
            unit: input.unit_bytes(),
            accesses: input.accesses(),
            unique: input.footprint_extents(),
            requests: input.requests().len() as u64,
            runs,
        }
    }
}

/// Reads one trace for tier replay.
pub fn load_tier_input(
    path: &std::path::Path,
    options: &TraceOptions,
    unit_bytes: u64,
    reads_only: bool,
    arrival_rate_per_s: u64,
) -> Result<TierInput, TierError> {
    let reader = open_trace(path, options).map_err(TierError::trace)?;
    let mut records: Vec<IoRecord> = Vec::new();
    for record in reader {
        let record = record.map_err(TierError::trace)?;
        if !reads_only || record.kind == IoKind::Read {
            records.push(record);
        }
    }
    TierInput::from_records(records, unit_bytes, arrival_rate_per_s)
}

/// Runs the experiment; `progress` counts extent accesses replayed.
pub fn run_tier_experiment<P: Progress + ?Sized>(
    experiment: &TierExperiment,
    progress: &P,
) -> Result<Vec<TierTraceRuns>, TierError> {
    let middles: Vec<Option<SizeOrFraction>> = if experiment.middle.is_empty() {
        vec![None]
    } else {
        experiment.middle.iter().copied().map(Some).collect()
    };
    let loads: Vec<(&PathBuf, u64)> = experiment
        .traces
        .iter()
        .flat_map(|path| experiment.units.iter().map(move |&unit| (path, unit)))
        .collect();
    let inputs: Vec<(String, TierInput)> = loads
        .par_iter()
        .map(|&(path, unit)| {
            let input = load_tier_input(
                path,
                &experiment.trace_options,
                unit,
                experiment.reads_only,
                experiment.config.arrival_rate_per_s,
            )?;
            Ok((trace_name(path), input))
        })
        .collect::<Result<_, TierError>>()?;

    let predictors: Vec<Option<PredictorKind>> = if experiment.predictors.is_empty() {
        vec![None]
    } else {
        experiment.predictors.iter().copied().map(Some).collect()
    };
    let combos: Vec<(TierSizes, &str, Option<PredictorKind>)> = experiment
        .fast
        .iter()
        .flat_map(|&fast| {
            middles
                .iter()
                .map(move |&middle| TierSizes { fast, middle })
        })
        .flat_map(|sizes| experiment.policies.iter().map(move |p| (sizes, p.as_str())))
        .flat_map(|(sizes, policy)| {
            predictors
                .iter()
                .map(move |&predictor| (sizes, policy, predictor))
        })
        .collect();
    for (_, input) in &inputs {
        progress.add_total(input.accesses() * combos.len() as u64);
    }
    inputs
        .iter()
        .map(|(trace, input)| {
            let config = experiment
                .config
                .clone()
                .with_unit_bytes(input.unit_bytes());
            let runs = combos
                .par_iter()
                .map(|&(sizes, policy, predictor)| {
                    let config = config.clone().with_prefetch(predictor);
                    let run = simulate_tier(input, policy, &sizes, &config);
                    progress.advance(input.accesses());
                    run
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(TierTraceRuns::of(trace.clone(), input, runs))
        })
        .collect()
}

/// The header of the event log [`run_tier_with_events`] writes.
pub const EVENTS_HEADER: &str = "time_ns,event,volume,extent,from_tier,to_tier,reason,latency_ns";

/// Runs an experiment of exactly one combination (one trace, unit, policy, fast size, at
/// most one middle size and predictor) and writes every placement, accepted move, finished
/// copy (up to the last request) and served extent piece to `out` as CSV
/// ([`EVENTS_HEADER`]; tiers are ranks, 0 the fastest; empty fields do not apply). The run
/// is the same as without the log.
pub fn run_tier_with_events(
    experiment: &TierExperiment,
    out: &mut dyn Write,
) -> Result<TierTraceRuns, TierError> {
    let e = experiment;
    e.check_single()?;
    let (path, unit) = (&e.traces[0], e.units[0]);
    let input = load_tier_input(
        path,
        &e.trace_options,
        unit,
        e.reads_only,
        e.config.arrival_rate_per_s,
    )?;
    let sizes = TierSizes {
        fast: e.fast[0],
        middle: e.middle.first().copied(),
    };
    let config = e
        .config
        .clone()
        .with_unit_bytes(input.unit_bytes())
        .with_prefetch(e.predictors.first().copied());
    writeln!(out, "{EVENTS_HEADER}").map_err(TierError::output)?;
    // The replay cannot stop on a write error, so the first one is kept and returned.
    let mut failed: Option<std::io::Error> = None;
    let run = simulate_tier_with_events(&input, &e.policies[0], &sizes, &config, &mut |event| {
        if failed.is_none()
            && let Err(err) = write_event(out, event)
        {
            failed = Some(err);
        }
    })?;
    if let Some(err) = failed {
        return Err(TierError::output(err));
    }
    out.flush().map_err(TierError::output)?;
    Ok(TierTraceRuns::of(trace_name(path), &input, vec![run]))
}

fn write_event(out: &mut dyn Write, event: &TierEvent) -> std::io::Result<()> {
    match *event {
        TierEvent::Place {
            time_ns,
            extent,
            tier,
        } => writeln!(
            out,
            "{time_ns},place,{},{},,{},,",
            extent.volume, extent.index, tier.0
        ),
        TierEvent::Move {
            time_ns,
            extent,
            from,
            to,
            reason,
        } => writeln!(
            out,
            "{time_ns},move,{},{},{},{},{},",
            extent.volume,
            extent.index,
            from.0,
            to.0,
            reason.as_str()
        ),
        TierEvent::Done {
            time_ns,
            extent,
            from,
            to,
            latency_ns,
        } => writeln!(
            out,
            "{time_ns},done,{},{},{},{},,{latency_ns}",
            extent.volume, extent.index, from.0, to.0
        ),
        TierEvent::Serve {
            time_ns,
            extent,
            tier,
            latency_ns,
        } => writeln!(
            out,
            "{time_ns},serve,{},{},{},,,{latency_ns}",
            extent.volume, extent.index, tier.0
        ),
    }
}

/// One result row of INTERFACE.md's JSON shape for a tier run.
pub fn tier_row(run: &TierRun) -> ResultRow {
    let r = &run.result;
    let mut row = ResultRow::new(&r.policy, r.cache_size, r.hits, r.misses);
    if let Some(middle) = r.middle_size {
        row = row.with_extra("middle_size", middle);
    }
    row = row
        .with_extra("mean_latency_us", round6(r.mean_latency_us))
        .with_extra("p99_latency_us", round6(r.p99_latency_us))
        .with_extra("fast_hit_ratio", round6(r.fast_hit_ratio));
    if let Some(ratio) = r.middle_hit_ratio {
        row = row.with_extra("middle_hit_ratio", round6(ratio));
    }
    row = row
        .with_extra("migrated_bytes", r.migrated_bytes)
        .with_extra("copied_bytes", r.copied_bytes)
        .with_extra("requests", r.requests);
    if let Some(p) = &r.prefetch {
        row = row
            .with_extra("predictor", p.predictor.clone())
            .with_extra("precision", round6(p.precision))
            .with_extra("coverage", round6(p.coverage))
            .with_extra("timeliness", round6(p.timeliness))
            .with_extra("wasted_bytes", p.wasted_bytes);
    }
    row
}

/// The report every renderer (`--json`, `--csv`, table) takes.
pub fn tier_report(traces: &[TierTraceRuns]) -> SimReport {
    SimReport {
        traces: traces
            .iter()
            .map(|t| TraceReport {
                trace: t.trace.clone(),
                unit: t.unit,
                accesses: t.accesses,
                unique: t.unique,
                results: t.runs.iter().map(tier_row).collect(),
            })
            .collect(),
    }
}
