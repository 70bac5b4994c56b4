//! Every backend passes the shared conformance suite; the redb backend also keeps its data
//! across a re-open.

use strata_meta::{MemoryStore, MetaStore, Op, RedbStore, conformance};

#[test]
fn memory_store_conforms() {
    conformance::run_all(&mut || Box::new(MemoryStore::new()));
}

#[test]
fn redb_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    conformance::run_all(&mut || {
        n += 1;
        Box::new(RedbStore::open(dir.path().join(format!("meta-{n}.redb"))).unwrap())
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
fn redb_store_is_locked_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    let _first = RedbStore::open(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert_eq!(err.kind, strata_meta::MetaErrorKind::Locked, "{err}");
}
