//! MSR Cambridge (SNIA IOTTA) CSV, no header:
//! `Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`. `Timestamp` is a Windows
//! FILETIME (100 ns ticks since 1601), `Offset` and `Size` are bytes, `Type` is
//! `Read`/`Write`.
//!
//! Disk id: `host index × 2^16 + DiskNumber`, where host index counts distinct host names in
//! order of first appearance, so a single-host file keeps `disk = DiskNumber` and
//! concatenated hosts stay apart.

use strata_core::IoKind;

use super::IoRecord;
use super::fields::{Reason, comma_fields, next_field, parse_u32, parse_u64};
use super::line::{LineParser, Parsed};

const MAX_HOSTS: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct MsrParser {
    hosts: Vec<Vec<u8>>,
}

impl MsrParser {
    fn host_index(&mut self, host: &[u8]) -> Result<u32, Reason> {
        let index = match self.hosts.iter().position(|known| known.as_slice() == host) {
            Some(index) => index,
            None if self.hosts.len() < MAX_HOSTS => {
                self.hosts.push(host.to_vec());
                self.hosts.len() - 1
            }
            None => return Err("more than 256 distinct host names"),
        };
        u32::try_from(index).map_err(|_| "more than 256 distinct host names")
    }
}

impl LineParser for MsrParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        let mut fields = comma_fields(line);
        let ticks = parse_u64(next_field(&mut fields, "missing timestamp")?)
            .ok_or("timestamp is not a FILETIME tick count")?;
        let host = next_field(&mut fields, "missing hostname")?;
        let disk_number = parse_u32(next_field(&mut fields, "missing disk number")?)
            .filter(|&disk| disk < 1 << 16)
            .ok_or("disk number is not an integer below 65536")?;
        let kind_field = next_field(&mut fields, "missing request type")?;
        let kind = if kind_field.eq_ignore_ascii_case(b"read") {
            IoKind::Read
        } else if kind_field.eq_ignore_ascii_case(b"write") {
            IoKind::Write
        } else {
            return Err("request type is neither Read nor Write");
        };
        let offset_bytes = parse_u64(next_field(&mut fields, "missing offset")?)
            .ok_or("offset is not an integer")?;
        let len_bytes =
            parse_u64(next_field(&mut fields, "missing size")?).ok_or("size is not an integer")?;
        let time_ns = ticks
            .checked_mul(100)
            .ok_or("timestamp overflows 64-bit nanoseconds")?;
        let host_index = self.host_index(host)?;
        Ok(Parsed::Record(IoRecord {
            time_ns: Some(time_ns),
            disk: (host_index << 16) | disk_number,
            offset_bytes,
            len_bytes,
            kind,
        }))
    }
}
