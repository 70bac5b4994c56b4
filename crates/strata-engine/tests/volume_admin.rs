//! Creating, listing, opening and deleting volumes, and the rules on their arguments.

use strata_engine::testing::{KIB, MIB, Rig};
use strata_engine::{EngineErrorKind, VolumeSpec};

#[test]
fn invalid_names_sizes_and_extent_sizes_are_refused() {
    let rig = Rig::new(&[64 * MIB]);
    let bad = [
        VolumeSpec::new("", MIB),
        VolumeSpec::new(".x", MIB),
        VolumeSpec::new("../etc", MIB),
        VolumeSpec::new("a/b", MIB),
        VolumeSpec::new("x".repeat(65), MIB),
        VolumeSpec::new("v", 0),
        VolumeSpec::new("v", MIB + 1),
        VolumeSpec::new("v", (64 << 40) + 4096),
        VolumeSpec::new("v", MIB).with_extent_size(32 * KIB),
        VolumeSpec::new("v", MIB).with_extent_size(3 * MIB),
        VolumeSpec::new("v", MIB).with_extent_size(128 * MIB),
    ];
    for spec in bad {
        let err = rig.engine.create_volume(spec.clone()).unwrap_err();
        assert_eq!(err.kind, EngineErrorKind::InvalidArgument, "{spec:?}");
    }
    assert!(rig.engine.list_volumes().is_empty());
    // The largest legal volume is fine: thin, so it costs nothing.
    let info = rig
        .engine
        .create_volume(VolumeSpec::new("huge", 64 << 40))
        .unwrap();
    assert_eq!(info.size_bytes, 64 << 40);
}

#[test]
fn names_are_unique_and_lookups_report_not_found() {
    let rig = Rig::new(&[64 * MIB]);
    let a = rig
        .engine
        .create_volume(VolumeSpec::new("a", MIB).with_profile("database"))
        .unwrap();
    let b = rig.engine.create_volume(VolumeSpec::new("b", MIB)).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.profile.as_deref(), Some("database"));
    let err = rig
        .engine
        .create_volume(VolumeSpec::new("a", 2 * MIB))
        .unwrap_err();
    assert_eq!(err.kind, EngineErrorKind::AlreadyExists);
    let names: Vec<String> = rig
        .engine
        .list_volumes()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    for err in [
        rig.engine.volume_info("zz").unwrap_err(),
        rig.engine.open_volume("zz").unwrap_err(),
        rig.engine.delete_volume("zz").unwrap_err(),
    ] {
        assert_eq!(err.kind, EngineErrorKind::NotFound);
        assert_eq!(err.errno(), libc::EIO);
    }
}

#[test]
fn delete_while_open_is_in_use_and_frees_slots_after() {
    let rig = Rig::new(&[4 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 8 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    let clone = vol.clone();
    vol.write(0, &vec![1u8; 4 * MIB as usize], false).unwrap();
    assert_eq!(rig.engine.volume_info("v").unwrap().open_handles, 2);
    drop(vol);
    let err = rig.engine.delete_volume("v").unwrap_err();
    assert_eq!(err.kind, EngineErrorKind::InUse);
    drop(clone);
    rig.engine.delete_volume("v").unwrap();
    assert_eq!(rig.engine.tiers()[0].used_bytes, 0);
    assert!(rig.engine.volume_info("v").is_err());
    // A new volume of the same name starts empty, and the whole tier is usable again.
    rig.engine
        .create_volume(VolumeSpec::new("v", 8 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    let mut buf = vec![9u8; 4096];
    vol.read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    vol.write(0, &vec![2u8; 4 * MIB as usize], false).unwrap();
}

#[test]
fn shutdown_is_idempotent_and_refuses_writes() {
    let rig = Rig::new(&[4 * MIB]);
    rig.engine.create_volume(VolumeSpec::new("v", MIB)).unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    vol.write(0, &[1u8; 10], false).unwrap();
    rig.engine.shutdown().unwrap();
    rig.engine.shutdown().unwrap();
    assert!(vol.write(0, &[1u8; 10], false).is_err());
    let mut buf = [0u8; 10];
    vol.read(0, &mut buf).unwrap();
    assert_eq!(buf, [1u8; 10]);
}
