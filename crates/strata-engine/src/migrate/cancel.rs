//! Cancellation for background work: a token the workers poll and sleep on, and a gate
//! (the workers' join handles) that shutdown closes and waits on.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Set once; every sleeper wakes at once when it is.
#[derive(Debug, Default)]
pub(crate) struct CancelToken {
    cancelled: Mutex<bool>,
    wake: Condvar,
    /// Nudges so far, so an idle worker can tell whether work arrived since it last looked.
    nudged: AtomicU64,
}

impl CancelToken {
    pub fn cancel(&self) {
        *self.cancelled.lock() = true;
        self.wake.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.lock()
    }

    /// Sleeps up to `timeout`; returns `true` if cancelled (at once or while sleeping).
    pub fn sleep(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut cancelled = self.cancelled.lock();
        while !*cancelled {
            if self.wake.wait_until(&mut cancelled, deadline).timed_out() {
                break;
            }
        }
        *cancelled
    }

    /// Wakes sleepers without cancelling (new work arrived): [`idle`](Self::idle) returns,
    /// [`sleep`](Self::sleep) keeps sleeping.
    pub fn nudge(&self) {
        let _held = self.cancelled.lock();
        self.nudged.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_all();
    }

    /// The nudge count, to pass to [`idle`](Self::idle) after finding no work.
    pub fn nudges(&self) -> u64 {
        self.nudged.load(Ordering::Relaxed)
    }

    /// Sleeps up to `timeout` unless nudged since the count was `seen` (a nudge between
    /// looking for work and calling this is not lost); `true` if cancelled.
    pub fn idle(&self, seen: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut cancelled = self.cancelled.lock();
        while !*cancelled && self.nudged.load(Ordering::Relaxed) == seen {
            if self.wake.wait_until(&mut cancelled, deadline).timed_out() {
                break;
            }
        }
        *cancelled
    }
}

/// The background threads; closing cancels them and waits until every one has returned.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Gate {
    pub fn enter(&self, worker: JoinHandle<()>) {
        self.workers.lock().push(worker);
    }

    /// Cancels and joins every worker. Idempotent.
    pub fn close(&self, token: &CancelToken) {
        token.cancel();
        let workers = std::mem::take(&mut *self.workers.lock());
        for worker in workers {
            if worker.join().is_err() {
                tracing::error!("a background tiering thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn close_wakes_sleepers_and_joins() {
        let token = Arc::new(CancelToken::default());
        let gate = Gate::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = token.clone();
        gate.enter(std::thread::spawn(move || {
            let cancelled = sleeper.sleep(Duration::from_secs(600));
            tx.send(cancelled).unwrap();
        }));
        let started = Instant::now();
        gate.close(&token);
        assert!(rx.recv().unwrap());
        assert!(started.elapsed() < Duration::from_secs(60));
        assert!(token.is_cancelled());
        assert!(token.sleep(Duration::from_secs(600)));
    }
}
