//! Exclusion between foreground writes and the final phase of a migration.
//!
//! A striped array of `RwLock`s keyed by (volume id, extent). A foreground write takes its
//! stripe's read lock around the map lookup and the device write, so writers never block
//! each other; the migrator takes the write lock only for its final phase (re-copy what
//! changed, switch the map). Each stripe also counts writes that entered it: the migrator
//! compares the count before and after a copy pass to learn whether the copy may be stale.
//! Stripe collisions only cause a needless re-copy, never a missed one.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::sync::atomic::{AtomicU64, Ordering};

/// Stripes: enough that two hot extents rarely share one.
const STRIPES: usize = 1024;

#[derive(Debug)]
struct Stripe {
    lock: RwLock<()>,
    writes: AtomicU64,
}

/// The striped locks and write generations of every extent of the engine.
#[derive(Debug)]
pub(crate) struct ExtentLocks {
    stripes: Box<[Stripe]>,
}

impl Default for ExtentLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES)
                .map(|_| Stripe {
                    lock: RwLock::new(()),
                    writes: AtomicU64::new(0),
                })
                .collect(),
        }
    }
}

impl ExtentLocks {
    fn stripe(&self, volume_id: u64, extent: u64) -> &Stripe {
        let mixed = (volume_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ extent)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        &self.stripes[(mixed >> 32) as usize % STRIPES]
    }

    /// Taken by a foreground write for the lookup and the device write of one extent piece.
    pub fn write_access(&self, volume_id: u64, extent: u64) -> RwLockReadGuard<'_, ()> {
        let stripe = self.stripe(volume_id, extent);
        let guard = stripe.lock.read();
        stripe.writes.fetch_add(1, Ordering::Relaxed);
        guard
    }

    /// The stripe's write count at a moment when no write is in progress in it: every write
    /// counted has finished, and any later write will change the count.
    pub fn quiescent_generation(&self, volume_id: u64, extent: u64) -> u64 {
        let stripe = self.stripe(volume_id, extent);
        let _exclusive = stripe.lock.write();
        stripe.writes.load(Ordering::Relaxed)
    }

    /// Exclusive access for the final phase of a move, with the generation at that moment.
    pub fn exclusive(&self, volume_id: u64, extent: u64) -> (RwLockWriteGuard<'_, ()>, u64) {
        let stripe = self.stripe(volume_id, extent);
        let guard = stripe.lock.write();
        (guard, stripe.writes.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_change_the_generation_and_exclusion_waits_for_them() {
        let locks = ExtentLocks::default();
        let before = locks.quiescent_generation(1, 5);
        {
            let _w = locks.write_access(1, 5);
            assert!(locks.stripe(1, 5).lock.try_write().is_none());
        }
        let (_guard, after) = locks.exclusive(1, 5);
        assert_eq!(after, before + 1);
    }
}
