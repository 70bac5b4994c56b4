//! The embedded backend: one redb file with a table of bytes → bytes, plus two tables for
//! leases (lease → TTL and expiry, leased key → lease) so expiry survives a restart.
//!
//! Every write is one redb write transaction committed with immediate durability, so a
//! returned `put`/`commit` survives a crash. Writers are serialised by the lease-table lock
//! (redb would serialise them anyway), which is what makes `compare_and_swap`, `transact`
//! and `commit` atomic and keeps the in-memory lease table in step with the file. Leases
//! expire by the store's clock (wall time by default, so a lease granted before a restart
//! still ends on time); expired leases are swept at the start of any operation.

use crate::lease_table::{LeaseTable, lease_not_found};
use crate::memory::{delete_event, put_event};
use crate::watch::WatchHub;
use crate::{
    Compare, LeaseId, MetaError, MetaErrorKind, MetaStore, Op, Result, Watch, WatchEvent,
    duration_ns, prefix_end,
};
use parking_lot::Mutex;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
        };
        // Creating the tables up front lets readers open them without a "does not exist" case.
        store.write("open", |_| Ok(()))?;
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
        self.writer.lock().leases = LeaseTable::restore(lease_rows, key_rows);
        Ok(())
    }

    /// Runs `f` inside one durable write transaction, after sweeping expired leases, and
    /// commits it; publishes the changes to watches once durable.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut WriteCtx<'_, '_>) -> Result<T>,
    ) -> Result<T> {
        let now_ns = self.clock.now_ns();
        let mut writer = self.writer.lock();
        let revision = writer.revision + 1;
        let result = (|| {
            let txn = self.db.begin_write().map_err(|e| redb_error(op, e))?;
            let (out, events) = {
                let tables = Tables {
                    kv: txn.open_table(TABLE).map_err(|e| redb_error(op, e))?,
                    leases: txn.open_table(LEASES).map_err(|e| redb_error(op, e))?,
                    key_lease: txn.open_table(KEY_LEASE).map_err(|e| redb_error(op, e))?,
                };
                let mut ctx = WriteCtx {
                    op,
                    tables,
                    leases: &mut writer.leases,
                    revision,
                    events: Vec::new(),
                };
                for (lease, keys) in ctx.leases.take_expired(now_ns) {
                    ctx.drop_lease(lease, keys)?;
                }
                let out = f(&mut ctx)?;
                (out, ctx.events)
            };
            txn.commit().map_err(|e| redb_error(op, e))?;
            Ok((out, events))
        })();
        match result {
            Ok((out, events)) => {
                if !events.is_empty() {
                    writer.revision = revision;
                }
                self.watches.publish(&events);
                Ok(out)
            }
            Err(err) => {
                // The mirror may have run ahead of the aborted transaction.
                drop(writer);
                self.reload_leases(op)?;
                Err(err)
            }
        }
    }

    /// Sweeps expired leases before a read, so a read never sees a key whose lease ended.
    fn sweep_before_read(&self, op: &'static str) -> Result<()> {
        let due = self.writer.lock().leases.has_expired(self.clock.now_ns());
        if due {
            self.write(op, |_| Ok(()))?;
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
        self.write("put", |ctx| ctx.apply(&[Op::put(key, value)]))
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        self.write("delete", |ctx| ctx.apply(&[Op::delete(key)]))
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        let when = [Compare {
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
        }];
        let then = [match new {
            Some(value) => Op::put(key, value),
            None => Op::delete(key),
        }];
        self.write("compare_and_swap", |ctx| transact_in(ctx, &when, &then))
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
        self.write("commit", |ctx| ctx.apply(batch))
    }

    fn transact(&self, when: &[Compare], then: &[Op]) -> Result<bool> {
        self.write("transact", |ctx| transact_in(ctx, when, then))
    }

    fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        // Holding the writer lock orders the watch after every earlier commit.
        let _writer = self.writer.lock();
        Ok(self.watches.subscribe(prefix))
    }

    fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let now_ns = self.clock.now_ns();
        self.write("grant_lease", |ctx| {
            let (lease, expires_at_ns) = ctx.leases.grant(duration_ns(ttl), now_ns);
            ctx.tables
                .leases
                .insert(lease.0, (duration_ns(ttl), expires_at_ns))
                .map_err(|e| redb_error(ctx.op, e))?;
            Ok(lease)
        })
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let now_ns = self.clock.now_ns();
        self.write("keep_alive", |ctx| {
            let times = ctx.leases.keep_alive(lease, now_ns)?;
            ctx.tables
                .leases
                .insert(lease.0, times)
                .map_err(|e| redb_error(ctx.op, e))?;
            Ok(())
        })
    }

    fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.write("revoke_lease", |ctx| {
            let keys = ctx.leases.revoke(lease);
            ctx.drop_lease(lease, keys)
        })
    }

    fn put_with_lease(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<()> {
        self.write("put_with_lease", |ctx| {
            if !ctx.leases.is_live(lease) {
                return Err(lease_not_found("put_with_lease", lease));
            }
            ctx.apply(&[Op::put(key, value)])?;
            ctx.leases.attach(key, lease);
            ctx.tables
                .key_lease
                .insert(key, lease.0)
                .map_err(|e| redb_error(ctx.op, e))?;
            Ok(())
        })
    }
}

/// Applies `then` inside `ctx` when every comparison holds.
fn transact_in(ctx: &mut WriteCtx<'_, '_>, when: &[Compare], then: &[Op]) -> Result<bool> {
    for cmp in when {
        if !ctx.matches(cmp)? {
            return Ok(false);
        }
    }
    ctx.apply(then)?;
    Ok(true)
}
