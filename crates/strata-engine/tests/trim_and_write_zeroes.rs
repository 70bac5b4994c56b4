//! TRIM frees whole extents (partial ranges are left alone); WRITE_ZEROES unmaps whole
//! extents and zeroes partial pieces; freed slots become reusable after a FLUSH.

use strata_engine::VolumeSpec;
use strata_engine::testing::{KIB, MIB, Rig, pattern};

#[test]
fn trim_frees_whole_extents_and_they_read_zero() {
    let rig = Rig::new(&[64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 8 * MIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    let data = pattern(5, 4 * MIB as usize);
    vol.write(0, &data, false).unwrap();
    assert_eq!(vol.info().allocated_bytes, 4 * MIB);
    // Covers extent 1 and 2 wholly, extents 0 and 3 partly.
    vol.trim(MIB - 4096, 2 * MIB + 8192).unwrap();
    assert_eq!(vol.info().allocated_bytes, 2 * MIB);
    let mut back = vec![0u8; data.len()];
    vol.read(0, &mut back).unwrap();
    assert_eq!(
        back[..MIB as usize],
        data[..MIB as usize],
        "partial extent 0 untouched"
    );
    assert!(back[MIB as usize..3 * MIB as usize].iter().all(|&b| b == 0));
    assert_eq!(back[3 * MIB as usize..], data[3 * MIB as usize..]);
    // Used bytes drop only when the free is durable.
    assert_eq!(rig.engine.tiers()[0].used_bytes, 4 * MIB);
    vol.flush().unwrap();
    assert_eq!(rig.engine.tiers()[0].used_bytes, 2 * MIB);
}

#[test]
fn write_zeroes_unmaps_whole_and_zeroes_partial() {
    let rig = Rig::new(&[64 * MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("v", 4 * MIB).with_extent_size(64 * KIB))
        .unwrap();
    let vol = rig.engine.open_volume("v").unwrap();
    let data = pattern(7, 256 * KIB as usize);
    vol.write(0, &data, false).unwrap();
    // 10 KiB into extent 0 up to 20 KiB into extent 3: extents 1, 2 whole.
    let start = 10 * KIB;
    let end = 3 * 64 * KIB + 20 * KIB;
    vol.write_zeroes(start, end - start, true).unwrap();
    assert_eq!(vol.info().allocated_bytes, 2 * 64 * KIB);
    let mut back = vec![0u8; data.len()];
    vol.read(0, &mut back).unwrap();
    let (s, e) = (start as usize, end as usize);
    assert_eq!(back[..s], data[..s]);
    assert!(back[s..e].iter().all(|&b| b == 0));
    assert_eq!(back[e..], data[e..]);
    // Zeroes on unallocated space allocate nothing.
    vol.write_zeroes(MIB, 100 * KIB, false).unwrap();
    assert_eq!(vol.info().allocated_bytes, 2 * 64 * KIB);
}

#[test]
fn freed_slot_reused_by_another_volume_never_leaks_old_data() {
    // One slot of capacity: the second volume must get the first volume's old slot.
    let rig = Rig::new(&[MIB]);
    rig.engine
        .create_volume(VolumeSpec::new("a", 4 * MIB))
        .unwrap();
    rig.engine
        .create_volume(VolumeSpec::new("b", 4 * MIB))
        .unwrap();
    let a = rig.engine.open_volume("a").unwrap();
    let b = rig.engine.open_volume("b").unwrap();
    a.write(0, &vec![0xeeu8; MIB as usize], false).unwrap();
    a.trim(0, MIB).unwrap();
    // Not reusable before the trim is durable.
    let err = b.write(0, &[1u8; 4096], false).unwrap_err();
    assert_eq!(err.kind, strata_engine::EngineErrorKind::NoSpace);
    a.flush().unwrap();
    b.write(8192, &[1u8; 4096], false).unwrap();
    let mut back = vec![0xffu8; MIB as usize];
    b.read(0, &mut back).unwrap();
    assert!(back[..8192].iter().all(|&x| x == 0), "no bytes of volume a");
    assert!(back[8192..12288].iter().all(|&x| x == 1));
    assert!(
        back[12288..].iter().all(|&x| x == 0),
        "no bytes of volume a"
    );
    let mut old = vec![0xffu8; 4096];
    a.read(0, &mut old).unwrap();
    assert!(old.iter().all(|&x| x == 0));
}
