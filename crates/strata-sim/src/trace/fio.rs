//! fio iolog, version 2 (`fio version 2 iolog`, lines `filename action [offset length]`)
//! and version 3 (`fio version 3 iolog`, lines prefixed by a timestamp in microseconds since
//! the start of the run: fio 3.33 with `--thinktime=100ms` writes stamps 100,000 apart).
//!
//! `add`/`open`/`close` manage files and carry no I/O; each distinct file name becomes a
//! disk, numbered 0, 1, 2, … in order of first appearance. `read`/`write` are records;
//! `sync`, `datasync`, `sync_file_range` and `trim` are counted as other ops; `wait` is
//! skipped. Version 2 logs have no time.

use std::collections::HashMap;

use strata_core::IoKind;

use super::IoRecord;
use super::fields::{Reason, next_field, parse_decimal_ns, parse_u64, space_fields};
use super::line::{LineParser, Parsed};

const NS_PER_US: u64 = 1_000;

#[derive(Debug, Default)]
pub(crate) struct FioParser {
    /// 2 or 3 once the header is seen.
    version: Option<u8>,
    files: HashMap<Vec<u8>, u32>,
}

impl FioParser {
    fn disk(&mut self, name: &[u8]) -> Result<u32, Reason> {
        if let Some(&disk) = self.files.get(name) {
            return Ok(disk);
        }
        let disk = u32::try_from(self.files.len()).map_err(|_| "too many files")?;
        self.files.insert(name.to_vec(), disk);
        Ok(disk)
    }

    fn parse_header(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        self.version = match line {
            b"fio version 2 iolog" => Some(2),
            b"fio version 3 iolog" => Some(3),
            _ => return Err("unsupported fio iolog version (expected 2 or 3)"),
        };
        Ok(Parsed::Skip)
    }
}

impl LineParser for FioParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        if line.starts_with(b"fio version ") {
            return self.parse_header(line);
        }
        let version = self.version.ok_or("missing `fio version N iolog` header")?;
        let mut fields = space_fields(line);
        let time_ns = if version == 3 {
            let field = next_field(&mut fields, "missing timestamp")?;
            Some(parse_decimal_ns(field, NS_PER_US).ok_or("timestamp is not a number")?)
        } else {
            None
        };
        let name = next_field(&mut fields, "missing file name")?;
        let kind = match next_field(&mut fields, "missing action")? {
            b"read" => IoKind::Read,
            b"write" => IoKind::Write,
            b"add" => {
                self.disk(name)?;
                return Ok(Parsed::Skip);
            }
            b"open" | b"close" | b"wait" => return Ok(Parsed::Skip),
            b"sync" | b"datasync" | b"sync_file_range" | b"trim" => return Ok(Parsed::OtherOp),
            _ => return Err("unknown fio iolog action"),
        };
        let offset_bytes = parse_u64(next_field(&mut fields, "missing offset")?)
            .ok_or("offset is not an integer")?;
        let len_bytes = parse_u64(next_field(&mut fields, "missing length")?)
            .ok_or("length is not an integer")?;
        Ok(Parsed::Record(IoRecord {
            time_ns,
            disk: self.disk(name)?,
            offset_bytes,
            len_bytes,
            kind,
        }))
    }
}
