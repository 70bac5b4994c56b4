//! ARC paper traces (`.lis`): `start_block num_blocks ignore request_number` in 512-byte
//! blocks. Reads only, no timestamps (the request number is the only clock), one disk.

use strata_core::IoKind;

use super::fields::{Reason, next_field, parse_u64, space_fields};
use super::line::{LineParser, Parsed};
use super::{IoRecord, SECTOR_BYTES};

#[derive(Debug)]
pub(crate) struct ArcParser;

impl LineParser for ArcParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        let mut fields = space_fields(line);
        let start_block = parse_u64(next_field(&mut fields, "missing start block")?)
            .ok_or("start block is not an integer")?;
        let num_blocks = parse_u64(next_field(&mut fields, "missing block count")?)
            .ok_or("block count is not an integer")?;
        Ok(Parsed::Record(IoRecord {
            time_ns: None,
            disk: 0,
            offset_bytes: start_block
                .checked_mul(SECTOR_BYTES)
                .ok_or("start block overflows")?,
            len_bytes: num_blocks
                .checked_mul(SECTOR_BYTES)
                .ok_or("block count overflows")?,
            kind: IoKind::Read,
        }))
    }
}
