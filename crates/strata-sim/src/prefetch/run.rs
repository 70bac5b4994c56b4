//! The prefetch-mode branch of `strata sim`: load each trace × unit as its canonical block
//! stream and replay every (cache size × predictor) combination, in parallel, with results
//! in a fixed order (traces, units, sizes, predictors, as given).
//!
//! Unlike cache mode (`crate::run`), block ids are kept as the canonical ids, not
//! renumbered densely: predictors work on block adjacency, deltas and disks, which a
//! renumbering in first-access order would destroy (and worse, it would hand a
//! sequential predictor the order of first accesses, i.e. the future).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustc_hash::FxHashSet;
use strata_core::SizeOrFraction;
use strata_predict::{Access, PredictError, PredictorKind, PredictorModels};

use super::{PrefetchConfig, PrefetchResult, simulate_with};
use crate::report::{ResultRow, SimReport, TraceReport, round6};
use crate::run::{Progress, cache_entries, trace_name};
use crate::stream::{BlockStream, disk_of};
use crate::trace::{TraceError, TraceOptions, TraceStats, open_trace};

/// The canonical block stream of one trace at one unit, ids as DESIGN.md defines them.
#[derive(Debug, Clone)]
pub struct CanonicalStream {
    pub trace: String,
    pub path: PathBuf,
    pub unit: u64,
    /// Canonical block ids (`disk × 2^40 + block`) in access order.
    pub ids: Vec<u64>,
    /// Distinct ids.
    pub unique: u64,
    pub stats: TraceStats,
}

impl CanonicalStream {
    /// A stream built in memory (tests, synthetic workloads).
    pub fn from_ids(trace: impl Into<String>, unit: u64, ids: Vec<u64>) -> Self {
        let unique = ids.iter().collect::<FxHashSet<_>>().len() as u64;
        Self {
            trace: trace.into(),
            path: PathBuf::new(),
            unit,
            ids,
            unique,
            stats: TraceStats::default(),
        }
    }
}

/// Reads one trace into its canonical stream of `unit_bytes` blocks.
pub fn load_canonical_stream(
    path: &Path,
    options: &TraceOptions,
    unit_bytes: u64,
    reads_only: bool,
) -> Result<CanonicalStream, TraceError> {
    let reader = open_trace(path, options)?;
    let mut blocks = BlockStream::new(reader, unit_bytes).with_reads_only(reads_only);
    let mut seen = FxHashSet::default();
    let mut ids = Vec::new();
    for access in blocks.by_ref() {
        let id = access?.block_id;
        seen.insert(id);
        ids.push(id);
    }
    Ok(CanonicalStream {
        trace: trace_name(path),
        path: path.to_path_buf(),
        unit: unit_bytes,
        unique: seen.len() as u64,
        ids,
        stats: blocks.records().stats(),
    })
}

/// Loads every trace at every unit, in parallel, traces outer.
pub fn load_canonical_streams(
    traces: &[PathBuf],
    options: &TraceOptions,
    units: &[u64],
    reads_only: bool,
) -> Result<Vec<CanonicalStream>, TraceError> {
    let jobs: Vec<(&PathBuf, u64)> = traces
        .iter()
        .flat_map(|path| units.iter().map(move |&unit| (path, unit)))
        .collect();
    jobs.par_iter()
        .map(|(path, unit)| load_canonical_stream(path, options, *unit, reads_only))
        .collect()
}

/// The accesses an access predictor learns from in `streams`: every canonical id in
/// order, each disk of each stream its own predictor stream (`index << 32 | disk`), so
/// deltas never cross traces. `strata train --model lstm` trains on exactly this.
pub fn training_accesses(streams: &[CanonicalStream]) -> Vec<Access> {
    (0u64..)
        .zip(streams)
        .flat_map(|(index, stream)| {
            stream
                .ids
                .iter()
                .map(move |&id| Access::read(index << 32 | u64::from(disk_of(id)), id))
        })
        .collect()
}

/// A result row in the shared report shape: the cache-mode fields (policy `lru`) plus
/// `predictor`, `precision`, `coverage`, `timeliness` and `wasted_bytes`.
pub fn result_row(result: &PrefetchResult) -> ResultRow {
    ResultRow::new(
        result.policy.clone(),
        result.cache_size as u64,
        result.hits,
        result.misses,
    )
    .with_extra("predictor", result.predictor.clone())
    .with_extra("precision", round6(result.precision))
    .with_extra("coverage", round6(result.coverage))
    .with_extra("timeliness", round6(result.timeliness))
    .with_extra("wasted_bytes", result.wasted_bytes)
}

/// Replays every (size × predictor) combination over every stream, predictors with their
/// shipped models.
pub fn run_prefetch_on(
    streams: &[CanonicalStream],
    sizes: &[SizeOrFraction],
    predictors: &[PredictorKind],
    progress: &dyn Progress,
) -> Result<SimReport, PredictError> {
    run_prefetch_with(
        streams,
        sizes,
        predictors,
        &PredictorModels::default(),
        progress,
    )
}

/// [`run_prefetch_on`] with models loaded by the caller (`--lstm-model`).
pub fn run_prefetch_with(
    streams: &[CanonicalStream],
    sizes: &[SizeOrFraction],
    predictors: &[PredictorKind],
    models: &PredictorModels,
    progress: &dyn Progress,
) -> Result<SimReport, PredictError> {
    let mut jobs = Vec::new();
    for stream in streams {
        for &size in sizes {
            let capacity = cache_entries(size, stream.unique, stream.unit);
            let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
            for &predictor in predictors {
                jobs.push((
                    stream,
                    PrefetchConfig::new(predictor, capacity, stream.unit),
                ));
            }
        }
    }
    progress.add_total(jobs.iter().map(|(s, _)| s.ids.len() as u64).sum());
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].0.ids.len()));
    let mut rows: Vec<(usize, ResultRow)> = order
        .par_iter()
        .map(|&i| {
            let (stream, config) = &jobs[i];
            let mut predictor = config.predictor.build_with(models);
            let stats = simulate_with(&stream.ids, config, predictor.as_mut())?;
            progress.advance(stream.ids.len() as u64);
            Ok((i, result_row(&PrefetchResult::new(config, &stats))))
        })
        .collect::<Result<_, PredictError>>()?;
    rows.sort_by_key(|(i, _)| *i);
    let mut rows = rows.into_iter().map(|(_, row)| row);
    let per_stream = sizes.len() * predictors.len();
    let traces = streams
        .iter()
        .map(|stream| TraceReport {
            trace: stream.trace.clone(),
            unit: stream.unit,
            accesses: stream.ids.len() as u64,
            unique: stream.unique,
            results: rows.by_ref().take(per_stream).collect(),
        })
        .collect();
    Ok(SimReport { traces })
}
