//! Every backend passes the shared conformance suite — in memory, redb and a real etcd —
//! and the redb backend also keeps its data and its leases across a re-open.

use std::sync::Arc;
use std::time::Duration;
use strata_core::ManualClock;
use strata_meta::conformance::{self, Subject};
use strata_meta::etcd_server::EtcdServer;
use strata_meta::{MemoryStore, MetaErrorKind, MetaStore, Op, RedbStore};

fn advance_by(clock: ManualClock) -> Box<dyn Fn(Duration)> {
    Box::new(move |by| clock.advance_ns(u64::try_from(by.as_nanos()).unwrap()))
}

#[test]
fn memory_store_conforms() {
    conformance::run_all(&mut || {
        let clock = ManualClock::new(1);
        Subject {
            store: Box::new(MemoryStore::with_clock(Arc::new(clock.clone()))),
            advance: advance_by(clock),
        }
    });
}

#[test]
fn redb_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    conformance::run_all(&mut || {
        n += 1;
        let clock = ManualClock::new(1);
        let path = dir.path().join(format!("meta-{n}.redb"));
        Subject {
            store: Box::new(RedbStore::open_with_clock(path, Arc::new(clock.clone())).unwrap()),
            advance: advance_by(clock),
        }
    });
}

#[test]
fn etcd_store_conforms() {
    let server = EtcdServer::start().expect("etcd must be installed (etcd-server)");
    conformance::run_all(&mut || {
        let store = server.connect().unwrap();
        // One server serves every check: start each from an empty keyspace.
        let keys: Vec<Op> = store
            .list_prefix(b"")
            .unwrap()
            .into_iter()
            .map(|(key, _)| Op::delete(key))
            .collect();
        store.commit(&keys).unwrap();
        Subject::real_time(Box::new(store))
    });
}

#[test]
fn redb_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    {
        let store = RedbStore::open(&path).unwrap();
        store
            .commit(&[Op::put(b"vol/a".to_vec(), b"1".to_vec())])
            .unwrap();
        store.put(b"vol/b", b"2").unwrap();
        store.delete(b"vol/b").unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(
        store.list_prefix(b"vol/").unwrap(),
        vec![(b"vol/a".to_vec(), b"1".to_vec())]
    );
}

#[test]
fn redb_leases_survive_reopen_and_expire_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let clock = ManualClock::new(1_000);
    let (short, long) = {
        let store = RedbStore::open_with_clock(&path, Arc::new(clock.clone())).unwrap();
        let short = store.grant_lease(Duration::from_secs(5)).unwrap();
        let long = store.grant_lease(Duration::from_secs(60)).unwrap();
        store.put_with_lease(b"s/short", b"1", short).unwrap();
        store.put_with_lease(b"s/long", b"2", long).unwrap();
        (short, long)
    };
    clock.advance_ns(10_000_000_000);
    let store = RedbStore::open_with_clock(&path, Arc::new(clock.clone())).unwrap();
    assert_eq!(store.get(b"s/short").unwrap(), None);
    assert_eq!(store.get(b"s/long").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(
        store.keep_alive(short).unwrap_err().kind,
        MetaErrorKind::LeaseNotFound
    );
    store.keep_alive(long).unwrap();
    // A lease granted after the re-open gets a fresh id.
    let fresh = store.grant_lease(Duration::from_secs(5)).unwrap();
    assert!(fresh > long);
}

#[test]
fn redb_store_is_locked_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let _first = RedbStore::open(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert_eq!(err.kind, strata_meta::MetaErrorKind::Locked, "{err}");
}
