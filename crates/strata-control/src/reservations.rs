//! Soft reservations and pre-allocation, with per-tier, per-server capacity accounting.
//!
//! `pre_allocate` places each tier's share of a volume on the best-scoring server
//! ([`crate::placement`]) and records every reservation and every accounting change in one
//! transaction guarded by comparisons on the accounting records it read, retried on
//! conflict. Lifecycle: reserved → in use ([`ControlPlane::consume`]) → released (lease
//! release or expiry, volume delete). A reservation may take others' reserved space only
//! within the overcommit ratio, and each time it does an [`OvercommitEvent`] is recorded.

use crate::keys::{self, decode, encode};
use crate::model::ReservationStatus;
use crate::placement::{self, ClusterView, PlacementRequest};
use crate::{
    ControlError, ControlErrorKind, ControlPlane, OvercommitEvent, Reservation, Result, TierMix,
    TierUsage,
};
use std::collections::{BTreeMap, BTreeSet};
use strata_core::TierKind;
use strata_meta::{Compare, Op};

/// Reads, changes and writes back accounting records inside one optimistic transaction.
///
/// A first attempt takes accounting records from this instance's cache of what it last read
/// or wrote, or else from a guarded read ([`strata_meta::MetaStore::get_guarded`]): the
/// transaction compares every record it used, so a stale one costs a retry, never a wrong
/// write. A retry reads fresh (`fresh`), and a "no capacity" answer reached from records
/// that were not read fresh is retried too before it is believed.
#[derive(Debug, Default)]
struct Batch {
    fresh: bool,
    /// Some record came from the cache or a guarded read.
    stale: bool,
    when: Vec<Compare>,
    then: Vec<Op>,
    usage: BTreeMap<Vec<u8>, TierUsage>,
}

impl Batch {
    fn new(fresh: bool) -> Self {
        Self {
            fresh,
            ..Self::default()
        }
    }

    /// The accounting record of `(server, tier)`, read once per batch.
    fn usage(
        &mut self,
        plane: &ControlPlane,
        op: &'static str,
        server: &str,
        tier: &TierKind,
    ) -> Result<&mut TierUsage> {
        let key = keys::usage(server, tier);
        if !self.usage.contains_key(&key) {
            let mut raw = None;
            if !self.fresh {
                raw = match plane.cached_usage(&key) {
                    Some(raw) => Some(raw),
                    None => plane.get_guarded_raw(op, &key)?,
                };
                self.stale |= raw.is_some();
            }
            // A record too new for the guarded read is looked up again before "not found".
            let raw = match raw {
                Some(raw) => raw,
                None => plane.get_raw(op, &key)?.ok_or_else(|| {
                    ControlError::new(
                        ControlErrorKind::NotFound,
                        op,
                        server,
                        format!("server has no {tier} tier"),
                    )
                })?,
            };
            self.usage.insert(key.clone(), decode(op, &key, &raw)?);
            self.when.push(Compare::value(key.clone(), raw));
        }
        Ok(self
            .usage
            .get_mut(&key)
            .unwrap_or_else(|| unreachable!("inserted above")))
    }

    /// `error`, unless it may come from a stale record: then `Ok`, and the caller retries
    /// with fresh reads.
    fn refuse(&self, error: ControlError) -> Result<()> {
        if self.stale { Ok(()) } else { Err(error) }
    }

    fn commit(mut self, plane: &ControlPlane, op: &'static str, subject: &str) -> Result<bool> {
        let written: Vec<(Vec<u8>, Vec<u8>)> = self
            .usage
            .iter()
            .map(|(key, usage)| (key.clone(), encode(usage)))
            .collect();
        for (key, raw) in &written {
            self.then.push(Op::put(key.clone(), raw.clone()));
        }
        let applied = plane.transact(op, subject, &self.when, &self.then)?;
        for (key, raw) in written {
            if applied {
                plane.remember_usage(key, raw);
            } else {
                plane.forget_usage(&key);
            }
        }
        Ok(applied)
    }
}

fn no_capacity(op: &'static str, subject: &str, message: String) -> ControlError {
    ControlError::new(ControlErrorKind::NoCapacity, op, subject, message)
}

impl ControlPlane {
    /// Reserves `bytes` of `volume` split by `profile` (tier → share), one server per tier
    /// chosen by placement, under the live lease `lease_id`. All or nothing.
    pub fn pre_allocate(
        &self,
        volume: &str,
        lease_id: &str,
        profile: &TierMix,
        bytes: u64,
    ) -> Result<Vec<Reservation>> {
        const OP: &str = "pre_allocate";
        self.lease(lease_id)?;
        let partitions: BTreeSet<String> = self
            .reservations_of(volume, None)?
            .into_iter()
            .filter(|r| r.status != ReservationStatus::Released)
            .map(|r| r.server)
            .collect();
        for attempt in 0..self.config.max_retries {
            let view = ClusterView::from_statuses(&self.list_servers()?);
            let mut avoid = partitions.clone();
            let mut plan = Vec::new();
            for (tier, share) in profile.iter().filter(|(_, share)| **share > 0.0) {
                let wanted = (bytes as f64 * share).ceil() as u64;
                let request = PlacementRequest {
                    volume: volume.to_owned(),
                    tier: tier.clone(),
                    bytes: wanted,
                    predicted: None,
                    avoid: avoid.clone(),
                    overcommit_ratio: self.config.overcommit_ratio,
                };
                let Some(best) = placement::place(&view, &request) else {
                    return Err(self.what_would_fit(OP, volume, &view, profile, bytes));
                };
                avoid.insert(best.server.clone());
                plan.push((best.server, tier.clone(), wanted));
            }
            match self.try_reserve(OP, volume, lease_id, &plan, attempt > 0, false)? {
                Some(reservations) => return Ok(reservations),
                None => continue,
            }
        }
        Err(self.contended(OP, volume))
    }

    /// Reserves `bytes` on one given server and tier (placement already decided).
    pub fn reserve(
        &self,
        volume: &str,
        lease_id: &str,
        server: &str,
        tier: &TierKind,
        bytes: u64,
    ) -> Result<Reservation> {
        const OP: &str = "reserve";
        let plan = [(server.to_owned(), tier.clone(), bytes)];
        for attempt in 0..self.config.max_retries {
            // A new reservation is the common case: the first attempt guesses its record is
            // absent (one read fewer; the transaction checks the guess), later ones read it.
            let first = attempt == 0;
            if let Some(mut done) = self.try_reserve(OP, volume, lease_id, &plan, !first, first)?
                && let Some(reservation) = done.pop()
            {
                return Ok(reservation);
            }
        }
        Err(self.contended(OP, volume))
    }

    /// One optimistic attempt at a reservation plan; `None` when a concurrent change won
    /// (or the guess that the reservation records are absent was wrong, or a refusal may
    /// come from stale records). `fresh` reads every record fresh.
    fn try_reserve(
        &self,
        op: &'static str,
        volume: &str,
        lease_id: &str,
        plan: &[(String, TierKind, u64)],
        fresh: bool,
        guess_absent: bool,
    ) -> Result<Option<Vec<Reservation>>> {
        let now_ns = self.now_ns();
        let ratio = self.config.overcommit_ratio;
        let mut batch = Batch::new(fresh);
        let mut reservations = Vec::new();
        for (server, tier, bytes) in plan {
            let key = keys::reservation(volume, lease_id, server, tier);
            let usage = batch.usage(self, op, server, tier)?;
            if *bytes > usage.grantable_bytes(ratio) {
                let message = format!(
                    "{server}/{tier}: {bytes} bytes wanted, {} free, {} grantable with overcommit {ratio}",
                    usage.free_bytes(),
                    usage.grantable_bytes(ratio)
                );
                batch.refuse(no_capacity(op, volume, message))?;
                return Ok(None);
            }
            let borrowed = bytes.saturating_sub(usage.free_bytes());
            usage.reserved_bytes += bytes;
            let reservation = Reservation {
                volume: volume.to_owned(),
                lease_id: lease_id.to_owned(),
                server: server.clone(),
                tier: tier.clone(),
                bytes: *bytes,
                in_use_bytes: 0,
                status: ReservationStatus::Reserved,
                created_at_ns: now_ns,
                overcommitted: borrowed > 0,
            };
            // One reservation per (volume, lease, server, tier): a second adds to it.
            let old = if guess_absent {
                None
            } else if fresh {
                self.get_raw(op, &key)?
            } else {
                self.get_guarded_raw(op, &key)?
            };
            let mut stored = reservation.clone();
            if let Some(raw) = &old {
                let previous: Reservation = decode(op, &key, raw)?;
                if previous.status != ReservationStatus::Released {
                    stored.bytes += previous.bytes;
                    stored.in_use_bytes = previous.in_use_bytes;
                    stored.status = previous.status;
                    stored.created_at_ns = previous.created_at_ns;
                }
            }
            batch.when.push(Compare {
                key: key.clone(),
                expected: old,
            });
            batch.then.push(Op::put(key, encode(&stored)));
            if borrowed > 0 {
                let event = OvercommitEvent {
                    at_ns: now_ns,
                    volume: volume.to_owned(),
                    server: server.clone(),
                    tier: tier.clone(),
                    bytes: *bytes,
                    borrowed_bytes: borrowed,
                };
                batch.then.push(Op::put(
                    keys::overcommit_event(now_ns, volume, server),
                    encode(&event),
                ));
            }
            reservations.push(stored);
        }
        Ok(batch.commit(self, op, volume)?.then_some(reservations))
    }

    /// The clear error for a profile that cannot be placed: per tier, the most any healthy
    /// server can grant, and the largest volume size this profile would fit.
    fn what_would_fit(
        &self,
        op: &'static str,
        volume: &str,
        view: &ClusterView,
        profile: &TierMix,
        bytes: u64,
    ) -> ControlError {
        let ratio = self.config.overcommit_ratio;
        let mut parts = Vec::new();
        let mut fits_bytes = u64::MAX;
        for (tier, share) in profile.iter().filter(|(_, share)| **share > 0.0) {
            let best = view
                .servers
                .iter()
                .filter(|s| s.healthy)
                .flat_map(|s| s.tiers.iter().filter(|t| &t.tier == tier))
                .map(|t| t.usage.grantable_bytes(ratio))
                .max()
                .unwrap_or(0);
            fits_bytes = fits_bytes.min((best as f64 / share) as u64);
            parts.push(format!("{tier}: at most {best} bytes on one server"));
        }
        no_capacity(
            op,
            volume,
            format!(
                "{bytes} bytes do not fit this tier profile; {}; the profile would fit {fits_bytes} bytes",
                parts.join(", ")
            ),
        )
    }

    /// Marks `bytes` of the volume's reservations on `tier` as written (reserved → in use).
    /// Bytes beyond the reservations come from the server's unreserved free space only.
    pub fn consume(&self, volume: &str, tier: &TierKind, bytes: u64) -> Result<()> {
        const OP: &str = "consume";
        for attempt in 0..self.config.max_retries {
            let mut batch = Batch::new(attempt > 0);
            let mut remaining = bytes;
            let mut first_server = None;
            for (key, raw) in self.list_raw(OP, &keys::reservation_prefix(volume, None))? {
                let mut reservation: Reservation = decode(OP, &key, &raw)?;
                if &reservation.tier != tier || reservation.status == ReservationStatus::Released {
                    continue;
                }
                first_server.get_or_insert_with(|| reservation.server.clone());
                let take = remaining.min(reservation.bytes - reservation.in_use_bytes);
                if take == 0 {
                    continue;
                }
                remaining -= take;
                reservation.in_use_bytes += take;
                reservation.status = ReservationStatus::InUse;
                let usage = batch.usage(self, OP, &reservation.server, tier)?;
                usage.reserved_bytes = usage.reserved_bytes.saturating_sub(take);
                usage.used_bytes += take;
                batch.when.push(Compare::value(key.clone(), raw));
                batch.then.push(Op::put(key, encode(&reservation)));
            }
            if remaining > 0 {
                let server = first_server.ok_or_else(|| {
                    no_capacity(
                        OP,
                        volume,
                        format!("no reservation on {tier} to write into"),
                    )
                })?;
                let usage = batch.usage(self, OP, &server, tier)?;
                if remaining > usage.free_bytes() {
                    let message = format!(
                        "{remaining} bytes beyond the reservations; {server}/{tier} has {} unreserved bytes free",
                        usage.free_bytes()
                    );
                    batch.refuse(no_capacity(OP, volume, message))?;
                    continue;
                }
                usage.used_bytes += remaining;
            }
            if batch.commit(self, OP, volume)? {
                return Ok(());
            }
        }
        Err(self.contended(OP, volume))
    }

    /// Gives back the unwritten part of every reservation of one lease.
    pub(crate) fn release_reservations(
        &self,
        volume: &str,
        lease_id: &str,
        status: ReservationStatus,
    ) -> Result<()> {
        const OP: &str = "release_reservations";
        for attempt in 0..self.config.max_retries {
            let mut batch = Batch::new(attempt > 0);
            for (key, raw) in
                self.list_raw(OP, &keys::reservation_prefix(volume, Some(lease_id)))?
            {
                let mut reservation: Reservation = decode(OP, &key, &raw)?;
                if reservation.status == ReservationStatus::Released {
                    continue;
                }
                let unwritten = reservation.bytes - reservation.in_use_bytes;
                let usage = batch.usage(self, OP, &reservation.server, &reservation.tier)?;
                usage.reserved_bytes = usage.reserved_bytes.saturating_sub(unwritten);
                reservation.status = status;
                batch.when.push(Compare::value(key.clone(), raw));
                batch.then.push(Op::put(key, encode(&reservation)));
            }
            if batch.commit(self, OP, volume)? {
                return Ok(());
            }
        }
        Err(self.contended(OP, volume))
    }

    /// A deleted volume gives back everything: reserved and written bytes, and its records.
    pub fn delete_volume(&self, volume: &str) -> Result<()> {
        const OP: &str = "delete_volume";
        for attempt in 0..self.config.max_retries {
            let mut batch = Batch::new(attempt > 0);
            for (key, raw) in self.list_raw(OP, &keys::reservation_prefix(volume, None))? {
                let reservation: Reservation = decode(OP, &key, &raw)?;
                let usage = batch.usage(self, OP, &reservation.server, &reservation.tier)?;
                usage.used_bytes = usage.used_bytes.saturating_sub(reservation.in_use_bytes);
                if reservation.status != ReservationStatus::Released {
                    let unwritten = reservation.bytes - reservation.in_use_bytes;
                    usage.reserved_bytes = usage.reserved_bytes.saturating_sub(unwritten);
                }
                batch.when.push(Compare::value(key.clone(), raw));
                batch.then.push(Op::delete(key));
            }
            // Whatever lease the volume has ends with it; no need to compare it.
            batch.then.push(Op::delete(keys::lease(volume)));
            if batch.commit(self, OP, volume)? {
                return Ok(());
            }
        }
        Err(self.contended(OP, volume))
    }

    /// Reservations of one volume (of one lease when given), in key order.
    pub fn reservations_of(
        &self,
        volume: &str,
        lease_id: Option<&str>,
    ) -> Result<Vec<Reservation>> {
        self.list_raw("reservations", &keys::reservation_prefix(volume, lease_id))?
            .into_iter()
            .map(|(key, value)| decode("reservations", &key, &value))
            .collect()
    }

    /// Every reservation, optionally of one volume only.
    pub fn list_reservations(&self, volume: Option<&str>) -> Result<Vec<Reservation>> {
        match volume {
            Some(volume) => self.reservations_of(volume, None),
            None => self
                .list_raw("reservations", keys::RESERVATIONS.as_bytes())?
                .into_iter()
                .map(|(key, value)| decode("reservations", &key, &value))
                .collect(),
        }
    }

    /// Every recorded overcommit, oldest first.
    pub fn overcommit_events(&self) -> Result<Vec<OvercommitEvent>> {
        self.list_raw("overcommit_events", keys::OVERCOMMIT_EVENTS.as_bytes())?
            .into_iter()
            .map(|(key, value)| decode("overcommit_events", &key, &value))
            .collect()
    }
}
