//! The embedded backend: one redb file with a table of bytes → bytes, plus two tables for
//! leases (lease → TTL and expiry, leased key → lease) so expiry survives a restart.
//!
//! Every write is committed with immediate durability before it returns, so a returned
//! `put`/`commit` survives a crash. Concurrent writes are group-committed
//! ([`group_commit`]): one redb write transaction applies every queued write in order, each
//! one atomically on its own, and one fsync makes them all durable — the throughput of many
//! small control-plane transactions is bounded by fsyncs, not by writes. Writers are
//! serialised by the lease-table lock, which keeps the in-memory lease table in step with
//! the file. Leases
//! expire by the store's clock (wall time by default, so a lease granted before a restart
//! still ends on time); expired leases are swept at the start of any operation.

mod group_commit;

use crate::lease_table::LeaseTable;
use crate::memory::{delete_event, put_event};
use crate::watch::WatchHub;
use crate::{
    Compare, LeaseId, MetaError, MetaErrorKind, MetaStore, Op, Result, Watch, WatchEvent,
    duration_ns, prefix_end,
};
use group_commit::{GroupQueue, Job, Output};
use parking_lot::Mutex;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strata_core::Clock;

const TABLE: TableDefinition<'static, &'static [u8], &'static [u8]> = TableDefinition::new("kv");
/// lease id → (TTL ns, expiry ns by the store's clock).
const LEASES: TableDefinition<'static, i64, (u64, u64)> = TableDefinition::new("leases");
/// leased key → lease id.
const KEY_LEASE: TableDefinition<'static, &'static [u8], i64> = TableDefinition::new("key_lease");

/// Wall-clock time in nanoseconds since the Unix epoch: the default lease clock of
/// [`RedbStore`], because lease expiries are persisted and must mean the same after a
/// restart.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A durable [`MetaStore`] in a single redb database file.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    /// Mirror of the two lease tables plus the store revision; its lock serialises writers.
    writer: Mutex<WriterState>,
    watches: WatchHub,
    group: GroupQueue,
    /// Copy of the lease table's next expiry, so reads check for a due sweep without
    /// waiting for the writer lock (held across a batch's fsync).
    next_expiry_ns: AtomicU64,
}

#[derive(Debug, Default)]
struct WriterState {
    leases: LeaseTable,
    revision: u64,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Maps any redb error to a [`MetaError`] of the right kind.
fn redb_error(op: &'static str, err: impl Into<redb::Error>) -> MetaError {
    let err: redb::Error = err.into();
    let kind = match &err {
        redb::Error::Io(_) | redb::Error::PreviousIo => MetaErrorKind::Io,
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) => MetaErrorKind::Corrupt,
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            MetaErrorKind::Locked
        }
        _ => MetaErrorKind::Backend,
    };
    MetaError::new(kind, op, String::new()).with_source(err)
}

/// The open tables of one write transaction.
struct Tables<'txn> {
    kv: redb::Table<'txn, &'static [u8], &'static [u8]>,
    leases: redb::Table<'txn, i64, (u64, u64)>,
    key_lease: redb::Table<'txn, &'static [u8], i64>,
}

/// One write in progress: the tables, the lease mirror and the events to publish.
struct WriteCtx<'a, 'txn> {
    op: &'static str,
    tables: Tables<'txn>,
    leases: &'a mut LeaseTable,
    revision: u64,
    events: Vec<WatchEvent>,
}

impl WriteCtx<'_, '_> {
    fn detach(&mut self, key: &[u8]) -> Result<()> {
        if self.leases.detach(key).is_some() {
            self.tables
                .key_lease
                .remove(key)
                .map_err(|e| redb_error(self.op, e))?;
        }
        Ok(())
    }

    fn apply(&mut self, ops: &[Op]) -> Result<()> {
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    self.detach(key)?;
                    self.tables
                        .kv
                        .insert(key.as_slice(), value.as_slice())
                        .map_err(|e| redb_error(self.op, e))?;
                    self.events.push(put_event(key, value, self.revision));
                }
                Op::Delete { key } => {
                    self.detach(key)?;
                    let existed = self
                        .tables
                        .kv
                        .remove(key.as_slice())
                        .map_err(|e| redb_error(self.op, e))?
                        .is_some();
                    if existed {
                        self.events.push(delete_event(key, self.revision));
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes a lease record and the keys it carried (already taken from the mirror).
    fn drop_lease(&mut self, lease: LeaseId, keys: Vec<Vec<u8>>) -> Result<()> {
        self.tables
            .leases
            .remove(lease.0)
            .map_err(|e| redb_error(self.op, e))?;
        for key in keys {
            self.tables
                .key_lease
                .remove(key.as_slice())
                .map_err(|e| redb_error(self.op, e))?;
            let existed = self
                .tables
                .kv
                .remove(key.as_slice())
                .map_err(|e| redb_error(self.op, e))?
                .is_some();
            if existed {
                self.events.push(delete_event(&key, self.revision));
            }
        }
        Ok(())
    }

    fn matches(&self, cmp: &Compare) -> Result<bool> {
        let current = self
            .tables
            .kv
            .get(cmp.key.as_slice())
            .map_err(|e| redb_error(self.op, e))?
            .map(|guard| guard.value().to_vec());
        Ok(current == cmp.expected)
    }
}

impl RedbStore {
    /// Opens the database at `path`, creating the file and its tables if missing; leases
    /// follow wall-clock time.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_clock(path, Arc::new(WallClock))
    }

    /// As [`RedbStore::open`] with leases following `clock` (which must keep counting across
    /// restarts for persisted expiries to stay meaningful).
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path).map_err(|e| {
            let mut err = redb_error("open", e);
            err.message = path.display().to_string();
            err
        })?;
        let store = Self {
            db,
            path,
            clock,
            writer: Mutex::new(WriterState::default()),
            watches: WatchHub::default(),
            group: GroupQueue::default(),
            next_expiry_ns: AtomicU64::new(u64::MAX),
        };
        // Creating the tables up front lets readers open them without a "does not exist" case.
        store.submit("open", Job::Sweep)?;
        store.reload_leases("open")?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rebuilds the lease mirror from the file (at open, and after a failed write).
    fn reload_leases(&self, op: &'static str) -> Result<()> {
        let txn = self.db.begin_read().map_err(|e| redb_error(op, e))?;
        let leases = txn.open_table(LEASES).map_err(|e| redb_error(op, e))?;
        let key_lease = txn.open_table(KEY_LEASE).map_err(|e| redb_error(op, e))?;
        let mut lease_rows = Vec::new();
        for item in leases.iter().map_err(|e| redb_error(op, e))? {
            let (id, times) = item.map_err(|e| redb_error(op, e))?;
            let (ttl_ns, expires_at_ns) = times.value();
            lease_rows.push((LeaseId(id.value()), ttl_ns, expires_at_ns));
        }
        let mut key_rows = Vec::new();
        for item in key_lease.iter().map_err(|e| redb_error(op, e))? {
            let (key, id) = item.map_err(|e| redb_error(op, e))?;
            key_rows.push((key.value().to_vec(), LeaseId(id.value())));
        }
        let mut writer = self.writer.lock();
        writer.leases = LeaseTable::restore(lease_rows, key_rows);
        self.next_expiry_ns
            .store(writer.leases.earliest_expiry_ns(), Ordering::SeqCst);
        Ok(())
    }

    /// Sweeps expired leases before a read, so a read never sees a key whose lease ended.
    fn sweep_before_read(&self, op: &'static str) -> Result<()> {
        if self.clock.now_ns() >= self.next_expiry_ns.load(Ordering::SeqCst) {
            self.submit(op, Job::Sweep)?;
        }
        Ok(())
    }
}

impl MetaStore for RedbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.sweep_before_read("get")?;
        let txn = self.db.begin_read().map_err(|e| redb_error("get", e))?;
        let table = txn.open_table(TABLE).map_err(|e| redb_error("get", e))?;
        let value = table.get(key).map_err(|e| redb_error("get", e))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.submit("put", Job::Apply(vec![Op::put(key, value)]))?;
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        self.submit("delete", Job::Apply(vec![Op::delete(key)]))?;
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        let when = vec![Compare {
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
        }];
        let then = vec![match new {
            Some(value) => Op::put(key, value),
            None => Op::delete(key),
        }];
        Ok(self.submit("compare_and_swap", Job::Transact(when, then))? == Output::Applied(true))
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.sweep_before_read("list_prefix")?;
        let txn = self
            .db
            .begin_read()
            .map_err(|e| redb_error("list_prefix", e))?;
        let table = txn
            .open_table(TABLE)
            .map_err(|e| redb_error("list_prefix", e))?;
        let end = prefix_end(prefix);
        let upper = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        let range = table
            .range::<&[u8]>((Bound::Included(prefix), upper))
            .map_err(|e| redb_error("list_prefix", e))?;
        let mut out = Vec::new();
        for item in range {
            let (key, value) = item.map_err(|e| redb_error("list_prefix", e))?;
            out.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }

    fn commit(&self, batch: &[Op]) -> Result<()> {
        self.submit("commit", Job::Apply(batch.to_vec()))?;
        Ok(())
    }

    fn transact(&self, when: &[Compare], then: &[Op]) -> Result<bool> {
        let job = Job::Transact(when.to_vec(), then.to_vec());
        Ok(self.submit("transact", job)? == Output::Applied(true))
    }

    fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        // Holding the writer lock orders the watch after every earlier commit.
        let _writer = self.writer.lock();
        Ok(self.watches.subscribe(prefix))
    }

    fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let job = Job::Grant {
            ttl_ns: duration_ns(ttl),
            now_ns: self.clock.now_ns(),
        };
        match self.submit("grant_lease", job)? {
            Output::Lease(lease) => Ok(lease),
            other => unreachable!("grant answers a lease, not {other:?}"),
        }
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let job = Job::KeepAlive {
            lease,
            now_ns: self.clock.now_ns(),
        };
        self.submit("keep_alive", job)?;
        Ok(())
    }

    fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.submit("revoke_lease", Job::Revoke(lease))?;
        Ok(())
    }

    fn put_with_lease(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<()> {
        let job = Job::PutWithLease {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
        };
        self.submit("put_with_lease", job)?;
        Ok(())
    }
}
