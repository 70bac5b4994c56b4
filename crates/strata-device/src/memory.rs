//! An in-memory device: a public backend for tests, the simulator and ephemeral tiers.

use crate::{DeviceOp, Result, TierDevice, check_range};
use parking_lot::RwLock;

/// A device backed by a sparse map of 64 KiB pages; unwritten bytes read as zeros.
#[derive(Debug)]
pub struct MemoryDevice {
    capacity: u64,
    pages: RwLock<std::collections::HashMap<u64, Box<[u8; PAGE]>>>,
}

const PAGE: usize = 64 << 10;

impl MemoryDevice {
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            pages: RwLock::new(std::collections::HashMap::new()),
        }
    }

    /// Bytes of memory held by written pages.
    pub fn resident_bytes(&self) -> u64 {
        self.pages.read().len() as u64 * PAGE as u64
    }
}

/// Splits `[offset, offset + len)` into (page index, offset in page, length) pieces.
fn pieces(offset: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut pos = offset;
    let end = offset + len as u64;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let page = pos / PAGE as u64;
        let in_page = (pos % PAGE as u64) as usize;
        let n = (PAGE - in_page).min((end - pos) as usize);
        pos += n as u64;
        Some((page, in_page, n))
    })
}

impl TierDevice for MemoryDevice {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(DeviceOp::Read, offset, buf.len() as u64, self.capacity)?;
        let pages = self.pages.read();
        let mut done = 0;
        for (page, in_page, n) in pieces(offset, buf.len()) {
            let out = &mut buf[done..done + n];
            match pages.get(&page) {
                Some(data) => out.copy_from_slice(&data[in_page..in_page + n]),
                None => out.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        check_range(DeviceOp::Write, offset, buf.len() as u64, self.capacity)?;
        let mut pages = self.pages.write();
        let mut done = 0;
        for (page, in_page, n) in pieces(offset, buf.len()) {
            let data = pages.entry(page).or_insert_with(|| Box::new([0; PAGE]));
            data[in_page..in_page + n].copy_from_slice(&buf[done..done + n]);
            done += n;
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn discard(&self, offset: u64, len: u64) -> Result<()> {
        check_range(DeviceOp::Discard, offset, len, self.capacity)?;
        let mut pages = self.pages.write();
        for (page, in_page, n) in pieces(offset, len as usize) {
            if n == PAGE {
                pages.remove(&page);
            } else if let Some(data) = pages.get_mut(&page) {
                data[in_page..in_page + n].fill(0);
            }
        }
        Ok(())
    }

    fn capacity(&self) -> u64 {
        self.capacity
    }
}
