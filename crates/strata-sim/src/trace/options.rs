//! Reader options: the format names accepted by `--format`, time units, and the choice of
//! blkparse action.

use std::fmt;
use std::str::FromStr;

use strata_core::ParseError;

/// A trace format, as named on the command line (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Detect from the file's content (first lines, or binary content for LBN arrays).
    #[default]
    Auto,
    /// MSR Cambridge CSV (`Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`).
    Msr,
    /// SYSTOR '17 CSV with header `Timestamp,Response,IOType,LUN,Offset,Size`.
    Systor,
    /// CloudPhysics vSCSI CSV with header `version,time,op,size,lbn`.
    CloudPhysics,
    /// Tencent CBS CSV: `timestamp_s,offset_sectors,size_sectors,io_type,volume_id`.
    Tencent,
    /// DiskSim / MQSim ASCII: `time device start_sector size_sectors type`.
    DiskSim,
    /// ARC paper `.lis`: `start_block num_blocks ignore request_number`.
    Arc,
    /// `blkparse` default text output.
    Blkparse,
    /// fio iolog, version 2 or 3.
    Fio,
    /// Little-endian u32 4 KiB block numbers (CloudPhysics week-long LBN arrays).
    Lbn,
}

impl Format {
    /// Every format with its `--format` name, `Auto` first.
    pub const ALL: [Format; 10] = [
        Format::Auto,
        Format::Msr,
        Format::Systor,
        Format::CloudPhysics,
        Format::Tencent,
        Format::DiskSim,
        Format::Arc,
        Format::Blkparse,
        Format::Fio,
        Format::Lbn,
    ];

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Msr => "msr",
            Format::Systor => "systor",
            Format::CloudPhysics => "cloudphysics",
            Format::Tencent => "tencent",
            Format::DiskSim => "disksim",
            Format::Arc => "arc",
            Format::Blkparse => "blkparse",
            Format::Fio => "fio",
            Format::Lbn => "lbn",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|format| format.name() == lower)
            .ok_or_else(|| {
                ParseError::new(
                    s,
                    "one of auto|msr|systor|cloudphysics|tencent|disksim|arc|blkparse|fio|lbn",
                )
            })
    }
}

/// Unit of the time column of formats that do not record it (DiskSim / MQSim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimeUnit {
    Ns,
    Us,
    #[default]
    Ms,
    S,
}

impl TimeUnit {
    pub fn ns_per_unit(self) -> u64 {
        match self {
            TimeUnit::Ns => 1,
            TimeUnit::Us => 1_000,
            TimeUnit::Ms => 1_000_000,
            TimeUnit::S => 1_000_000_000,
        }
    }
}

impl FromStr for TimeUnit {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ns" => Ok(TimeUnit::Ns),
            "us" => Ok(TimeUnit::Us),
            "ms" => Ok(TimeUnit::Ms),
            "s" => Ok(TimeUnit::S),
            _ => Err(ParseError::new(s, "one of ns|us|ms|s")),
        }
    }
}

/// Which blkparse event stands for a request: each request passes through several, and
/// counting more than one would count it twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BlkparseAction {
    /// `Q`: queued, as the file system asked for it (before merging).
    #[default]
    Queue,
    /// `D`: issued to the driver (after merging and splitting).
    Issue,
    /// `C`: completed.
    Complete,
}

impl BlkparseAction {
    pub(crate) fn letter(self) -> &'static [u8] {
        match self {
            BlkparseAction::Queue => b"Q",
            BlkparseAction::Issue => b"D",
            BlkparseAction::Complete => b"C",
        }
    }
}

/// How to open a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceOptions {
    pub format: Format,
    /// Time unit of DiskSim / MQSim files (default ms).
    pub time_unit: TimeUnit,
    /// Count malformed lines and continue instead of stopping with an error.
    pub skip_bad_lines: bool,
    /// The blkparse event read as the request (default `Q`).
    pub blkparse_action: BlkparseAction,
}

impl TraceOptions {
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    pub fn with_time_unit(mut self, time_unit: TimeUnit) -> Self {
        self.time_unit = time_unit;
        self
    }

    pub fn with_skip_bad_lines(mut self, skip_bad_lines: bool) -> Self {
        self.skip_bad_lines = skip_bad_lines;
        self
    }

    pub fn with_blkparse_action(mut self, action: BlkparseAction) -> Self {
        self.blkparse_action = action;
        self
    }
}
