//! Placement: the fastest tier first, spill to the next when full, NoSpace when all are
//! full (with earlier data intact and nothing leaked), and pins confining a volume.

use strata_core::TierKind;
use strata_engine::testing::{MIB, Rig, pattern};
use strata_engine::{EngineErrorKind, VolumeSpec};

#[test]
fn spills_to_the_next_tier_then_fails_with_no_space() {
    let rig = Rig::new(&[2 * MIB, 2 * MIB, 2 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 16 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    let data = pattern(9, 6 * MIB as usize);
    vol.write(0, &data, false).unwrap();
    let info = vol.info();
    for tier in ["nvme", "ssd", "hdd"] {
        assert_eq!(info.bytes_per_tier[tier], 2 * MIB, "{tier}");
    }
    // A request touching a mapped extent and an unallocatable one fails with ENOSPC.
    let err = vol.write(6 * MIB - 4096, &[1u8; 8192], false).unwrap_err();
    assert_eq!(err.kind, EngineErrorKind::NoSpace);
    assert_eq!(err.errno(), libc::ENOSPC);
    let io: std::io::Error = err.into();
    assert_eq!(io.raw_os_error(), Some(libc::ENOSPC));
    let err = vol.write(10 * MIB, &[1u8; 4096], false).unwrap_err();
    assert_eq!(err.kind, EngineErrorKind::NoSpace);
    let info = vol.info();
    assert_eq!(
        info.allocated_bytes,
        6 * MIB,
        "no partial allocation leaked"
    );
    let tiers = rig.engine.tiers();
    assert!(
        tiers
            .iter()
            .all(|t| t.free_bytes == 0 && t.used_bytes == 2 * MIB)
    );
    let mut back = vec![0u8; 6 * MIB as usize];
    vol.read(0, &mut back).unwrap();
    // Bytes before the refused 10 MiB write's extent are intact, including the first
    // 4096 bytes of the spanning write that landed in the already-mapped extent.
    assert_eq!(
        back[..6 * MIB as usize - 4096],
        data[..6 * MIB as usize - 4096]
    );
    assert!(back[6 * MIB as usize - 4096..].iter().all(|&b| b == 1));
}

#[test]
fn pin_confines_a_volume_to_one_tier() {
    let rig = Rig::new(&[4 * MIB, 2 * MIB, 16 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("cold", 16 * MIB).with_pin(TierKind::Ssd))
        .unwrap();
    let vol = rig.engine.open_volume("cold").unwrap();
    vol.write(0, &vec![4u8; 2 * MIB as usize], false).unwrap();
    assert_eq!(vol.info().bytes_per_tier["ssd"], 2 * MIB);
    let err = vol.write(5 * MIB, &[1u8; 512], false).unwrap_err();
    assert_eq!(
        err.kind,
        EngineErrorKind::NoSpace,
        "a full pinned tier does not spill"
    );
    assert_eq!(rig.engine.tiers()[0].used_bytes, 0);
    let err = rig
        .engine
        .create_volume(VolumeSpec::new("x", MIB).with_pin(TierKind::Custom("tape".into())))
        .unwrap_err();
    assert_eq!(err.kind, EngineErrorKind::InvalidArgument);
}

#[test]
fn mixed_extent_sizes_share_a_tier() {
    let rig = Rig::new(&[4 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("small", 4 * MIB).with_extent_size(64 << 10))
        .unwrap();
    rig.engine
        .create_volume(VolumeSpec::new("big", 4 * MIB).with_extent_size(2 * MIB))
        .unwrap();
    let small = rig.engine.open_volume("small").unwrap();
    let big = rig.engine.open_volume("big").unwrap();
    small.write(0, &[1u8; 4096], false).unwrap();
    big.write(0, &[2u8; 4096], false).unwrap();
    // 64 KiB + 2 MiB used; a second 2 MiB slot no longer fits in 4 MiB.
    assert_eq!(
        big.write(2 * MIB, &[3u8; 1], false).unwrap_err().kind,
        EngineErrorKind::NoSpace
    );
    small.write(MIB, &[5u8; 4096], false).unwrap();
    let mut buf = [0u8; 4096];
    big.read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 2));
    small.read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 1));
}
