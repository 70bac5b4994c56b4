//! CloudPhysics week-long LBN arrays: a binary file of little-endian u32 block numbers,
//! each one read of one 4 KiB block, no time, one disk. A trailing partial number (1–3
//! bytes) is a bad record, reported with its 1-based record number as the line.

use std::fmt;
use std::io::{BufRead, ErrorKind};
use std::path::{Path, PathBuf};

use strata_core::IoKind;

use super::{Format, IoRecord, TraceError, TraceReader, TraceStats};

const BLOCK_BYTES: u64 = 4096;

pub(crate) struct LbnReader {
    input: Box<dyn BufRead + Send>,
    path: PathBuf,
    skip_bad_lines: bool,
    record_no: u64,
    stats: TraceStats,
    finished: bool,
}

impl LbnReader {
    pub(crate) fn new(path: &Path, input: Box<dyn BufRead + Send>, skip_bad_lines: bool) -> Self {
        Self {
            input,
            path: path.to_path_buf(),
            skip_bad_lines,
            record_no: 0,
            stats: TraceStats::default(),
            finished: false,
        }
    }

    /// Fills `word` as far as the input allows; returns how many bytes it got.
    fn read_word(&mut self, word: &mut [u8; 4]) -> std::io::Result<usize> {
        let mut got = 0;
        while got < word.len() {
            match self.input.read(&mut word[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(got)
    }
}

impl Iterator for LbnReader {
    type Item = Result<IoRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let mut word = [0u8; 4];
        match self.read_word(&mut word) {
            Ok(4) => {
                self.record_no += 1;
                self.stats.records += 1;
                Some(Ok(IoRecord {
                    time_ns: None,
                    disk: 0,
                    offset_bytes: u64::from(u32::from_le_bytes(word)) * BLOCK_BYTES,
                    len_bytes: BLOCK_BYTES,
                    kind: IoKind::Read,
                }))
            }
            Ok(0) => {
                self.finished = true;
                None
            }
            Ok(partial) => {
                self.finished = true;
                if self.skip_bad_lines {
                    self.stats.bad_lines += 1;
                    return None;
                }
                Some(Err(TraceError::bad_line(
                    &self.path,
                    self.record_no + 1,
                    &word[..partial],
                    "trailing partial 4-byte block number",
                )))
            }
            Err(error) => {
                self.finished = true;
                Some(Err(TraceError::io(&self.path, error)))
            }
        }
    }
}

impl TraceReader for LbnReader {
    fn format(&self) -> Format {
        Format::Lbn
    }

    fn stats(&self) -> TraceStats {
        self.stats
    }
}

impl fmt::Debug for LbnReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LbnReader")
            .field("path", &self.path)
            .field("record_no", &self.record_no)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
