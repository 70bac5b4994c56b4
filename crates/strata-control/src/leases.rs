//! Volume leases: acquire with tier preferences, renew (cost so far and re-tiering advice),
//! release and expire. Every acquire bumps the volume's generation with a compare-and-swap;
//! the generation fences stale holders ([`ControlPlane::check_generation`],
//! [`ControlPlane::fenced_commit`]).

use crate::keys::{self, decode, encode};
use crate::model::ReservationStatus;
use crate::placement::device_iops;
use crate::{ControlError, ControlErrorKind, ControlPlane, Health, LeaseRecord, Result, TierMix};
use crate::{ServerStatus, WorkloadSummary};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use strata_core::TierKind;
use strata_meta::{Compare, Op};

/// Seconds in the 30-day month that costs are quoted per.
const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;
const GIB: f64 = (1u64 << 30) as f64;
/// Tier shares are compared with this slack (percent inputs do not add up exactly).
const FRACTION_EPSILON: f64 = 1e-6;
/// A tier loaded beyond this share of its IOPS is overloaded; below the idle share a
/// faster tier is wasted money.
const BUSY_UTILISATION: f64 = 0.7;
const IDLE_UTILISATION: f64 = 0.05;

/// A request to lease a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquireRequest {
    pub volume: String,
    pub holder: String,
    pub ttl: Duration,
    /// Wanted share of the volume per tier; must sum to 1.
    pub tier_preferences: TierMix,
    /// Expected size, so the grant can check that the tiers have room (0 = do not check).
    #[serde(default)]
    pub size_bytes: u64,
    /// Take the volume from a live holder (its generation becomes stale at once).
    #[serde(default)]
    pub takeover: bool,
}

/// The answer to an acquire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AcquireOutcome {
    Granted {
        lease: LeaseRecord,
    },
    /// The preferences cannot be met now; nothing was granted.
    Alternative {
        reason: String,
        /// Tier mixes that would be granted now, best first.
        suggested_mixes: Vec<TierMix>,
        /// Healthy servers that have every preferred tier with room.
        suggested_servers: Vec<String>,
    },
}

/// Cost of one tier so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierCost {
    pub tier: TierKind,
    pub bytes: u64,
    pub cost: f64,
}

/// Advice to change the tier mix, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetierSuggestion {
    pub suggested: TierMix,
    pub reason: String,
}

/// What a renewal reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewReport {
    pub lease: LeaseRecord,
    /// Reserved bytes × time held × tier price, summed over the lease's reservations.
    pub cost_so_far: f64,
    pub cost_by_tier: Vec<TierCost>,
    pub retier: Option<RetierSuggestion>,
}

fn invalid(op: &'static str, subject: &str, message: impl Into<String>) -> ControlError {
    ControlError::new(ControlErrorKind::InvalidArgument, op, subject, message)
}

/// Splits `<volume>:<generation>`.
pub fn parse_lease_id(lease_id: &str) -> Result<(&str, u64)> {
    lease_id
        .rsplit_once(':')
        .and_then(|(volume, generation)| Some((volume, generation.parse().ok()?)))
        .ok_or_else(|| {
            invalid(
                "lease",
                lease_id,
                "lease ids look like <volume>:<generation>",
            )
        })
}

fn validate_mix(op: &'static str, subject: &str, mix: &TierMix) -> Result<()> {
    let sum: f64 = mix.values().sum();
    if mix.is_empty()
        || mix.values().any(|f| !(0.0..=1.0).contains(f))
        || (sum - 1.0).abs() > FRACTION_EPSILON
    {
        return Err(invalid(
            op,
            subject,
            format!("tier shares must be within 0..=1 and sum to 1 (got {sum})"),
        ));
    }
    Ok(())
}

/// Grantable bytes of `tier` on healthy servers: the largest single server's.
fn best_grantable(servers: &[ServerStatus], tier: &TierKind, ratio: f64) -> u64 {
    servers
        .iter()
        .filter(|s| s.health == Health::Up)
        .filter_map(|s| s.usage.get(tier))
        .map(|u| u.grantable_bytes(ratio))
        .max()
        .unwrap_or(0)
}

impl ControlPlane {
    /// Leases `request.volume` to `request.holder` with a fresh generation, or answers with
    /// tier mixes and servers that would work when the preferences cannot be met.
    pub fn acquire(&self, request: &AcquireRequest) -> Result<AcquireOutcome> {
        const OP: &str = "acquire";
        let volume = request.volume.as_str();
        keys::check_name(OP, "volume", volume)?;
        // The holder is data in the lease record, never part of a key: `host/vm` is fine.
        if request.holder.is_empty()
            || request.holder.len() > 200
            || request.holder.contains(char::is_control)
        {
            return Err(invalid(
                OP,
                volume,
                "holders are 1–200 characters without control characters",
            ));
        }
        validate_mix(OP, volume, &request.tier_preferences)?;
        if request.ttl.is_zero() {
            return Err(invalid(OP, volume, "the TTL must be positive"));
        }
        if let Some(alternative) = self.alternative_for(request)? {
            return Ok(alternative);
        }
        for _ in 0..self.config.max_retries {
            let now_ns = self.now_ns();
            let gen_key = keys::generation(volume);
            let lease_key = keys::lease(volume);
            let old_gen_raw = self.get_raw(OP, &gen_key)?;
            let old_lease_raw = self.get_raw(OP, &lease_key)?;
            let old_lease: Option<LeaseRecord> = old_lease_raw
                .as_deref()
                .map(|bytes| decode(OP, &lease_key, bytes))
                .transpose()?;
            if let Some(old) = &old_lease
                && old.expires_at_ns > now_ns
                && old.holder != request.holder
                && !request.takeover
            {
                return Err(ControlError::new(
                    ControlErrorKind::Held,
                    OP,
                    volume,
                    format!("leased by {} (generation {})", old.holder, old.generation),
                ));
            }
            let old_gen = match &old_gen_raw {
                Some(bytes) => parse_generation(OP, volume, bytes)?,
                None => 0,
            };
            let generation = old_gen + 1;
            let ttl_ms = u64::try_from(request.ttl.as_millis()).unwrap_or(u64::MAX);
            let lease = LeaseRecord {
                lease_id: format!("{volume}:{generation}"),
                volume: volume.to_owned(),
                holder: request.holder.clone(),
                generation,
                ttl_ms,
                granted_at_ns: now_ns,
                expires_at_ns: now_ns.saturating_add(ttl_ms.saturating_mul(1_000_000)),
                tiers_granted: request.tier_preferences.clone(),
            };
            let when = [
                Compare {
                    key: gen_key.clone(),
                    expected: old_gen_raw,
                },
                Compare {
                    key: lease_key.clone(),
                    expected: old_lease_raw,
                },
            ];
            let then = [
                Op::put(gen_key, generation.to_string()),
                Op::put(lease_key, encode(&lease)),
            ];
            if self.transact(OP, volume, &when, &then)? {
                if let Some(old) = old_lease {
                    // The previous holder is fenced now; its reservations go back.
                    self.release_reservations(volume, &old.lease_id, ReservationStatus::Released)?;
                }
                return Ok(AcquireOutcome::Granted { lease });
            }
        }
        Err(self.contended(OP, volume))
    }

    /// `Some(Alternative)` when a preferred tier has no healthy server with room.
    fn alternative_for(&self, request: &AcquireRequest) -> Result<Option<AcquireOutcome>> {
        let servers = self.list_servers()?;
        let ratio = self.config.overcommit_ratio;
        let mut missing = Vec::new();
        for (tier, share) in &request.tier_preferences {
            let needed = (request.size_bytes as f64 * share).ceil() as u64;
            if *share > 0.0 && best_grantable(&servers, tier, ratio) < needed.max(1) {
                missing.push((tier.clone(), needed));
            }
        }
        if missing.is_empty() {
            return Ok(None);
        }
        let available: Vec<TierKind> = servers
            .iter()
            .filter(|s| s.health == Health::Up)
            .flat_map(|s| s.usage.keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|tier| !missing.iter().any(|(m, _)| m == tier))
            .collect();
        let mut suggested_mixes = Vec::new();
        // Move each missing share to the nearest available tier, slower first (cheaper,
        // usually roomier), then faster.
        for prefer_slower in [true, false] {
            let mut mix = request.tier_preferences.clone();
            let mut ok = true;
            for (tier, _) in &missing {
                let share = mix.remove(tier).unwrap_or(0.0);
                let target = if prefer_slower {
                    available.iter().find(|t| *t > tier)
                } else {
                    available.iter().rev().find(|t| *t < tier)
                };
                match target {
                    Some(target) => *mix.entry(target.clone()).or_insert(0.0) += share,
                    None => ok = false,
                }
            }
            if ok && !suggested_mixes.contains(&mix) {
                suggested_mixes.push(mix);
            }
        }
        let suggested_servers = servers
            .iter()
            .filter(|s| s.health == Health::Up)
            .filter(|s| {
                request.tier_preferences.keys().all(|tier| {
                    s.usage
                        .get(tier)
                        .is_some_and(|u| u.grantable_bytes(ratio) > 0)
                })
            })
            .map(|s| s.spec.id.clone())
            .collect();
        let reason = missing
            .iter()
            .map(|(tier, needed)| {
                format!(
                    "{tier}: no healthy server can grant {needed} bytes (best: {})",
                    best_grantable(&servers, tier, ratio)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Some(AcquireOutcome::Alternative {
            reason,
            suggested_mixes,
            suggested_servers,
        }))
    }

    /// The live lease `lease_id`, or why it is not.
    pub fn lease(&self, lease_id: &str) -> Result<LeaseRecord> {
        const OP: &str = "lease";
        let (volume, generation) = parse_lease_id(lease_id)?;
        let key = keys::lease(volume);
        let record: LeaseRecord = match self.get_raw(OP, &key)? {
            Some(bytes) => decode(OP, &key, &bytes)?,
            None => {
                return Err(ControlError::new(
                    ControlErrorKind::Expired,
                    OP,
                    lease_id,
                    "no live lease on the volume",
                ));
            }
        };
        if record.generation != generation {
            return Err(ControlError::new(
                ControlErrorKind::StaleGeneration,
                OP,
                lease_id,
                format!("the volume is now at generation {}", record.generation),
            ));
        }
        if record.expires_at_ns <= self.now_ns() {
            return Err(ControlError::new(
                ControlErrorKind::Expired,
                OP,
                lease_id,
                "the lease's TTL ran out",
            ));
        }
        Ok(record)
    }

    /// Every lease record, live or awaiting expiry, ordered by volume.
    pub fn list_leases(&self) -> Result<Vec<LeaseRecord>> {
        self.list_raw("list_leases", keys::LEASES.as_bytes())?
            .into_iter()
            .map(|(key, value)| decode("list_leases", &key, &value))
            .collect()
    }

    /// Extends the lease by its TTL; reports the cost so far and, given the workload the
    /// data path observed, whether another tier mix would fit better.
    pub fn renew(&self, lease_id: &str, observed: Option<&WorkloadSummary>) -> Result<RenewReport> {
        self.renew_for(lease_id, None, observed)
    }

    /// [`ControlPlane::renew`], with a new TTL for this and later renewals when `ttl` is
    /// given.
    pub fn renew_for(
        &self,
        lease_id: &str,
        ttl: Option<Duration>,
        observed: Option<&WorkloadSummary>,
    ) -> Result<RenewReport> {
        const OP: &str = "renew";
        if ttl.is_some_and(|ttl| ttl.is_zero()) {
            return Err(invalid(OP, lease_id, "the TTL must be positive"));
        }
        for _ in 0..self.config.max_retries {
            let old = self.lease(lease_id)?;
            let mut lease = old.clone();
            if let Some(ttl) = ttl {
                lease.ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            }
            let now_ns = self.now_ns();
            lease.expires_at_ns = now_ns.saturating_add(lease.ttl_ms.saturating_mul(1_000_000));
            let key = keys::lease(&lease.volume);
            if self.transact(
                OP,
                lease_id,
                &[Compare::value(key.clone(), encode(&old))],
                &[Op::put(key, encode(&lease))],
            )? {
                let (cost_so_far, cost_by_tier) = self.cost_so_far(&lease, now_ns)?;
                let retier = observed.and_then(|w| suggest_retier(&lease.tiers_granted, w));
                return Ok(RenewReport {
                    lease,
                    cost_so_far,
                    cost_by_tier,
                    retier,
                });
            }
        }
        Err(self.contended(OP, lease_id))
    }

    fn cost_so_far(&self, lease: &LeaseRecord, now_ns: u64) -> Result<(f64, Vec<TierCost>)> {
        let servers = self.list_servers()?;
        let mut by_tier: std::collections::BTreeMap<TierKind, (u64, f64)> = Default::default();
        for reservation in self.reservations_of(&lease.volume, Some(&lease.lease_id))? {
            let price = servers
                .iter()
                .find(|s| s.spec.id == reservation.server)
                .and_then(|s| s.spec.tiers.iter().find(|t| t.tier == reservation.tier))
                .map_or(0.0, |t| t.cost_per_gib_month);
            let held_s = now_ns.saturating_sub(reservation.created_at_ns) as f64 / 1e9;
            let cost = reservation.bytes as f64 / GIB * held_s / SECONDS_PER_MONTH * price;
            let entry = by_tier.entry(reservation.tier.clone()).or_default();
            entry.0 += reservation.bytes;
            entry.1 += cost;
        }
        let costs: Vec<TierCost> = by_tier
            .into_iter()
            .map(|(tier, (bytes, cost))| TierCost { tier, bytes, cost })
            .collect();
        Ok((costs.iter().map(|c| c.cost).sum(), costs))
    }

    /// Ends the lease and gives its reservations back. The generation stays: the next
    /// acquire bumps it.
    pub fn release(&self, lease_id: &str) -> Result<()> {
        const OP: &str = "release";
        let old = self.lease(lease_id)?;
        let key = keys::lease(&old.volume);
        if !self.transact(
            OP,
            lease_id,
            &[Compare::value(key.clone(), encode(&old))],
            &[Op::delete(key)],
        )? {
            return Err(self.contended(OP, lease_id));
        }
        self.release_reservations(&old.volume, lease_id, ReservationStatus::Released)
    }

    /// Ends every lease whose TTL ran out (by this plane's clock) and releases its
    /// reservations; returns the lease ids ended.
    pub fn expire_due(&self) -> Result<Vec<String>> {
        const OP: &str = "expire";
        let now_ns = self.now_ns();
        let mut ended = Vec::new();
        for (key, value) in self.list_raw(OP, keys::LEASES.as_bytes())? {
            let lease: LeaseRecord = decode(OP, &key, &value)?;
            if lease.expires_at_ns > now_ns {
                continue;
            }
            // A renewal racing this sweep wins: the comparison fails and the lease lives.
            if self.transact(
                OP,
                &lease.lease_id,
                &[Compare::value(key.clone(), value)],
                &[Op::delete(key)],
            )? {
                self.release_reservations(
                    &lease.volume,
                    &lease.lease_id,
                    ReservationStatus::Released,
                )?;
                ended.push(lease.lease_id);
            }
        }
        Ok(ended)
    }

    /// The volume's current generation (0 before its first acquire).
    pub fn generation(&self, volume: &str) -> Result<u64> {
        match self.get_raw("generation", &keys::generation(volume))? {
            Some(bytes) => parse_generation("generation", volume, &bytes),
            None => Ok(0),
        }
    }

    /// Refuses `generation` unless it is the volume's current one.
    pub fn check_generation(&self, volume: &str, generation: u64) -> Result<()> {
        let current = self.generation(volume)?;
        if generation != current {
            return Err(stale(volume, generation, current));
        }
        Ok(())
    }

    /// Applies `then` only if `generation` is still the volume's current one and every
    /// comparison in `when` holds, atomically: a write fenced this way can never land after
    /// a takeover. `Ok(false)` when only `when` failed.
    pub fn fenced_commit(
        &self,
        volume: &str,
        generation: u64,
        when: &[Compare],
        then: &[Op],
    ) -> Result<bool> {
        const OP: &str = "fenced_commit";
        let mut all = Vec::with_capacity(when.len() + 1);
        all.push(Compare::value(
            keys::generation(volume),
            generation.to_string(),
        ));
        all.extend_from_slice(when);
        if self.transact(OP, volume, &all, then)? {
            return Ok(true);
        }
        self.check_generation(volume, generation)?;
        Ok(false)
    }
}

fn stale(volume: &str, presented: u64, current: u64) -> ControlError {
    ControlError::new(
        ControlErrorKind::StaleGeneration,
        "check_generation",
        volume,
        format!("generation {presented} is stale; the volume is at {current}"),
    )
}

/// Every volume's generation changes, as the store commits them: what the data path
/// follows to fence a superseded holder without a store read per write.
#[derive(Debug)]
pub struct GenerationWatch {
    watch: strata_meta::Watch,
}

impl GenerationWatch {
    /// The next `(volume, generation)` within `timeout`; `None` on timeout (or for a record
    /// under the prefix that is not a generation).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<(String, u64)> {
        let event = self.watch.recv_timeout(timeout)?;
        let volume = std::str::from_utf8(event.key.get(keys::GENERATION.len()..)?).ok()?;
        let generation = std::str::from_utf8(&event.value).ok()?.parse().ok()?;
        Some((volume.to_owned(), generation))
    }
}

impl ControlPlane {
    /// Watches every volume's generation (see [`GenerationWatch`]).
    pub fn watch_generations(&self) -> Result<GenerationWatch> {
        self.store
            .watch_prefix(keys::GENERATION.as_bytes())
            .map(|watch| GenerationWatch { watch })
            .map_err(|e| ControlError::store("watch_generations", "", e))
    }
}

fn parse_generation(op: &'static str, volume: &str, bytes: &[u8]) -> Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ControlError::new(
                ControlErrorKind::Corrupt,
                op,
                volume,
                "bad generation record",
            )
        })
}

/// Compares the observed IOPS with what each granted tier sustains, assuming requests spread
/// over tiers in proportion to their share: an overloaded tier hands share to the next
/// faster one; a nearly idle mix hands the fastest tier's share to the next slower one.
pub fn suggest_retier(granted: &TierMix, observed: &WorkloadSummary) -> Option<RetierSuggestion> {
    let demand = observed.read_iops + observed.write_iops;
    let utilisation = |tier: &TierKind, share: f64| -> Option<f64> {
        let profile = tier.default_profile()?;
        Some(demand * share / device_iops(&profile, observed.random_fraction))
    };
    let tiers: Vec<(TierKind, f64)> = granted.iter().map(|(t, s)| (t.clone(), *s)).collect();
    for (tier, share) in tiers.iter().rev() {
        if *share <= 0.0 {
            continue;
        }
        let busy = utilisation(tier, *share)?;
        if busy > BUSY_UTILISATION {
            let faster = [TierKind::Nvme, TierKind::Ssd]
                .into_iter()
                .rev()
                .find(|t| t < tier)?;
            let mut suggested = granted.clone();
            suggested.remove(tier);
            *suggested.entry(faster.clone()).or_insert(0.0) += share;
            return Some(RetierSuggestion {
                suggested,
                reason: format!(
                    "{tier} would run at {:.0}% of its IOPS for {demand:.0} IOPS observed; move its share to {faster}",
                    busy * 100.0
                ),
            });
        }
    }
    let (fastest, share) = tiers.iter().find(|(_, s)| *s > 0.0)?;
    let idle = tiers
        .iter()
        .filter(|(_, s)| *s > 0.0)
        .all(|(t, s)| utilisation(t, *s).is_some_and(|u| u < IDLE_UTILISATION));
    let slower = [TierKind::Ssd, TierKind::Hdd]
        .into_iter()
        .find(|t| t > fastest)?;
    let slower_load = utilisation(
        &slower,
        share + granted.get(&slower).copied().unwrap_or(0.0),
    )?;
    if idle && slower_load < BUSY_UTILISATION {
        let mut suggested = granted.clone();
        suggested.remove(fastest);
        *suggested.entry(slower.clone()).or_insert(0.0) += share;
        return Some(RetierSuggestion {
            suggested,
            reason: format!(
                "{demand:.0} IOPS observed leaves every tier under {:.0}% busy; {slower} serves it for less",
                IDLE_UTILISATION * 100.0
            ),
        });
    }
    None
}
