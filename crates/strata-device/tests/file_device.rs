//! The file backend on real files: sparseness, hole punching, reopening, sizing rules and
//! direct I/O.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use strata_device::{DeviceErrorKind, DeviceOp, FileDevice, FileOptions, TierDevice};

const GIB: u64 = 1 << 30;

/// A directory on the disk that holds the target dir (not tmpfs, so `O_DIRECT` works).
fn disk_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir")
}

fn allocated_bytes(path: &Path) -> u64 {
    // `blocks()` counts 512-byte units whatever the filesystem block size.
    std::fs::metadata(path).expect("metadata").blocks() * 512
}

#[test]
fn data_round_trips_and_survives_reopen() {
    let dir = disk_tempdir();
    let path = dir.path().join("nvme.img");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    {
        let dev = FileDevice::open(&path, 64 << 20, FileOptions::default()).expect("open");
        assert_eq!(dev.path(), path);
        assert_eq!(dev.capacity(), 64 << 20);
        dev.write_at(&data, 12_345).expect("write");
        dev.flush().expect("flush");
        let mut back = vec![0u8; data.len()];
        dev.read_at(&mut back, 12_345).expect("read");
        assert_eq!(back, data);
    }
    let dev = FileDevice::open(&path, 64 << 20, FileOptions::default().with_create(false))
        .expect("reopen");
    let mut back = vec![0u8; data.len()];
    dev.read_at(&mut back, 12_345).expect("read after reopen");
    assert_eq!(back, data);
}

#[test]
fn a_new_gib_device_is_sparse() {
    let dir = disk_tempdir();
    let path = dir.path().join("hdd.img");
    let dev = FileDevice::open(&path, GIB, FileOptions::default()).expect("open");
    assert_eq!(std::fs::metadata(&path).expect("metadata").len(), GIB);
    assert!(
        allocated_bytes(&path) < 1 << 20,
        "{}",
        allocated_bytes(&path)
    );
    dev.write_at(&[7u8; 4096], GIB - 4096)
        .expect("write the last block");
    assert!(allocated_bytes(&path) < 1 << 20, "one block written");
}

#[test]
fn discard_punches_a_hole() {
    let dir = disk_tempdir();
    let path = dir.path().join("ssd.img");
    let dev = FileDevice::open(&path, 64 << 20, FileOptions::default()).expect("open");
    dev.write_at(&vec![0xEE; 8 << 20], 0).expect("write 8 MiB");
    dev.flush().expect("flush");
    let before = allocated_bytes(&path);
    assert!(before >= 8 << 20, "{before}");
    dev.discard(1 << 20, 4 << 20).expect("discard 4 MiB");
    let after = allocated_bytes(&path);
    assert!(after <= before - (4 << 20), "{before} -> {after}");
    let mut buf = vec![1u8; 4 << 20];
    dev.read_at(&mut buf, 1 << 20).expect("read hole");
    assert!(buf.iter().all(|&b| b == 0), "a punched hole reads as zeros");
    let mut edge = [0u8; 2];
    dev.read_at(&mut edge, (1 << 20) - 1).expect("read edge");
    assert_eq!(edge, [0xEE, 0], "bytes outside the hole are kept");
}

#[test]
fn out_of_range_requests_fail_and_name_the_device() {
    let dir = disk_tempdir();
    let path = dir.path().join("small.img");
    let dev = FileDevice::open(&path, 1 << 20, FileOptions::default()).expect("open");
    let err = dev
        .write_at(&[1; 16], (1 << 20) - 8)
        .expect_err("past the end");
    assert_eq!(err.kind, DeviceErrorKind::OutOfRange);
    assert_eq!(err.op, DeviceOp::Write);
    assert_eq!(err.device.as_deref(), Some("small.img"));
    let err = dev.discard(1 << 20, 1).expect_err("discard past the end");
    assert_eq!(err.kind, DeviceErrorKind::OutOfRange);
    assert_eq!(
        std::fs::metadata(&path).expect("metadata").len(),
        1 << 20,
        "file not grown"
    );
}

#[test]
fn existing_file_of_another_size_is_refused() {
    let dir = disk_tempdir();
    let path = dir.path().join("tier.img");
    drop(FileDevice::open(&path, 2 << 20, FileOptions::default()).expect("create"));
    let err = FileDevice::open(&path, 1 << 20, FileOptions::default()).expect_err("shrink");
    let text = err.to_string();
    assert!(
        text.contains("2097152") && text.contains("1048576"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&path).expect("metadata").len(),
        2 << 20,
        "not resized"
    );
}

#[test]
fn missing_file_without_create_is_gone() {
    let dir = disk_tempdir();
    let path = dir.path().join("absent.img");
    let options = FileOptions::default().with_create(false);
    let err = FileDevice::open(&path, 1 << 20, options).expect_err("no such file");
    assert_eq!(err.kind, DeviceErrorKind::Gone);
    assert_eq!(err.op, DeviceOp::Open);
    assert!(!path.exists());
}

#[test]
fn direct_io_bounces_unaligned_memory_and_refuses_unaligned_ranges() {
    let dir = disk_tempdir();
    let path = dir.path().join("direct.img");
    let options = FileOptions::default().with_direct_io(true);
    let dev = FileDevice::open(&path, 16 << 20, options).expect("open O_DIRECT");
    assert!(dev.is_direct_io());
    // A slice starting one byte into a buffer is never 4096-aligned in memory.
    let mut backing = vec![0u8; 3 * 4096 + 1];
    for (i, b) in backing.iter_mut().enumerate() {
        *b = (i % 253) as u8;
    }
    let unaligned = &backing[1..];
    assert!(!(unaligned.as_ptr() as usize).is_multiple_of(4096));
    dev.write_at(unaligned, 8192)
        .expect("unaligned memory write");
    let mut read_backing = vec![0u8; 3 * 4096 + 1];
    dev.read_at(&mut read_backing[1..], 8192)
        .expect("unaligned memory read");
    assert_eq!(&read_backing[1..], unaligned);

    let err = dev
        .write_at(&backing[..4096], 100)
        .expect_err("unaligned offset");
    assert_eq!(err.kind, DeviceErrorKind::Misaligned);
    let err = dev
        .read_at(&mut read_backing[..100], 0)
        .expect_err("unaligned length");
    assert_eq!(err.kind, DeviceErrorKind::Misaligned);

    // Buffered reopen sees what direct I/O wrote.
    drop(dev);
    let buffered = FileDevice::open(&path, 16 << 20, FileOptions::default()).expect("reopen");
    let mut check = vec![0u8; 3 * 4096];
    buffered.read_at(&mut check, 8192).expect("buffered read");
    assert_eq!(&check[..], unaligned);
}

#[test]
fn concurrent_positioned_io_on_one_file() {
    let dir = disk_tempdir();
    let path = dir.path().join("shared.img");
    let dev = FileDevice::open(&path, 32 << 20, FileOptions::default()).expect("open");
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let dev = &dev;
            scope.spawn(move || {
                for i in 0..64u64 {
                    let offset = (u64::from(t) * 64 + i) * 4096;
                    dev.write_at(&[t + 1; 4096], offset).expect("write");
                }
            });
        }
    });
    for t in 0..4u8 {
        let mut buf = vec![0u8; 64 * 4096];
        dev.read_at(&mut buf, u64::from(t) * 64 * 4096)
            .expect("read");
        assert!(buf.iter().all(|&b| b == t + 1), "thread {t}'s range");
    }
}

#[test]
fn fua_writes_land_in_the_same_file() {
    let dir = disk_tempdir();
    for (name, options) in [
        ("fua-buffered.img", FileOptions::default()),
        (
            "fua-direct.img",
            FileOptions::default().with_direct_io(true),
        ),
    ] {
        let path = dir.path().join(name);
        let dev = FileDevice::open(&path, 1 << 20, options).expect("open");
        let backing = vec![0x5A; 4096 + 1];
        dev.write_at_fua(&backing[1..], 4096)
            .expect("FUA write from unaligned memory");
        dev.write_at_fua(&[], 0).expect("empty FUA write");
        let mut buf = vec![0u8; 4096];
        dev.read_at(&mut buf, 4096).expect("read");
        assert!(buf.iter().all(|&b| b == 0x5A), "{name}");
        let err = dev
            .write_at_fua(&backing[..4096], 1 << 20)
            .expect_err("past the end");
        assert_eq!(err.kind, DeviceErrorKind::OutOfRange);
    }
}
