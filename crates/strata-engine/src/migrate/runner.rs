//! The two background threads: the planner (access events → policy → queued moves) and
//! the executor (queued moves → `execute_move`).

use super::mover::MoveJob;
use super::view::EngineView;
use crate::MigrationOutcome;
use crate::access::AccessKind;
use crate::engine::EngineInner;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use strata_policy::{Access, ExtentId, IoKind, Move, MoveRejection, TierId};

/// How long the executor sleeps when its queue is empty (enqueue wakes it earlier).
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Per-volume position in the access ring and the tail of the last access, for the
/// sequential-run guess (events carry extents, not offsets).
#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    next: u64,
    last_extent: Option<u64>,
    last_was_whole_extent: bool,
    run_bytes: u64,
}

/// Starts both threads behind the engine's gate.
pub(crate) fn start(inner: &Arc<EngineInner>) -> std::io::Result<()> {
    let planner = inner.clone();
    inner.tiering.gate.enter(
        std::thread::Builder::new()
            .name("strata-tier-plan".into())
            .spawn(move || plan_loop(&planner))?,
    );
    let executor = inner.clone();
    inner.tiering.gate.enter(
        std::thread::Builder::new()
            .name("strata-tier-move".into())
            .spawn(move || execute_loop(&executor))?,
    );
    Ok(())
}

fn plan_loop(inner: &EngineInner) {
    let config = &inner.tiering.config;
    let poll = Duration::from_millis(config.access_poll_ms);
    let interval = Duration::from_millis(config.plan_interval_ms);
    let mut next_plan = Instant::now() + interval;
    let mut last_save = Instant::now();
    // Accesses polled since the last save: without them the policy learnt nothing new.
    let mut unsaved = false;
    let mut cursors: BTreeMap<u64, Cursor> = BTreeMap::new();
    let mut unmapped = Unmapped::default();
    while !inner.tiering.cancel.sleep(poll.min(interval)) {
        let now_ns = inner.tiering.now_ns();
        let accesses = collect_accesses(inner, &mut cursors, now_ns, &mut unmapped.fresh);
        if !accesses.is_empty() {
            unsaved = true;
            let moves = feed_policy(inner, &accesses);
            inner.tiering.enqueue(moves);
            inner.notify_access_observers(&accesses);
            inner.prefetch.observe(inner, &accesses);
        }
        unsaved |= unmapped.tell_policy(inner);
        inner.prefetch.end_epoch_if_due(inner);
        if Instant::now() >= next_plan {
            next_plan = Instant::now() + interval;
            plan_once(inner);
        }
        let save_every = inner.tiering.save_interval_ms.load(Ordering::Relaxed);
        if unsaved && last_save.elapsed() >= Duration::from_millis(save_every) {
            last_save = Instant::now();
            match super::state::save(inner.store.as_ref(), &inner.tiering) {
                Ok(()) => unsaved = false,
                Err(e) => {
                    tracing::warn!(error = %e, "saving the placement state failed; will retry")
                }
            }
        }
    }
    // Stopping: the accesses that arrived since the last poll still reach the policy and the
    // observers, so the state saved at shutdown has them; the moves they call for are not
    // made (the mover has stopped too) and the policy is told so.
    let now_ns = inner.tiering.now_ns();
    let accesses = collect_accesses(inner, &mut cursors, now_ns, &mut unmapped.fresh);
    if !accesses.is_empty() {
        let moves = feed_policy(inner, &accesses);
        inner.tiering.tell_refused(&moves);
        inner.notify_access_observers(&accesses);
    }
    unmapped.tell_policy(inner);
}

/// Mapped extents that a TRIM or WRITE_ZEROES named whole, for the policy to forget
/// ([`strata_policy::PlacementPolicy::unmapped`]) after the accesses that came before them.
#[derive(Debug, Default)]
struct Unmapped {
    /// Named since the last poll.
    fresh: Vec<ExtentId>,
    /// Still mapped at the last poll: the request records its events before it unmaps, so
    /// it may not have got that far. Looked at once more.
    again: Vec<ExtentId>,
}

impl Unmapped {
    /// Tells the policy of the named extents that are unmapped now; returns whether it told
    /// of any. A volume's extents are looked at and handed over under its map lock, which a
    /// write holds from asking the policy where a new extent goes until it maps it: the
    /// policy never forgets an extent that a write is placing, or has placed since the trim.
    fn tell_policy(&mut self, inner: &EngineInner) -> bool {
        // By extent, a second look before a first: one volume after another, and any extent
        // named twice side by side.
        let mut named: Vec<(ExtentId, bool)> = self
            .again
            .drain(..)
            .map(|e| (e, false))
            .chain(self.fresh.drain(..).map(|e| (e, true)))
            .collect();
        if named.is_empty() {
            return false;
        }
        named.sort_unstable();
        let volumes = inner.volumes_by_id();
        let mut told = 0u64;
        for named in named.chunk_by(|a, b| a.0.volume == b.0.volume) {
            // A deleted volume's extents are forgotten with it (`retain_volumes`).
            let Some(volume) = volumes.get(&named[0].0.volume) else {
                continue;
            };
            let _map = volume.map_lock.lock();
            let mut gone: Vec<ExtentId> = Vec::with_capacity(named.len());
            for &(extent, first_look) in named {
                if volume.map.get(extent.index).is_some() {
                    if first_look {
                        self.again.push(extent);
                    }
                } else if gone.last() != Some(&extent) {
                    gone.push(extent);
                }
            }
            if !gone.is_empty() {
                inner.tiering.policy.lock().unmapped(&gone);
                told += gone.len() as u64;
            }
        }
        inner
            .tiering
            .counters
            .unmapped
            .fetch_add(told, Ordering::Relaxed);
        told > 0
    }
}

/// Hands `accesses` to the policy; returns the moves it asks for.
fn feed_policy(inner: &EngineInner, accesses: &[Access]) -> Vec<Move> {
    let view = EngineView::new(inner);
    let mut policy = inner.tiering.policy.lock();
    accesses
        .iter()
        .flat_map(|a| policy.on_access(a, &view))
        .collect()
}

/// One `plan()` call with what the plan budget holds (an interval's worth at most; less when
/// the last plan was sooner and spent its own); moves past it are rejected.
pub(crate) fn plan_once(inner: &EngineInner) {
    let now_ns = inner.tiering.now_ns();
    // Held until the plan's moves are counted, so two plans at once cannot both spend it.
    let mut bucket = inner.tiering.plan_budget.as_ref().map(|b| b.lock());
    let budget_bytes = bucket
        .as_mut()
        .map_or(u64::MAX, |bucket| bucket.available(now_ns));
    let view = EngineView::new(inner);
    let moves = inner
        .tiering
        .policy
        .lock()
        .plan(now_ns, &view, budget_bytes);
    let volumes = inner.volumes_by_id();
    let mut asked_bytes = 0u64;
    let mut within_bytes = 0u64;
    let mut within = Vec::with_capacity(moves.len());
    for mv in moves {
        let extent_bytes = volumes
            .get(&mv.extent.volume)
            .map_or(0, |v| v.extent_size());
        asked_bytes = asked_bytes.saturating_add(extent_bytes);
        if asked_bytes > budget_bytes {
            inner
                .tiering
                .counters
                .planned
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            inner.tiering.reject(&mv, MoveRejection::OverBudget);
        } else {
            within_bytes = asked_bytes;
            within.push(mv);
        }
    }
    if let Some(bucket) = bucket.as_mut() {
        bucket.spend(within_bytes);
    }
    drop(bucket);
    inner.tiering.enqueue(within);
}

/// New read and write events of every volume, as policy accesses; the extents whole-extent
/// TRIM and WRITE_ZEROES events name go to `unmapped`.
fn collect_accesses(
    inner: &EngineInner,
    cursors: &mut BTreeMap<u64, Cursor>,
    now_ns: u64,
    unmapped: &mut Vec<ExtentId>,
) -> Vec<Access> {
    let volumes = inner.volumes_by_id();
    cursors.retain(|id, _| volumes.contains_key(id));
    let mut out = Vec::new();
    for (&id, volume) in volumes.iter() {
        let cursor = cursors.entry(id).or_default();
        let batch = volume.access.read_since(cursor.next);
        cursor.next = batch.next_cursor;
        for event in batch.events {
            let len_bytes = u64::from(event.blocks) * strata_core::BLOCK_SIZE;
            let kind = match event.kind {
                AccessKind::Read => IoKind::Read,
                AccessKind::Write => IoKind::Write,
                AccessKind::Trim | AccessKind::WriteZeroes => {
                    // Mapped when the request named it (an extent that was not has nothing
                    // to forget), and named whole: the request unmaps it.
                    if event.tier.is_some() && len_bytes >= volume.extent_size() {
                        unmapped.push(ExtentId::new(id, event.extent));
                    }
                    continue;
                }
            };
            let sequential = cursor.last_was_whole_extent
                && cursor
                    .last_extent
                    .is_some_and(|last| last + 1 == event.extent);
            cursor.run_bytes = if sequential {
                cursor.run_bytes.saturating_add(len_bytes)
            } else {
                len_bytes
            };
            cursor.last_extent = Some(event.extent);
            cursor.last_was_whole_extent = len_bytes >= volume.extent_size();
            out.push(Access {
                extent: ExtentId::new(id, event.extent),
                kind,
                time_ns: now_ns,
                len_bytes,
                offset_in_extent_bytes: None,
                sequential,
                run_bytes: cursor.run_bytes,
            });
        }
    }
    out
}

fn execute_loop(inner: &EngineInner) {
    let tiering = &inner.tiering;
    while !tiering.cancel.is_cancelled() {
        let seen = tiering.cancel.nudges();
        // The policy's moves first, skipping those whose disk is over its disk-time share
        // (a move between two other tiers need not wait behind them); prefetches fill the
        // executor's idle time, and the time in which every queued move waits for a disk.
        let waits = inner.disk_time_waits();
        let ready = |mv: &Move| {
            let wait = |tier: TierId| waits.get(tier.rank()).copied().unwrap_or(0);
            wait(mv.from) == 0 && wait(mv.to) == 0
        };
        let Some(mv) = tiering.pop_first(ready) else {
            if !inner.prefetch.execute_next(inner) {
                let shortest = waits.iter().copied().filter(|&w| w > 0).min();
                match shortest {
                    // Every queued move waits for a disk's share: counted as such.
                    Some(wait_ns) if tiering.queue_len() > 0 => {
                        let started = Instant::now();
                        tiering
                            .cancel
                            .idle(seen, Duration::from_nanos(wait_ns).min(IDLE_WAIT));
                        let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(0);
                        tiering
                            .counters
                            .disk_time_wait_ns
                            .fetch_add(waited, Ordering::Relaxed);
                    }
                    _ => {
                        tiering.cancel.idle(seen, IDLE_WAIT);
                    }
                }
            }
            continue;
        };
        match resolve(inner, &mv) {
            Ok(job) => match inner.execute_move(&job) {
                Err(why) => tiering.reject(&mv, why),
                // Logged, but it did not happen (failed, aborted, cancelled).
                Ok(record) if record.outcome != MigrationOutcome::Done => {
                    tiering.tell_refused(std::slice::from_ref(&mv));
                }
                Ok(_) => {}
            },
            Err(why) => tiering.reject(&mv, why),
        }
    }
}

/// Turns a policy move into a job on a live volume.
pub(crate) fn resolve(inner: &EngineInner, mv: &Move) -> Result<MoveJob, MoveRejection> {
    let volume = inner
        .volumes_by_id()
        .get(&mv.extent.volume)
        .cloned()
        .ok_or(MoveRejection::WrongSource)?;
    if mv.to.rank() >= inner.tiers.len() || mv.to == mv.from {
        return Err(MoveRejection::InvalidTarget);
    }
    Ok(MoveJob {
        volume,
        extent: mv.extent.index,
        from: mv.from.rank(),
        to: mv.to.rank(),
        reason: mv.reason.as_str(),
        for_prefetch: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VolumeSpec;
    use crate::migrate::tests::Refusals;
    use crate::testing::{MIB, Rig, pattern};
    use parking_lot::Mutex;

    /// A trim records its event before it unmaps, so the planner may look while the extent is
    /// still mapped: it looks once more at the next poll, and no more.
    #[test]
    fn an_extent_still_mapped_at_the_first_look_is_looked_at_once_more() {
        let rig = Rig::new(&[8 * MIB, 8 * MIB]);
        rig.engine
            .create_volume(VolumeSpec::new("v", 4 * MIB))
            .unwrap();
        let v = rig.engine.open_volume("v").unwrap();
        v.write(0, &pattern(1, 4 * MIB as usize), false).unwrap();
        // The planner thread must not look too.
        rig.engine.stop_background();
        let inner = rig.engine.inner();
        let told = Arc::new(Mutex::new(Vec::new()));
        *inner.tiering.policy.lock() = Box::new(Refusals(Arc::default(), told.clone()));
        let volume = inner.volumes_by_id().values().next().unwrap().clone();
        let id = |index| ExtentId::new(volume.record.id, index);
        let mut unmapped = Unmapped::default();

        // Trims of extents 0 and 1 recorded their events (0 twice); only 0 is unmapped yet.
        volume.map.set(0, None);
        unmapped.fresh = vec![id(1), id(0), id(0)];
        assert!(unmapped.tell_policy(inner));
        assert_eq!(*told.lock(), [id(0)]);
        assert_eq!(unmapped.again, [id(1)]);

        // By the next poll 1 is unmapped too; 2 is named for the first time, still mapped.
        volume.map.set(1, None);
        unmapped.fresh = vec![id(2)];
        assert!(unmapped.tell_policy(inner));
        assert_eq!(*told.lock(), [id(0), id(1)]);

        // 2 is still mapped at its second look (a write mapped it again since): the policy
        // keeps it, and it is not looked at a third time.
        assert!(!unmapped.tell_policy(inner));
        assert!(unmapped.again.is_empty() && unmapped.fresh.is_empty());
        volume.map.set(2, None);
        assert!(!unmapped.tell_policy(inner));
        assert_eq!(*told.lock(), [id(0), id(1)]);
        assert_eq!(rig.engine.migration_stats().unmapped, 2);
    }
}
