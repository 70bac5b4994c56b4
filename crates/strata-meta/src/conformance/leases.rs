//! Conformance checks for conditional transactions, watches and leases.

use super::Subject;
use crate::{Compare, MetaErrorKind, MetaStore, Op, Watch, WatchEvent, WatchEventKind};
use std::time::Duration;

/// How long a check waits for an event a real-time store (etcd) delivers asynchronously;
/// etcd checks lease expiry every half second and rounds TTLs up to its minimum.
const EVENT_DEADLINE: Duration = Duration::from_secs(20);

fn next_event(watch: &Watch) -> WatchEvent {
    watch
        .recv_timeout(EVENT_DEADLINE)
        .expect("watch event within the deadline")
}

/// `transact` applies everything when every comparison holds, and nothing otherwise.
pub fn transact_is_all_or_nothing(store: &dyn MetaStore) {
    store.put(b"t/gen", b"1").unwrap();
    let applied = store
        .transact(
            &[Compare::value(b"t/gen", b"1"), Compare::absent(b"t/new")],
            &[Op::put(b"t/gen", b"2"), Op::put(b"t/new", b"x")],
        )
        .unwrap();
    assert!(applied);
    assert_eq!(store.get(b"t/gen").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get(b"t/new").unwrap().as_deref(), Some(&b"x"[..]));
    // One stale comparison out of two: nothing changes.
    let applied = store
        .transact(
            &[
                Compare::value(b"t/new", b"x"),
                Compare::value(b"t/gen", b"1"),
            ],
            &[Op::put(b"t/gen", b"3"), Op::delete(b"t/new")],
        )
        .unwrap();
    assert!(!applied);
    assert_eq!(store.get(b"t/gen").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.get(b"t/new").unwrap().as_deref(), Some(&b"x"[..]));
    // A missing key never equals a value, and "absent" fails once the key exists.
    assert!(
        !store
            .transact(&[Compare::value(b"t/none", b"")], &[Op::put(b"t/x", b"1")])
            .unwrap()
    );
    assert!(
        !store
            .transact(&[Compare::absent(b"t/gen")], &[Op::put(b"t/x", b"1")])
            .unwrap()
    );
    assert_eq!(store.get(b"t/x").unwrap(), None);
    // No conditions: applies, and later operations on a key win.
    assert!(
        store
            .transact(&[], &[Op::put(b"t/x", b"1"), Op::put(b"t/x", b"2")])
            .unwrap()
    );
    assert_eq!(store.get(b"t/x").unwrap().as_deref(), Some(&b"2"[..]));
}

/// A watch delivers every later change under its prefix, in commit order, and nothing else.
pub fn watch_sees_later_changes_in_order(store: &dyn MetaStore) {
    store.put(b"w/before", b"0").unwrap();
    let watch = store.watch_prefix(b"w/").unwrap();
    store.put(b"w/a", b"1").unwrap();
    store.put(b"x/a", b"ignored").unwrap();
    store.delete(b"w/a").unwrap();
    store
        .commit(&[Op::put(b"w/b", b"2"), Op::put(b"w/c", b"3")])
        .unwrap();
    assert!(store.compare_and_swap(b"w/b", Some(b"2"), None).unwrap());
    let expected = [
        (WatchEventKind::Put, &b"w/a"[..], &b"1"[..]),
        (WatchEventKind::Delete, b"w/a", b""),
        (WatchEventKind::Put, b"w/b", b"2"),
        (WatchEventKind::Put, b"w/c", b"3"),
        (WatchEventKind::Delete, b"w/b", b""),
    ];
    let mut last_revision = 0;
    for (kind, key, value) in expected {
        let event = next_event(&watch);
        assert_eq!(
            (event.kind, event.key.as_slice(), event.value.as_slice()),
            (kind, key, value)
        );
        assert!(event.revision >= last_revision, "revisions never go back");
        last_revision = event.revision;
    }
    // Nothing else was delivered: the next event is a fresh marker.
    store.put(b"w/marker", b"m").unwrap();
    assert_eq!(next_event(&watch).key, b"w/marker".to_vec());
}

/// Revoking a lease removes exactly its keys; the lease is then gone for every use.
pub fn revoke_removes_leased_keys(store: &dyn MetaStore) {
    let lease = store.grant_lease(Duration::from_secs(30)).unwrap();
    store.put_with_lease(b"l/a", b"1", lease).unwrap();
    store.put_with_lease(b"l/b", b"2", lease).unwrap();
    store.put(b"l/plain", b"3").unwrap();
    store.keep_alive(lease).unwrap();
    store.revoke_lease(lease).unwrap();
    let left: Vec<Vec<u8>> = store
        .list_prefix(b"l/")
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(left, vec![b"l/plain".to_vec()]);
    assert_eq!(
        store.keep_alive(lease).unwrap_err().kind,
        MetaErrorKind::LeaseNotFound
    );
    assert_eq!(
        store.put_with_lease(b"l/c", b"4", lease).unwrap_err().kind,
        MetaErrorKind::LeaseNotFound
    );
    assert_eq!(store.get(b"l/c").unwrap(), None);
    store.revoke_lease(lease).unwrap();
}

/// A plain put over a leased key detaches it: the lease's end no longer removes it.
pub fn plain_put_detaches_from_lease(store: &dyn MetaStore) {
    let lease = store.grant_lease(Duration::from_secs(30)).unwrap();
    store.put_with_lease(b"d/k", b"leased", lease).unwrap();
    store.put(b"d/k", b"plain").unwrap();
    store.put_with_lease(b"d/gone", b"x", lease).unwrap();
    store.revoke_lease(lease).unwrap();
    assert_eq!(store.get(b"d/k").unwrap().as_deref(), Some(&b"plain"[..]));
    assert_eq!(store.get(b"d/gone").unwrap(), None);
}

/// Keep-alive restarts the TTL: a key outlives its first TTL when kept alive.
pub fn keep_alive_extends(subject: &Subject) {
    let store = subject.store.as_ref();
    let lease = store.grant_lease(Duration::from_secs(10)).unwrap();
    store.put_with_lease(b"k/a", b"1", lease).unwrap();
    (subject.advance)(Duration::from_secs(6));
    store.keep_alive(lease).unwrap();
    (subject.advance)(Duration::from_secs(6));
    assert_eq!(store.get(b"k/a").unwrap().as_deref(), Some(&b"1"[..]));
    store.keep_alive(lease).unwrap();
    store.revoke_lease(lease).unwrap();
}

/// When a lease expires its keys vanish, watches see the deletes, other keys stay, and the
/// lease cannot be kept alive any more.
pub fn expiry_removes_keys_and_notifies(subject: &Subject) {
    let store = subject.store.as_ref();
    let watch = store.watch_prefix(b"e/").unwrap();
    let lease = store.grant_lease(Duration::from_secs(1)).unwrap();
    store.put_with_lease(b"e/leased", b"1", lease).unwrap();
    store.put(b"e/plain", b"2").unwrap();
    assert_eq!(next_event(&watch).key, b"e/leased".to_vec());
    assert_eq!(next_event(&watch).key, b"e/plain".to_vec());
    (subject.advance)(Duration::from_secs(3));
    // Any access lets a local store sweep; etcd expires the lease on its own.
    let _ = store.get(b"e/leased").unwrap();
    let event = next_event(&watch);
    assert_eq!(
        (event.kind, event.key.as_slice()),
        (WatchEventKind::Delete, &b"e/leased"[..])
    );
    assert_eq!(store.get(b"e/leased").unwrap(), None);
    assert_eq!(store.get(b"e/plain").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(
        store.keep_alive(lease).unwrap_err().kind,
        MetaErrorKind::LeaseNotFound
    );
}
