//! A disk slower than the profile its tier is configured with: the mover measures how fast
//! the disk serves the copy requests that run alone on it, reports it
//! (`TierStatus::copy_service_ratio`), and charges copies at that speed on the disk-time
//! share (`strata_policy::disk_time::ServiceRatio`). An emulated hdd twice as slow as the hdd
//! profile shows about 2; one that fits the profile about 1.

use std::sync::Arc;
use strata_core::{DeviceProfile, SystemClock, TierKind};
use strata_device::{EmulatedDevice, MemoryDevice, TierDevice};
use strata_engine::testing::{KIB, MIB, pattern};
use strata_engine::{
    Engine, EngineConfig, MigrationOutcome, PlacementConfig, PrefetchConfig, TierConfig, VolumeSpec,
};
use strata_meta::MemoryStore;
use strata_policy::disk_time::{RATIO_DEAD_BAND, RATIO_MIN_SAMPLES};

/// An nvme in memory over an hdd configured with the hdd profile, whose device is emulated
/// `slowdown` times slower than that profile (seeks and transfers alike).
fn open(slowdown: f64) -> Arc<Engine> {
    let device_profile = DeviceProfile::HDD.slowed_by(slowdown);
    let devices: Vec<Arc<dyn TierDevice>> = vec![
        Arc::new(MemoryDevice::new(16 * MIB)),
        Arc::new(EmulatedDevice::new(
            MemoryDevice::new(64 * MIB),
            device_profile,
            Arc::new(SystemClock::new()),
        )),
    ];
    let config = EngineConfig {
        data_dir: "unused".into(),
        tiers: vec![
            TierConfig::builtin(TierKind::Nvme, 16 * MIB, 0.25),
            TierConfig::builtin(TierKind::Hdd, 64 * MIB, 0.03),
        ],
        emulation: false,
        placement: PlacementConfig {
            migration_mbps: 0,
            copy_chunk_bytes: 128 * KIB,
            ..PlacementConfig::default()
        },
        prefetch: PrefetchConfig::default(),
    };
    Engine::open_with_devices(config, devices, Arc::new(MemoryStore::new())).unwrap()
}

/// Moves four extents down to the hdd and back (64 copy requests on the hdd, with nothing
/// else using it) and returns the ratio the mover measured there.
fn measured_ratio(slowdown: f64) -> f64 {
    let engine = open(slowdown);
    engine.create_volume(VolumeSpec::new("v", 4 * MIB)).unwrap();
    let v = engine.open_volume("v").unwrap();
    for extent in 0..4u64 {
        v.write(extent * MIB, &pattern(extent as u8, MIB as usize), false)
            .unwrap();
    }
    for extent in 0..4u64 {
        for to in [TierKind::Hdd, TierKind::Nvme] {
            // One move is 8 copy requests on the hdd: too few to report a ratio.
            let reported = engine.tiers()[1].copy_service_ratio.is_some();
            assert_eq!(reported, extent > 0, "extent {extent} to {to}");
            let record = engine.migrate_extent("v", extent, &to).unwrap();
            assert_eq!(record.outcome, MigrationOutcome::Done);
        }
    }
    let mut back = vec![0u8; MIB as usize];
    for extent in 0..4u64 {
        v.read(extent * MIB, &mut back).unwrap();
        assert_eq!(back, pattern(extent as u8, MIB as usize), "extent {extent}");
    }
    let tiers = engine.tiers();
    assert_eq!(
        tiers[0].copy_service_ratio, None,
        "the nvme has no seek penalty: not measured"
    );
    engine.shutdown().unwrap();
    tiers[1].copy_service_ratio.expect("the hdd was measured")
}

#[test]
fn the_mover_measures_how_much_slower_than_its_profile_a_disk_is() {
    const {
        assert!(
            RATIO_MIN_SAMPLES <= 64,
            "64 copy requests are enough samples"
        )
    };
    let fits = measured_ratio(1.0);
    assert!((0.9..RATIO_DEAD_BAND).contains(&fits), "{fits}");
    let slow = measured_ratio(2.0);
    assert!((1.7..2.5).contains(&slow), "{slow}");
}
