//! Foreground 4 KiB read latency (p50/p99) on emulated tiers with and without migrations
//! running at the configured rate. Timing-sensitive, so ignored by default; run with
//! `cargo test -p strata-engine --release --test migration_latency -- --ignored --nocapture`.
//! The target is a p99 rise of at most 10 %.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use strata_core::TierKind;
use strata_engine::testing::{MIB, pattern};
use strata_engine::{Engine, EngineConfig, PlacementConfig, TierConfig, VolumeSpec};

const HOT_EXTENTS: u64 = 8;
const COLD_EXTENTS: u64 = 8;
const READS: usize = 20_000;

fn open(dir: &std::path::Path) -> Arc<Engine> {
    let config = EngineConfig {
        data_dir: dir.to_path_buf(),
        tiers: vec![
            TierConfig::builtin(TierKind::Nvme, 32 * MIB, 0.25),
            TierConfig::builtin(TierKind::Ssd, 64 * MIB, 0.1),
        ],
        emulation: true,
        placement: PlacementConfig::default(),
        prefetch: strata_engine::PrefetchConfig::default(),
    };
    Engine::open(config).unwrap()
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// (p50, p99) in µs of random 4 KiB reads on the hot extents.
fn measure(engine: &Engine) -> (u64, u64) {
    let handle = engine.open_volume("v").unwrap();
    let mut buf = vec![0u8; 4096];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut latencies_ns: Vec<u64> = (0..READS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let block = state % (HOT_EXTENTS * MIB / 4096);
            let started = Instant::now();
            handle.read(block * 4096, &mut buf).unwrap();
            started.elapsed().as_nanos() as u64
        })
        .collect();
    latencies_ns.sort_unstable();
    (
        percentile(&latencies_ns, 0.50) / 1000,
        percentile(&latencies_ns, 0.99) / 1000,
    )
}

#[test]
#[ignore = "timing-sensitive; run explicitly in release"]
fn read_p99_with_and_without_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_volume(VolumeSpec::new("v", (HOT_EXTENTS + COLD_EXTENTS) * MIB))
        .unwrap();
    let handle = engine.open_volume("v").unwrap();
    for extent in 0..HOT_EXTENTS + COLD_EXTENTS {
        handle
            .write(extent * MIB, &pattern(extent as u8, MIB as usize), false)
            .unwrap();
    }
    for extent in HOT_EXTENTS..HOT_EXTENTS + COLD_EXTENTS {
        engine.migrate_extent("v", extent, &TierKind::Ssd).unwrap();
    }
    handle.flush().unwrap();
    let (base_p50, base_p99) = measure(&engine);

    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut moves = 0u64;
            let mut bytes = 0u64;
            let started = Instant::now();
            'outer: loop {
                for to in [TierKind::Nvme, TierKind::Ssd] {
                    for extent in HOT_EXTENTS..HOT_EXTENTS + COLD_EXTENTS {
                        if stop.load(Ordering::Relaxed) {
                            break 'outer;
                        }
                        bytes += engine.migrate_extent("v", extent, &to).unwrap().bytes;
                        moves += 1;
                    }
                }
            }
            (moves, bytes as f64 / started.elapsed().as_secs_f64() / 1e6)
        })
    };
    let (mig_p50, mig_p99) = measure(&engine);
    stop.store(true, Ordering::Relaxed);
    let (moves, rate_mbps) = mover.join().unwrap();
    println!(
        "4 KiB reads on emulated nvme: without migration p50 {base_p50} us p99 {base_p99} us; \
         with migration ({moves} moves, {rate_mbps:.1} MB/s, limit 64 MB/s) p50 {mig_p50} us p99 {mig_p99} us; \
         p99 rise {:+.1} %",
        (mig_p99 as f64 / base_p99 as f64 - 1.0) * 100.0
    );
    assert!(moves > 0, "migrations ran during the measurement");
    assert!(rate_mbps <= 64.0 * 1.1, "migration respected the limit");
    engine.shutdown().unwrap();
}
