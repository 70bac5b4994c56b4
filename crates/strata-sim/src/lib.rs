//! `strata-sim`: Trace readers, the canonical block stream, the cache / tier simulator, and
//! workload profiling over trace files.

pub mod cache;
pub mod prefetch;
pub mod report;
pub mod run;
pub mod stream;
pub mod tier;
pub mod trace;
pub mod workload;

pub use stream::{BlockAccess, BlockStream, blocks};
pub use trace::{Format, IoRecord, TraceError, TraceOptions, TraceReader, TraceStats, open_trace};
