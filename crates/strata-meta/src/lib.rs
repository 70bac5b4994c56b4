//! `strata-meta`: the metadata store of a Strata server.
//!
//! [`MetaStore`] is a small, blocking, ordered key/value store with atomic multi-key
//! commits and compare-and-swap. Callers namespace their keys (`vol/<name>`,
//! `map/<volume-id>/<extent>`, …); the store knows nothing about what the bytes mean.
//!
//! Backends are ordinary public types: [`RedbStore`] (embedded, durable, one redb file) and
//! [`MemoryStore`] (tests, simulations). Every backend must pass the shared
//! [`conformance`] suite.

pub mod conformance;
pub mod error;
pub mod memory;
pub mod redb_store;

pub use error::{MetaError, MetaErrorKind};
pub use memory::MemoryStore;
pub use redb_store::RedbStore;

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
}

impl<S: MetaStore + ?Sized> MetaStore for std::sync::Arc<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(key)
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
