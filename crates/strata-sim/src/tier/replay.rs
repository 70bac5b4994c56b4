//! The replay loop: requests in arrival order, placement of first-touched extents, service
//! of every extent piece, `on_access` moves right behind the request, `plan` at every
//! planning boundary of virtual time. `on_access` moves may be rate-limited
//! ([`TierSimConfig::on_access_bytes_per_s`]); `plan` moves always are, by its budget.
//! With [`TierSimConfig::heat_forecast_window_ns`] the policy is handed the shipped heat
//! forecaster's predictions at the first planning boundary after each window. With
//! [`TierSimConfig::prefetch`] a prefetcher ([`super::prefetch`]) moves predicted extents
//! up after each access, once the policy has seen it.

use super::heat::HeatForecasting;
use super::prefetch::TierPrefetcher;
use super::stats::Recorder;
use super::{
    Piece, PrefetchMeasures, TierError, TierEvent, TierExecutor, TierInput, TierRun, TierSimConfig,
    TierSizes, pieces,
};
use strata_core::TierKind;
use strata_policy::{
    Access, PlacementPolicy, SequentialDetector, SlotLayout, TierSizing, TierSpec, policy_by_name,
};

/// Replays `input` under the policy registered as `policy_name`.
pub fn simulate_tier(
    input: &TierInput,
    policy_name: &str,
    sizes: &TierSizes,
    config: &TierSimConfig,
) -> Result<TierRun, TierError> {
    let mut policy = registered(policy_name, config)?;
    simulate_policy(input, policy.as_mut(), sizes, config)
}

/// The policy registered as `policy_name`, configured for this replay.
fn registered(
    policy_name: &str,
    config: &TierSimConfig,
) -> Result<Box<dyn PlacementPolicy>, TierError> {
    // `strata`'s shadows start their copies as this replay's executor does.
    let policy_config = config.policy.clone().with_copies(config.copies);
    Ok(policy_by_name(policy_name, &policy_config)?)
}

/// [`simulate_tier`], handing `on_event` every placement, accepted move and served extent
/// piece in the order they happen. The run is the same as without it.
pub fn simulate_tier_with_events(
    input: &TierInput,
    policy_name: &str,
    sizes: &TierSizes,
    config: &TierSimConfig,
    on_event: &mut dyn FnMut(&TierEvent),
) -> Result<TierRun, TierError> {
    let mut policy = registered(policy_name, config)?;
    replay(input, policy.as_mut(), sizes, config, Some(on_event))
}

/// The tiers of one replay, fastest first: the fast tier, the optional middle tier, and an
/// unbounded slow tier that lays extents out by address (like a disk holding the volumes).
fn tier_specs(
    config: &TierSimConfig,
    fast_extents: u64,
    middle_extents: Option<u64>,
    sizing: TierSizing,
) -> Vec<TierSpec> {
    let unbounded_fast = sizing == TierSizing::UnboundedFastest;
    let mut specs = vec![TierSpec {
        kind: TierKind::Nvme,
        profile: config.fast_profile,
        capacity_extents: (!unbounded_fast).then_some(fast_extents),
        layout: if unbounded_fast {
            SlotLayout::ByAddress
        } else {
            SlotLayout::Packed
        },
    }];
    if let Some(extents) = middle_extents {
        specs.push(TierSpec {
            kind: TierKind::Ssd,
            profile: config.middle_profile,
            capacity_extents: Some(extents),
            layout: SlotLayout::Packed,
        });
    }
    specs.push(TierSpec {
        kind: TierKind::Hdd,
        profile: config.slow_profile,
        capacity_extents: None,
        layout: SlotLayout::ByAddress,
    });
    specs
}

/// Replays `input` under `policy` (any implementation, registered or not).
pub fn simulate_policy(
    input: &TierInput,
    policy: &mut dyn PlacementPolicy,
    sizes: &TierSizes,
    config: &TierSimConfig,
) -> Result<TierRun, TierError> {
    replay(input, policy, sizes, config, None)
}

fn replay(
    input: &TierInput,
    policy: &mut dyn PlacementPolicy,
    sizes: &TierSizes,
    config: &TierSimConfig,
    mut on_event: Option<&mut dyn FnMut(&TierEvent)>,
) -> Result<TierRun, TierError> {
    config.validate()?;
    let unit_bytes = input.unit_bytes();
    if unit_bytes != config.unit_bytes {
        return Err(TierError::invalid(format!(
            "trace prepared with unit {} but the simulation uses {}",
            unit_bytes, config.unit_bytes
        )));
    }
    let footprint = input.footprint_extents();
    let fast_extents = TierSizes::extents(sizes.fast, footprint, unit_bytes);
    let middle_extents = sizes
        .middle
        .map(|size| TierSizes::extents(size, footprint, unit_bytes));
    let specs = tier_specs(config, fast_extents, middle_extents, policy.tier_sizing());
    let capacity_extents = specs.iter().map(|s| s.capacity_extents).collect();
    let tiers = specs.len();
    let mut executor = TierExecutor::with_copies(specs, unit_bytes, config.copies)?;
    if on_event.is_some() {
        executor.record_events();
    }
    let mut recorder = Recorder::new(config.planning_interval_ns, tiers, input.requests().len());
    let mut detector = SequentialDetector::default();
    let budget_bytes = config.plan_budget_bytes();
    let mut next_plan_ns = config.planning_interval_ns;
    let mut request_pieces: Vec<Piece> = Vec::new();
    let mut on_access_bucket = config.on_access_bucket();
    let mut heat = config
        .heat_forecast_window_ns
        .map(|window_ns| {
            HeatForecasting::shipped(window_ns, config.policy.strata.heat.half_life_ns)
        })
        .transpose()?;
    let mut prefetcher = config
        .prefetch
        .map(|kind| TierPrefetcher::new(kind, unit_bytes, config.migration_bytes_per_s))
        .transpose()?;

    for request in input.requests() {
        let arrival_ns = request.time_ns;
        while next_plan_ns <= arrival_ns {
            if let Some(heat) = heat.as_mut() {
                heat.advance(next_plan_ns, policy);
            }
            plan_tick(
                policy,
                &mut executor,
                &mut recorder,
                next_plan_ns,
                budget_bytes,
                unit_bytes,
            );
            next_plan_ns = next_plan_ns.saturating_add(config.planning_interval_ns);
        }
        let record = &request.record;
        let run = detector.observe(
            u64::from(record.disk),
            record.offset_bytes,
            record.len_bytes,
        );
        request_pieces.clear();
        request_pieces.extend(pieces(record, unit_bytes));

        for piece in &request_pieces {
            if executor.map().slot_of(piece.extent).is_none() {
                let tier = policy.place_new(piece.extent, &executor.view(arrival_ns));
                executor.place(piece.extent, tier);
            }
        }
        let mut completion_ns = arrival_ns;
        for piece in &request_pieces {
            if let Some(prefetcher) = prefetcher.as_mut() {
                prefetcher.demand(&mut executor, piece.extent, arrival_ns);
            }
            let served = executor.serve(arrival_ns, record.kind, piece);
            recorder.piece(arrival_ns, served.tier);
            completion_ns = completion_ns.max(served.completion_ns);
        }
        recorder.request(arrival_ns, completion_ns - arrival_ns);

        for piece in &request_pieces {
            if let Some(heat) = heat.as_mut() {
                heat.count(piece.extent);
            }
            let access = Access {
                extent: piece.extent,
                kind: record.kind,
                time_ns: arrival_ns,
                len_bytes: piece.len_bytes,
                offset_in_extent_bytes: Some(piece.offset_in_extent_bytes),
                sequential: run.sequential,
                run_bytes: run.run_bytes,
            };
            let moves = policy.on_access(&access, &executor.view(arrival_ns));
            // A throttled batch (an eviction and its promotion) is refused whole.
            let batch_bytes = moves.len() as u64 * unit_bytes;
            if !moves.is_empty()
                && let Some(bucket) = on_access_bucket.as_mut()
                && !bucket.try_take(arrival_ns, batch_bytes)
            {
                for mv in &moves {
                    executor.reject();
                    policy.refused(mv);
                }
                continue;
            }
            for mv in &moves {
                if executor.execute(arrival_ns, mv).is_ok() {
                    recorder.migrated(arrival_ns, unit_bytes);
                } else {
                    policy.refused(mv);
                }
            }
        }
        if let Some(prefetcher) = prefetcher.as_mut() {
            for piece in &request_pieces {
                let copied =
                    prefetcher.after_access(&mut executor, piece.extent, record.kind, arrival_ns);
                if copied > 0 {
                    recorder.migrated(arrival_ns, copied);
                }
            }
        }
        if let Some(on_event) = on_event.as_mut() {
            executor.drain_events().iter().for_each(on_event);
        }
    }

    let counters = executor.counters();
    let (mut result, series, latency_cdf) =
        recorder.finish(policy.name(), fast_extents, middle_extents, counters);
    if let Some(prefetcher) = prefetcher {
        let predictor = prefetcher.kind();
        let stats = prefetcher.finish();
        result.prefetch = Some(PrefetchMeasures {
            predictor: predictor.name().to_owned(),
            precision: stats.precision(),
            coverage: stats.coverage(result.misses),
            timeliness: stats.timeliness(),
            wasted_bytes: stats.wasted * unit_bytes,
            stats,
        });
    }
    Ok(TierRun {
        result,
        series,
        latency_cdf,
        capacity_extents,
        max_used_extents: executor.max_used_extents().to_vec(),
        counters,
    })
}

/// One planning call at `now_ns`; moves beyond the budget are refused.
fn plan_tick(
    policy: &mut dyn PlacementPolicy,
    executor: &mut TierExecutor,
    recorder: &mut Recorder,
    now_ns: u64,
    budget_bytes: u64,
    unit_bytes: u64,
) {
    let moves = policy.plan(now_ns, &executor.view(now_ns), budget_bytes);
    let mut spent_bytes = 0u64;
    for mv in &moves {
        if spent_bytes.saturating_add(unit_bytes) > budget_bytes {
            executor.reject();
            policy.refused(mv);
            continue;
        }
        if executor.execute(now_ns, mv).is_ok() {
            spent_bytes += unit_bytes;
            recorder.migrated(now_ns, unit_bytes);
        } else {
            policy.refused(mv);
        }
    }
}
