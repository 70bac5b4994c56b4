//! Fault injection: a decorator whose failures tests script at run time.
//!
//! [`FaultyDevice::new`] returns the device and a [`FaultHandle`]; the handle is cheap to
//! clone, thread-safe, and changes the rules while I/O is running. A failed request never
//! reaches the inner device, so an injected write failure changes nothing. Rules are
//! checked in this order: vanish (`Gone` for every operation) → latency spikes → flush
//! failures → counted read/write failures → failing ranges → `ENOSPC` on writes.
//! Randomness (probabilistic spikes) comes from a seeded generator owned by the handle.

use crate::{DeviceError, DeviceErrorKind, DeviceOp, Result, TierDevice};
use parking_lot::Mutex;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many faults of each sort were injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests failed with EIO (counted or range rules).
    pub io_errors: u64,
    /// Writes failed with ENOSPC.
    pub no_space: u64,
    /// Requests refused because the device vanished.
    pub gone: u64,
    /// Flushes failed.
    pub flush_failures: u64,
    /// Requests delayed by a latency spike.
    pub latency_spikes: u64,
}

impl FaultCounts {
    /// Every injected fault, of any sort.
    pub fn total(&self) -> u64 {
        self.io_errors + self.no_space + self.gone + self.flush_failures + self.latency_spikes
    }
}

#[derive(Debug, Default)]
struct Rules {
    vanished: bool,
    fail_flushes: bool,
    no_space: bool,
    fail_next_reads: u64,
    fail_next_writes: u64,
    failing_read_ranges: Vec<Range<u64>>,
    failing_write_ranges: Vec<Range<u64>>,
    spike_next: u64,
    spike_next_delay: Duration,
    spike_probability: f64,
    spike_random_delay: Duration,
    rng: SplitMix64,
}

#[derive(Debug, Default)]
struct Counters {
    io_errors: AtomicU64,
    no_space: AtomicU64,
    gone: AtomicU64,
    flush_failures: AtomicU64,
    latency_spikes: AtomicU64,
}

#[derive(Debug, Default)]
struct FaultState {
    rules: Mutex<Rules>,
    counters: Counters,
}

/// Scripts the faults of one [`FaultyDevice`]. Clones control the same device.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle {
    state: Arc<FaultState>,
}

impl FaultHandle {
    /// Fails the next `count` reads with EIO.
    pub fn fail_next_reads(&self, count: u64) {
        self.state.rules.lock().fail_next_reads = count;
    }

    /// Fails the next `count` writes with EIO.
    pub fn fail_next_writes(&self, count: u64) {
        self.state.rules.lock().fail_next_writes = count;
    }

    /// Fails every read that overlaps `range` (bytes) with EIO, until cleared.
    pub fn fail_reads_in(&self, range: Range<u64>) {
        self.state.rules.lock().failing_read_ranges.push(range);
    }

    /// Fails every write that overlaps `range` (bytes) with EIO, until cleared.
    pub fn fail_writes_in(&self, range: Range<u64>) {
        self.state.rules.lock().failing_write_ranges.push(range);
    }

    /// Forgets every failing read and write range.
    pub fn clear_ranges(&self) {
        let mut rules = self.state.rules.lock();
        rules.failing_read_ranges.clear();
        rules.failing_write_ranges.clear();
    }

    /// While `on`, every write fails with ENOSPC.
    pub fn set_no_space(&self, on: bool) {
        self.state.rules.lock().no_space = on;
    }

    /// While `on`, every flush fails with EIO.
    pub fn set_fail_flushes(&self, on: bool) {
        self.state.rules.lock().fail_flushes = on;
    }

    /// Delays the next `count` requests (any operation) by `delay` before they run.
    pub fn spike_next(&self, count: u64, delay: Duration) {
        let mut rules = self.state.rules.lock();
        rules.spike_next = count;
        rules.spike_next_delay = delay;
    }

    /// Delays each request by `delay` with probability `probability`, drawn from a
    /// generator seeded with `seed` (so a run is reproducible). Probability 0 turns it off.
    pub fn spike_randomly(&self, probability: f64, delay: Duration, seed: u64) {
        let mut rules = self.state.rules.lock();
        rules.spike_probability = probability.clamp(0.0, 1.0);
        rules.spike_random_delay = delay;
        rules.rng = SplitMix64(seed);
    }

    /// Makes the device vanish: every operation fails with `Gone` until [`Self::restore`].
    pub fn vanish(&self) {
        self.state.rules.lock().vanished = true;
    }

    /// Brings a vanished device back.
    pub fn restore(&self) {
        self.state.rules.lock().vanished = false;
    }

    /// Removes every rule (counters are kept).
    pub fn clear(&self) {
        let mut rules = self.state.rules.lock();
        let rng = std::mem::take(&mut rules.rng);
        *rules = Rules {
            rng,
            ..Rules::default()
        };
    }

    /// Faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.state.counters;
        FaultCounts {
            io_errors: c.io_errors.load(Ordering::Relaxed),
            no_space: c.no_space.load(Ordering::Relaxed),
            gone: c.gone.load(Ordering::Relaxed),
            flush_failures: c.flush_failures.load(Ordering::Relaxed),
            latency_spikes: c.latency_spikes.load(Ordering::Relaxed),
        }
    }

    /// Applies the rules to one request: sleeps out any spike, then `Err` to fail it.
    fn decide(&self, op: DeviceOp, offset: u64, len_bytes: u64) -> Result<()> {
        let counters = &self.state.counters;
        let mut rules = self.state.rules.lock();
        if rules.vanished {
            counters.gone.fetch_add(1, Ordering::Relaxed);
            return Err(DeviceError::new(DeviceErrorKind::Gone, op, offset)
                .with_message("injected fault: device vanished"));
        }
        let mut delay = Duration::ZERO;
        if rules.spike_next > 0 {
            rules.spike_next -= 1;
            delay += rules.spike_next_delay;
        }
        if rules.spike_probability > 0.0 && rules.rng.next_f64() < rules.spike_probability {
            delay += rules.spike_random_delay;
        }
        if !delay.is_zero() {
            counters.latency_spikes.fetch_add(1, Ordering::Relaxed);
        }
        let end = offset.saturating_add(len_bytes.max(1));
        let overlaps =
            |ranges: &[Range<u64>]| ranges.iter().any(|r| r.start < end && offset < r.end);
        let failure = match op {
            DeviceOp::Flush if rules.fail_flushes => {
                counters.flush_failures.fetch_add(1, Ordering::Relaxed);
                Some(libc::EIO)
            }
            DeviceOp::Read if rules.fail_next_reads > 0 || overlaps(&rules.failing_read_ranges) => {
                rules.fail_next_reads = rules.fail_next_reads.saturating_sub(1);
                counters.io_errors.fetch_add(1, Ordering::Relaxed);
                Some(libc::EIO)
            }
            DeviceOp::Write
                if rules.fail_next_writes > 0 || overlaps(&rules.failing_write_ranges) =>
            {
                rules.fail_next_writes = rules.fail_next_writes.saturating_sub(1);
                counters.io_errors.fetch_add(1, Ordering::Relaxed);
                Some(libc::EIO)
            }
            DeviceOp::Write if rules.no_space => {
                counters.no_space.fetch_add(1, Ordering::Relaxed);
                Some(libc::ENOSPC)
            }
            _ => None,
        };
        drop(rules);
        // The spike applies to failures too: a slow error is a realistic failure mode.
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        match failure {
            Some(errno) => {
                Err(
                    DeviceError::from_io(op, offset, std::io::Error::from_raw_os_error(errno))
                        .with_message("injected fault"),
                )
            }
            None => Ok(()),
        }
    }
}

/// A device that fails when its [`FaultHandle`] says so, and otherwise forwards to `inner`.
#[derive(Debug)]
pub struct FaultyDevice<D: TierDevice> {
    inner: D,
    handle: FaultHandle,
}

impl<D: TierDevice> FaultyDevice<D> {
    /// Wraps `inner` with no faults armed; the handle scripts them.
    pub fn new(inner: D) -> (Self, FaultHandle) {
        let handle = FaultHandle::default();
        (
            Self {
                inner,
                handle: handle.clone(),
            },
            handle,
        )
    }

    /// Another handle on this device's rules.
    pub fn handle(&self) -> FaultHandle {
        self.handle.clone()
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: TierDevice> TierDevice for FaultyDevice<D> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.handle
            .decide(DeviceOp::Read, offset, buf.len() as u64)?;
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.handle
            .decide(DeviceOp::Write, offset, buf.len() as u64)?;
        self.inner.write_at(buf, offset)
    }

    fn flush(&self) -> Result<()> {
        self.handle.decide(DeviceOp::Flush, 0, 0)?;
        self.inner.flush()
    }

    fn discard(&self, offset: u64, len_bytes: u64) -> Result<()> {
        self.handle.decide(DeviceOp::Discard, offset, len_bytes)?;
        self.inner.discard(offset, len_bytes)
    }

    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }
}

/// SplitMix64: a tiny seeded generator, good enough to decide coin flips reproducibly.
#[derive(Debug, Default)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryDevice;
    use std::time::Instant;

    fn faulty() -> (FaultyDevice<MemoryDevice>, FaultHandle) {
        FaultyDevice::new(MemoryDevice::new(1 << 20))
    }

    #[test]
    fn next_n_writes_fail_with_eio_and_change_nothing() {
        let (dev, faults) = faulty();
        faults.fail_next_writes(2);
        for _ in 0..2 {
            let err = dev.write_at(&[9; 512], 0).expect_err("injected");
            assert_eq!(err.kind, DeviceErrorKind::Io);
            assert_eq!(err.errno(), libc::EIO);
        }
        let mut buf = [1u8; 512];
        dev.read_at(&mut buf, 0).expect("reads unaffected");
        assert!(buf.iter().all(|&b| b == 0), "failed writes changed data");
        dev.write_at(&[9; 512], 0).expect("third write succeeds");
        assert_eq!(faults.counts().io_errors, 2);
    }

    #[test]
    fn next_n_reads_fail() {
        let (dev, faults) = faulty();
        faults.fail_next_reads(1);
        let mut buf = [0u8; 16];
        assert!(dev.read_at(&mut buf, 0).is_err());
        assert!(dev.read_at(&mut buf, 0).is_ok());
        assert!(dev.write_at(&buf, 0).is_ok());
    }

    #[test]
    fn ranges_fail_only_overlapping_requests() {
        let (dev, faults) = faulty();
        faults.fail_reads_in(8192..12288);
        faults.fail_writes_in(0..4096);
        let mut buf = [0u8; 4096];
        assert!(dev.read_at(&mut buf, 4096).is_ok(), "touches 8191 at most");
        assert!(dev.read_at(&mut buf, 4097).is_err(), "touches 8192");
        assert!(dev.read_at(&mut buf, 12288).is_ok());
        assert!(dev.write_at(&buf, 4095).is_err());
        assert!(dev.write_at(&buf, 4096).is_ok());
        assert_eq!(faults.counts().io_errors, 2);
        faults.clear_ranges();
        assert!(dev.read_at(&mut buf, 8192).is_ok());
        assert!(dev.write_at(&buf, 0).is_ok());
    }

    #[test]
    fn no_space_fails_writes_only() {
        let (dev, faults) = faulty();
        faults.set_no_space(true);
        let err = dev.write_at(&[1; 8], 0).expect_err("ENOSPC");
        assert_eq!(err.kind, DeviceErrorKind::NoSpace);
        assert!(dev.read_at(&mut [0; 8], 0).is_ok());
        assert!(dev.flush().is_ok());
        faults.set_no_space(false);
        assert!(dev.write_at(&[1; 8], 0).is_ok());
        assert_eq!(faults.counts().no_space, 1);
    }

    #[test]
    fn vanished_device_is_gone_until_restored() {
        let (dev, faults) = faulty();
        faults.vanish();
        assert_eq!(
            dev.read_at(&mut [0; 8], 0).map_err(|e| e.kind),
            Err(DeviceErrorKind::Gone)
        );
        assert_eq!(
            dev.write_at(&[0; 8], 0).map_err(|e| e.kind),
            Err(DeviceErrorKind::Gone)
        );
        assert_eq!(dev.flush().map_err(|e| e.kind), Err(DeviceErrorKind::Gone));
        assert_eq!(
            dev.discard(0, 8).map_err(|e| e.kind),
            Err(DeviceErrorKind::Gone)
        );
        assert_eq!(faults.counts().gone, 4);
        faults.restore();
        assert!(dev.read_at(&mut [0; 8], 0).is_ok());
    }

    #[test]
    fn flush_failures() {
        let (dev, faults) = faulty();
        faults.set_fail_flushes(true);
        assert_eq!(dev.flush().map_err(|e| e.kind), Err(DeviceErrorKind::Io));
        assert!(dev.write_at(&[1; 8], 0).is_ok(), "writes still work");
        faults.set_fail_flushes(false);
        assert!(dev.flush().is_ok());
        assert_eq!(faults.counts().flush_failures, 1);
    }

    #[test]
    fn spike_next_delays_exactly_n_requests() {
        let (dev, faults) = faulty();
        faults.spike_next(2, Duration::from_millis(30));
        for _ in 0..2 {
            let start = Instant::now();
            dev.read_at(&mut [0; 8], 0).expect("read");
            assert!(start.elapsed() >= Duration::from_millis(30));
        }
        dev.read_at(&mut [0; 8], 0).expect("read");
        assert_eq!(faults.counts().latency_spikes, 2);
    }

    #[test]
    fn random_spikes_follow_probability_and_seed() {
        let spikes_for = |seed| {
            let (dev, faults) = faulty();
            faults.spike_randomly(0.25, Duration::from_micros(1), seed);
            for _ in 0..400 {
                dev.read_at(&mut [0; 8], 0).expect("read");
            }
            faults.counts().latency_spikes
        };
        let a = spikes_for(42);
        assert_eq!(a, spikes_for(42), "same seed, same spikes");
        assert!((60..140).contains(&a), "{a} spikes of 400 at p = 0.25");
    }

    #[test]
    fn clear_removes_rules_but_keeps_counts() {
        let (dev, faults) = faulty();
        faults.fail_next_writes(5);
        faults.vanish();
        assert!(dev.write_at(&[0; 8], 0).is_err());
        faults.clear();
        assert!(dev.write_at(&[0; 8], 0).is_ok());
        assert_eq!(faults.counts().total(), 1);
    }

    #[test]
    fn handle_changes_rules_while_other_threads_do_io() {
        let (dev, faults) = faulty();
        let dev = Arc::new(dev);
        faults.vanish();
        let worker = {
            let dev = Arc::clone(&dev);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if dev.read_at(&mut [0; 8], 0).is_ok() {
                        return true;
                    }
                    std::thread::yield_now();
                }
                false
            })
        };
        faults.restore();
        assert!(
            worker.join().expect("worker"),
            "restore was seen by another thread"
        );
    }
}
