//! `strata-meta`: the metadata store of a Strata server.
//!
//! [`MetaStore`] is a small, blocking, ordered key/value store with atomic multi-key
//! commits and compare-and-swap. Callers namespace their keys (`vol/<name>`,
//! `map/<volume-id>/<extent>`, …); the store knows nothing about what the bytes mean.
//!
//! Beyond plain keys the store offers what a control plane shared by several servers needs:
//! conditional transactions ([`MetaStore::transact`]), watches on a prefix
//! ([`MetaStore::watch_prefix`]) and leases with a TTL whose keys vanish when the lease
//! expires ([`MetaStore::grant_lease`], [`MetaStore::put_with_lease`]).
//!
//! Backends are ordinary public types: [`RedbStore`] (embedded, durable, one redb file),
//! [`EtcdStore`] (a shared etcd cluster) and [`MemoryStore`] (tests, simulations). Every
//! backend must pass the shared [`conformance`] suite.

pub mod conformance;
pub mod error;
pub mod etcd;
pub mod etcd_server;
mod lease_table;
pub mod memory;
pub mod redb_store;
pub mod watch;

pub use error::{MetaError, MetaErrorKind};
pub use etcd::EtcdStore;
pub use memory::MemoryStore;
pub use redb_store::RedbStore;
pub use watch::{Watch, WatchEvent, WatchEventKind};

use std::time::Duration;

/// A store lease: keys put under it vanish when it expires or is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

impl std::fmt::Display for LeaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// A condition of [`MetaStore::transact`]: `key` currently holds exactly `expected`
/// (`None` = the key is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub key: Vec<u8>,
    pub expected: Option<Vec<u8>>,
}

impl Compare {
    /// `key` holds `value`.
    pub fn value(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            expected: Some(value.into()),
        }
    }

    /// `key` is absent.
    pub fn absent(key: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            expected: None,
        }
    }
}

/// `duration` in whole nanoseconds, saturating.
pub(crate) fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Error for stores that do not implement an optional capability.
fn unsupported(op: &'static str) -> MetaError {
    MetaError::new(
        MetaErrorKind::Unsupported,
        op,
        "not supported by this store",
    )
}

/// Result of a store operation.
pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// One change inside an atomic [`MetaStore::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets `key` to `value`, replacing any previous value.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Removes `key`; removing a missing key is not an error.
    Delete { key: Vec<u8> },
}

impl Op {
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        Self::Delete { key: key.into() }
    }

    /// The key this operation changes.
    pub fn key(&self) -> &[u8] {
        match self {
            Self::Put { key, .. } | Self::Delete { key } => key,
        }
    }
}

/// An ordered byte-string key/value store with atomic batches.
///
/// Every method blocks until done; every successful write is durable when it returns (for
/// durable backends). Implementations are shared between threads.
pub trait MetaStore: Send + Sync + std::fmt::Debug {
    /// The value of `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// The value of `key` as of a recent moment, possibly older than [`MetaStore::get`]'s:
    /// only for a value that a later [`MetaStore::transact`] compares, so that a stale read
    /// costs a retry and never a wrong write. etcd serves it from the member's applied state
    /// without a quorum round (a serializable read); other backends read as `get` does.
    fn get_guarded(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(key)
    }

    /// Sets `key` to `value`.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Removes `key`; a missing key is not an error.
    fn delete(&self, key: &[u8]) -> Result<()>;

    /// Sets `key` to `new` (or removes it when `new` is `None`) only if its current value
    /// equals `expected` (`None` = absent). Returns whether the swap happened.
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool>;

    /// Every key starting with `prefix`, with its value, in ascending key order.
    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Applies every operation in order, all or nothing; durable when it returns. Later
    /// operations on the same key win.
    fn commit(&self, batch: &[Op]) -> Result<()>;

    /// Applies `then` (as [`MetaStore::commit`]) only if every comparison in `when` holds,
    /// all in one atomic step. Returns whether it applied. A put here detaches the key from
    /// any lease.
    fn transact(&self, when: &[Compare], then: &[Op]) -> Result<bool> {
        let _ = (when, then);
        Err(unsupported("transact"))
    }

    /// Events for every change under `prefix` committed after this call returns.
    fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        let _ = prefix;
        Err(unsupported("watch_prefix"))
    }

    /// A new lease that expires `ttl` after its grant or last keep-alive (etcd rounds up to
    /// whole seconds and enforces its own minimum).
    fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let _ = ttl;
        Err(unsupported("grant_lease"))
    }

    /// Restarts the lease's TTL; [`MetaErrorKind::LeaseNotFound`] once it has expired.
    fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let _ = lease;
        Err(unsupported("keep_alive"))
    }

    /// Ends the lease now and removes its keys; an unknown or expired lease is not an error.
    fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        let _ = lease;
        Err(unsupported("revoke_lease"))
    }

    /// Sets `key` to `value` and ties it to `lease`: it vanishes when the lease ends.
    /// [`MetaErrorKind::LeaseNotFound`] when the lease has already ended.
    fn put_with_lease(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<()> {
        let _ = (key, value, lease);
        Err(unsupported("put_with_lease"))
    }
}

impl<S: MetaStore + ?Sized> MetaStore for std::sync::Arc<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn get_guarded(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get_guarded(key)
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        (**self).put(key, value)
    }
    fn delete(&self, key: &[u8]) -> Result<()> {
        (**self).delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        (**self).compare_and_swap(key, expected, new)
    }
    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        (**self).list_prefix(prefix)
    }
    fn commit(&self, batch: &[Op]) -> Result<()> {
        (**self).commit(batch)
    }
    fn transact(&self, when: &[Compare], then: &[Op]) -> Result<bool> {
        (**self).transact(when, then)
    }
    fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        (**self).watch_prefix(prefix)
    }
    fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        (**self).grant_lease(ttl)
    }
    fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        (**self).keep_alive(lease)
    }
    fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        (**self).revoke_lease(lease)
    }
    fn put_with_lease(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<()> {
        (**self).put_with_lease(key, value, lease)
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when no
/// such key exists (the prefix is empty or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_non_ff_byte() {
        assert_eq!(prefix_end(b"map/"), Some(b"map0".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
