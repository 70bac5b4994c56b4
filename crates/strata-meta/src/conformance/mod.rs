//! The shared conformance suite every [`MetaStore`] backend must pass.
//!
//! Each check takes an empty store and panics (like a test assertion) on the first
//! deviation from the trait's contract. Backends run [`run_all`] from their `tests/`.
//! Plain key/value checks live here, transactions, watches and leases in [`leases`].

pub mod leases;

use crate::{MetaStore, Op};
use std::time::Duration;

/// A fresh, empty store under test and how to move its lease clock.
pub struct Subject {
    pub store: Box<dyn MetaStore>,
    /// Moves the store's lease clock forward; stores on real time (etcd) do nothing, and the
    /// checks then wait for the effect with a deadline.
    pub advance: Box<dyn Fn(Duration)>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Subject {
    /// A store whose clock cannot be moved by the test (it runs on real time).
    pub fn real_time(store: Box<dyn MetaStore>) -> Self {
        Self {
            store,
            advance: Box::new(|_| {}),
        }
    }
}

/// Runs every check, each on a fresh store from `make`.
pub fn run_all(make: &mut dyn FnMut() -> Subject) {
    get_put_delete(make().store.as_ref());
    compare_and_swap(make().store.as_ref());
    list_prefix_is_sorted_and_bounded(make().store.as_ref());
    commit_applies_in_order(make().store.as_ref());
    empty_and_binary_keys(make().store.as_ref());
    leases::transact_is_all_or_nothing(make().store.as_ref());
    leases::watch_sees_later_changes_in_order(make().store.as_ref());
    leases::revoke_removes_leased_keys(make().store.as_ref());
    leases::plain_put_detaches_from_lease(make().store.as_ref());
    leases::keep_alive_extends(&make());
    leases::expiry_removes_keys_and_notifies(&make());
}

/// Basic reads and writes: missing keys read `None`, puts overwrite, deletes are idempotent.
pub fn get_put_delete(store: &dyn MetaStore) {
    assert_eq!(store.get(b"a").unwrap(), None);
    store.put(b"a", b"1").unwrap();
    assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    store.put(b"a", b"2").unwrap();
    assert_eq!(store.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    // A guarded read may lag other writers, never this caller's own finished write (one
    // etcd member answers after it applied the write).
    assert_eq!(store.get_guarded(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    store.delete(b"a").unwrap();
    assert_eq!(store.get(b"a").unwrap(), None);
    assert_eq!(store.get_guarded(b"a").unwrap(), None);
    store.delete(b"a").unwrap();
}

/// CAS succeeds only on an exact match, including absence, and can delete.
pub fn compare_and_swap(store: &dyn MetaStore) {
    assert!(store.compare_and_swap(b"k", None, Some(b"v1")).unwrap());
    assert!(!store.compare_and_swap(b"k", None, Some(b"v2")).unwrap());
    assert!(
        !store
            .compare_and_swap(b"k", Some(b"zz"), Some(b"v2"))
            .unwrap()
    );
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(
        store
            .compare_and_swap(b"k", Some(b"v1"), Some(b"v2"))
            .unwrap()
    );
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v2"[..]));
    assert!(!store.compare_and_swap(b"k", Some(b"v1"), None).unwrap());
    assert!(store.compare_and_swap(b"k", Some(b"v2"), None).unwrap());
    assert_eq!(store.get(b"k").unwrap(), None);
}

/// `list_prefix` returns exactly the keys under the prefix, ascending.
pub fn list_prefix_is_sorted_and_bounded(store: &dyn MetaStore) {
    for key in [
        &b"map/2"[..],
        b"map/10",
        b"map/1",
        b"mao",
        b"map0",
        b"vol/x",
        b"map/",
    ] {
        store.put(key, key).unwrap();
    }
    store.put(&[b'p', 0xff, 0xff], b"edge").unwrap();
    let keys: Vec<Vec<u8>> = store
        .list_prefix(b"map/")
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(k, v);
            k
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            b"map/".to_vec(),
            b"map/1".to_vec(),
            b"map/10".to_vec(),
            b"map/2".to_vec()
        ]
    );
    assert_eq!(store.list_prefix(b"none/").unwrap(), vec![]);
    assert_eq!(store.list_prefix(&[b'p', 0xff]).unwrap().len(), 1);
    assert_eq!(store.list_prefix(b"").unwrap().len(), 8);
}

/// A batch applies every op, later ops on the same key win, and an empty batch is fine.
pub fn commit_applies_in_order(store: &dyn MetaStore) {
    store.put(b"old", b"x").unwrap();
    store
        .commit(&[
            Op::put(b"a".to_vec(), b"1".to_vec()),
            Op::put(b"b".to_vec(), b"2".to_vec()),
            Op::delete(b"old".to_vec()),
            Op::put(b"a".to_vec(), b"3".to_vec()),
            Op::delete(b"b".to_vec()),
            Op::put(b"c".to_vec(), b"4".to_vec()),
        ])
        .unwrap();
    let all = store.list_prefix(b"").unwrap();
    assert_eq!(
        all,
        vec![
            (b"a".to_vec(), b"3".to_vec()),
            (b"c".to_vec(), b"4".to_vec())
        ]
    );
    store.commit(&[]).unwrap();
    assert_eq!(store.list_prefix(b"").unwrap().len(), 2);
}

/// Empty values and arbitrary binary keys (as the engine's big-endian ids) round-trip.
pub fn empty_and_binary_keys(store: &dyn MetaStore) {
    let key: Vec<u8> = b"map/".iter().copied().chain(7u64.to_be_bytes()).collect();
    store.put(&key, b"").unwrap();
    assert_eq!(store.get(&key).unwrap(), Some(Vec::new()));
    let listed = store.list_prefix(b"map/").unwrap();
    assert_eq!(listed, vec![(key, Vec::new())]);
}
