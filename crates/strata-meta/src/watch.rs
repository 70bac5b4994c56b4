//! Watches: the event type every backend delivers, the blocking [`Watch`] receiver, and
//! [`WatchHub`], the fan-out the local backends feed from their own commits.

use parking_lot::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// Whether a key was set or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEventKind {
    Put,
    Delete,
}

/// One change to one key. `revision` grows with every committed change of the store (all
/// changes of one commit share it); `value` is empty for deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: WatchEventKind,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub revision: u64,
}

/// A blocking stream of [`WatchEvent`]s in commit order. Dropping it ends the watch.
pub struct Watch {
    events: Receiver<WatchEvent>,
    /// Keeps the backend's feeding task alive exactly as long as the receiver.
    _feeder: Option<Box<dyn Send>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// A watch over `events`; `feeder` is dropped with the watch (a task handle, a guard).
    pub fn new(events: Receiver<WatchEvent>, feeder: Option<Box<dyn Send>>) -> Self {
        Self {
            events,
            _feeder: feeder,
        }
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or when the store is
    /// gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<WatchEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The next event if one is already waiting.
    pub fn try_recv(&self) -> Option<WatchEvent> {
        self.events.try_recv().ok()
    }
}

impl Iterator for Watch {
    type Item = WatchEvent;

    /// Blocks for the next event; ends when the store is dropped.
    fn next(&mut self) -> Option<WatchEvent> {
        self.events.recv().ok()
    }
}

/// Fan-out of locally committed changes to the watches whose prefix matches.
#[derive(Debug, Default)]
pub(crate) struct WatchHub {
    subscribers: Mutex<Vec<(Vec<u8>, Sender<WatchEvent>)>>,
}

impl WatchHub {
    pub(crate) fn subscribe(&self, prefix: &[u8]) -> Watch {
        let (tx, rx) = channel();
        self.subscribers.lock().push((prefix.to_vec(), tx));
        Watch::new(rx, None)
    }

    /// Sends every event to every matching watch and forgets watches that were dropped.
    pub(crate) fn publish(&self, events: &[WatchEvent]) {
        if events.is_empty() {
            return;
        }
        let mut subscribers = self.subscribers.lock();
        subscribers.retain(|(prefix, tx)| {
            events
                .iter()
                .filter(|event| event.key.starts_with(prefix))
                .all(|event| tx.send(event.clone()).is_ok())
        });
    }
}
