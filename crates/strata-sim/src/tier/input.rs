//! [`TierInput`]: a trace prepared for tier replay — requests with virtual arrival times,
//! cut into extent pieces by the canonical block-stream rule, plus the trace's footprint.

use super::TierError;
use crate::stream::{DISK_SHIFT, blocks, disk_of};
use crate::trace::IoRecord;
use std::collections::HashSet;
use strata_policy::ExtentId;

/// One request in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierRequest {
    /// Arrival, in ns since the trace's first request; never decreasing.
    pub time_ns: u64,
    pub record: IoRecord,
}

/// The part of a request that falls into one extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub extent: ExtentId,
    pub offset_in_extent_bytes: u64,
    pub len_bytes: u64,
}

/// The extent pieces of `record`, in increasing order: exactly the ids of the canonical
/// stream ([`blocks`]) with the bytes each one receives.
pub fn pieces(record: &IoRecord, unit_bytes: u64) -> impl Iterator<Item = Piece> + use<> {
    let start = record.offset_bytes;
    let end = start.saturating_add(record.len_bytes);
    blocks(record, unit_bytes).map(move |id| {
        let index = id & ((1u64 << DISK_SHIFT) - 1);
        let extent_start = index.saturating_mul(unit_bytes);
        let lo = start.max(extent_start);
        let hi = end.min(extent_start.saturating_add(unit_bytes));
        Piece {
            extent: ExtentId::new(u64::from(disk_of(id)), index),
            offset_in_extent_bytes: lo - extent_start,
            len_bytes: hi.saturating_sub(lo),
        }
    })
}

/// A trace ready for any number of tier replays.
#[derive(Debug, Clone)]
pub struct TierInput {
    requests: Vec<TierRequest>,
    unit_bytes: u64,
    footprint_extents: u64,
    accesses: u64,
    timed: bool,
}

impl TierInput {
    /// Prepares `records` for replay with extents of `unit_bytes`.
    ///
    /// Trace timestamps become virtual time relative to the first request; a timestamp
    /// earlier than its predecessor (SYSTOR rows are not strictly sorted) is raised to it.
    /// When the first record has no timestamp (ARC), requests arrive at the fixed
    /// `arrival_rate_per_s` instead.
    pub fn from_records(
        records: impl IntoIterator<Item = IoRecord>,
        unit_bytes: u64,
        arrival_rate_per_s: u64,
    ) -> Result<Self, TierError> {
        if unit_bytes == 0 || arrival_rate_per_s == 0 {
            return Err(TierError::invalid(
                "--unit and the arrival rate must be positive",
            ));
        }
        let mut requests = Vec::new();
        let mut origin_ns = None;
        let mut last_ns = 0u64;
        let mut timed = false;
        let mut footprint = HashSet::new();
        let mut accesses = 0u64;
        for (i, record) in records.into_iter().enumerate() {
            let time_ns = match (record.time_ns, i) {
                (Some(t), 0) => {
                    timed = true;
                    origin_ns = Some(t);
                    0
                }
                (Some(t), _) if timed => t.saturating_sub(origin_ns.unwrap_or(t)).max(last_ns),
                (None, _) if timed => last_ns,
                _ => {
                    let ns = u128::try_from(i).unwrap_or(u128::MAX) * 1_000_000_000
                        / u128::from(arrival_rate_per_s);
                    u64::try_from(ns).unwrap_or(u64::MAX)
                }
            };
            last_ns = time_ns;
            for id in blocks(&record, unit_bytes) {
                footprint.insert(id);
                accesses += 1;
            }
            requests.push(TierRequest { time_ns, record });
        }
        Ok(Self {
            requests,
            unit_bytes,
            footprint_extents: footprint.len() as u64,
            accesses,
            timed,
        })
    }

    pub fn requests(&self) -> &[TierRequest] {
        &self.requests
    }

    pub fn unit_bytes(&self) -> u64 {
        self.unit_bytes
    }

    /// Distinct extents touched (the `unique` of the JSON output).
    pub fn footprint_extents(&self) -> u64 {
        self.footprint_extents
    }

    /// Extent accesses of the canonical stream (the `accesses` of the JSON output).
    pub fn accesses(&self) -> u64 {
        self.accesses
    }

    /// Whether arrival times come from the trace (`false`: the fixed arrival rate).
    pub fn is_timed(&self) -> bool {
        self.timed
    }

    /// Virtual time of the last arrival.
    pub fn span_ns(&self) -> u64 {
        self.requests.last().map_or(0, |r| r.time_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::IoKind;

    fn record(time_ns: Option<u64>, offset_bytes: u64, len_bytes: u64) -> IoRecord {
        IoRecord {
            time_ns,
            disk: 2,
            offset_bytes,
            len_bytes,
            kind: IoKind::Read,
        }
    }

    #[test]
    fn pieces_follow_the_canonical_stream_and_cover_the_request() {
        let r = record(None, (1 << 20) - 100, 300);
        let got: Vec<Piece> = pieces(&r, 1 << 20).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].extent, ExtentId::new(2, 0));
        assert_eq!(
            (got[0].offset_in_extent_bytes, got[0].len_bytes),
            ((1 << 20) - 100, 100)
        );
        assert_eq!(got[1].extent, ExtentId::new(2, 1));
        assert_eq!((got[1].offset_in_extent_bytes, got[1].len_bytes), (0, 200));
        assert_eq!(got.len(), blocks(&r, 1 << 20).count());
    }

    #[test]
    fn timestamps_become_monotone_virtual_time() {
        let records = [
            record(Some(5_000), 0, 10),
            record(Some(9_000), 0, 10),
            record(Some(7_000), 4096, 10),
        ];
        let input = TierInput::from_records(records, 4096, 1000).expect("valid");
        let times: Vec<u64> = input.requests().iter().map(|r| r.time_ns).collect();
        assert_eq!(times, [0, 4_000, 4_000]);
        assert_eq!(input.footprint_extents(), 2);
        assert!(input.is_timed());
    }

    #[test]
    fn untimed_traces_arrive_at_the_fixed_rate() {
        let records = (0..3).map(|i| record(None, i * 4096, 4096));
        let input = TierInput::from_records(records, 4096, 1000).expect("valid");
        let times: Vec<u64> = input.requests().iter().map(|r| r.time_ns).collect();
        assert_eq!(times, [0, 1_000_000, 2_000_000]);
        assert!(!input.is_timed());
    }
}
