//! Running experiments: every trace × unit is read once into its canonical block stream,
//! then every (cache size × policy) combination is replayed over it, all in parallel with
//! rayon. Results come back in a fixed order (traces, then units, then sizes, then
//! policies, as given), so a run's output is identical run to run.
//!
//! A mode is a branch that turns loaded streams into [`ResultRow`]s; `cache` is
//! [`run_cache`]. Other modes reuse [`load_streams`] and the report types, adding their
//! fields to [`ResultRow::extra`].

use crate::cache::{self, PolicyKind};
use crate::report::{ResultRow, SimReport, TraceReport};
use crate::stream::BlockStream;
use crate::trace::{TraceError, TraceOptions, TraceStats, open_trace};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};
use strata_core::SizeOrFraction;

/// Progress of a run, in accesses replayed. Implementations must be cheap: they are called
/// from several threads every few tens of thousands of accesses.
pub trait Progress: Sync {
    /// More work became known.
    fn add_total(&self, _accesses: u64) {}
    /// Work was done.
    fn advance(&self, _accesses: u64) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// The canonical block stream of one trace at one unit, with ids renumbered densely.
#[derive(Debug, Clone)]
pub struct LoadedStream {
    /// The trace's file name (what reports call it).
    pub trace: String,
    pub path: PathBuf,
    pub unit: u64,
    /// Block ids renumbered 0.. in order of first access. Every policy is indifferent to
    /// the id values, and dense ids hash fast and keep the working set small.
    pub ids: Vec<u64>,
    /// Distinct ids (= the largest dense id + 1).
    pub unique: u64,
    /// What the reader counted (bad lines skipped, zero-length requests, …).
    pub stats: TraceStats,
}

/// The name reports use for a trace: its file name.
pub fn trace_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Reads one trace into its canonical stream of `unit_bytes` blocks (only reads with
/// `reads_only`). Fails on the first bad line unless the options skip bad lines.
pub fn load_stream(
    path: &Path,
    options: &TraceOptions,
    unit_bytes: u64,
    reads_only: bool,
) -> Result<LoadedStream, TraceError> {
    let reader = open_trace(path, options)?;
    let mut blocks = BlockStream::new(reader, unit_bytes).with_reads_only(reads_only);
    let mut dense: FxHashMap<u64, u64> = FxHashMap::default();
    let mut ids = Vec::new();
    for access in blocks.by_ref() {
        let block_id = access?.block_id;
        let next = dense.len() as u64;
        ids.push(*dense.entry(block_id).or_insert(next));
    }
    Ok(LoadedStream {
        trace: trace_name(path),
        path: path.to_path_buf(),
        unit: unit_bytes,
        unique: dense.len() as u64,
        ids,
        stats: blocks.records().stats(),
    })
}

/// Loads every trace at every unit, in parallel, in the order given (traces outer).
pub fn load_streams(
    traces: &[PathBuf],
    options: &TraceOptions,
    units: &[u64],
    reads_only: bool,
) -> Result<Vec<LoadedStream>, TraceError> {
    let jobs: Vec<(&PathBuf, u64)> = traces
        .iter()
        .flat_map(|path| units.iter().map(move |&unit| (path, unit)))
        .collect();
    jobs.par_iter()
        .map(|(path, unit)| load_stream(path, options, *unit, reads_only))
        .collect()
}

/// Cache capacity in entries for `size` over a stream of `unique` ids and `unit_bytes`
/// blocks: a fraction is max(1, floor(fraction × unique)) (INTERFACE.md); a byte size is
/// max(1, floor(bytes / unit)).
pub fn cache_entries(size: SizeOrFraction, unique: u64, unit_bytes: u64) -> u64 {
    let entries = match size {
        SizeOrFraction::Fraction(_) => size.resolve(unique),
        SizeOrFraction::Bytes(bytes) => bytes / unit_bytes.max(1),
    };
    entries.max(1)
}

/// What `--mode cache` runs.
#[derive(Debug, Clone)]
pub struct CacheExperiment {
    pub traces: Vec<PathBuf>,
    pub trace_options: TraceOptions,
    pub units: Vec<u64>,
    pub reads_only: bool,
    pub sizes: Vec<SizeOrFraction>,
    pub policies: Vec<PolicyKind>,
}

/// Replays every combination of `experiment` and returns the report.
pub fn run_cache(
    experiment: &CacheExperiment,
    progress: &dyn Progress,
) -> Result<SimReport, TraceError> {
    let streams = load_streams(
        &experiment.traces,
        &experiment.trace_options,
        &experiment.units,
        experiment.reads_only,
    )?;
    Ok(run_cache_on(
        &streams,
        &experiment.sizes,
        &experiment.policies,
        progress,
    ))
}

/// The cache-mode branch over streams already loaded.
pub fn run_cache_on(
    streams: &[LoadedStream],
    sizes: &[SizeOrFraction],
    policies: &[PolicyKind],
    progress: &dyn Progress,
) -> SimReport {
    struct Job<'a> {
        stream: &'a LoadedStream,
        capacity: u64,
        policy: PolicyKind,
    }
    let mut jobs = Vec::new();
    for stream in streams {
        for &size in sizes {
            let capacity = cache_entries(size, stream.unique, stream.unit);
            for &policy in policies {
                jobs.push(Job {
                    stream,
                    capacity,
                    policy,
                });
            }
        }
    }
    progress.add_total(jobs.iter().map(|j| j.stream.ids.len() as u64).sum());
    // Longest replays first keeps both cores busy to the end; results are re-ordered below.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].stream.ids.len()));
    let mut rows: Vec<(usize, ResultRow)> = order
        .par_iter()
        .map(|&i| {
            let job = &jobs[i];
            let capacity = usize::try_from(job.capacity).unwrap_or(usize::MAX);
            let mut policy = job.policy.build(capacity, &job.stream.ids);
            let stats = cache::replay(policy.as_mut(), &job.stream.ids, &mut |n| {
                progress.advance(n)
            });
            let row = ResultRow::new(job.policy.name(), job.capacity, stats.hits, stats.misses);
            (i, row)
        })
        .collect();
    rows.sort_by_key(|(i, _)| *i);
    let mut rows = rows.into_iter().map(|(_, row)| row);
    let per_stream = sizes.len() * policies.len();
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
    SimReport { traces }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(ids: Vec<u64>) -> LoadedStream {
        LoadedStream {
            trace: "mem".into(),
            path: PathBuf::from("mem"),
            unit: 4096,
            unique: cache::unique_count(&ids) as u64,
            ids,
            stats: TraceStats::default(),
        }
    }

    #[test]
    fn capacity_rules_follow_interface_md() {
        let ten = SizeOrFraction::Fraction(0.10);
        assert_eq!(cache_entries(ten, 45, 4096), 4);
        assert_eq!(cache_entries(ten, 9, 4096), 1);
        assert_eq!(cache_entries(SizeOrFraction::Bytes(1 << 20), 9, 4096), 256);
        assert_eq!(cache_entries(SizeOrFraction::Bytes(100), 9, 4096), 1);
    }

    #[test]
    fn every_combination_gets_a_row_in_order() {
        let streams = [
            stream((0..100).chain(0..100).collect()),
            stream(vec![1, 1, 2]),
        ];
        let sizes = [SizeOrFraction::Fraction(0.5), SizeOrFraction::Fraction(1.0)];
        let policies = [PolicyKind::Lru, PolicyKind::Belady];
        let report = run_cache_on(&streams, &sizes, &policies, &NoProgress);
        assert_eq!(report.traces.len(), 2);
        let first = &report.traces[0];
        assert_eq!((first.accesses, first.unique), (200, 100));
        let keys: Vec<(String, u64)> = first
            .results
            .iter()
            .map(|r| (r.policy.clone(), r.cache_size))
            .collect();
        assert_eq!(
            keys,
            [
                ("lru".into(), 50),
                ("belady".into(), 50),
                ("lru".into(), 100),
                ("belady".into(), 100)
            ]
        );
        assert_eq!(first.results[2].misses, 100);
        assert!(first.results[1].misses < first.results[0].misses);
        assert_eq!(report.traces[1].results[0].hits, 1);
    }
}
