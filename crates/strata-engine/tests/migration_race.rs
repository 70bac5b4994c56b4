//! Invariant: a write that races a migration of its extent is never lost.
//!
//! Several writers hammer the blocks of one extent (each block has one owner, so its last
//! acknowledged value is well defined) while the extent migrates back and forth between
//! two tiers; a reader checks that no block ever goes back to an older value than was
//! acknowledged before the read began. Afterwards every block holds its last acknowledged
//! value, before and after a flush + restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use strata_core::TierKind;
use strata_engine::testing::{KIB, MIB, Rig};
use strata_engine::{MigrationOutcome, PlacementConfig, VolumeSpec};
use strata_meta::MemoryStore;

const EXTENT_BYTES: u64 = 256 * KIB;
const BLOCKS: u64 = EXTENT_BYTES / 4096;
const WRITERS: u64 = 4;
const ROUND_TRIPS: usize = 200;

fn block(owner: u64, counter: u64) -> Vec<u8> {
    let mut buf = vec![(counter.wrapping_mul(7) ^ owner) as u8; 4096];
    buf[..8].copy_from_slice(&owner.to_le_bytes());
    buf[8..16].copy_from_slice(&counter.to_le_bytes());
    buf
}

/// (owner, counter) of a well-formed block; panics on a torn or foreign one.
fn decode(buf: &[u8], index: u64) -> (u64, u64) {
    let owner = u64::from_le_bytes(buf[..8].try_into().unwrap());
    let counter = u64::from_le_bytes(buf[8..16].try_into().unwrap());
    if owner == 0 && counter == 0 && buf.iter().all(|&b| b == 0) {
        return (index % WRITERS, 0);
    }
    let fill = (counter.wrapping_mul(7) ^ owner) as u8;
    assert!(
        buf[16..].iter().all(|&b| b == fill),
        "block {index} is torn or foreign"
    );
    assert_eq!(owner, index % WRITERS, "block {index} has a foreign owner");
    (owner, counter)
}

fn rig() -> Rig {
    let placement = PlacementConfig {
        migration_mbps: 0,
        copy_chunk_bytes: 16 * KIB,
        ..PlacementConfig::default()
    };
    Rig::with_placement(
        &[16 * MIB, 16 * MIB],
        Arc::new(MemoryStore::new()),
        placement,
    )
}

#[test]
fn writes_racing_migrations_are_never_lost() {
    let mut rig = rig();
    rig.engine
        .create_volume(VolumeSpec::new("v", 4 * EXTENT_BYTES).with_extent_size(EXTENT_BYTES))
        .unwrap();
    let handle = rig.engine.open_volume("v").unwrap();
    handle
        .write(0, &vec![0u8; EXTENT_BYTES as usize], false)
        .unwrap();
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..BLOCKS).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for owner in 0..WRITERS {
        let (handle, acked, stop) = (handle.clone(), acked.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut counter = 0;
            while !stop.load(Ordering::Relaxed) {
                counter += 1;
                for index in (owner..BLOCKS).step_by(WRITERS as usize) {
                    handle
                        .write(index * 4096, &block(owner, counter), counter % 16 == 0)
                        .unwrap();
                    acked[index as usize].store(counter, Ordering::SeqCst);
                }
            }
            counter
        }));
    }
    let reader = {
        let (handle, acked, stop) = (handle.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut checked = 0u64;
            let mut buf = vec![0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                for index in 0..BLOCKS {
                    let floor = acked[index as usize].load(Ordering::SeqCst);
                    handle.read(index * 4096, &mut buf).unwrap();
                    let (_, counter) = decode(&buf, index);
                    assert!(
                        counter >= floor,
                        "block {index} went back from {floor} to {counter}"
                    );
                    checked += 1;
                }
            }
            checked
        })
    };
    for round in 0..ROUND_TRIPS {
        let to = if round % 2 == 0 {
            TierKind::Ssd
        } else {
            TierKind::Nvme
        };
        let record = rig.engine.migrate_extent("v", 0, &to).unwrap();
        assert_eq!(record.outcome, MigrationOutcome::Done, "{record:?}");
        assert_eq!(rig.engine.extent_tier("v", 0).unwrap(), Some(to));
    }
    stop.store(true, Ordering::Relaxed);
    let writes: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(reader.join().unwrap() > 0);
    assert!(
        writes.iter().all(|&n| n > 1),
        "writers made progress: {writes:?}"
    );

    let verify = |handle: &strata_engine::VolumeHandle| {
        let mut buf = vec![0u8; 4096];
        for index in 0..BLOCKS {
            handle.read(index * 4096, &mut buf).unwrap();
            let (_, counter) = decode(&buf, index);
            assert_eq!(
                counter,
                acked[index as usize].load(Ordering::SeqCst),
                "block {index}"
            );
        }
    };
    verify(&handle);
    handle.flush().unwrap();
    drop(handle);
    let log = rig.engine.migration_log(Some("v"), 1000).unwrap();
    assert_eq!(log.len(), ROUND_TRIPS);
    assert!(log.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let stats = rig.engine.migration_stats();
    assert_eq!(stats.completed, ROUND_TRIPS as u64);
    // One extent allocated in all: every source slot went back.
    let used: u64 = rig.engine.tiers().iter().map(|t| t.used_bytes).sum();
    assert_eq!(used, EXTENT_BYTES);
    rig.engine.shutdown().unwrap();
    rig.reopen();
    verify(&rig.engine.open_volume("v").unwrap());
}
