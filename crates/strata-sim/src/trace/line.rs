//! The reader shared by all text formats: reads lines into one reused buffer, counts
//! them, hands each to a format's [`LineParser`], and applies the common rules (bad-line
//! errors or counting, zero-length skipping, range checks).

use std::fmt;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use super::fields::{Reason, trim};
use super::{Format, IoRecord, MAX_DISK, MAX_END_BYTES, TraceError, TraceReader, TraceStats};

/// Longest line accepted; longer ones are bad lines, so a file without newlines (binary
/// data read as text) cannot grow the line buffer without bound.
const MAX_LINE_BYTES: u64 = 64 << 10;

/// What one line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    Record(IoRecord),
    /// A header, comment or control line that carries no request.
    Skip,
    /// A well-formed request that moves no data (flush, trim, other opcode): counted.
    OtherOp,
}

/// One trace format's line syntax.
pub(crate) trait LineParser: Send + fmt::Debug {
    /// Parses one non-empty, trimmed line.
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason>;
}

impl LineParser for Box<dyn LineParser> {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        (**self).parse_line(line)
    }
}

/// Streams records out of a text trace.
pub(crate) struct LineReader<P> {
    input: Box<dyn BufRead + Send>,
    path: PathBuf,
    format: Format,
    parser: P,
    skip_bad_lines: bool,
    buf: Vec<u8>,
    line_no: u64,
    stats: TraceStats,
    finished: bool,
}

impl<P: LineParser> LineReader<P> {
    pub(crate) fn new(
        path: &Path,
        input: Box<dyn BufRead + Send>,
        skip_bad_lines: bool,
        format: Format,
        parser: P,
    ) -> Self {
        Self {
            input,
            path: path.to_path_buf(),
            format,
            parser,
            skip_bad_lines,
            buf: Vec::with_capacity(256),
            line_no: 0,
            stats: TraceStats::default(),
            finished: false,
        }
    }
}

/// Rejects records whose canonical block ids would collide or overflow.
fn check_range(record: &IoRecord) -> Result<(), Reason> {
    if record.disk > MAX_DISK {
        return Err("disk / volume id above 2^24 - 1");
    }
    match record.offset_bytes.checked_add(record.len_bytes) {
        Some(end) if end <= MAX_END_BYTES => Ok(()),
        _ => Err("request ends beyond 4 PiB"),
    }
}

impl<P: LineParser> Iterator for LineReader<P> {
    type Item = Result<IoRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            self.buf.clear();
            let read = (&mut self.input)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut self.buf);
            match read {
                Ok(0) => self.finished = true,
                Ok(_) => {
                    self.line_no += 1;
                    let too_long =
                        self.buf.len() as u64 == MAX_LINE_BYTES && self.buf.last() != Some(&b'\n');
                    if too_long && let Err(error) = self.input.skip_until(b'\n') {
                        self.finished = true;
                        return Some(Err(TraceError::io(&self.path, error)));
                    }
                    let line = trim(&self.buf);
                    if line.is_empty() {
                        continue;
                    }
                    let outcome = if too_long {
                        Err("line longer than 64 KiB")
                    } else {
                        self.parser
                            .parse_line(line)
                            .and_then(|parsed| match parsed {
                                Parsed::Record(record) => check_range(&record).map(|()| parsed),
                                other => Ok(other),
                            })
                    };
                    match outcome {
                        Ok(Parsed::Record(record)) if record.len_bytes == 0 => {
                            self.stats.zero_length += 1;
                        }
                        Ok(Parsed::Record(record)) => {
                            self.stats.records += 1;
                            return Some(Ok(record));
                        }
                        Ok(Parsed::Skip) => {}
                        Ok(Parsed::OtherOp) => self.stats.other_ops += 1,
                        Err(_) if self.skip_bad_lines => self.stats.bad_lines += 1,
                        Err(reason) => {
                            self.finished = true;
                            let line_no = self.line_no;
                            return Some(Err(TraceError::bad_line(
                                &self.path, line_no, line, reason,
                            )));
                        }
                    }
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(TraceError::io(&self.path, error)));
                }
            }
        }
        None
    }
}

impl<P: LineParser> TraceReader for LineReader<P> {
    fn format(&self) -> Format {
        self.format
    }

    fn stats(&self) -> TraceStats {
        self.stats
    }
}

impl<P: fmt::Debug> fmt::Debug for LineReader<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("parser", &self.parser)
            .field("line_no", &self.line_no)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
