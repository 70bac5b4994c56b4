//! CloudPhysics vSCSI CSV as shipped with libCacheSim, header `version,time,op,size,lbn`:
//! `time` in seconds, `op` a SCSI opcode in hex, `size` in bytes, `lbn` in 512-byte
//! sectors. One disk (id 0).
//!
//! READ(6/10/12/16) = `08/28/a8/88` and WRITE(6/10/12/16) = `0a/2a/aa/8a` become records;
//! any other well-formed opcode (e.g. SYNCHRONIZE CACHE, UNMAP) moves no data through the
//! cache and is skipped and counted in `TraceStats::other_ops` rather than failing the run.

use strata_core::IoKind;

use super::fields::{Reason, comma_fields, next_field, parse_decimal_ns, parse_hex_u32, parse_u64};
use super::line::{LineParser, Parsed};
use super::{IoRecord, SECTOR_BYTES};

#[derive(Debug)]
pub(crate) struct CloudPhysicsParser;

impl LineParser for CloudPhysicsParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        if line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"version,") {
            return Ok(Parsed::Skip);
        }
        let mut fields = comma_fields(line);
        next_field(&mut fields, "missing version")?;
        let time_ns = parse_decimal_ns(next_field(&mut fields, "missing time")?, 1_000_000_000)
            .ok_or("time is not a number of seconds")?;
        let opcode = parse_hex_u32(next_field(&mut fields, "missing op")?)
            .ok_or("op is not a hexadecimal SCSI opcode")?;
        let len_bytes =
            parse_u64(next_field(&mut fields, "missing size")?).ok_or("size is not an integer")?;
        let lbn =
            parse_u64(next_field(&mut fields, "missing lbn")?).ok_or("lbn is not an integer")?;
        let kind = match opcode {
            0x08 | 0x28 | 0x88 | 0xa8 => IoKind::Read,
            0x0a | 0x2a | 0x8a | 0xaa => IoKind::Write,
            _ => return Ok(Parsed::OtherOp),
        };
        let offset_bytes = lbn
            .checked_mul(SECTOR_BYTES)
            .ok_or("lbn overflows a byte offset")?;
        Ok(Parsed::Record(IoRecord {
            time_ns: Some(time_ns),
            disk: 0,
            offset_bytes,
            len_bytes,
            kind,
        }))
    }
}
