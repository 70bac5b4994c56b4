//! Group commit in the redb backend: concurrent writers share transactions, yet every
//! compare-and-swap stays atomic on its own, and a write refused for a dead lease fails
//! alone without disturbing the writes batched with it.

use std::sync::Arc;
use std::time::Duration;
use strata_meta::{MetaErrorKind, MetaStore, RedbStore};

#[test]
fn concurrent_cas_increments_lose_nothing_and_refusals_stay_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("meta.redb")).unwrap());
    let dead = store.grant_lease(Duration::from_secs(60)).unwrap();
    store.revoke_lease(dead).unwrap();
    const THREADS: u64 = 8;
    const INCREMENTS: u64 = 50;
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut refused = 0;
                for i in 0..INCREMENTS {
                    loop {
                        let old = store.get(b"counter").unwrap();
                        let value: u64 = old
                            .as_deref()
                            .map_or(0, |b| std::str::from_utf8(b).unwrap().parse().unwrap());
                        let new = (value + 1).to_string();
                        if store
                            .compare_and_swap(b"counter", old.as_deref(), Some(new.as_bytes()))
                            .unwrap()
                        {
                            break;
                        }
                    }
                    let key = format!("dead/{thread}/{i}");
                    let err = store
                        .put_with_lease(key.as_bytes(), b"x", dead)
                        .unwrap_err();
                    assert_eq!(err.kind, MetaErrorKind::LeaseNotFound);
                    refused += 1;
                    store
                        .put(format!("live/{thread}/{i}").as_bytes(), b"y")
                        .unwrap();
                }
                refused
            })
        })
        .collect();
    let refused: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(refused, THREADS * INCREMENTS);
    let total = THREADS * INCREMENTS;
    assert_eq!(
        store.get(b"counter").unwrap().as_deref(),
        Some(total.to_string().as_bytes())
    );
    assert_eq!(store.list_prefix(b"dead/").unwrap().len(), 0);
    assert_eq!(store.list_prefix(b"live/").unwrap().len() as u64, total);
}
