//! Device failures: a failed flush keeps map changes pending (and retried), a failed
//! allocation write leaks no slot, and errors map to EIO.

use std::sync::Arc;
use strata_device::{FaultyDevice, MemoryDevice, TierDevice};
use strata_engine::testing::{MIB, config};
use strata_engine::{Engine, EngineErrorKind, VolumeSpec};
use strata_meta::{MemoryStore, MetaStore};

#[test]
fn failed_flush_keeps_changes_pending_until_a_later_flush() {
    let (device, faults) = FaultyDevice::new(MemoryDevice::new(8 * MIB));
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::open_with_devices(
        config(&[8 * MIB]),
        vec![Arc::new(device) as Arc<dyn TierDevice>],
        store.clone(),
    )
    .unwrap();
    engine.create_volume(VolumeSpec::new("v", 8 * MIB)).unwrap();
    let vol = engine.open_volume("v").unwrap();
    vol.write(0, &[1u8; 4096], false).unwrap();
    faults.set_fail_flushes(true);
    let err = vol.flush().unwrap_err();
    assert_eq!(err.kind, EngineErrorKind::Device);
    assert_eq!(err.errno(), libc::EIO);
    assert!(
        store.list_prefix(b"map/").unwrap().is_empty(),
        "nothing committed"
    );
    faults.set_fail_flushes(false);
    vol.flush().unwrap();
    assert_eq!(store.list_prefix(b"map/").unwrap().len(), 1);
}

#[test]
fn failed_allocation_write_leaks_no_slot() {
    let (device, faults) = FaultyDevice::new(MemoryDevice::new(MIB));
    let engine = Engine::open_with_devices(
        config(&[MIB]),
        vec![Arc::new(device) as Arc<dyn TierDevice>],
        Arc::new(MemoryStore::new()),
    )
    .unwrap();
    engine.create_volume(VolumeSpec::new("v", 4 * MIB)).unwrap();
    let vol = engine.open_volume("v").unwrap();
    faults.fail_next_writes(1);
    let err = vol.write(0, &[1u8; 4096], false).unwrap_err();
    assert_eq!(err.kind, EngineErrorKind::Device);
    assert_eq!(vol.info().allocated_bytes, 0);
    assert_eq!(engine.tiers()[0].used_bytes, 0);
    // The only slot is still usable.
    vol.write(MIB, &[2u8; 4096], false).unwrap();
    let mut buf = [0u8; 4096];
    vol.read(MIB, &mut buf).unwrap();
    assert_eq!(buf, [2u8; 4096]);
    vol.read(0, &mut buf).unwrap();
    assert_eq!(buf, [0u8; 4096]);
}
