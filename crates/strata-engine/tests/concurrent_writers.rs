//! Eight threads writing overlapping new extents: every extent ends up with exactly one
//! slot, and every thread's bytes are where it wrote them.

use std::sync::Arc;
use std::thread;
use strata_engine::VolumeSpec;
use strata_engine::testing::{KIB, MIB, Rig};

#[test]
fn eight_writers_on_overlapping_new_extents() {
    let rig = Rig::new(&[16 * MIB, 64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 32 * MIB).with_extent_size(256 * KIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    let threads = 8u64;
    let block = 4 * KIB;
    // Thread t writes block b of every extent where b % threads == t, so all threads
    // race to allocate every extent, and no two threads write the same bytes.
    let extents = 32 * MIB / (256 * KIB);
    let blocks_per_extent = 256 * KIB / block;
    let barrier = Arc::new(std::sync::Barrier::new(threads as usize));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let vol = vol.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for extent in 0..extents {
                    for b in (t..blocks_per_extent).step_by(threads as usize) {
                        let offset = extent * 256 * KIB + b * block;
                        vol.write(offset, &vec![t as u8 + 1; block as usize], false)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let info = vol.info();
    assert_eq!(info.allocated_bytes, 32 * MIB, "one slot per extent");
    let used: u64 = rig.engine.tiers().iter().map(|t| t.used_bytes).sum();
    assert_eq!(used, 32 * MIB, "no slot allocated twice");
    let mut buf = vec![0u8; block as usize];
    for extent in 0..extents {
        for b in 0..blocks_per_extent {
            vol.read(extent * 256 * KIB + b * block, &mut buf).unwrap();
            let want = (b % threads) as u8 + 1;
            assert!(buf.iter().all(|&x| x == want), "extent {extent} block {b}");
        }
    }
}
