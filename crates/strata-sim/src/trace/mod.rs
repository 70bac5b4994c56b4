//! Trace readers: one streaming parser per block-trace format, all yielding the same
//! [`IoRecord`], behind one [`TraceReader`] trait and one entry point, [`open_trace`].
//!
//! Every reader streams with constant memory (one reused line buffer), decompresses gzip,
//! zstd and xz transparently (detected by magic bytes, never by file name), and either
//! stops at the first malformed line with a [`TraceError`] naming file, line number and
//! line text, or — with [`TraceOptions::skip_bad_lines`] — counts it in [`TraceStats`]
//! and continues. Requests of zero length touch no block: they are skipped and counted.

mod arc;
mod blkparse;
mod cloudphysics;
mod detect;
mod disksim;
mod error;
mod fields;
mod fio;
mod input;
mod lbn;
mod line;
mod msr;
mod options;
mod systor;
mod tencent;

use std::fmt;
use std::path::Path;

use strata_core::IoKind;

pub use detect::detect_format;
pub use error::{MAX_LINE_EXCERPT_CHARS, TraceError, TraceErrorKind};
pub use options::{BlkparseAction, Format, TimeUnit, TraceOptions};

/// Largest disk / volume id a record may carry: the canonical block id keeps 24 bits for it
/// (`disk × 2^40 + block`, see `crate::stream`).
pub const MAX_DISK: u32 = (1 << 24) - 1;

/// Largest byte address (offset + length) a record may reach: 4 PiB, so that a 4 KiB block
/// number stays below 2^40 in the canonical block id.
pub const MAX_END_BYTES: u64 = 1 << 52;

/// The sector of sector-addressed formats (DiskSim, ARC, Tencent, blkparse, vSCSI LBNs).
pub const SECTOR_BYTES: u64 = 512;

/// One block I/O request, in the same units whatever the source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoRecord {
    /// Arrival time in nanoseconds on the trace's own clock (absolute or relative, as the
    /// format records it), or `None` for formats without time (ARC, LBN arrays).
    pub time_ns: Option<u64>,
    /// Device / volume / LUN id, small and dense enough for the canonical block id.
    pub disk: u32,
    pub offset_bytes: u64,
    /// Always > 0: zero-length requests are skipped and counted.
    pub len_bytes: u64,
    pub kind: IoKind,
}

/// What a reader has seen so far; complete once the reader returned `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Records yielded.
    pub records: u64,
    /// Malformed lines skipped because `skip_bad_lines` was set.
    pub bad_lines: u64,
    /// Zero-length requests skipped.
    pub zero_length: u64,
    /// Well-formed requests of a kind that moves no data between host and disk (flush,
    /// discard/trim, sync, other SCSI opcodes), skipped.
    pub other_ops: u64,
}

/// A streaming reader of one trace file.
///
/// After it yields an error (only possible without `skip_bad_lines`, or on an I/O error)
/// the reader is finished and yields `None`.
pub trait TraceReader: Iterator<Item = Result<IoRecord, TraceError>> + Send + fmt::Debug {
    /// The format being read (never `Format::Auto`).
    fn format(&self) -> Format;
    /// Counters so far; final once the iterator is exhausted.
    fn stats(&self) -> TraceStats;
}

/// Opens a trace file, decompressing and detecting its format as `options` say.
pub fn open_trace(path: &Path, options: &TraceOptions) -> Result<Box<dyn TraceReader>, TraceError> {
    let (format, input) = input::open(path, options.format)?;
    let skip = options.skip_bad_lines;
    let parser: Box<dyn line::LineParser> = match format {
        Format::Lbn => return Ok(Box::new(lbn::LbnReader::new(path, input, skip))),
        Format::Msr => Box::new(msr::MsrParser::default()),
        Format::Systor => Box::new(systor::SystorParser),
        Format::CloudPhysics => Box::new(cloudphysics::CloudPhysicsParser),
        Format::Tencent => Box::new(tencent::TencentParser),
        Format::DiskSim => Box::new(disksim::DiskSimParser::new(options.time_unit)),
        Format::Arc => Box::new(arc::ArcParser),
        Format::Blkparse => Box::new(blkparse::BlkparseParser::new(options.blkparse_action)),
        Format::Fio => Box::new(fio::FioParser::default()),
        Format::Auto => {
            return Err(TraceError::unknown_format(
                path,
                "format detection returned `auto`",
            ));
        }
    };
    Ok(Box::new(line::LineReader::new(
        path, input, skip, format, parser,
    )))
}
