//! The migration log: one record per executed move, kept in the metadata store.
//!
//! Records live under `miglog/` + sequence number (8 bytes BE), value = version byte + JSON.
//! A completed move's record is written in the same transaction as its map switch, so the
//! log can never claim a move that did not happen nor miss one that did, even across
//! `kill -9`; failed, aborted and cancelled moves get a transaction of their own. This
//! costs no extra fsync stream and works on every store backend (embedded and etcd), which
//! a JSON-lines file beside the data would not. Growth is bounded: when more than
//! `log_max_records` are kept, the oldest are deleted in the same transaction as a new one.

use crate::{EngineError, EngineErrorKind, Result};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use strata_core::TierKind;
use strata_meta::{MetaStore, Op};

pub const MIGRATION_LOG_PREFIX: &[u8] = b"miglog/";
const RECORD_VERSION: u8 = 1;
/// Oldest records deleted per trim, so trimming is not paid on every append.
const TRIM_BATCH: u64 = 256;

/// How a move ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MigrationOutcome {
    /// Copied, durable, map switched, source freed.
    Done,
    /// A device or store error; the extent stayed where it was.
    Failed,
    /// The extent changed under the move (trimmed, rewritten elsewhere, volume deleted).
    Aborted,
    /// Shutdown cancelled it; the extent stayed where it was.
    Cancelled,
}

/// One executed move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationRecord {
    pub seq: u64,
    pub time_unix_ms: u64,
    pub volume: String,
    pub volume_id: u64,
    pub extent: u64,
    pub from: TierKind,
    pub to: TierKind,
    /// `promote`, `demote`, `evict`, `prefetch`, `rebalance` or `manual`.
    pub reason: String,
    pub bytes: u64,
    pub duration_us: u64,
    pub outcome: MigrationOutcome,
    /// Attempts made (more than 1 after retried device errors).
    pub attempts: u32,
    pub error: Option<String>,
}

fn key(seq: u64) -> Vec<u8> {
    [MIGRATION_LOG_PREFIX, &seq.to_be_bytes()].concat()
}

fn corrupt(msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::Store, "migration_log", msg)
}

pub fn encode(record: &MigrationRecord) -> Result<Vec<u8>> {
    let mut out = vec![RECORD_VERSION];
    serde_json::to_writer(&mut out, record).map_err(|e| corrupt("encode").with_source(e))?;
    Ok(out)
}

pub fn decode(value: &[u8]) -> Result<MigrationRecord> {
    match value.split_first() {
        Some((&RECORD_VERSION, body)) => {
            serde_json::from_slice(body).map_err(|e| corrupt("bad record").with_source(e))
        }
        _ => Err(corrupt("unknown record version")),
    }
}

/// Sequence bookkeeping: the next number and the oldest kept.
#[derive(Debug)]
pub(crate) struct MigrationLog {
    max_records: u64,
    /// (next seq, oldest kept seq).
    seqs: Mutex<(u64, u64)>,
}

impl MigrationLog {
    pub fn open(store: &dyn MetaStore, max_records: u64) -> Result<Self> {
        let keys = store
            .list_prefix(MIGRATION_LOG_PREFIX)
            .map_err(|e| EngineError::store("open", e))?;
        let seq_of = |k: &[u8]| {
            k.strip_prefix(MIGRATION_LOG_PREFIX)
                .and_then(|rest| <[u8; 8]>::try_from(rest).ok())
                .map(u64::from_be_bytes)
        };
        let first = keys.first().and_then(|(k, _)| seq_of(k)).unwrap_or(0);
        let next = keys
            .last()
            .and_then(|(k, _)| seq_of(k))
            .map_or(0, |s| s + 1);
        Ok(Self {
            max_records: max_records.max(1),
            seqs: Mutex::new((next, first)),
        })
    }

    /// Assigns the record its sequence number and returns the ops that append it (plus
    /// trims of the oldest records). The caller commits them; a failed commit leaves a gap
    /// in the numbering, which readers tolerate.
    pub fn append_ops(&self, record: &mut MigrationRecord) -> Result<Vec<Op>> {
        let mut seqs = self.seqs.lock();
        let (next, oldest) = *seqs;
        record.seq = next;
        let mut ops = vec![Op::put(key(next), encode(record)?)];
        let mut new_oldest = oldest;
        if next + 1 - oldest > self.max_records + TRIM_BATCH {
            new_oldest = next + 1 - self.max_records;
            ops.extend((oldest..new_oldest).map(|s| Op::delete(key(s))));
        }
        *seqs = (next + 1, new_oldest);
        Ok(ops)
    }

    /// Newest first, optionally only one volume's records.
    pub fn read(
        store: &dyn MetaStore,
        volume: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MigrationRecord>> {
        let entries = store
            .list_prefix(MIGRATION_LOG_PREFIX)
            .map_err(|e| EngineError::store("migration_log", e))?;
        let mut out = Vec::with_capacity(limit.min(entries.len()));
        for (_key, value) in entries.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let record = decode(value)?;
            if volume.is_none_or(|v| v == record.volume) {
                out.push(record);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_meta::MemoryStore;

    fn record(volume: &str) -> MigrationRecord {
        MigrationRecord {
            seq: 0,
            time_unix_ms: 1,
            volume: volume.into(),
            volume_id: 1,
            extent: 2,
            from: TierKind::Hdd,
            to: TierKind::Nvme,
            reason: "promote".into(),
            bytes: 1 << 20,
            duration_us: 10,
            outcome: MigrationOutcome::Done,
            attempts: 1,
            error: None,
        }
    }

    #[test]
    fn appends_read_newest_first_and_trim_bounded() {
        let store = MemoryStore::new();
        let log = MigrationLog::open(&store, 10).unwrap();
        for i in 0..400 {
            let mut r = record(if i % 2 == 0 { "a" } else { "b" });
            store.commit(&log.append_ops(&mut r).unwrap()).unwrap();
        }
        let kept = store.list_prefix(MIGRATION_LOG_PREFIX).unwrap().len() as u64;
        assert!((10..=10 + TRIM_BATCH).contains(&kept), "{kept}");
        let newest = MigrationLog::read(&store, Some("b"), 3).unwrap();
        assert_eq!(
            newest.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [399, 397, 395]
        );
        let reopened = MigrationLog::open(&store, 10).unwrap();
        let mut r = record("a");
        reopened.append_ops(&mut r).unwrap();
        assert_eq!(r.seq, 400);
        assert!(decode(&[9, b'{']).is_err());
    }
}
