//! DiskSim / MQSim ASCII traces: `time device start_sector size_sectors type`,
//! whitespace-separated, 512-byte sectors. The file does not record its time unit, so it
//! comes from `TraceOptions::time_unit` (default ms). `type` is DiskSim's flags word: bit 0
//! set means read (so `1` = read, `0` = write, as in MQSim).

use strata_core::IoKind;

use super::fields::{Reason, next_field, parse_decimal_ns, parse_u32, parse_u64, space_fields};
use super::line::{LineParser, Parsed};
use super::{IoRecord, SECTOR_BYTES, TimeUnit};

#[derive(Debug)]
pub(crate) struct DiskSimParser {
    ns_per_unit: u64,
}

impl DiskSimParser {
    pub(crate) fn new(time_unit: TimeUnit) -> Self {
        Self {
            ns_per_unit: time_unit.ns_per_unit(),
        }
    }
}

impl LineParser for DiskSimParser {
    fn parse_line(&mut self, line: &[u8]) -> Result<Parsed, Reason> {
        let mut fields = space_fields(line);
        let time_ns = parse_decimal_ns(next_field(&mut fields, "missing time")?, self.ns_per_unit)
            .ok_or("time is not a non-negative number")?;
        let disk = parse_u32(next_field(&mut fields, "missing device")?)
            .ok_or("device is not an integer")?;
        let start_sector = parse_u64(next_field(&mut fields, "missing start sector")?)
            .ok_or("start sector is not an integer")?;
        let size_sectors =
            parse_u64(next_field(&mut fields, "missing size")?).ok_or("size is not an integer")?;
        let flags =
            parse_u64(next_field(&mut fields, "missing type")?).ok_or("type is not an integer")?;
        let kind = if flags & 1 == 1 {
            IoKind::Read
        } else {
            IoKind::Write
        };
        Ok(Parsed::Record(IoRecord {
            time_ns: Some(time_ns),
            disk,
            offset_bytes: start_sector
                .checked_mul(SECTOR_BYTES)
                .ok_or("start sector overflows")?,
            len_bytes: size_sectors
                .checked_mul(SECTOR_BYTES)
                .ok_or("size overflows")?,
            kind,
        }))
    }
}
