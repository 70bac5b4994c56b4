//! Every backend and decorator passes the shared `TierDevice` conformance suite.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_core::{DeviceProfile, SystemClock};
use strata_device::conformance::{Suite, run_all, run_all_with};
use strata_device::{
    EmulatedDevice, FaultyDevice, FileDevice, FileOptions, MemoryDevice, StatsDevice, TierDevice,
};

/// A directory on the disk that holds the target dir (not tmpfs, so `O_DIRECT` works).
fn disk_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir")
}

/// Makes numbered files in `dir`, one per device.
fn file_factory(dir: PathBuf, options: FileOptions) -> impl Fn(u64) -> Box<dyn TierDevice> {
    let next = AtomicU64::new(0);
    move |capacity| {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("tier-{n}.img"));
        Box::new(FileDevice::open(&path, capacity, options).expect("open file device"))
    }
}

/// A profile fast enough that emulation adds microseconds, with real pacing code paths.
const FAST: DeviceProfile = DeviceProfile {
    read_latency_us: 2.0,
    write_latency_us: 1.0,
    read_mbps: 50_000.0,
    write_mbps: 50_000.0,
    parallelism: 64,
    seek_penalty: false,
};

#[test]
fn memory_device() {
    run_all(&|capacity| Box::new(MemoryDevice::new(capacity)));
}

#[test]
fn file_device_buffered() {
    let dir = disk_tempdir();
    run_all(&file_factory(
        dir.path().to_path_buf(),
        FileOptions::default(),
    ));
}

#[test]
fn file_device_direct_io() {
    let dir = disk_tempdir();
    let options = FileOptions::default().with_direct_io(true);
    let suite = Suite::default().with_alignment(4096);
    run_all_with(&suite, &file_factory(dir.path().to_path_buf(), options));
}

#[test]
fn emulated_device() {
    run_all(&|capacity| {
        Box::new(EmulatedDevice::new(
            MemoryDevice::new(capacity),
            FAST,
            Arc::new(SystemClock::new()),
        ))
    });
}

#[test]
fn emulated_hdd_over_file() {
    let dir = disk_tempdir();
    let files = file_factory(dir.path().to_path_buf(), FileOptions::default());
    let mut hdd = FAST;
    hdd.parallelism = 1;
    hdd.seek_penalty = true;
    run_all(&|capacity| {
        Box::new(EmulatedDevice::new(
            files(capacity),
            hdd,
            Arc::new(SystemClock::new()),
        ))
    });
}

#[test]
fn faulty_device_without_faults() {
    run_all(&|capacity| Box::new(FaultyDevice::new(MemoryDevice::new(capacity)).0));
}

#[test]
fn stats_device() {
    run_all(&|capacity| Box::new(StatsDevice::new(MemoryDevice::new(capacity))));
}

#[test]
fn stacked_decorators_over_direct_file() {
    let dir = disk_tempdir();
    let files = file_factory(
        dir.path().to_path_buf(),
        FileOptions::default().with_direct_io(true),
    );
    let suite = Suite::default().with_alignment(4096);
    run_all_with(&suite, &|capacity| {
        let emulated = EmulatedDevice::new(files(capacity), FAST, Arc::new(SystemClock::new()));
        Box::new(StatsDevice::new(FaultyDevice::new(emulated).0))
    });
}

/// A broken device for checking that the suite can fail: it can lose writes or accept
/// requests past its end.
#[derive(Debug)]
struct BrokenDevice {
    inner: MemoryDevice,
    loses_writes: bool,
}

impl TierDevice for BrokenDevice {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> strata_device::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.inner.capacity() {
            buf.fill(0);
            return Ok(());
        }
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> strata_device::Result<()> {
        if self.loses_writes {
            return Ok(());
        }
        self.inner.write_at(buf, offset)
    }
    fn flush(&self) -> strata_device::Result<()> {
        Ok(())
    }
    fn discard(&self, offset: u64, len: u64) -> strata_device::Result<()> {
        self.inner.discard(offset, len)
    }
    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }
}

#[test]
fn suite_catches_broken_devices() {
    for loses_writes in [true, false] {
        let outcome = std::panic::catch_unwind(|| {
            run_all(&|capacity| {
                Box::new(BrokenDevice {
                    inner: MemoryDevice::new(capacity),
                    loses_writes,
                })
            })
        });
        assert!(
            outcome.is_err(),
            "loses_writes = {loses_writes} went unnoticed"
        );
    }
}
