//! Statistics: a decorator counting operations, bytes, errors and latencies.
//!
//! Everything is a relaxed atomic, so the I/O path takes no lock and concurrent requests
//! never wait on each other. Latencies go into fixed log2 histograms in microseconds;
//! means are exact, quantiles are estimates (the upper bound of the bucket holding the
//! quantile, so at most 2× high). Only successful requests are counted as operations and
//! timed; failed ones count in `errors`.

use crate::{Result, TierDevice};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Number of histogram buckets: bucket 0 holds latencies under 1 µs, bucket `i ≥ 1` holds
/// `[2^(i-1), 2^i)` µs, and the last bucket everything from `2^(BUCKETS-2)` µs (~18 min).
pub const LATENCY_BUCKETS: usize = 32;

/// Bucket index of a latency.
fn bucket_of(latency_us: u64) -> usize {
    let index = (u64::BITS - latency_us.leading_zeros()) as usize;
    index.min(LATENCY_BUCKETS - 1)
}

/// Lock-free recorder behind a [`LatencyHistogram`].
#[derive(Debug, Default)]
struct AtomicHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl AtomicHistogram {
    fn record(&self, latency_us: u64) {
        self.buckets[bucket_of(latency_us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(latency_us, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of a latency histogram (see [`LATENCY_BUCKETS`] for the buckets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyHistogram {
    pub buckets: [u64; LATENCY_BUCKETS],
    pub count: u64,
    pub sum_us: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: [0; LATENCY_BUCKETS],
            count: 0,
            sum_us: 0,
        }
    }
}

impl LatencyHistogram {
    /// Exclusive upper bound of bucket `index`, in µs.
    pub fn bucket_upper_us(index: usize) -> u64 {
        1u64 << index.min(63)
    }

    /// Mean latency in µs; 0 when empty.
    pub fn mean_us(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.count as f64
        }
    }

    /// Estimated `q`-quantile (`0.0..=1.0`) in µs: the upper bound of the bucket where it
    /// falls. 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::bucket_upper_us(index);
            }
        }
        Self::bucket_upper_us(LATENCY_BUCKETS - 1)
    }

    pub fn p50_us(&self) -> u64 {
        self.quantile_us(0.50)
    }

    pub fn p99_us(&self) -> u64 {
        self.quantile_us(0.99)
    }
}

/// A point-in-time copy of a [`StatsDevice`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStatsSnapshot {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub discards: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Failed operations of any kind.
    pub errors: u64,
    pub read_latency: LatencyHistogram,
    pub write_latency: LatencyHistogram,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
    flushes: AtomicU64,
    discards: AtomicU64,
    read_bytes: AtomicU64,
    write_bytes: AtomicU64,
    errors: AtomicU64,
    read_latency: AtomicHistogram,
    write_latency: AtomicHistogram,
}

/// A device that counts what passes through it (see the module docs).
#[derive(Debug)]
pub struct StatsDevice<D: TierDevice> {
    inner: D,
    counters: Counters,
}

impl<D: TierDevice> StatsDevice<D> {
    pub fn new(inner: D) -> Self {
        Self {
            inner,
            counters: Counters::default(),
        }
    }

    /// The counters now. Fields are read one by one, so a snapshot taken during I/O may
    /// be off by the requests in flight.
    pub fn stats(&self) -> DeviceStatsSnapshot {
        let c = &self.counters;
        DeviceStatsSnapshot {
            reads: c.reads.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            discards: c.discards.load(Ordering::Relaxed),
            read_bytes: c.read_bytes.load(Ordering::Relaxed),
            write_bytes: c.write_bytes.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            read_latency: c.read_latency.snapshot(),
            write_latency: c.write_latency.snapshot(),
        }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// Counts `result`: on success bumps `ops`, and `bytes`/`histogram` when given.
    fn account(
        &self,
        result: Result<()>,
        ops: &AtomicU64,
        bytes: Option<(&AtomicU64, u64)>,
        timed: Option<(&AtomicHistogram, Instant)>,
    ) -> Result<()> {
        match &result {
            Ok(()) => {
                ops.fetch_add(1, Ordering::Relaxed);
                if let Some((counter, n)) = bytes {
                    counter.fetch_add(n, Ordering::Relaxed);
                }
                if let Some((histogram, start)) = timed {
                    let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                    histogram.record(latency_us);
                }
            }
            Err(_) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }
}

impl<D: TierDevice> TierDevice for StatsDevice<D> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let c = &self.counters;
        let start = Instant::now();
        let result = self.inner.read_at(buf, offset);
        let bytes = Some((&c.read_bytes, buf.len() as u64));
        self.account(result, &c.reads, bytes, Some((&c.read_latency, start)))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        let c = &self.counters;
        let start = Instant::now();
        let result = self.inner.write_at(buf, offset);
        let bytes = Some((&c.write_bytes, buf.len() as u64));
        self.account(result, &c.writes, bytes, Some((&c.write_latency, start)))
    }

    fn flush(&self) -> Result<()> {
        self.account(self.inner.flush(), &self.counters.flushes, None, None)
    }

    fn write_at_fua(&self, buf: &[u8], offset: u64) -> Result<()> {
        // Counted as one write and one flush, whatever the inner device does.
        let c = &self.counters;
        let start = Instant::now();
        let result = self.inner.write_at_fua(buf, offset);
        if result.is_ok() {
            c.flushes.fetch_add(1, Ordering::Relaxed);
        }
        let bytes = Some((&c.write_bytes, buf.len() as u64));
        self.account(result, &c.writes, bytes, Some((&c.write_latency, start)))
    }

    fn discard(&self, offset: u64, len_bytes: u64) -> Result<()> {
        let result = self.inner.discard(offset, len_bytes);
        self.account(result, &self.counters.discards, None, None)
    }

    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceErrorKind, FaultyDevice, MemoryDevice};

    #[test]
    fn buckets_are_log2_microseconds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 3);
        assert_eq!(bucket_of(1023), 10);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(u64::MAX), LATENCY_BUCKETS - 1);
        for latency_us in [0, 1, 5, 80, 4000, 1 << 20] {
            assert!(latency_us < LatencyHistogram::bucket_upper_us(bucket_of(latency_us)));
        }
    }

    #[test]
    fn quantiles_and_mean() {
        let h = AtomicHistogram::default();
        for _ in 0..98 {
            h.record(10);
        }
        h.record(5000);
        h.record(5000);
        let s = h.snapshot();
        assert_eq!(s.count, 100);
        assert!((s.mean_us() - (98.0 * 10.0 + 10_000.0) / 100.0).abs() < 1e-9);
        assert_eq!(s.p50_us(), 16, "10 µs lies in [8, 16)");
        assert_eq!(s.p99_us(), 8192, "5000 µs lies in [4096, 8192)");
        assert_eq!(LatencyHistogram::default().p99_us(), 0);
        assert_eq!(LatencyHistogram::default().mean_us(), 0.0);
    }

    #[test]
    fn counts_operations_bytes_and_errors() {
        let (faulty, faults) = FaultyDevice::new(MemoryDevice::new(1 << 20));
        let dev = StatsDevice::new(faulty);
        dev.write_at(&[1; 4096], 0).expect("write");
        dev.write_at_fua(&[1; 100], 4096).expect("fua write");
        dev.read_at(&mut [0; 512], 0).expect("read");
        dev.flush().expect("flush");
        dev.discard(0, 4096).expect("discard");
        faults.fail_next_reads(1);
        assert!(dev.read_at(&mut [0; 512], 0).is_err());
        let err = dev.write_at(&[0; 8], 1 << 20).expect_err("out of range");
        assert_eq!(err.kind, DeviceErrorKind::OutOfRange);
        let s = dev.stats();
        assert_eq!((s.reads, s.writes, s.flushes, s.discards), (1, 2, 2, 1));
        assert_eq!((s.read_bytes, s.write_bytes, s.errors), (512, 4196, 2));
        assert_eq!(s.read_latency.count, 1);
        assert_eq!(s.write_latency.count, 2);
        assert_eq!(s.write_latency.buckets.iter().sum::<u64>(), 2);
    }

    #[test]
    fn concurrent_counting_loses_nothing() {
        let dev = StatsDevice::new(MemoryDevice::new(1 << 20));
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let dev = &dev;
                scope.spawn(move || {
                    for i in 0..250u64 {
                        dev.write_at(&[1; 64], (t * 250 + i) * 64).expect("write");
                    }
                });
            }
        });
        let s = dev.stats();
        assert_eq!(s.writes, 1000);
        assert_eq!(s.write_bytes, 64_000);
        assert_eq!(s.write_latency.count, 1000);
    }
}
