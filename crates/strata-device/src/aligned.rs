//! A heap buffer aligned for direct I/O: the bounce buffer `O_DIRECT` requests go through
//! when the caller's memory is not aligned.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;

/// Alignment of offsets, lengths and memory for `O_DIRECT` requests.
pub(crate) const DIRECT_IO_ALIGN: usize = 4096;

/// An owned, zero-initialised byte buffer whose start is aligned to [`DIRECT_IO_ALIGN`].
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
    len_bytes: usize,
}

impl AlignedBuf {
    /// Allocates `len_bytes` zeroed bytes. `len_bytes` may be 0.
    pub(crate) fn zeroed(len_bytes: usize) -> Self {
        // A zero-sized layout must not reach the allocator; one byte costs nothing.
        let layout = match Layout::from_size_align(len_bytes.max(1), DIRECT_IO_ALIGN) {
            Ok(layout) => layout,
            Err(_) => handle_alloc_error(Layout::new::<u8>()),
        };
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        Self {
            ptr,
            layout,
            len_bytes,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `layout.size() >= len_bytes` initialised (zeroed) bytes
        // owned by `self` for as long as the borrow lasts.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len_bytes) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` guarantees the borrow is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len_bytes) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed(self.layout)` and is freed only here.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Whether `ptr` may be handed to an `O_DIRECT` request as is.
pub(crate) fn is_aligned(ptr: *const u8) -> bool {
    (ptr as usize).is_multiple_of(DIRECT_IO_ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_is_aligned_zeroed_and_sized() {
        for len in [0, 1, 4096, 12_345] {
            let mut buf = AlignedBuf::zeroed(len);
            assert!(is_aligned(buf.as_slice().as_ptr()));
            assert_eq!(buf.as_slice().len(), len);
            assert!(buf.as_slice().iter().all(|&b| b == 0));
            buf.as_mut_slice().fill(7);
            assert!(buf.as_slice().iter().all(|&b| b == 7));
        }
    }
}
