//! An in-memory store: a public backend for tests and simulations. Nothing survives a drop.
//! Lease expiry follows an injectable [`Clock`], so tests drive it deterministically.

use crate::lease_table::{LeaseTable, lease_not_found};
use crate::watch::WatchHub;
use crate::{
    Compare, LeaseId, MetaStore, Op, Result, Watch, WatchEvent, WatchEventKind, duration_ns,
};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strata_core::{Clock, SystemClock};

/// A [`MetaStore`] over a `BTreeMap` behind one lock; batches and transactions are atomic
/// because they run under it. Expired leases are swept at the start of every operation.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    watches: WatchHub,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    leases: LeaseTable,
    revision: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// Applies `ops`, recording an event per real change under one new revision.
    fn apply(&mut self, ops: &[Op], events: &mut Vec<WatchEvent>) {
        let revision = self.revision + 1;
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    self.leases.detach(key);
                    self.entries.insert(key.clone(), value.clone());
                    events.push(put_event(key, value, revision));
                }
                Op::Delete { key } => {
                    self.leases.detach(key);
                    if self.entries.remove(key).is_some() {
                        events.push(delete_event(key, revision));
                    }
                }
            }
        }
        if !events.is_empty() {
            self.revision = revision;
        }
    }

    /// Removes the keys of every lease expired at `now_ns`.
    fn sweep(&mut self, now_ns: u64, events: &mut Vec<WatchEvent>) {
        for (_, keys) in self.leases.take_expired(now_ns) {
            let ops: Vec<Op> = keys.into_iter().map(Op::delete).collect();
            self.apply(&ops, events);
        }
    }
}

pub(crate) fn put_event(key: &[u8], value: &[u8], revision: u64) -> WatchEvent {
    WatchEvent {
        kind: WatchEventKind::Put,
        key: key.to_vec(),
        value: value.to_vec(),
        revision,
    }
}

pub(crate) fn delete_event(key: &[u8], revision: u64) -> WatchEvent {
    WatchEvent {
        kind: WatchEventKind::Delete,
        key: key.to_vec(),
        value: Vec::new(),
        revision,
    }
}

impl MemoryStore {
    /// An empty store whose leases follow the system's monotonic clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock::new()))
    }

    /// An empty store whose leases follow `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
            watches: WatchHub::default(),
        }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.state.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().entries.is_empty()
    }

    /// Runs `f` on the swept state, then publishes the events it and the sweep produced.
    fn with_state<T>(&self, f: impl FnOnce(&mut State, &mut Vec<WatchEvent>) -> T) -> T {
        let mut events = Vec::new();
        let mut state = self.state.lock();
        state.sweep(self.clock.now_ns(), &mut events);
        let out = f(&mut state, &mut events);
        // Publishing under the lock keeps every watch in commit order.
        self.watches.publish(&events);
        out
    }
}

impl MetaStore for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.with_state(|state, _| state.entries.get(key).cloned()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.with_state(|state, events| state.apply(&[Op::put(key, value)], events));
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<()> {
        self.with_state(|state, events| state.apply(&[Op::delete(key)], events));
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        let when = [Compare {
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
        }];
        let then = [match new {
            Some(value) => Op::put(key, value),
            None => Op::delete(key),
        }];
        self.transact(&when, &then)
    }

    fn list_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self.with_state(|state, _| {
            state
                .entries
                .range(prefix.to_vec()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        }))
    }

    fn commit(&self, batch: &[Op]) -> Result<()> {
        self.with_state(|state, events| state.apply(batch, events));
        Ok(())
    }

    fn transact(&self, when: &[Compare], then: &[Op]) -> Result<bool> {
        Ok(self.with_state(|state, events| {
            let holds = when
                .iter()
                .all(|cmp| state.entries.get(&cmp.key) == cmp.expected.as_ref());
            if holds {
                state.apply(then, events);
            }
            holds
        }))
    }

    fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        // Subscribing under the state lock orders the watch after every earlier commit.
        Ok(self.with_state(|_, _| self.watches.subscribe(prefix)))
    }

    fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let now_ns = self.clock.now_ns();
        Ok(self.with_state(|state, _| state.leases.grant(duration_ns(ttl), now_ns).0))
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        let now_ns = self.clock.now_ns();
        self.with_state(|state, _| state.leases.keep_alive(lease, now_ns).map(|_| ()))
    }

    fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.with_state(|state, events| {
            let ops: Vec<Op> = state
                .leases
                .revoke(lease)
                .into_iter()
                .map(Op::delete)
                .collect();
            state.apply(&ops, events);
        });
        Ok(())
    }

    fn put_with_lease(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<()> {
        self.with_state(|state, events| {
            if !state.leases.is_live(lease) {
                return Err(lease_not_found("put_with_lease", lease));
            }
            state.apply(&[Op::put(key, value)], events);
            state.leases.attach(key, lease);
            Ok(())
        })
    }
}
