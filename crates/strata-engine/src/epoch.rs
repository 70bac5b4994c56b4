//! I/O epochs: how a FLUSH knows that no request still uses a slot it is about to reuse.
//!
//! A request enters the current epoch before it looks up the extent map and leaves when
//! its device I/O is done. Before freed slots go back to the allocators, the flusher
//! advances the epoch and waits until every request that entered an older epoch has left.
//! A request that read a placement before the TRIM that unmapped it therefore finishes
//! before the slot can belong to someone else. Two counters (by epoch parity) suffice
//! because the flusher advances only when the counter it is about to reuse is empty.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Epoch counter plus in-flight requests per epoch parity.
#[derive(Debug, Default)]
pub(crate) struct IoEpochs {
    epoch: AtomicU64,
    in_flight: [AtomicU64; 2],
}

/// Marks a request as in flight until dropped.
#[derive(Debug)]
pub(crate) struct EpochGuard<'a> {
    counter: &'a AtomicU64,
}

impl Drop for EpochGuard<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

impl IoEpochs {
    pub fn enter(&self) -> EpochGuard<'_> {
        loop {
            let epoch = self.epoch.load(Ordering::SeqCst);
            let counter = &self.in_flight[(epoch & 1) as usize];
            counter.fetch_add(1, Ordering::SeqCst);
            if self.epoch.load(Ordering::SeqCst) == epoch {
                return EpochGuard { counter };
            }
            // The epoch moved between the load and the increment: register again.
            counter.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Advances the epoch and waits until every request that entered before has left.
    /// Returns `false` if that did not happen within `timeout` (callers then keep their
    /// slots unreleased and try again later). Callers serialise calls (the flush lock).
    pub fn advance_and_drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let epoch = self.epoch.load(Ordering::SeqCst);
        // Stragglers of the epoch before last share the counter the next epoch will use.
        if !wait_zero(&self.in_flight[((epoch + 1) & 1) as usize], deadline) {
            return false;
        }
        self.epoch.store(epoch + 1, Ordering::SeqCst);
        wait_zero(&self.in_flight[(epoch & 1) as usize], deadline)
    }
}

fn wait_zero(counter: &AtomicU64, deadline: Instant) -> bool {
    let mut spins = 0u32;
    while counter.load(Ordering::SeqCst) != 0 {
        if Instant::now() >= deadline {
            return false;
        }
        spins += 1;
        if spins < 100 {
            std::thread::yield_now();
        } else {
            // In-flight device I/O takes micro- to milliseconds; poll gently.
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;

    #[test]
    fn drain_waits_for_older_requests_only() {
        let epochs = IoEpochs::default();
        let old = epochs.enter();
        assert!(!epochs.advance_and_drain(Duration::from_millis(20)));
        // A request entering now belongs to the new epoch and does not block the drain of
        // the old one once the old request leaves.
        drop(old);
        let new = epochs.enter();
        // The epoch before last (the one `new` is not in) is empty, so this advances and
        // waits for `new`'s epoch, which is still busy.
        assert!(!epochs.advance_and_drain(Duration::from_millis(20)));
        drop(new);
        assert!(epochs.advance_and_drain(Duration::from_millis(20)));
    }

    #[test]
    fn drain_completes_when_the_request_leaves() {
        let epochs = Arc::new(IoEpochs::default());
        let (entered_tx, entered_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let worker = {
            let epochs = epochs.clone();
            std::thread::spawn(move || {
                let _guard = epochs.enter();
                entered_tx.send(()).unwrap();
                leave_rx.recv().unwrap();
            })
        };
        entered_rx.recv().unwrap();
        let drainer = {
            let epochs = epochs.clone();
            std::thread::spawn(move || epochs.advance_and_drain(Duration::from_secs(30)))
        };
        leave_tx.send(()).unwrap();
        worker.join().unwrap();
        assert!(drainer.join().unwrap());
    }
}
