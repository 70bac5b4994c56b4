//! Tencent CBS (SNIA IOTTA) CSV, no header:
//! `timestamp_s,offset_sectors,size_sectors,io_type,volume_id`, with `io_type` 0 = read,
//! 1 = write and 512-byte sectors. The volume id is the disk id. Timestamps have 1 s
//! resolution in the source.

use strata_core::IoKind;

use super::fields::{Reason, comma_fields, next_field, parse_decimal_ns, parse_u32, parse_u64};
use super::line::{LineParser, Parsed};
use super::{IoRecord, SECTOR_BYTES};

#[derive(Debug)]
pub(crate) struct TencentParser;

impl LineParser for TencentParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        let mut fields = comma_fields(line);
        let time_ns =
            parse_decimal_ns(next_field(&mut fields, "missing timestamp")?, 1_000_000_000)
                .ok_or("timestamp is not a number of seconds")?;
        let offset_sectors = parse_u64(next_field(&mut fields, "missing offset")?)
            .ok_or("offset is not an integer")?;
        let size_sectors =
            parse_u64(next_field(&mut fields, "missing size")?).ok_or("size is not an integer")?;
        let kind = match next_field(&mut fields, "missing io_type")? {
            b"0" => IoKind::Read,
            b"1" => IoKind::Write,
            _ => return Err("io_type is neither 0 (read) nor 1 (write)"),
        };
        let disk = parse_u32(next_field(&mut fields, "missing volume id")?)
            .ok_or("volume id is not an integer")?;
        Ok(Parsed::Record(IoRecord {
            time_ns: Some(time_ns),
            disk,
            offset_bytes: offset_sectors
                .checked_mul(SECTOR_BYTES)
                .ok_or("offset overflows")?,
            len_bytes: size_sectors
                .checked_mul(SECTOR_BYTES)
                .ok_or("size overflows")?,
            kind,
        }))
    }
}
