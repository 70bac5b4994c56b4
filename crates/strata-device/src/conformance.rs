//! The [`TierDevice`] contract as a test suite every backend and decorator must pass.
//!
//! Call [`run_all`] from a test with a factory that makes a fresh, empty device of the
//! given capacity; each check gets its own device. Checks panic (as test assertions do)
//! with a message naming the broken promise. Devices with alignment rules (`O_DIRECT`)
//! use [`run_all_with`] and a [`Suite`] whose `alignment_bytes` is their block size: the
//! "odd" offsets and lengths then become odd multiples of the block size, and a misaligned
//! request must fail with `Misaligned`.
//!
//! The contract:
//! - `capacity()` is the size the device was made with;
//! - unwritten bytes read as zeros;
//! - a write is read back exactly, at any offset and length the device accepts;
//! - a request reaching past the capacity (or overflowing `u64`) fails with
//!   `OutOfRange` and changes nothing; zero-length requests up to the end succeed;
//! - writers on disjoint ranges in several threads do not disturb each other;
//! - `flush` and `write_at_fua` succeed on a healthy device;
//! - after `discard`, each byte reads as zero or as its old value, and the range can be
//!   written and read again.

use crate::{DeviceErrorKind, TierDevice};

/// Makes a fresh, empty device of the given capacity in bytes.
pub type DeviceFactory<'a> = &'a dyn Fn(u64) -> Box<dyn TierDevice>;

/// One check of the contract, run on a fresh device.
pub type Check = fn(&Suite, &dyn TierDevice);

/// Parameters of a conformance run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// Capacity of the devices the checks make.
    pub capacity_bytes: u64,
    /// Granularity of offsets and lengths the device accepts: 1 for byte-addressed
    /// devices, 4096 for `O_DIRECT` files.
    pub alignment_bytes: u64,
    /// Threads in the concurrent-writers check.
    pub writer_threads: u64,
}

impl Default for Suite {
    fn default() -> Self {
        Self {
            capacity_bytes: 8 << 20,
            alignment_bytes: 1,
            writer_threads: 4,
        }
    }
}

impl Suite {
    pub fn with_alignment(mut self, alignment_bytes: u64) -> Self {
        self.alignment_bytes = alignment_bytes.max(1);
        self
    }
}

/// Runs every check with the default [`Suite`] (byte-addressed devices).
pub fn run_all(make: DeviceFactory<'_>) {
    run_all_with(&Suite::default(), make);
}

/// Runs every check with `suite`.
pub fn run_all_with(suite: &Suite, make: DeviceFactory<'_>) {
    let checks: [(&str, Check); 8] = [
        ("capacity", check_capacity),
        ("unwritten_reads_zero", check_unwritten_reads_zero),
        ("round_trips", check_round_trips),
        ("out_of_range", check_out_of_range),
        ("misaligned", check_misaligned),
        ("concurrent_writers", check_concurrent_writers),
        ("flush", check_flush),
        ("discard_then_write", check_discard_then_write),
    ];
    for (name, check) in checks {
        let device = make(suite.capacity_bytes);
        eprintln!("conformance: {name} on {device:?}");
        check(suite, device.as_ref());
    }
}

/// A recognisable pattern: byte `i` of a request at `offset` tagged `tag`.
fn pattern(tag: u8, offset: u64, len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| ((offset + i) as u8).wrapping_mul(31).wrapping_add(tag) | 1)
        .collect()
}

fn read(device: &dyn TierDevice, offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0xAA; len as usize];
    if let Err(err) = device.read_at(&mut buf, offset) {
        panic!("read {offset}+{len} failed: {err}");
    }
    buf
}

fn write(device: &dyn TierDevice, data: &[u8], offset: u64) {
    if let Err(err) = device.write_at(data, offset) {
        panic!("write {offset}+{} failed: {err}", data.len());
    }
}

pub fn check_capacity(suite: &Suite, device: &dyn TierDevice) {
    assert_eq!(
        device.capacity(),
        suite.capacity_bytes,
        "capacity() is the made size"
    );
}

pub fn check_unwritten_reads_zero(suite: &Suite, device: &dyn TierDevice) {
    let a = suite.alignment_bytes;
    let cap = suite.capacity_bytes;
    for (offset, len) in [(0, 16 * a), (cap / 2, 3 * a), (cap - 5 * a, 5 * a)] {
        let offset = offset / a * a;
        assert!(
            read(device, offset, len).iter().all(|&b| b == 0),
            "unwritten bytes at {offset}+{len} must read as zeros"
        );
    }
}

pub fn check_round_trips(suite: &Suite, device: &dyn TierDevice) {
    let a = suite.alignment_bytes;
    let cap = suite.capacity_bytes;
    // Odd offsets and lengths in units of the alignment, crossing 4 KiB and 64 KiB
    // boundaries where the unit is a byte, and the very end of the device.
    let units: &[(u64, u64)] = if a == 1 {
        &[(1, 7), (13, 1), (4093, 9), (65_531, 4099)]
    } else {
        &[(1, 7), (13, 1), (301, 9), (1001, 33)]
    };
    let mut requests: Vec<(u64, u64)> = units.iter().map(|&(o, l)| (o * a, l * a)).collect();
    requests.push((cap - 3 * a, 3 * a));
    for (tag, &(offset, len)) in requests.iter().enumerate() {
        assert!(
            offset + len <= cap,
            "suite capacity too small for {offset}+{len}"
        );
        let data = pattern(tag as u8, offset, len);
        write(device, &data, offset);
        assert_eq!(
            read(device, offset, len),
            data,
            "round trip at {offset}+{len}"
        );
    }
    // A write over part of an earlier one replaces exactly its own bytes.
    let (base, base_len) = requests[2];
    let patch = pattern(99, base + 2 * a, a);
    write(device, &patch, base + 2 * a);
    let got = read(device, base, base_len);
    let mut expected = pattern(2, base, base_len);
    expected[(2 * a) as usize..(3 * a) as usize].copy_from_slice(&patch);
    assert_eq!(got, expected, "overwrite touches only its own range");
    // Zero-length requests up to the end are fine.
    device.read_at(&mut [], cap).expect("empty read at the end");
    device.write_at(&[], cap).expect("empty write at the end");
}

pub fn check_out_of_range(suite: &Suite, device: &dyn TierDevice) {
    let a = suite.alignment_bytes;
    let cap = suite.capacity_bytes;
    let tail = pattern(7, cap - 2 * a, 2 * a);
    write(device, &tail, cap - 2 * a);
    let straddling = pattern(8, cap - a, 2 * a);
    for (offset, data) in [
        (cap - a, &straddling),
        (cap, &straddling),
        (u64::MAX - a + 1, &tail),
    ] {
        let err = device
            .write_at(data, offset)
            .expect_err("write past the end must fail");
        assert_eq!(
            err.kind,
            DeviceErrorKind::OutOfRange,
            "write at {offset}: {err}"
        );
        let mut buf = vec![0u8; data.len()];
        let err = device
            .read_at(&mut buf, offset)
            .expect_err("read past the end must fail");
        assert_eq!(
            err.kind,
            DeviceErrorKind::OutOfRange,
            "read at {offset}: {err}"
        );
    }
    let err = device
        .discard(cap - a, 2 * a)
        .expect_err("discard past the end");
    assert_eq!(err.kind, DeviceErrorKind::OutOfRange, "{err}");
    assert_eq!(
        read(device, cap - 2 * a, 2 * a),
        tail,
        "failed requests change nothing"
    );
}

pub fn check_misaligned(suite: &Suite, device: &dyn TierDevice) {
    let a = suite.alignment_bytes;
    if a == 1 {
        return;
    }
    let mut buf = vec![0u8; a as usize];
    let err = device.read_at(&mut buf, 1).expect_err("misaligned offset");
    assert_eq!(err.kind, DeviceErrorKind::Misaligned, "{err}");
    let err = device
        .write_at(&buf[..1], 0)
        .expect_err("misaligned length");
    assert_eq!(err.kind, DeviceErrorKind::Misaligned, "{err}");
}

pub fn check_concurrent_writers(suite: &Suite, device: &dyn TierDevice) {
    let a = suite.alignment_bytes;
    let threads = suite.writer_threads.max(1);
    let region = suite.capacity_bytes / threads / a * a;
    let piece = (region / 16).max(a) / a * a;
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                let mut offset = t * region;
                while offset + piece <= (t + 1) * region {
                    write(device, &pattern(t as u8, offset, piece), offset);
                    offset += piece;
                }
            });
        }
    });
    for t in 0..threads {
        let mut offset = t * region;
        while offset + piece <= (t + 1) * region {
            let expected = pattern(t as u8, offset, piece);
            assert_eq!(
                read(device, offset, piece),
                expected,
                "thread {t} at {offset}"
            );
            offset += piece;
        }
    }
}

pub fn check_flush(suite: &Suite, device: &dyn TierDevice) {
    let a = suite.alignment_bytes;
    device.flush().expect("flush of a clean device");
    let data = pattern(3, 0, 2 * a);
    write(device, &data, 0);
    device.flush().expect("flush after a write");
    let fua = pattern(4, 4 * a, a);
    device.write_at_fua(&fua, 4 * a).expect("FUA write");
    assert_eq!(read(device, 0, 2 * a), data);
    assert_eq!(read(device, 4 * a, a), fua);
}

pub fn check_discard_then_write(suite: &Suite, device: &dyn TierDevice) {
    let a = suite.alignment_bytes;
    let block = 4096u64.max(a);
    let len = 64 * block;
    let old = pattern(5, block, len);
    write(device, &old, block);
    // A block-aligned range and an unaligned one (for byte-addressed devices).
    device.discard(block, 16 * block).expect("discard aligned");
    if a == 1 {
        device
            .discard(20 * block + 100, block + 33)
            .expect("discard unaligned");
    }
    device.discard(0, 0).expect("empty discard");
    let after = read(device, block, len);
    for (i, (&now, &was)) in after.iter().zip(&old).enumerate() {
        assert!(
            now == 0 || now == was,
            "byte {} after discard is {now}, neither 0 nor the old {was}",
            block + i as u64
        );
    }
    let new = pattern(6, block, len);
    write(device, &new, block);
    assert_eq!(read(device, block, len), new, "write after discard");
}
