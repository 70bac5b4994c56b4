//! 1,000 contested takeovers from several threads: no write is ever accepted under a stale
//! generation. A "write" is a fenced append to a log record; a watch over both the
//! generation key and the log replays their commit order, and every accepted append must
//! carry the generation current at that point. Runs on memory, redb and a real etcd.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use strata_control::testing::{GIB, mix, server, tier};
use strata_control::{
    AcquireOutcome, AcquireRequest, ControlConfig, ControlErrorKind, ControlPlane,
};
use strata_core::{SystemClock, TierKind};
use strata_meta::etcd_server::EtcdServer;
use strata_meta::{Compare, MemoryStore, MetaStore, Op, RedbStore, WatchEventKind};

const VOLUME: &str = "contested";
/// Under the generation key's prefix so one watch sees both in commit order.
const LOG_KEY: &[u8] = b"ctl/gen/contested.log";
const THREADS: u64 = 4;

/// Runs the contest on `store` and checks the outcome; returns (accepted, refused) writes.
fn contest(store: Arc<dyn MetaStore>, takeovers: u64) -> (u64, u64) {
    let plane = Arc::new(ControlPlane::new(
        store.clone(),
        Arc::new(SystemClock::new()),
        ControlConfig {
            max_retries: 10_000,
            // Nobody heartbeats during the contest: the server must stay up however long
            // a loaded machine takes (with the 10 s default it went down mid-run on etcd).
            server_ttl: Duration::from_secs(600),
            ..ControlConfig::default()
        },
    ));
    plane
        .register_server(&server("s", vec![tier(TierKind::Ssd, 100, 0.1)]))
        .unwrap();
    let watch = store.watch_prefix(b"ctl/gen/contested").unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let (accepted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (plane, store, done) = (plane.clone(), store.clone(), done.clone());
            let (accepted, refused, barrier) = (accepted.clone(), refused.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                while done.fetch_add(1, Ordering::SeqCst) < takeovers {
                    let request = AcquireRequest {
                        volume: VOLUME.to_owned(),
                        holder: format!("holder-{thread}"),
                        ttl: Duration::from_secs(60),
                        tier_preferences: mix(&[(TierKind::Ssd, 1.0)]),
                        size_bytes: GIB,
                        takeover: true,
                    };
                    let AcquireOutcome::Granted { lease } = plane.acquire(&request).unwrap() else {
                        panic!("the only tier has room");
                    };
                    // Write until fenced off or two writes landed; a write that lost a race
                    // on the log (not on the generation) simply retries.
                    let mut landed = 0;
                    while landed < 2 {
                        let old = store.get(LOG_KEY).unwrap();
                        let mut new = old.clone().unwrap_or_default();
                        new.extend_from_slice(format!("{},", lease.generation).as_bytes());
                        let when = [Compare {
                            key: LOG_KEY.to_vec(),
                            expected: old,
                        }];
                        match plane.fenced_commit(
                            VOLUME,
                            lease.generation,
                            &when,
                            &[Op::put(LOG_KEY, new)],
                        ) {
                            Ok(true) => {
                                landed += 1;
                                accepted.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(false) => {}
                            Err(err) if err.kind == ControlErrorKind::StaleGeneration => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(err) => panic!("{err}"),
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let final_generation = plane.generation(VOLUME).unwrap();
    assert_eq!(
        final_generation, takeovers,
        "every takeover bumped the generation once"
    );
    // Replay the commit order: an append is valid only under the generation current then.
    let (mut current, mut appends, mut stale) = (0u64, 0u64, 0u64);
    let mut seen_log = 0usize;
    while current < final_generation || appends < accepted.load(Ordering::SeqCst) {
        let event = watch
            .recv_timeout(Duration::from_secs(20))
            .expect("every change arrives on the watch");
        assert_eq!(event.kind, WatchEventKind::Put);
        if event.key == LOG_KEY {
            let entries: Vec<u64> = String::from_utf8(event.value)
                .unwrap()
                .split_terminator(',')
                .map(|g| g.parse().unwrap())
                .collect();
            assert_eq!(entries.len(), seen_log + 1, "one append per accepted write");
            seen_log = entries.len();
            appends += 1;
            if entries[seen_log - 1] != current {
                stale += 1;
            }
        } else {
            let generation: u64 = String::from_utf8(event.value).unwrap().parse().unwrap();
            assert_eq!(generation, current + 1);
            current = generation;
        }
    }
    assert_eq!(stale, 0, "writes accepted under a stale generation");
    (
        accepted.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
    )
}

fn check(accepted: u64, refused: u64, takeovers: u64) {
    // Non-vacuous, not a rate: on a loaded machine takeovers win most races (redb's group
    // commit measured 6-8 accepted writes in 1,000 takeovers with the other core busy).
    assert!(
        accepted >= 1,
        "writes did happen: {accepted} over {takeovers} takeovers"
    );
    assert!(refused > 0, "takeovers did contend with writers");
}

#[test]
fn no_stale_writes_in_memory() {
    let (accepted, refused) = contest(Arc::new(MemoryStore::new()), 1_000);
    check(accepted, refused, 1_000);
}

#[test]
fn no_stale_writes_on_redb() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("meta.redb")).unwrap());
    let (accepted, refused) = contest(store, 1_000);
    check(accepted, refused, 1_000);
}

#[test]
fn no_stale_writes_on_etcd() {
    let etcd = EtcdServer::start().expect("etcd must be installed (etcd-server)");
    let (accepted, refused) = contest(Arc::new(etcd.connect().unwrap()), 1_000);
    check(accepted, refused, 1_000);
}
