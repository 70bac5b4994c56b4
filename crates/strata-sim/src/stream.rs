//! The canonical block stream (DESIGN.md, "Traces and the canonical block stream"): a
//! request at byte offset O with length L > 0 touches the `unit`-sized blocks
//! floor(O/unit) … floor((O+L−1)/unit) in increasing order, and disks stay apart by
//! using `disk × 2^40 + block` as the block id. Every tool that turns a trace into
//! accesses goes through here, so all simulators see the same stream.

use std::ops::RangeInclusive;

use strata_core::IoKind;

use crate::trace::{IoRecord, TraceError};

/// Bits of the block id below the disk id.
pub const DISK_SHIFT: u32 = 40;

/// The canonical id of block `block` of `disk`: `disk × 2^40 + block`.
///
/// Ids are distinct as long as `block < 2^40`, which the trace readers guarantee for units
/// of 4 KiB and more (they reject requests ending beyond 4 PiB and disks above 2^24 − 1).
pub fn block_id(disk: u32, block: u64) -> u64 {
    (u64::from(disk) << DISK_SHIFT).wrapping_add(block)
}

/// The disk part of a canonical block id.
pub fn disk_of(block_id: u64) -> u32 {
    u32::try_from(block_id >> DISK_SHIFT).unwrap_or(u32::MAX)
}

/// The block range a request touches, as block numbers within its disk; empty when the
/// request or the unit is zero-sized.
fn block_range(record: &IoRecord, unit_bytes: u64) -> RangeInclusive<u64> {
    if record.len_bytes == 0 || unit_bytes == 0 {
        // An exhausted inclusive range is the empty one.
        let mut empty = 0..=0;
        empty.next();
        return empty;
    }
    let first = record.offset_bytes / unit_bytes;
    let last = record.offset_bytes.saturating_add(record.len_bytes - 1) / unit_bytes;
    first..=last
}

/// The canonical block ids a request touches, in increasing order.
pub fn blocks(record: &IoRecord, unit_bytes: u64) -> impl Iterator<Item = u64> + use<> {
    let disk = record.disk;
    block_range(record, unit_bytes).map(move |block| block_id(disk, block))
}

/// One access of the canonical stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockAccess {
    pub block_id: u64,
    pub kind: IoKind,
    /// The request's arrival time, shared by all blocks of the request.
    pub time_ns: Option<u64>,
}

/// Turns a stream of records into the canonical stream of block accesses.
#[derive(Debug)]
pub struct BlockStream<R> {
    records: R,
    unit_bytes: u64,
    reads_only: bool,
    current: Option<(IoRecord, RangeInclusive<u64>)>,
}

impl<R> BlockStream<R>
where
    R: Iterator<Item = Result<IoRecord, TraceError>>,
{
    /// Blocks of `unit_bytes` (4096 for the default stream; a zero unit yields nothing).
    pub fn new(records: R, unit_bytes: u64) -> Self {
        Self {
            records,
            unit_bytes,
            reads_only: false,
            current: None,
        }
    }

    /// Drops write requests (the `--reads-only` view).
    pub fn with_reads_only(mut self, reads_only: bool) -> Self {
        self.reads_only = reads_only;
        self
    }

    /// The underlying reader, e.g. for its `stats()`.
    pub fn records(&self) -> &R {
        &self.records
    }

    pub fn into_records(self) -> R {
        self.records
    }
}

impl<R> Iterator for BlockStream<R>
where
    R: Iterator<Item = Result<IoRecord, TraceError>>,
{
    type Item = Result<BlockAccess, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((record, range)) = &mut self.current
                && let Some(block) = range.next()
            {
                return Some(Ok(BlockAccess {
                    block_id: block_id(record.disk, block),
                    kind: record.kind,
                    time_ns: record.time_ns,
                }));
            }
            match self.records.next()? {
                Ok(record) if self.reads_only && record.kind != IoKind::Read => {}
                Ok(record) => {
                    let range = block_range(&record, self.unit_bytes);
                    self.current = Some((record, range));
                }
                Err(error) => {
                    self.current = None;
                    return Some(Err(error));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(disk: u32, offset_bytes: u64, len_bytes: u64) -> IoRecord {
        IoRecord {
            time_ns: Some(7),
            disk,
            offset_bytes,
            len_bytes,
            kind: IoKind::Read,
        }
    }

    fn ids(disk: u32, offset: u64, len: u64, unit: u64) -> Vec<u64> {
        blocks(&record(disk, offset, len), unit).collect()
    }

    #[test]
    fn aligned_single_block() {
        assert_eq!(ids(0, 0, 4096, 4096), [0]);
        assert_eq!(ids(0, 8192, 4096, 4096), [2]);
    }

    #[test]
    fn request_ending_exactly_on_a_boundary_stops_before_it() {
        assert_eq!(ids(0, 4096, 8192, 4096), [1, 2]);
        assert_eq!(ids(0, 2048, 2048, 4096), [0]);
    }

    #[test]
    fn one_byte_past_a_boundary_touches_the_next_block() {
        assert_eq!(ids(0, 2048, 2049, 4096), [0, 1]);
        assert_eq!(ids(0, 4095, 2, 4096), [0, 1]);
    }

    #[test]
    fn one_byte_requests() {
        assert_eq!(ids(0, 4095, 1, 4096), [0]);
        assert_eq!(ids(0, 4096, 1, 4096), [1]);
        assert_eq!(ids(0, 0, 1, 4096), [0]);
    }

    #[test]
    fn zero_length_and_zero_unit_touch_nothing() {
        assert!(ids(0, 4096, 0, 4096).is_empty());
        assert!(ids(0, 4096, 10, 0).is_empty());
    }

    #[test]
    fn disks_stay_apart() {
        assert_eq!(ids(1, 0, 4096, 4096), [1 << 40]);
        assert_eq!(ids(3, 4096 * 5, 4097, 4096), [(3 << 40) + 5, (3 << 40) + 6]);
        assert_eq!(disk_of((3 << 40) + 6), 3);
        assert_ne!(ids(0, 0, 4096, 4096), ids(1, 0, 4096, 4096));
    }

    #[test]
    fn other_units() {
        assert_eq!(ids(0, (1 << 20) - 1, 2, 1 << 20), [0, 1]);
        assert_eq!(ids(0, 1000, 24, 512), [1]);
        assert_eq!(ids(0, 1000, 25, 512), [1, 2]);
    }

    #[test]
    fn stream_expands_records_in_order_and_filters_writes() {
        let mut write = record(1, 0, 4096);
        write.kind = IoKind::Write;
        let records = || vec![Ok(record(0, 4096, 8192)), Ok(write), Ok(record(0, 0, 1))];
        let all: Vec<u64> = BlockStream::new(records().into_iter(), 4096)
            .map(|access| access.map(|a| a.block_id))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all, [1, 2, 1 << 40, 0]);
        let reads: Vec<BlockAccess> = BlockStream::new(records().into_iter(), 4096)
            .with_reads_only(true)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(reads.len(), 3);
        assert!(
            reads
                .iter()
                .all(|a| a.kind == IoKind::Read && a.time_ns == Some(7))
        );
    }
}
