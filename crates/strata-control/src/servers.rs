//! Servers: registration (spec plus per-tier accounting), heartbeats through a store lease
//! and listing with health. A server whose heartbeat lease expired is `down`: the store
//! removes its `alive` key within the TTL.

use crate::keys::{self, decode, encode};
use crate::{
    ControlError, ControlErrorKind, ControlPlane, Health, Result, ServerSpec, ServerStatus,
    TierUsage,
};
use std::collections::BTreeMap;
use strata_meta::{Compare, MetaErrorKind, Op};

impl ControlPlane {
    /// Registers (or re-registers) a server and starts its heartbeat lease. Accounting of a
    /// tier already known keeps its used and reserved bytes; only the capacity changes.
    pub fn register_server(&self, spec: &ServerSpec) -> Result<()> {
        const OP: &str = "register_server";
        keys::check_name(OP, "server", &spec.id)?;
        for tier in &spec.tiers {
            if tier.used_bytes > tier.capacity_bytes
                || !tier.cost_per_gib_month.is_finite()
                || tier.cost_per_gib_month < 0.0
            {
                return Err(ControlError::new(
                    ControlErrorKind::InvalidArgument,
                    OP,
                    &spec.id,
                    format!(
                        "tier {}: used exceeds capacity or cost is negative",
                        tier.tier
                    ),
                ));
            }
        }
        for _ in 0..self.config.max_retries {
            let mut when = Vec::new();
            let mut then = vec![Op::put(keys::server(&spec.id), encode(spec))];
            for tier in &spec.tiers {
                let key = keys::usage(&spec.id, &tier.tier);
                let old = self.get_raw(OP, &key)?;
                let mut usage = match &old {
                    Some(bytes) => decode::<TierUsage>(OP, &key, bytes)?,
                    None => TierUsage {
                        used_bytes: tier.used_bytes,
                        ..TierUsage::default()
                    },
                };
                usage.capacity_bytes = tier.capacity_bytes;
                when.push(Compare {
                    key: key.clone(),
                    expected: old,
                });
                then.push(Op::put(key, encode(&usage)));
            }
            if self.transact(OP, &spec.id, &when, &then)? {
                for compare in &when {
                    self.forget_usage(&compare.key);
                }
                return self.start_heartbeat(&spec.id);
            }
        }
        Err(self.contended(OP, &spec.id))
    }

    fn start_heartbeat(&self, id: &str) -> Result<()> {
        const OP: &str = "heartbeat";
        let lease = self
            .store
            .grant_lease(self.config.server_ttl)
            .map_err(|e| ControlError::store(OP, id, e))?;
        self.store
            .put_with_lease(&keys::alive(id), &self.now_ns().to_be_bytes(), lease)
            .map_err(|e| ControlError::store(OP, id, e))?;
        if let Some(old) = self.heartbeats.lock().insert(id.to_owned(), lease) {
            self.store
                .revoke_lease(old)
                .map_err(|e| ControlError::store(OP, id, e))?;
        }
        Ok(())
    }

    /// Keeps a server registered through this instance alive; a server whose lease already
    /// expired (a long pause) is brought back with a new lease.
    pub fn heartbeat(&self, id: &str) -> Result<()> {
        const OP: &str = "heartbeat";
        let lease = self.heartbeats.lock().get(id).copied().ok_or_else(|| {
            ControlError::new(ControlErrorKind::NotFound, OP, id, "not registered here")
        })?;
        match self.store.keep_alive(lease) {
            Ok(()) => Ok(()),
            Err(err) if err.kind == MetaErrorKind::LeaseNotFound => self.start_heartbeat(id),
            Err(err) => Err(ControlError::store(OP, id, err)),
        }
    }

    /// Stops a server's heartbeat: it is down at once.
    pub fn deregister_heartbeat(&self, id: &str) -> Result<()> {
        if let Some(lease) = self.heartbeats.lock().remove(id) {
            self.store
                .revoke_lease(lease)
                .map_err(|e| ControlError::store("deregister", id, e))?;
        }
        Ok(())
    }

    /// Every registered server with its health and accounting, ordered by id.
    pub fn list_servers(&self) -> Result<Vec<ServerStatus>> {
        const OP: &str = "list_servers";
        let alive: std::collections::HashSet<Vec<u8>> = self
            .list_raw(OP, keys::ALIVE.as_bytes())?
            .into_iter()
            .map(|(key, _)| key[keys::ALIVE.len()..].to_vec())
            .collect();
        let mut usage: BTreeMap<String, BTreeMap<strata_core::TierKind, TierUsage>> =
            BTreeMap::new();
        for (key, value) in self.list_raw(OP, keys::USAGE.as_bytes())? {
            let rest = String::from_utf8_lossy(&key[keys::USAGE.len()..]).into_owned();
            let Some((server, tier)) = rest.rsplit_once('/') else {
                continue;
            };
            let Ok(tier) = tier.parse() else { continue };
            usage
                .entry(server.to_owned())
                .or_default()
                .insert(tier, decode(OP, &key, &value)?);
        }
        let mut out = Vec::new();
        for (key, value) in self.list_raw(OP, keys::SERVERS.as_bytes())? {
            let spec: ServerSpec = decode(OP, &key, &value)?;
            let health = if alive.contains(spec.id.as_bytes()) {
                Health::Up
            } else {
                Health::Down
            };
            let usage = usage.remove(&spec.id).unwrap_or_default();
            out.push(ServerStatus {
                spec,
                health,
                usage,
            });
        }
        Ok(out)
    }

    pub(crate) fn get_raw(&self, op: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store
            .get(key)
            .map_err(|e| ControlError::store(op, String::from_utf8_lossy(key), e))
    }

    /// [`strata_meta::MetaStore::get_guarded`]: for a record the caller's transaction then compares.
    pub(crate) fn get_guarded_raw(&self, op: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store
            .get_guarded(key)
            .map_err(|e| ControlError::store(op, String::from_utf8_lossy(key), e))
    }

    pub(crate) fn list_raw(
        &self,
        op: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.store
            .list_prefix(prefix)
            .map_err(|e| ControlError::store(op, String::from_utf8_lossy(prefix), e))
    }

    pub(crate) fn transact(
        &self,
        op: &'static str,
        subject: &str,
        when: &[Compare],
        then: &[Op],
    ) -> Result<bool> {
        self.store
            .transact(when, then)
            .map_err(|e| ControlError::store(op, subject, e))
    }

    pub(crate) fn contended(&self, op: &'static str, subject: &str) -> ControlError {
        ControlError::new(
            ControlErrorKind::Contended,
            op,
            subject,
            format!(
                "gave up after {} conflicting concurrent updates",
                self.config.max_retries
            ),
        )
    }
}
