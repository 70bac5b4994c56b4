//! Restarts: volumes and flushed (or FUA) data survive `Engine::open` on the same data;
//! unflushed allocations are simply absent, never pointing at someone else's bytes.

use std::sync::Arc;
use strata_core::TierKind;
use strata_engine::testing::{MIB, Rig, pattern};
use strata_engine::{Engine, EngineConfig, TierConfig, VolumeSpec};
use strata_meta::{MetaStore, RedbStore};

fn file_config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_path_buf(),
        tiers: vec![
            TierConfig::builtin(TierKind::Nvme, 4 * MIB, 0.25),
            TierConfig::builtin(TierKind::Hdd, 32 * MIB, 0.03),
        ],
        emulation: false,
        placement: Default::default(),
        prefetch: Default::default(),
    }
}

/// Memory devices that keep their bytes across `reopen`, a redb store on disk, and an
/// 8 MiB volume `v`.
fn redb_rig(dir: &std::path::Path) -> Rig {
    let store: Arc<dyn MetaStore> = Arc::new(RedbStore::open(dir.join("meta.redb")).unwrap());
    let rig = Rig::with_store(&[8 * MIB], store);
    rig.engine
        .create_volume(VolumeSpec::new("v", 8 * MIB))
        .unwrap();
    rig
}

#[test]
fn restart_on_real_files_keeps_volumes_and_flushed_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(11, 6 * MIB as usize);
    {
        let engine = Engine::open(file_config(dir.path())).unwrap();
        engine
            .create_volume(VolumeSpec::new("db01", 16 * MIB).with_profile("database"))
            .unwrap();
        engine.create_volume(VolumeSpec::new("empty", MIB)).unwrap();
        let vol = engine.open_volume("db01").unwrap();
        vol.write(MIB / 2, &data, false).unwrap();
        vol.flush().unwrap();
        engine.shutdown().unwrap();
    }
    assert!(dir.path().join("meta.redb").exists());
    assert!(dir.path().join("tiers/nvme.img").exists());
    let engine = Engine::open(file_config(dir.path())).unwrap();
    let names: Vec<String> = engine.list_volumes().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["db01", "empty"]);
    let info = engine.volume_info("db01").unwrap();
    assert_eq!(info.profile.as_deref(), Some("database"));
    assert_eq!(info.allocated_bytes, 7 * MIB);
    assert_eq!(
        info.bytes_per_tier["nvme"],
        4 * MIB,
        "spilled layout is kept"
    );
    let vol = engine.open_volume("db01").unwrap();
    let mut back = vec![0u8; data.len()];
    vol.read(MIB / 2, &mut back).unwrap();
    assert_eq!(back, data);
    // The rebuilt allocator knows which slots are taken: new writes land elsewhere.
    let tiers = engine.tiers();
    assert_eq!(tiers[0].used_bytes, 4 * MIB);
    assert_eq!(tiers[1].used_bytes, 3 * MIB);
    let empty = engine.open_volume("empty").unwrap();
    empty.write(0, &[0x55u8; 4096], true).unwrap();
    vol.read(MIB / 2, &mut back).unwrap();
    assert_eq!(back, data, "a new volume's slot did not overlap old data");
}

#[test]
fn ids_are_not_reused_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let engine = Engine::open(file_config(dir.path())).unwrap();
        let a = engine.create_volume(VolumeSpec::new("a", MIB)).unwrap();
        engine.delete_volume("a").unwrap();
        a.id
    };
    let engine = Engine::open(file_config(dir.path())).unwrap();
    let b = engine.create_volume(VolumeSpec::new("b", MIB)).unwrap();
    assert!(b.id > first);
}

#[test]
fn unflushed_then_flushed_data_survives_and_unflushed_allocations_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = redb_rig(dir.path());
    {
        let vol = rig.engine.open_volume("v").unwrap();
        vol.write(0, &[1u8; 4096], false).unwrap();
        vol.write(MIB, &[2u8; 4096], false).unwrap();
        vol.flush().unwrap();
        // Written after the flush and never flushed: the "crash" loses its map entry.
        vol.write(3 * MIB, &[3u8; 4096], false).unwrap();
        // Overwrite of a flushed extent: data lands in place.
        vol.write(0, &[4u8; 4096], false).unwrap();
    }
    rig.reopen();
    let vol = rig.engine.open_volume("v").unwrap();
    let mut buf = [0u8; 4096];
    vol.read(MIB, &mut buf).unwrap();
    assert_eq!(buf, [2u8; 4096]);
    vol.read(3 * MIB, &mut buf).unwrap();
    assert_eq!(
        buf, [0u8; 4096],
        "unflushed allocation is gone, reads zeros"
    );
    assert_eq!(vol.info().allocated_bytes, 2 * MIB);
    vol.read(0, &mut buf).unwrap();
    assert_eq!(buf, [4u8; 4096]);
}

#[test]
fn fua_write_to_a_new_extent_is_durable_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = redb_rig(dir.path());
    {
        let vol = rig.engine.open_volume("v").unwrap();
        vol.write(0, &[1u8; 4096], false).unwrap();
        // FUA into the same, not yet committed extent must commit its map entry too.
        vol.write(8192, &[2u8; 4096], true).unwrap();
        vol.write(2 * MIB, &[3u8; 4096], true).unwrap();
    }
    rig.reopen();
    let vol = rig.engine.open_volume("v").unwrap();
    let mut buf = vec![0u8; 12288];
    vol.read(0, &mut buf).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == 1));
    assert!(buf[8192..].iter().all(|&b| b == 2));
    vol.read(2 * MIB, &mut buf[..4096]).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == 3));
}

#[test]
fn trims_and_deletes_are_durable_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = redb_rig(dir.path());
    rig.engine
        .create_volume(VolumeSpec::new("gone", 8 * MIB))
        .unwrap();
    {
        let vol = rig.engine.open_volume("v").unwrap();
        vol.write(0, &vec![1u8; 2 * MIB as usize], false).unwrap();
        let gone = rig.engine.open_volume("gone").unwrap();
        gone.write(0, &[9u8; 100], false).unwrap();
        vol.flush().unwrap();
        vol.trim(0, MIB).unwrap();
        vol.flush().unwrap();
    }
    rig.engine.delete_volume("gone").unwrap();
    rig.reopen();
    assert!(rig.engine.volume_info("gone").is_err());
    let vol = rig.engine.open_volume("v").unwrap();
    assert_eq!(vol.info().allocated_bytes, MIB);
    assert_eq!(rig.engine.tiers()[0].used_bytes, MIB);
    let mut buf = [7u8; 4096];
    vol.read(0, &mut buf).unwrap();
    assert_eq!(buf, [0u8; 4096]);
}

#[test]
fn corrupt_volume_records_fail_the_open_cleanly() {
    let mut rig = Rig::new(&[8 * MIB]);
    let bad = strata_engine::store_format::VolumeRecord {
        id: 9,
        name: "bad".into(),
        size_bytes: 8 * MIB,
        extent_size_bytes: 4096,
        profile: None,
        pin: None,
        created_unix_s: 0,
    };
    rig.store
        .put(
            &strata_engine::store_format::volume_key("bad"),
            &strata_engine::store_format::encode_volume(&bad).unwrap(),
        )
        .unwrap();
    let err = rig.try_reopen().unwrap_err();
    assert_eq!(err.kind, strata_engine::EngineErrorKind::Store, "{err}");
    rig.store
        .put(&strata_engine::store_format::volume_key("bad"), &[9, 9])
        .unwrap();
    let err = rig.try_reopen().unwrap_err();
    assert!(
        err.to_string().contains("unknown format version 9"),
        "{err}"
    );
    rig.store
        .delete(&strata_engine::store_format::volume_key("bad"))
        .unwrap();
    rig.reopen();
}
