//! The order FLUSH and FUA make things durable in: devices first, then the map commit,
//! and only then are freed slots reusable.

use parking_lot::Mutex;
use std::sync::Arc;
use strata_device::{MemoryDevice, TierDevice};
use strata_engine::testing::{MIB, config};
use strata_engine::{Engine, VolumeSpec};
use strata_meta::{MemoryStore, MetaStore, Op};

type Log = Arc<Mutex<Vec<String>>>;

#[derive(Debug)]
struct LoggedDevice {
    inner: MemoryDevice,
    log: Log,
}

impl TierDevice for LoggedDevice {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> strata_device::Result<()> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> strata_device::Result<()> {
        self.log.lock().push("write".into());
        self.inner.write_at(buf, offset)
    }
    fn flush(&self) -> strata_device::Result<()> {
        self.log.lock().push("device_flush".into());
        self.inner.flush()
    }
    fn discard(&self, offset: u64, len: u64) -> strata_device::Result<()> {
        self.log.lock().push("discard".into());
        self.inner.discard(offset, len)
    }
    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }
}

#[derive(Debug)]
struct LoggedStore {
    inner: MemoryStore,
    log: Log,
}

impl MetaStore for LoggedStore {
    fn get(&self, key: &[u8]) -> strata_meta::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn put(&self, key: &[u8], value: &[u8]) -> strata_meta::Result<()> {
        self.inner.put(key, value)
    }
    fn delete(&self, key: &[u8]) -> strata_meta::Result<()> {
        self.inner.delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> strata_meta::Result<bool> {
        self.inner.compare_and_swap(key, expected, new)
    }
    fn list_prefix(&self, prefix: &[u8]) -> strata_meta::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.list_prefix(prefix)
    }
    fn commit(&self, batch: &[Op]) -> strata_meta::Result<()> {
        let maps = batch
            .iter()
            .filter(|op| op.key().starts_with(b"map/"))
            .count();
        self.log.lock().push(format!("commit {maps} map ops"));
        self.inner.commit(batch)
    }
}

fn engine(log: &Log) -> Arc<Engine> {
    let device = LoggedDevice {
        inner: MemoryDevice::new(8 * MIB),
        log: log.clone(),
    };
    let store = LoggedStore {
        inner: MemoryStore::new(),
        log: log.clone(),
    };
    Engine::open_with_devices(
        config(&[8 * MIB]),
        vec![Arc::new(device) as Arc<dyn TierDevice>],
        Arc::new(store),
    )
    .unwrap()
}

#[test]
fn flush_makes_devices_durable_before_committing_the_map() {
    let log = Log::default();
    let engine = engine(&log);
    engine.create_volume(VolumeSpec::new("v", 8 * MIB)).unwrap();
    let vol = engine.open_volume("v").unwrap();
    vol.write(0, &[1u8; 4096], false).unwrap();
    vol.write(MIB, &[1u8; 4096], false).unwrap();
    log.lock().clear();
    vol.flush().unwrap();
    assert_eq!(*log.lock(), ["device_flush", "commit 2 map ops"]);
    // Nothing new: a flush commits nothing and skips the idle device.
    log.lock().clear();
    vol.flush().unwrap();
    assert!(log.lock().is_empty(), "{:?}", log.lock());
}

#[test]
fn trim_frees_only_after_the_commit_and_fua_commits_new_extents() {
    let log = Log::default();
    let engine = engine(&log);
    engine.create_volume(VolumeSpec::new("v", 8 * MIB)).unwrap();
    let vol = engine.open_volume("v").unwrap();
    vol.write(0, &[1u8; 4096], true).unwrap();
    assert_eq!(
        *log.lock(),
        [
            "commit 0 map ops",
            "write",
            "device_flush",
            "commit 1 map ops"
        ],
        "volume create commits, then FUA writes, flushes and commits the new extent"
    );
    log.lock().clear();
    vol.write(4096, &[2u8; 4096], true).unwrap();
    assert_eq!(
        *log.lock(),
        ["write", "device_flush"],
        "mapped extent: no commit"
    );
    log.lock().clear();
    vol.trim(0, MIB).unwrap();
    assert!(
        log.lock().is_empty(),
        "trim itself touches neither device nor store"
    );
    vol.flush().unwrap();
    assert_eq!(*log.lock(), ["commit 1 map ops", "discard"]);
}
