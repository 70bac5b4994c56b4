//! Workload profiling over trace files: reads a trace with the shared readers, turns its
//! records into the profiler's requests, cuts them into windows (`strata profile`), and
//! labels whole traces by family for training (`strata train`), following the families
//! of the shared traces' README.

use std::path::{Path, PathBuf};

use strata_predict::WorkloadClass;
use strata_predict::profile::{ClosedWindow, Request, TrainingSet, WindowSpec, Windower};

use crate::run::{Progress, trace_name};
use crate::trace::{IoRecord, TimeUnit, TraceError, TraceOptions, TraceStats, open_trace};

/// Records between two progress reports.
const PROGRESS_EVERY: u64 = 8192;

/// Why a trace could not be profiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(
        "{trace} has no timestamps, so it cannot be cut by time; use a request window such as --window 5000r"
    )]
    Untimed { trace: String },
    #[error(transparent)]
    Predict(#[from] strata_predict::PredictError),
}

/// A profiled trace: its windows in order.
#[derive(Debug, Clone)]
pub struct TraceWindows {
    pub trace: String,
    /// Whether the trace's records carry time.
    pub timed: bool,
    pub windows: Vec<ClosedWindow>,
    pub stats: TraceStats,
}

/// The profiler's view of a trace record.
pub fn request_of(record: &IoRecord) -> Request {
    Request {
        stream: record.disk,
        offset_bytes: record.offset_bytes,
        len_bytes: record.len_bytes,
        time_ns: record.time_ns,
        kind: record.kind,
    }
}

/// Reads `path` and profiles it window by window.
pub fn profile_trace(
    path: &Path,
    options: &TraceOptions,
    spec: WindowSpec,
    progress: &dyn Progress,
) -> Result<TraceWindows, ProfileError> {
    let mut reader = open_trace(path, options)?;
    let mut windower = Windower::new(spec);
    let mut windows = Vec::new();
    let mut timed = None;
    let mut records = 0u64;
    for record in reader.by_ref() {
        let record = record?;
        let has_time = record.time_ns.is_some();
        timed.get_or_insert(has_time);
        if spec.needs_time() && !has_time {
            return Err(ProfileError::Untimed {
                trace: trace_name(path),
            });
        }
        windows.extend(windower.push(&request_of(&record)));
        records += 1;
        if records.is_multiple_of(PROGRESS_EVERY) {
            progress.advance(PROGRESS_EVERY);
        }
    }
    windows.extend(windower.finish());
    Ok(TraceWindows {
        trace: trace_name(path),
        timed: timed.unwrap_or(false),
        windows,
        stats: reader.stats(),
    })
}

/// A shared-trace family: its workload class and the time unit its files need (for
/// DiskSim files, which do not record one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceFamily {
    pub class: WorkloadClass,
    pub time_unit: Option<TimeUnit>,
}

/// The family of a trace file, told by its name as the shared traces' README names them.
/// MSR `hm_0` (a hardware-monitoring server) fits none of the classes and is left out.
pub fn trace_family(path: &Path) -> Option<TraceFamily> {
    let name = trace_name(path).to_ascii_lowercase();
    let family = |class, time_unit| Some(TraceFamily { class, time_unit });
    if name.contains("tpcc") {
        // MQSim replays this DiskSim file with a nanosecond clock.
        family(WorkloadClass::Database, Some(TimeUnit::Ns))
    } else if name.contains("oltp") {
        family(WorkloadClass::Database, None)
    } else if name.starts_with("arc_p") {
        // Windows NT workstation disks (Vtrace): desktop and development use.
        family(WorkloadClass::Dev, None)
    } else if name.contains("msn_fs") {
        family(WorkloadClass::File, Some(TimeUnit::Ms))
    } else if name.contains("systor") {
        family(WorkloadClass::Vdi, None)
    } else if name.contains("cloudphysics") {
        // VMware guest disks behind vSCSI: virtual machines, the closest class is vdi.
        family(WorkloadClass::Vdi, None)
    } else {
        None
    }
}

/// The options a trace of a known family is read with: its time unit unless the caller
/// chose one.
pub fn family_options(
    path: &Path,
    options: &TraceOptions,
    explicit_time_unit: bool,
) -> TraceOptions {
    match trace_family(path).and_then(|f| f.time_unit) {
        Some(unit) if !explicit_time_unit => options.with_time_unit(unit),
        _ => *options,
    }
}

/// The files of `dir` whose family is known, sorted by name.
pub fn labelled_traces(dir: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TraceError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| TraceError::io(dir, e))?.path();
        if path.is_file() && trace_family(&path).is_some() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Profiles each labelled trace and adds its windows to `set`; returns the paths whose
/// family is unknown (skipped).
pub fn add_labelled_traces(
    set: &mut TrainingSet,
    traces: &[PathBuf],
    options: &TraceOptions,
    spec: WindowSpec,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>, ProfileError> {
    let mut skipped = Vec::new();
    for path in traces {
        let Some(family) = trace_family(path) else {
            skipped.push(path.clone());
            continue;
        };
        let options = family_options(path, options, false);
        // Untimed traces (ARC) are cut by requests alone.
        let spec = WindowSpec {
            max_requests: spec.max_requests.or(Some(
                strata_predict::profile::window::DEFAULT_WINDOW_REQUESTS,
            )),
            ..spec
        };
        let profiled = profile_trace(path, &options, spec, progress)?;
        set.add_volume(family.class, &profiled.trace, &profiled.windows);
    }
    Ok(skipped)
}
