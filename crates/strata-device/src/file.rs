//! The file backend: a tier stored in one sparse, pre-sized file (or a block device),
//! accessed with positioned I/O.
//!
//! Reads and writes are `pread`/`pwrite` on a shared descriptor — no seek, no lock — so
//! concurrent calls run in parallel. `flush` is `fdatasync`; `discard` punches a hole
//! (falling back to writing zeros where the filesystem cannot). With
//! [`FileOptions::with_direct_io`] the file is opened `O_DIRECT`: offsets and lengths must
//! then be multiples of 4096 bytes, and buffers that are not 4096-aligned in memory go
//! through an aligned bounce buffer. FUA writes go through a second descriptor opened
//! `O_DSYNC`, so they make only their own bytes durable instead of flushing the file.

use crate::aligned::{AlignedBuf, DIRECT_IO_ALIGN, is_aligned};
use crate::{DeviceError, DeviceErrorKind, DeviceOp, Result, TierDevice, check_range};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Largest piece the zero-writing discard fallback writes at once.
const ZERO_CHUNK_BYTES: u64 = 1 << 20;

/// How [`FileDevice::open`] opens its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOptions {
    /// Open with `O_DIRECT`, bypassing the page cache. Default `false`.
    pub direct_io: bool,
    /// Create the file if it does not exist, and size an empty file to the capacity.
    /// Default `true`.
    pub create: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            direct_io: false,
            create: true,
        }
    }
}

impl FileOptions {
    pub fn with_direct_io(mut self, direct_io: bool) -> Self {
        self.direct_io = direct_io;
        self
    }

    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }
}

/// A tier backed by a file.
///
/// Opening rules, so that a tier never silently shrinks or grows:
/// - a regular file whose size equals the capacity is used as is (its data is kept);
/// - an empty file (new or existing) is sized to the capacity with `set_len` when
///   `create` is set — the file stays sparse, no zeros are written;
/// - any other size is an error naming both sizes;
/// - a block device must hold at least `capacity` bytes; only the first `capacity` bytes
///   are used.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    /// The same file opened `O_DSYNC`: a write through it is durable when it returns.
    dsync_file: File,
    path: PathBuf,
    /// The file name, used in errors.
    name: String,
    capacity: u64,
    direct_io: bool,
}

impl FileDevice {
    /// Opens (and with `options.create`, creates) the file at `path` as a device of
    /// `capacity_bytes`. See the type's documentation for the sizing rules.
    pub fn open(path: &Path, capacity_bytes: u64, options: FileOptions) -> Result<FileDevice> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let open_error = |err: std::io::Error| {
            DeviceError::from_io(DeviceOp::Open, 0, err).with_device(name.clone())
        };
        let mut open = OpenOptions::new();
        open.read(true).write(true).create(options.create);
        if options.direct_io {
            open.custom_flags(libc::O_DIRECT);
        }
        let mut file = match open.open(path) {
            Ok(file) => file,
            Err(err) if options.direct_io && err.raw_os_error() == Some(libc::EINVAL) => {
                return Err(DeviceError::from_io(DeviceOp::Open, 0, err)
                    .with_device(name.clone())
                    .with_message(format!(
                        "the filesystem holding {} refuses O_DIRECT (tmpfs does); \
                         put the tier on a disk-backed filesystem or disable direct I/O",
                        path.display()
                    )));
            }
            Err(err) => {
                return Err(open_error(err).with_message(format!("opening {}", path.display())));
            }
        };
        let metadata = file.metadata().map_err(open_error)?;
        if metadata.file_type().is_block_device() {
            let device_bytes = file.seek(SeekFrom::End(0)).map_err(open_error)?;
            if device_bytes < capacity_bytes {
                return Err(size_error(&name, path, device_bytes, capacity_bytes));
            }
        } else if metadata.len() != capacity_bytes {
            if metadata.len() == 0 && options.create {
                file.set_len(capacity_bytes).map_err(|err| {
                    open_error(err).with_message(format!("sizing to {capacity_bytes} bytes"))
                })?;
            } else {
                return Err(size_error(&name, path, metadata.len(), capacity_bytes));
            }
        }
        // Opened after sizing, without `create`, so both descriptors name the same file.
        let mut dsync_open = OpenOptions::new();
        dsync_open
            .read(true)
            .write(true)
            .custom_flags(libc::O_DSYNC | if options.direct_io { libc::O_DIRECT } else { 0 });
        let dsync_file = dsync_open.open(path).map_err(|err| {
            open_error(err).with_message(format!("opening {} with O_DSYNC", path.display()))
        })?;
        Ok(FileDevice {
            file,
            dsync_file,
            path: path.to_path_buf(),
            name,
            capacity: capacity_bytes,
            direct_io: options.direct_io,
        })
    }

    /// The path the device was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file was opened with `O_DIRECT`.
    pub fn is_direct_io(&self) -> bool {
        self.direct_io
    }

    fn io_error(&self, op: DeviceOp, offset: u64, err: std::io::Error) -> DeviceError {
        DeviceError::from_io(op, offset, err).with_device(self.name.clone())
    }

    /// Checks the range and, for direct I/O, the alignment of offset and length.
    fn check(&self, op: DeviceOp, offset: u64, len_bytes: u64) -> Result<()> {
        check_range(op, offset, len_bytes, self.capacity)
            .map_err(|err| err.with_device(self.name.clone()))?;
        let align = DIRECT_IO_ALIGN as u64;
        if self.direct_io && !(offset.is_multiple_of(align) && len_bytes.is_multiple_of(align)) {
            return Err(DeviceError::new(DeviceErrorKind::Misaligned, op, offset)
                .with_device(self.name.clone())
                .with_message(format!(
                    "direct I/O needs offset and length in multiples of {align} bytes, \
                     got {offset}+{len_bytes}"
                )));
        }
        Ok(())
    }

    /// Writes `buf` at `offset` through `file` (either descriptor), bouncing unaligned
    /// memory for direct I/O.
    fn write_through(&self, file: &File, buf: &[u8], offset: u64) -> Result<()> {
        self.check(DeviceOp::Write, offset, buf.len() as u64)?;
        if buf.is_empty() {
            return Ok(());
        }
        let map = |err| self.io_error(DeviceOp::Write, offset, err);
        if self.direct_io && !is_aligned(buf.as_ptr()) {
            let mut bounce = AlignedBuf::zeroed(buf.len());
            bounce.as_mut_slice().copy_from_slice(buf);
            return file.write_all_at(bounce.as_slice(), offset).map_err(map);
        }
        file.write_all_at(buf, offset).map_err(map)
    }

    /// Writes zeros over `[offset, offset + len_bytes)`: the discard fallback.
    fn write_zeros(&self, offset: u64, len_bytes: u64) -> Result<()> {
        let zeros = AlignedBuf::zeroed(len_bytes.min(ZERO_CHUNK_BYTES) as usize);
        let mut done = 0;
        while done < len_bytes {
            let n = (len_bytes - done).min(ZERO_CHUNK_BYTES) as usize;
            self.file
                .write_all_at(&zeros.as_slice()[..n], offset + done)
                .map_err(|err| self.io_error(DeviceOp::Discard, offset + done, err))?;
            done += n as u64;
        }
        Ok(())
    }
}

fn size_error(name: &str, path: &Path, actual_bytes: u64, capacity_bytes: u64) -> DeviceError {
    DeviceError::new(DeviceErrorKind::Io, DeviceOp::Open, 0)
        .with_device(name)
        .with_message(format!(
            "{} is {actual_bytes} bytes but the tier's capacity is {capacity_bytes} bytes; \
             refusing to resize an existing tier",
            path.display()
        ))
}

impl TierDevice for FileDevice {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.check(DeviceOp::Read, offset, buf.len() as u64)?;
        if buf.is_empty() {
            return Ok(());
        }
        let map = |err| self.io_error(DeviceOp::Read, offset, err);
        if self.direct_io && !is_aligned(buf.as_ptr()) {
            let mut bounce = AlignedBuf::zeroed(buf.len());
            self.file
                .read_exact_at(bounce.as_mut_slice(), offset)
                .map_err(map)?;
            buf.copy_from_slice(bounce.as_slice());
            return Ok(());
        }
        self.file.read_exact_at(buf, offset).map_err(map)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.write_through(&self.file, buf, offset)
    }

    fn write_at_fua(&self, buf: &[u8], offset: u64) -> Result<()> {
        if buf.is_empty() {
            // Nothing of its own to make durable; honour the durability promise anyway.
            self.check(DeviceOp::Write, offset, 0)?;
            return self.flush();
        }
        self.write_through(&self.dsync_file, buf, offset)
    }

    fn flush(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|err| self.io_error(DeviceOp::Flush, 0, err))
    }

    fn discard(&self, offset: u64, len_bytes: u64) -> Result<()> {
        check_range(DeviceOp::Discard, offset, len_bytes, self.capacity)
            .map_err(|err| err.with_device(self.name.clone()))?;
        if len_bytes == 0 {
            return Ok(());
        }
        let too_big = |_| {
            DeviceError::new(DeviceErrorKind::OutOfRange, DeviceOp::Discard, offset)
                .with_device(self.name.clone())
                .with_message("range does not fit the OS offset type")
        };
        let start = libc::off_t::try_from(offset).map_err(too_big)?;
        let len = libc::off_t::try_from(len_bytes).map_err(too_big)?;
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        // SAFETY: `fallocate` only reads its integer arguments; the descriptor is owned by
        // `self.file` and open for the duration of the call.
        let rc = unsafe { libc::fallocate(self.file.as_raw_fd(), mode, start, len) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
            // The filesystem cannot punch holes: zeros keep the "reads as zeros" promise.
            self.check(DeviceOp::Discard, offset, len_bytes)?;
            return self.write_zeros(offset, len_bytes);
        }
        Err(self.io_error(DeviceOp::Discard, offset, err))
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fallback_overwrites_exactly_the_range() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fallback.img");
        let dev = FileDevice::open(&path, 4 << 20, FileOptions::default()).expect("open");
        dev.write_at(&vec![0xCC; 3 << 20], 0).expect("write");
        // Larger than one chunk and unaligned at both ends.
        dev.write_zeros(100, ZERO_CHUNK_BYTES + 5000)
            .expect("zeros");
        let mut buf = vec![1u8; 3 << 20];
        dev.read_at(&mut buf, 0).expect("read");
        let end = 100 + ZERO_CHUNK_BYTES as usize + 5000;
        assert!(buf[..100].iter().all(|&b| b == 0xCC));
        assert!(buf[100..end].iter().all(|&b| b == 0));
        assert!(buf[end..].iter().all(|&b| b == 0xCC));
    }
}
