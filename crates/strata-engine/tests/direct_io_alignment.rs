//! Direct-I/O tiers take only 4 KiB-aligned requests; the engine must still serve
//! 512-byte and odd-sized requests, including concurrent ones sharing a block.

use std::thread;
use strata_core::TierKind;
use strata_engine::testing::{KIB, MIB, pattern};
use strata_engine::{Engine, EngineConfig, TierConfig, VolumeSpec};

#[test]
fn unaligned_requests_on_a_direct_io_tier() {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = TierConfig::builtin(TierKind::Ssd, 16 * MIB, 0.1);
    tier.direct_io = true;
    let config = EngineConfig {
        data_dir: dir.path().to_path_buf(),
        tiers: vec![tier],
        emulation: false,
        placement: Default::default(),
        prefetch: Default::default(),
    };
    let engine = Engine::open(config).unwrap();
    engine
        .create_volume(VolumeSpec::new("v", 4 * MIB).with_extent_size(64 * KIB))
        .unwrap();
    let vol = engine.open_volume("v").unwrap();
    // Odd offsets and lengths, across an extent boundary.
    let data = pattern(1, 70_001);
    vol.write(64 * KIB - 777, &data, false).unwrap();
    let mut back = vec![0u8; data.len()];
    vol.read(64 * KIB - 777, &mut back).unwrap();
    assert_eq!(back, data);
    vol.write_zeroes(64 * KIB + 3, 5, true).unwrap();
    let mut five = [1u8; 5];
    vol.read(64 * KIB + 3, &mut five).unwrap();
    assert_eq!(five, [0u8; 5]);

    // Eight threads write the eight 512-byte sectors of the same blocks concurrently.
    let workers: Vec<_> = (0..8u64)
        .map(|sector| {
            let vol = vol.clone();
            thread::spawn(move || {
                for block in 0..64u64 {
                    let offset = MIB + block * 4096 + sector * 512;
                    vol.write(offset, &[sector as u8 + 1; 512], false).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    vol.flush().unwrap();
    let mut blocks = vec![0u8; 64 * 4096];
    vol.read(MIB, &mut blocks).unwrap();
    for (i, chunk) in blocks.chunks(512).enumerate() {
        let want = (i % 8) as u8 + 1;
        assert!(
            chunk.iter().all(|&b| b == want),
            "sector {i} lost an update"
        );
    }
}
