//! The two background threads: the planner (access events → policy → queued moves) and
//! the executor (queued moves → `execute_move`).

use super::mover::MoveJob;
use super::view::EngineView;
use crate::MigrationOutcome;
use crate::access::AccessKind;
use crate::engine::EngineInner;
use crate::volume::{Unmapping, Volume};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use strata_policy::{Access, ExtentId, IoKind, Move, MoveRejection, TierId};

/// How long the executor sleeps when its queue is empty (enqueue wakes it earlier).
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// Unmapped extents handed to the policy under one hold of their volume's map lock.
const UNMAPPED_BATCH: usize = 4096;

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
        let accesses = collect_accesses(inner, &mut cursors, now_ns, &mut unmapped);
        if !accesses.is_empty() {
            unsaved = true;
            let moves = feed_policy(inner, &accesses);
            inner.tiering.enqueue(moves);
            inner.notify_access_observers(&accesses);
            inner.prefetch.observe(inner, &accesses);
        }
        unsaved |= unmapped.tell_policy(inner, Some(&cursors));
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
    let accesses = collect_accesses(inner, &mut cursors, now_ns, &mut unmapped);
    if !accesses.is_empty() {
        let moves = feed_policy(inner, &accesses);
        inner.tiering.tell_refused(&moves);
        inner.notify_access_observers(&accesses);
    }
    unmapped.tell_policy(inner, None);
}

/// Extents that trims unmapped, taken from their volumes, waiting to be told to the policy
/// ([`strata_policy::PlacementPolicy::unmapped`]) after the accesses that came before them.
#[derive(Debug, Default)]
struct Unmapped {
    /// By volume id.
    waiting: Vec<(u64, Unmapping)>,
}

impl Unmapped {
    /// Takes what `volume` unmapped since the last call. Called before its access ring is
    /// read, so the read reaches every trim taken here unless it stops early.
    fn take(&mut self, id: u64, volume: &Volume) {
        let mut unmapped = volume.unmapped.lock();
        self.waiting
            .extend(unmapped.drain(..).map(|unmapping| (id, unmapping)));
    }

    /// Tells the policy of the waiting extents that are still unmapped, once the access
    /// ring of their volume was read past their trim (`cursors`; `None` tells them all);
    /// returns whether it told of any. A volume's extents are looked at and handed over
    /// under its map lock, which a write holds from asking the policy where a new extent
    /// goes until it maps it: the policy never forgets an extent that a write is placing,
    /// or has placed since the trim.
    fn tell_policy(
        &mut self,
        inner: &EngineInner,
        cursors: Option<&BTreeMap<u64, Cursor>>,
    ) -> bool {
        if self.waiting.is_empty() {
            return false;
        }
        // A deleted volume's extents are forgotten with it (`retain_volumes`).
        let volumes = inner.volumes_by_id();
        self.waiting
            .retain(|(volume, _)| volumes.contains_key(volume));
        let read_to =
            |volume: u64| cursors.map_or(u64::MAX, |c| c.get(&volume).map_or(0, |c| c.next));
        let (ready, later): (Vec<_>, Vec<_>) = self
            .waiting
            .drain(..)
            .partition(|(volume, unmapping)| unmapping.seq < read_to(*volume));
        self.waiting = later;
        let mut ready: Vec<ExtentId> = ready
            .into_iter()
            .map(|(volume, unmapping)| ExtentId::new(volume, unmapping.extent))
            .collect();
        ready.sort_unstable();
        ready.dedup();
        let mut told = 0u64;
        for named in ready.chunk_by(|a, b| a.volume == b.volume) {
            // Every waiting volume exists: the others were dropped above.
            let volume = &volumes[&named[0].volume];
            // In batches, so a trim of a whole large volume holds up its writes of new
            // extents for one batch at a time (about 0.6 ms for `strata`, BENCHMARKS.md).
            for batch in named.chunks(UNMAPPED_BATCH) {
                let _map = volume.map_lock.lock();
                let gone: Vec<ExtentId> = batch
                    .iter()
                    .copied()
                    .filter(|extent| volume.map.get(extent.index).is_none())
                    .collect();
                if !gone.is_empty() {
                    inner.tiering.policy.lock().unmapped(&gone);
                    told += gone.len() as u64;
                }
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

/// New read and write events of every volume, as policy accesses; what the volumes
/// unmapped before them goes to `unmapped`.
fn collect_accesses(
    inner: &EngineInner,
    cursors: &mut BTreeMap<u64, Cursor>,
    now_ns: u64,
    unmapped: &mut Unmapped,
) -> Vec<Access> {
    let volumes = inner.volumes_by_id();
    cursors.retain(|id, _| volumes.contains_key(id));
    let mut out = Vec::new();
    for (&id, volume) in volumes.iter() {
        let cursor = cursors.entry(id).or_default();
        unmapped.take(id, volume);
        let batch = volume.access.read_since(cursor.next);
        cursor.next = batch.next_cursor;
        for event in batch.events {
            let len_bytes = u64::from(event.blocks) * strata_core::BLOCK_SIZE;
            let kind = match event.kind {
                AccessKind::Read => IoKind::Read,
                AccessKind::Write => IoKind::Write,
                // What they unmapped comes through the volume's own list (`take`).
                AccessKind::Trim | AccessKind::WriteZeroes => continue,
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

    /// The policy hears of a trimmed extent once the planner has read the volume's access
    /// ring past the trim, and not when a write has mapped the extent again since.
    #[test]
    fn a_trimmed_extent_is_told_after_its_accesses_unless_written_again() {
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
        let volume_id = inner.volumes_by_id().keys().next().copied().unwrap();
        let id = |index| ExtentId::new(volume_id, index);
        let mut cursors = BTreeMap::new();
        let mut unmapped = Unmapped::default();
        // Returns how many accesses it polled and whether it told the policy of any extent.
        let poll = |cursors: &mut BTreeMap<u64, Cursor>, unmapped: &mut Unmapped| {
            let accesses = collect_accesses(inner, cursors, 0, unmapped);
            (accesses.len(), unmapped.tell_policy(inner, Some(cursors)))
        };
        // The writes above.
        assert_eq!(poll(&mut cursors, &mut unmapped), (4, false));

        // A read, then a trim of extent 0 (twice) and of 1: the read is polled with them,
        // and both extents are told once each.
        v.read(0, &mut [0u8; 4096]).unwrap();
        v.trim(0, 2 * MIB).unwrap();
        v.trim(0, MIB).unwrap();
        assert_eq!(poll(&mut cursors, &mut unmapped), (1, true));
        assert_eq!(*told.lock(), [id(0), id(1)]);

        // Extent 2 is trimmed and written again before the poll: the policy placed it anew
        // and keeps it.
        v.trim(2 * MIB, MIB).unwrap();
        v.write(2 * MIB, &[7u8; 4096], false).unwrap();
        assert_eq!(poll(&mut cursors, &mut unmapped), (1, false));

        // A trim whose event the ring has not been read past waits for it.
        v.trim(3 * MIB, MIB).unwrap();
        unmapped.take(volume_id, &inner.volumes_by_id()[&volume_id]);
        assert!(!unmapped.tell_policy(inner, Some(&cursors)));
        assert_eq!(unmapped.waiting.len(), 1);
        assert_eq!(poll(&mut cursors, &mut unmapped), (0, true));
        assert_eq!(*told.lock(), [id(0), id(1), id(3)]);

        // A volume deleted with a trim waiting: its extents are dropped, not told.
        v.trim(0, MIB).unwrap();
        v.write(0, &[7u8; 4096], false).unwrap();
        v.trim(0, MIB).unwrap();
        unmapped.take(volume_id, &inner.volumes_by_id()[&volume_id]);
        drop(v);
        rig.engine.delete_volume("v").unwrap();
        assert!(!unmapped.tell_policy(inner, Some(&cursors)));
        assert!(unmapped.waiting.is_empty());
        assert_eq!(*told.lock(), [id(0), id(1), id(3)]);
        assert_eq!(rig.engine.migration_stats().unmapped, 3);
    }
}
