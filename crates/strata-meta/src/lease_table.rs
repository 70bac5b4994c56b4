//! Lease bookkeeping shared by the local backends: which leases live until when, and which
//! keys each one carries. The redb backend persists the same records and rebuilds this
//! table on open, so expiry survives a restart.

use crate::{LeaseId, MetaError, MetaErrorKind, Result};
use std::collections::{BTreeSet, HashMap};

/// One live lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseState {
    pub ttl_ns: u64,
    pub expires_at_ns: u64,
    pub keys: BTreeSet<Vec<u8>>,
}

/// Every live lease and the lease of every leased key.
#[derive(Debug)]
pub(crate) struct LeaseTable {
    leases: HashMap<LeaseId, LeaseState>,
    key_lease: HashMap<Vec<u8>, LeaseId>,
    next_id: i64,
    /// Earliest expiry of any lease, so the per-operation sweep is one comparison.
    earliest_expiry_ns: u64,
}

impl Default for LeaseTable {
    fn default() -> Self {
        Self {
            leases: HashMap::new(),
            key_lease: HashMap::new(),
            next_id: 0,
            earliest_expiry_ns: u64::MAX,
        }
    }
}

pub(crate) fn lease_not_found(op: &'static str, lease: LeaseId) -> MetaError {
    MetaError::new(
        MetaErrorKind::LeaseNotFound,
        op,
        format!("lease {lease} expired or was revoked"),
    )
}

impl LeaseTable {
    /// Rebuilds the table from persisted `(lease, ttl, expiry)` and `(key, lease)` records.
    pub(crate) fn restore(
        leases: impl IntoIterator<Item = (LeaseId, u64, u64)>,
        keys: impl IntoIterator<Item = (Vec<u8>, LeaseId)>,
    ) -> Self {
        let mut table = Self::default();
        for (lease, ttl_ns, expires_at_ns) in leases {
            table.next_id = table.next_id.max(lease.0);
            table.leases.insert(
                lease,
                LeaseState {
                    ttl_ns,
                    expires_at_ns,
                    keys: BTreeSet::new(),
                },
            );
        }
        for (key, lease) in keys {
            if let Some(state) = table.leases.get_mut(&lease) {
                state.keys.insert(key.clone());
                table.key_lease.insert(key, lease);
            }
        }
        table.recompute_earliest();
        table
    }

    fn recompute_earliest(&mut self) {
        self.earliest_expiry_ns = self
            .leases
            .values()
            .map(|state| state.expires_at_ns)
            .min()
            .unwrap_or(u64::MAX);
    }

    pub(crate) fn grant(&mut self, ttl_ns: u64, now_ns: u64) -> (LeaseId, u64) {
        self.next_id += 1;
        let lease = LeaseId(self.next_id);
        let expires_at_ns = now_ns.saturating_add(ttl_ns);
        self.leases.insert(
            lease,
            LeaseState {
                ttl_ns,
                expires_at_ns,
                keys: BTreeSet::new(),
            },
        );
        self.earliest_expiry_ns = self.earliest_expiry_ns.min(expires_at_ns);
        (lease, expires_at_ns)
    }

    /// Restarts the TTL; returns `(ttl_ns, new expiry)`.
    pub(crate) fn keep_alive(&mut self, lease: LeaseId, now_ns: u64) -> Result<(u64, u64)> {
        let state = self
            .leases
            .get_mut(&lease)
            .ok_or_else(|| lease_not_found("keep_alive", lease))?;
        state.expires_at_ns = now_ns.saturating_add(state.ttl_ns);
        let out = (state.ttl_ns, state.expires_at_ns);
        self.recompute_earliest();
        Ok(out)
    }

    /// Removes the lease; returns the keys it carried (empty for an unknown lease).
    pub(crate) fn revoke(&mut self, lease: LeaseId) -> Vec<Vec<u8>> {
        let Some(state) = self.leases.remove(&lease) else {
            return Vec::new();
        };
        for key in &state.keys {
            self.key_lease.remove(key);
        }
        self.recompute_earliest();
        state.keys.into_iter().collect()
    }

    /// When the next lease expires (`u64::MAX` when none is live).
    pub(crate) fn earliest_expiry_ns(&self) -> u64 {
        self.earliest_expiry_ns
    }

    pub(crate) fn is_live(&self, lease: LeaseId) -> bool {
        self.leases.contains_key(&lease)
    }

    /// Ties `key` to `lease`, detaching it from any previous lease; returns the previous one.
    pub(crate) fn attach(&mut self, key: &[u8], lease: LeaseId) -> Option<LeaseId> {
        let previous = self.detach(key);
        if let Some(state) = self.leases.get_mut(&lease) {
            state.keys.insert(key.to_vec());
            self.key_lease.insert(key.to_vec(), lease);
        }
        previous
    }

    /// Unties `key` from its lease (a plain put or a delete); returns the lease it had.
    pub(crate) fn detach(&mut self, key: &[u8]) -> Option<LeaseId> {
        let lease = self.key_lease.remove(key)?;
        if let Some(state) = self.leases.get_mut(&lease) {
            state.keys.remove(key);
        }
        Some(lease)
    }

    /// Leases whose expiry is at or before `now_ns`, removed from the table, with their keys.
    pub(crate) fn take_expired(&mut self, now_ns: u64) -> Vec<(LeaseId, Vec<Vec<u8>>)> {
        if now_ns < self.earliest_expiry_ns {
            return Vec::new();
        }
        let mut expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, state)| state.expires_at_ns <= now_ns)
            .map(|(lease, _)| *lease)
            .collect();
        expired.sort();
        expired
            .into_iter()
            .map(|lease| (lease, self.revoke(lease)))
            .collect()
    }
}
