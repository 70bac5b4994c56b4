//! SYSTOR '17 (SNIA IOTTA) CSV with header `Timestamp,Response,IOType,LUN,Offset,Size`:
//! seconds with a fraction, `R`/`W`, bytes. The LUN is the disk id. Rows are not strictly
//! sorted by time in the source; they are passed on in file order.

use strata_core::IoKind;

use super::IoRecord;
use super::fields::{Reason, comma_fields, next_field, parse_decimal_ns, parse_u32, parse_u64};
use super::line::{LineParser, Parsed};

#[derive(Debug)]
pub(crate) struct SystorParser;

impl LineParser for SystorParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        if line.len() >= 10 && line[..10].eq_ignore_ascii_case(b"timestamp,") {
            return Ok(Parsed::Skip);
        }
        let mut fields = comma_fields(line);
        let time_ns =
            parse_decimal_ns(next_field(&mut fields, "missing timestamp")?, 1_000_000_000)
                .ok_or("timestamp is not a number of seconds")?;
        next_field(&mut fields, "missing response time")?;
        let kind = match next_field(&mut fields, "missing IOType")?.first() {
            Some(b'R' | b'r') => IoKind::Read,
            Some(b'W' | b'w') => IoKind::Write,
            _ => return Err("IOType is neither R nor W"),
        };
        let disk =
            parse_u32(next_field(&mut fields, "missing LUN")?).ok_or("LUN is not an integer")?;
        let offset_bytes = parse_u64(next_field(&mut fields, "missing offset")?)
            .ok_or("offset is not an integer")?;
        let len_bytes =
            parse_u64(next_field(&mut fields, "missing size")?).ok_or("size is not an integer")?;
        Ok(Parsed::Record(IoRecord {
            time_ns: Some(time_ns),
            disk,
            offset_bytes,
            len_bytes,
            kind,
        }))
    }
}
