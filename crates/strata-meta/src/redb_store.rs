//! The embedded backend: one redb file with one table of bytes → bytes.
//!
//! Every write is one redb write transaction committed with immediate durability, so a
//! returned `put`/`commit` survives a crash. redb serialises write transactions, which is
//! what makes `compare_and_swap` and `commit` atomic.

use crate::{MetaError, MetaErrorKind, MetaStore, Op, Result, prefix_end};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::{Path, PathBuf};

const TABLE: TableDefinition<'static, &'static [u8], &'static [u8]> = TableDefinition::new("kv");

/// A durable [`MetaStore`] in a single redb database file.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
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

impl RedbStore {
    /// Opens the database at `path`, creating the file and its table if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path).map_err(|e| {
            let mut err = redb_error("open", e);
            err.message = path.display().to_string();
            err
        })?;
        let store = Self { db, path };
        // Creating the table up front lets readers open it without a "does not exist" case.
        store.write("open", |_| Ok(()))?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside one durable write transaction and commits it.
    fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut redb::Table<'_, &'static [u8], &'static [u8]>) -> Result<T>,
    ) -> Result<T> {
        let txn = self.db.begin_write().map_err(|e| redb_error(op, e))?;
        let out = {
            let mut table = txn.open_table(TABLE).map_err(|e| redb_error(op, e))?;
            f(&mut table)?
        };
        txn.commit().map_err(|e| redb_error(op, e))?;
        Ok(out)
    }
}

impl MetaStore for RedbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read().map_err(|e| redb_error("get", e))?;
        let table = txn.open_table(TABLE).map_err(|e| redb_error("get", e))?;
        let value = table.get(key).map_err(|e| redb_error("get", e))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write("put", |table| {
            table.insert(key, value).map_err(|e| redb_error("put", e))?;
            Ok(())
        })
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        self.write("delete", |table| {
            table.remove(key).map_err(|e| redb_error("delete", e))?;
            Ok(())
        })
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        self.write("compare_and_swap", |table| {
            let current = table
                .get(key)
                .map_err(|e| redb_error("compare_and_swap", e))?
                .map(|guard| guard.value().to_vec());
            if current.as_deref() != expected {
                return Ok(false);
            }
            match new {
                Some(value) => {
                    table
                        .insert(key, value)
                        .map_err(|e| redb_error("compare_and_swap", e))?;
                }
                None => {
                    table
                        .remove(key)
                        .map_err(|e| redb_error("compare_and_swap", e))?;
                }
            }
            Ok(true)
        })
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
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
        self.write("commit", |table| {
            for op in batch {
                match op {
                    Op::Put { key, value } => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(|e| redb_error("commit", e))?;
                    }
                    Op::Delete { key } => {
                        table
                            .remove(key.as_slice())
                            .map_err(|e| redb_error("commit", e))?;
                    }
                }
            }
            Ok(())
        })
    }
}
