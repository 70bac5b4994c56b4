//! `blkparse` default text output, e.g.
//! `  8,0    3        1     0.000000000   697  Q   R 223490 + 8 [kworker/u8:0]`
//! (`dev cpu seq time_s pid action rwbs sector + count [process]`).
//!
//! Only one action letter is read (default `Q`, or `D`/`C` by option), because every
//! request appears once per stage. RWBS containing `D` (discard) is skipped and counted as
//! another op; otherwise `R` means read and `W` write; events without either (pure flush)
//! or without a sector range are counted as other ops. Lines that are not events (the
//! per-CPU summary blkparse prints at the end) are ignored. Disk ids are dense: the
//! `major,minor` pairs in order of first appearance get 0, 1, 2, …

use std::collections::HashMap;

use strata_core::IoKind;

use super::fields::{Reason, next_field, parse_decimal_ns, parse_u32, parse_u64, space_fields};
use super::line::{LineParser, Parsed};
use super::{BlkparseAction, IoRecord, SECTOR_BYTES};

#[derive(Debug)]
pub(crate) struct BlkparseParser {
    action: &'static [u8],
    devices: HashMap<(u32, u32), u32>,
}

impl BlkparseParser {
    pub(crate) fn new(action: BlkparseAction) -> Self {
        Self {
            action: action.letter(),
            devices: HashMap::new(),
        }
    }

    fn disk(&mut self, major: u32, minor: u32) -> Result<u32, Reason> {
        let next = u32::try_from(self.devices.len()).map_err(|_| "too many devices")?;
        Ok(*self.devices.entry((major, minor)).or_insert(next))
    }
}

fn parse_device(field: &[u8]) -> Option<(u32, u32)> {
    let comma = field.iter().position(|&b| b == b',')?;
    Some((parse_u32(&field[..comma])?, parse_u32(&field[comma + 1..])?))
}

impl LineParser for BlkparseParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        let mut fields = space_fields(line);
        let Some((major, minor)) = fields.next().and_then(parse_device) else {
            return Ok(Parsed::Skip);
        };
        next_field(&mut fields, "missing cpu")?;
        next_field(&mut fields, "missing sequence number")?;
        let time_field = next_field(&mut fields, "missing time")?;
        next_field(&mut fields, "missing pid")?;
        if next_field(&mut fields, "missing action")? != self.action {
            return Ok(Parsed::Skip);
        }
        let time_ns =
            parse_decimal_ns(time_field, 1_000_000_000).ok_or("time is not a number of seconds")?;
        let rwbs = next_field(&mut fields, "missing RWBS")?;
        let sector_field = match fields.next() {
            Some(field) if !field.starts_with(b"[") => field,
            _ => return Ok(Parsed::OtherOp),
        };
        let sector = parse_u64(sector_field).ok_or("sector is not an integer")?;
        if next_field(&mut fields, "missing `+`")? != b"+" {
            return Err("expected `sector + count`");
        }
        let count = parse_u64(next_field(&mut fields, "missing sector count")?)
            .ok_or("sector count is not an integer")?;
        let kind = if rwbs.contains(&b'D') {
            return Ok(Parsed::OtherOp);
        } else if rwbs.contains(&b'R') {
            IoKind::Read
        } else if rwbs.contains(&b'W') {
            IoKind::Write
        } else {
            return Ok(Parsed::OtherOp);
        };
        Ok(Parsed::Record(IoRecord {
            time_ns: Some(time_ns),
            disk: self.disk(major, minor)?,
            offset_bytes: sector.checked_mul(SECTOR_BYTES).ok_or("sector overflows")?,
            len_bytes: count.checked_mul(SECTOR_BYTES).ok_or("count overflows")?,
            kind,
        }))
    }
}
