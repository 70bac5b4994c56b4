//! A copy to or from a disk that foreground requests keep busy goes in one request per
//! extent: chunk by chunk, each chunk would queue behind the foreground requests and seek,
//! and the disk-time share would be spent on seeks (BENCHMARKS.md, "Foreground p99 while
//! migrating", the saturated hdd).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use strata_core::TierKind;
use strata_engine::testing::{KIB, MIB, pattern};
use strata_engine::{
    Engine, EngineConfig, MigrationOutcome, PlacementConfig, TierConfig, TierIoStats, VolumeSpec,
};

/// Readers keeping the hdd's queue full (its yields never see it drain).
const READERS: usize = 4;

/// The copy chunk (the engine's default).
const CHUNK: u64 = 128 * KIB;

/// Emulated nvme over an emulated hdd in `dir`.
fn open(dir: &std::path::Path) -> Arc<Engine> {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        tiers: vec![
            TierConfig::builtin(TierKind::Nvme, 16 * MIB, 0.25),
            TierConfig::builtin(TierKind::Hdd, 64 * MIB, 0.03),
        ],
        emulation: true,
        placement: PlacementConfig {
            copy_chunk_bytes: CHUNK,
            ..PlacementConfig::default()
        },
        prefetch: strata_engine::PrefetchConfig::default(),
    })
    .unwrap()
}

fn hdd_io(engine: &Engine) -> TierIoStats {
    engine
        .tiers()
        .into_iter()
        .find(|t| t.kind == TierKind::Hdd)
        .expect("an hdd tier")
        .io
}

#[test]
fn a_copy_on_a_busy_disk_goes_in_one_request_per_extent() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_volume(VolumeSpec::new("fg", 8 * MIB).with_pin(TierKind::Hdd))
        .unwrap();
    engine.create_volume(VolumeSpec::new("v", MIB)).unwrap();
    let fg = engine.open_volume("fg").unwrap();
    fg.write(0, &pattern(1, 8 * MIB as usize), false).unwrap();
    let v = engine.open_volume("v").unwrap();
    v.write(0, &pattern(2, MIB as usize), false).unwrap();
    let extent_chunks = MIB / CHUNK;
    assert_eq!(extent_chunks, 8);

    let stop = Arc::new(AtomicBool::new(false));
    let fg_reads = Arc::new(AtomicU64::new(0));
    let before = hdd_io(&engine);
    let readers: Vec<_> = (0..READERS as u64)
        .map(|r| {
            let (fg, stop, fg_reads) = (fg.clone(), stop.clone(), fg_reads.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                let mut block = r * 7;
                while !stop.load(Ordering::Relaxed) {
                    // Scattered 4 KiB reads: every one a seek on the emulated hdd.
                    block = (block * 1_103_515_245 + 12_345) % (8 * MIB / 4096);
                    fg.read(block * 4096, &mut buf).unwrap();
                    fg_reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Let the readers fill the disk's queue.
    std::thread::sleep(std::time::Duration::from_millis(100));

    let down = engine.migrate_extent("v", 0, &TierKind::Hdd).unwrap();
    assert_eq!(down.outcome, MigrationOutcome::Done);
    // The readers only read: every hdd write is the copy's.
    let writes = hdd_io(&engine).writes - before.writes;
    let up = engine.migrate_extent("v", 0, &TierKind::Nvme).unwrap();
    assert_eq!(up.outcome, MigrationOutcome::Done);
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    let reads = hdd_io(&engine).reads - before.reads - fg_reads.load(Ordering::Relaxed);
    assert!(
        fg_reads.load(Ordering::Relaxed) > 0,
        "the readers kept the disk busy"
    );
    assert_eq!(
        (writes, reads),
        (1, 1),
        "one request each way, not one per {CHUNK}-byte chunk ({extent_chunks})"
    );

    let mut back = vec![0u8; MIB as usize];
    v.read(0, &mut back).unwrap();
    assert_eq!(back, pattern(2, MIB as usize));
}

#[test]
fn a_copy_on_an_idle_disk_still_goes_chunk_by_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_volume(VolumeSpec::new("v", MIB)).unwrap();
    let v = engine.open_volume("v").unwrap();
    v.write(0, &pattern(3, MIB as usize), false).unwrap();
    let before = hdd_io(&engine);
    let down = engine.migrate_extent("v", 0, &TierKind::Hdd).unwrap();
    assert_eq!(down.outcome, MigrationOutcome::Done);
    // Nothing to wait behind: chunks leave room for a foreground request between them.
    assert_eq!(hdd_io(&engine).writes - before.writes, MIB / CHUNK);
}
