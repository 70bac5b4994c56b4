//! A request that looked an extent up before a TRIM unmapped it keeps the slot from being
//! reused until it finishes, so it can never touch another volume's data.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use strata_device::{MemoryDevice, TierDevice};
use strata_engine::testing::{MIB, config};
use strata_engine::{Engine, EngineErrorKind, VolumeSpec};
use strata_meta::MemoryStore;

/// A device whose next read, once armed, reports that it started and then waits for a go.
#[derive(Debug)]
struct GatedDevice {
    inner: MemoryDevice,
    gate: Mutex<Option<(Sender<()>, Receiver<()>)>>,
}

impl TierDevice for GatedDevice {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> strata_device::Result<()> {
        if let Some((started, go)) = self.gate.lock().take() {
            started.send(()).unwrap();
            go.recv().unwrap();
        }
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> strata_device::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn flush(&self) -> strata_device::Result<()> {
        self.inner.flush()
    }
    fn discard(&self, offset: u64, len: u64) -> strata_device::Result<()> {
        self.inner.discard(offset, len)
    }
    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }
}

#[test]
fn slot_of_a_trimmed_extent_is_not_reused_while_a_read_is_in_flight() {
    let device = Arc::new(GatedDevice {
        inner: MemoryDevice::new(MIB),
        gate: Mutex::new(None),
    });
    let engine = Engine::open_with_devices(
        config(&[MIB]),
        vec![device.clone() as Arc<dyn TierDevice>],
        Arc::new(MemoryStore::new()),
    )
    .unwrap();
    engine.create_volume(VolumeSpec::new("a", MIB)).unwrap();
    engine.create_volume(VolumeSpec::new("b", MIB)).unwrap();
    let a = engine.open_volume("a").unwrap();
    let b = engine.open_volume("b").unwrap();
    a.write(0, &vec![0xaau8; MIB as usize], false).unwrap();

    let (started_tx, started_rx) = channel();
    let (go_tx, go_rx) = channel();
    *device.gate.lock() = Some((started_tx, go_rx));
    let reader = {
        let a = a.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            a.read(0, &mut buf).unwrap();
            buf
        })
    };
    started_rx.recv().unwrap();
    // The read holds the old placement. TRIM and FLUSH: the unmap is durable, but the
    // slot must stay out of the allocator while the read is in flight.
    a.trim(0, MIB).unwrap();
    a.flush().unwrap();
    let err = b.write(0, &[0xbbu8; 4096], false).unwrap_err();
    assert_eq!(
        err.kind,
        EngineErrorKind::NoSpace,
        "slot reused under a live read"
    );
    go_tx.send(()).unwrap();
    let seen = reader.join().unwrap();
    assert!(
        seen.iter().all(|&x| x == 0xaa),
        "the read saw only volume a's bytes"
    );
    // Once the read is done, the next flush releases the slot.
    a.flush().unwrap();
    b.write(0, &[0xbbu8; 4096], false).unwrap();
    assert_eq!(engine.tiers()[0].used_bytes, MIB);
}
