//! The heat map's versioned binary format, so a restart starts warm.
//!
//! Little-endian throughout:
//!
//! ```text
//! magic "STRATAHM" | version u16 = 1 | tick_ns u64 | half_life_ns u64 | cutoff_bytes u64
//! volume_count u32
//!   volume u64 | entry_count u64
//!     index u64 | stamp u32 | read u16 | write u16 | touches u8 | flags u8     (18 bytes)
//! checksum u64 (FNV-1a of everything before it)
//! ```
//!
//! Only visited extents are written. Volumes and indices are strictly increasing, so a
//! decoded map is exactly the encoded one. Decoding checks the checksum, every count
//! against the bytes that remain, and every field's range, and never panics.

use super::entry::KNOWN_FLAGS;
use super::{HeatConfig, HeatEntry, HeatMap};
use crate::{ExtentId, PolicyError, PolicyErrorKind};

const MAGIC: &[u8; 8] = b"STRATAHM";
const VERSION: u16 = 1;
const HEADER_BYTES: usize = 8 + 2 + 8 + 8 + 8 + 4;
const VOLUME_BYTES: usize = 8 + 8;
const ENTRY_BYTES: usize = 8 + 4 + 2 + 2 + 1 + 1;
const CHECKSUM_BYTES: usize = 8;

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn corrupt(message: impl Into<String>) -> PolicyError {
    PolicyError::new(PolicyErrorKind::CorruptHeatMap, "heat-map", message)
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], PolicyError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or_else(|| corrupt("truncated"))?;
        self.bytes = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, PolicyError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, PolicyError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, PolicyError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, PolicyError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    /// Checks that `count` records of `record_bytes` can still follow.
    fn expect_records(&self, count: u64, record_bytes: usize) -> Result<(), PolicyError> {
        let fits = u64::try_from(self.bytes.len() / record_bytes).unwrap_or(u64::MAX);
        if count > fits {
            return Err(corrupt(format!("{count} records do not fit the input")));
        }
        Ok(())
    }
}

impl HeatMap {
    /// Encodes the map (see the module docs for the format).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            HEADER_BYTES
                + self.volumes.len() * VOLUME_BYTES
                + usize::try_from(self.len()).unwrap_or(0) * ENTRY_BYTES
                + CHECKSUM_BYTES,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.config.tick_ns.to_le_bytes());
        out.extend_from_slice(&self.config.half_life_ns.to_le_bytes());
        out.extend_from_slice(&self.config.sequential_cutoff_bytes.to_le_bytes());
        let volumes: Vec<_> = self
            .volumes
            .iter()
            .filter(|(_, heat)| heat.visited > 0)
            .collect();
        out.extend_from_slice(
            &u32::try_from(volumes.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for (volume, heat) in volumes {
            out.extend_from_slice(&volume.to_le_bytes());
            out.extend_from_slice(&heat.visited.to_le_bytes());
            for (index, entry) in heat.visited_entries() {
                out.extend_from_slice(&index.to_le_bytes());
                out.extend_from_slice(&entry.stamp_ticks.to_le_bytes());
                out.extend_from_slice(&entry.read_log.to_le_bytes());
                out.extend_from_slice(&entry.write_log.to_le_bytes());
                out.push(entry.touches);
                out.push(entry.flags);
            }
        }
        let checksum = fnv1a(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Decodes a map written by [`to_bytes`](Self::to_bytes); bad input is an error with
    /// kind [`PolicyErrorKind::CorruptHeatMap`], never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PolicyError> {
        let (body, checksum) = bytes
            .split_last_chunk::<CHECKSUM_BYTES>()
            .ok_or_else(|| corrupt("shorter than a checksum"))?;
        if fnv1a(body) != u64::from_le_bytes(*checksum) {
            return Err(corrupt("checksum mismatch"));
        }
        let mut r = Reader { bytes: body };
        if &r.take::<8>()? != MAGIC {
            return Err(corrupt("not a heat map (bad magic)"));
        }
        let version = r.u16()?;
        if version != VERSION {
            return Err(corrupt(format!("unsupported version {version}")));
        }
        let tick_ns = r.u64()?;
        if tick_ns == 0 {
            return Err(corrupt("tick of 0 ns"));
        }
        let config = HeatConfig {
            tick_ns,
            half_life_ns: r.u64()?,
            sequential_cutoff_bytes: r.u64()?,
        };
        let mut map = HeatMap::new(config);
        let volume_count = r.u32()?;
        r.expect_records(u64::from(volume_count), VOLUME_BYTES)?;
        let mut previous_volume = None;
        for _ in 0..volume_count {
            let volume = r.u64()?;
            if previous_volume.is_some_and(|p| p >= volume) {
                return Err(corrupt("volumes out of order"));
            }
            previous_volume = Some(volume);
            let entry_count = r.u64()?;
            r.expect_records(entry_count, ENTRY_BYTES)?;
            let mut previous_index = None;
            for _ in 0..entry_count {
                let index = r.u64()?;
                if previous_index.is_some_and(|p| p >= index) {
                    return Err(corrupt(format!("volume {volume}: indices out of order")));
                }
                previous_index = Some(index);
                let entry = HeatEntry {
                    stamp_ticks: r.u32()?,
                    read_log: r.u16()?,
                    write_log: r.u16()?,
                    touches: r.u8()?,
                    flags: r.u8()?,
                };
                if !entry.is_visited() || entry.flags & !KNOWN_FLAGS != 0 {
                    return Err(corrupt(format!("extent {volume}:{index}: invalid entry")));
                }
                map.insert_entry(ExtentId::new(volume, index), entry);
            }
        }
        if !r.bytes.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(map)
    }
}

#[cfg(test)]
pub(super) fn checksum_for_tests(body: &[u8]) -> u64 {
    fnv1a(body)
}
