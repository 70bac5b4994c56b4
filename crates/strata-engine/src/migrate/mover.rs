//! One move, end to end. The protocol (each step is why the invariants hold):
//!
//! 1. Check the contract: the extent is on `from`, `to` is another existing, non-degraded
//!    tier (and the volume's pinned tier, if pinned), and `to` has a free slot outside
//!    what it holds for other volumes' reservations (`crate::reservation`; operator moves
//!    are not checked); take it.
//! 2. Note the extent's write generation at a quiescent moment (`extent_lock`), copy in
//!    chunks — each chunk paced by the token buckets and yielding to foreground I/O on
//!    both tiers — and flush the destination. Repeat (at most twice) while writes came in.
//! 3. Final phase, holding the flush lock, then the extent's stripe *write* lock (no
//!    foreground write can be in progress or start), then the map lock: if writes came in
//!    since the last pass, copy again and flush the destination. If the extent no longer
//!    points at the source (trimmed, volume deleted), abort.
//! 4. Commit the new map entry and the log record in one store transaction — the map
//!    never points at a copy that is not durable — then publish the new placement. A
//!    queued, uncommitted change of the same key is superseded by this commit.
//! 5. Free the source slot once every request that may have looked up the old placement
//!    has finished (I/O epochs); if that takes too long, the next FLUSH frees it.
//!
//! Any failure before step 4 frees the destination slot (never published) and leaves the
//! extent where it was; cancellation is checked before every chunk.

use super::log::{MigrationOutcome, MigrationRecord};
use crate::engine::EngineInner;
use crate::extent_map::Placement;
use crate::store_format::{self, MapValue};
use crate::volume::Volume;
use crate::{EngineError, Result};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use strata_core::IoKind;
use strata_device::TierDevice;
use strata_policy::{MoveRejection, disk_time};

/// Reason of operator moves (`Engine::migrate_extent`), which reservations do not stop.
pub(crate) const MANUAL_REASON: &str = "manual";

/// A move resolved against the engine.
#[derive(Debug, Clone)]
pub(crate) struct MoveJob {
    pub volume: Arc<Volume>,
    pub extent: u64,
    pub from: usize,
    pub to: usize,
    pub reason: &'static str,
    /// A prefetch or the eviction that makes room for one: it serves a foreground stream,
    /// so it is not held to the disk-time share (the prefetcher has its own bandwidth
    /// share and accuracy tuner).
    pub for_prefetch: bool,
}

/// One copy request, for its disk-time charge.
struct Request {
    kind: IoKind,
    /// Device offset.
    at: u64,
    len: u64,
    /// The tier as the request started.
    alone: Alone,
}

/// A tier's foreground activity as a copy request starts.
#[derive(Clone, Copy)]
struct Alone {
    idle: bool,
    calls: u64,
}

/// How a copy is paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pacing {
    /// The final copy under the extent's exclusion: as fast as it can, holding writers
    /// off as briefly as possible.
    Unpaced,
    /// The bandwidth limits, yielding to foreground I/O, stopping when cancelled.
    Paced,
    /// As `Paced`, and within the disk-time share of the disks involved.
    PacedInDiskShare,
}

/// Why one attempt did not complete.
#[derive(Debug)]
enum Attempt {
    Rejected(MoveRejection),
    Aborted(String),
    Cancelled,
    /// A device failed; the tier index whose device it was.
    Device(usize, String),
    Store(String),
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl EngineInner {
    /// Executes one move with bounded retries. `Err` = rejected by the contract (not
    /// logged); `Ok` = the logged record of what happened.
    pub(crate) fn execute_move(
        &self,
        job: &MoveJob,
    ) -> std::result::Result<MigrationRecord, MoveRejection> {
        let tiering = &self.tiering;
        let started = Instant::now();
        let mut attempts = 0u32;
        tiering.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let result = loop {
            attempts += 1;
            let outcome = self.attempt_move(job, started, attempts);
            let (outcome, error) = match outcome {
                Ok(record) => break Ok(record),
                Err(Attempt::Rejected(why)) if attempts == 1 => break Err(why),
                Err(Attempt::Rejected(_)) => (MigrationOutcome::Failed, None),
                Err(Attempt::Aborted(msg)) => (MigrationOutcome::Aborted, Some(msg)),
                Err(Attempt::Cancelled) => (MigrationOutcome::Cancelled, None),
                Err(Attempt::Store(msg)) => (MigrationOutcome::Failed, Some(msg)),
                Err(Attempt::Device(tier, msg)) => {
                    self.note_move_failure(tier);
                    let retry = attempts < tiering.config.max_attempts
                        && !self.tiers[job.to].degraded.load(Ordering::Relaxed);
                    if retry {
                        let backoff = Duration::from_millis(
                            tiering.config.retry_backoff_ms << (attempts - 1).min(16),
                        );
                        tracing::warn!(extent = job.extent, attempts, error = %msg, "move failed; retrying");
                        if !tiering.cancel.sleep(backoff) {
                            continue;
                        }
                    }
                    (MigrationOutcome::Failed, Some(msg))
                }
            };
            break Ok(self.log_unswitched(job, started, attempts, outcome, error));
        };
        tiering.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Ok(record) = &result {
            let counter = match record.outcome {
                MigrationOutcome::Done => &tiering.counters.completed,
                MigrationOutcome::Failed => &tiering.counters.failed,
                MigrationOutcome::Aborted => &tiering.counters.aborted,
                MigrationOutcome::Cancelled => &tiering.counters.cancelled,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn note_move_failure(&self, tier: usize) {
        let Some(t) = self.tiers.get(tier) else {
            return;
        };
        let failures = t.move_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.tiering.config.degrade_after_failures
            && !t.degraded.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                tier = t.name(),
                failures,
                "tier degraded: no longer a migration target"
            );
        }
    }

    fn record(
        &self,
        job: &MoveJob,
        started: Instant,
        attempts: u32,
        outcome: MigrationOutcome,
        error: Option<String>,
    ) -> MigrationRecord {
        MigrationRecord {
            seq: 0,
            time_unix_ms: now_unix_ms(),
            volume: job.volume.record.name.clone(),
            volume_id: job.volume.record.id,
            extent: job.extent,
            from: self.tiers[job.from].config.kind.clone(),
            to: self.tiers[job.to].config.kind.clone(),
            reason: job.reason.to_owned(),
            bytes: if outcome == MigrationOutcome::Done {
                job.volume.extent_size()
            } else {
                0
            },
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            outcome,
            attempts,
            error,
        }
    }

    /// Logs a move that did not switch the map, in a transaction of its own.
    fn log_unswitched(
        &self,
        job: &MoveJob,
        started: Instant,
        attempts: u32,
        outcome: MigrationOutcome,
        error: Option<String>,
    ) -> MigrationRecord {
        let mut record = self.record(job, started, attempts, outcome, error);
        let logged = self.tiering.log.append_ops(&mut record).and_then(|ops| {
            self.store
                .commit(&ops)
                .map_err(|e| EngineError::store("migration_log", e))
        });
        if let Err(e) = logged {
            tracing::warn!(error = %e, "migration log record not written");
        }
        record
    }

    fn attempt_move(
        &self,
        job: &MoveJob,
        started: Instant,
        attempts: u32,
    ) -> std::result::Result<MigrationRecord, Attempt> {
        let volume = &job.volume;
        let source = match volume.map.get(job.extent) {
            Some(p) if p.tier == job.from => p,
            _ => return Err(Attempt::Rejected(MoveRejection::WrongSource)),
        };
        let target_ok = job.to != job.from
            && job.to < self.tiers.len()
            && !self.tiers[job.to].degraded.load(Ordering::Relaxed)
            && volume.pin.is_none_or(|pin| pin == job.to);
        if !target_ok {
            return Err(Attempt::Rejected(MoveRejection::InvalidTarget));
        }
        if job.reason != MANUAL_REASON
            && self.room_for(volume, job.to) == crate::reservation::Room::Reserved
        {
            self.reservations.count_move_skipped();
            return Err(Attempt::Rejected(MoveRejection::TargetFull));
        }
        let Some(slot) = self.tiers[job.to].alloc.lock().allocate(volume.slot_order) else {
            return Err(Attempt::Rejected(MoveRejection::TargetFull));
        };
        let dest = Placement {
            tier: job.to,
            granule: slot.granule,
        };
        let result = self.copy_and_switch(job, source, dest, started, attempts);
        if result.is_err() {
            // Never published: nobody else can hold this slot, so it is free at once.
            self.tiers[job.to].alloc.lock().free(slot);
        }
        result
    }

    fn copy_and_switch(
        &self,
        job: &MoveJob,
        source: Placement,
        dest: Placement,
        started: Instant,
        attempts: u32,
    ) -> std::result::Result<MigrationRecord, Attempt> {
        let volume = &job.volume;
        let (volume_id, extent) = (volume.record.id, job.extent);
        let mut copied_gen = self.extent_locks.quiescent_generation(volume_id, extent);
        let paced = if job.for_prefetch {
            Pacing::Paced
        } else {
            Pacing::PacedInDiskShare
        };
        self.copy_extent(volume, source, dest, paced)?;
        for _ in 0..2 {
            let now_gen = self.extent_locks.quiescent_generation(volume_id, extent);
            if now_gen == copied_gen {
                break;
            }
            copied_gen = now_gen;
            self.copy_extent(volume, source, dest, paced)?;
        }
        let _flush = self.flush_lock.lock();
        let (_exclusive, final_gen) = self.extent_locks.exclusive(volume_id, extent);
        if final_gen != copied_gen {
            self.copy_extent(volume, source, dest, Pacing::Unpaced)?;
        }
        let _map = volume.map_lock.lock();
        let alive = self
            .volumes_by_id()
            .get(&volume_id)
            .is_some_and(|v| Arc::ptr_eq(v, volume));
        if !alive || volume.map.get(extent) != Some(source) {
            return Err(Attempt::Aborted(
                "the extent was unmapped or its volume deleted during the move".into(),
            ));
        }
        let mut record = self.record(job, started, attempts, super::MigrationOutcome::Done, None);
        let key = store_format::map_key(volume_id, extent);
        let value = MapValue {
            tier: self.tiers[dest.tier].config.kind.clone(),
            slot_offset_bytes: dest.granule * crate::config::GRANULE_BYTES,
        };
        let mut ops = vec![strata_meta::Op::put(
            key.clone(),
            store_format::encode_map_value(&value),
        )];
        ops.extend(
            self.tiering
                .log
                .append_ops(&mut record)
                .map_err(|e| Attempt::Store(e.to_string()))?,
        );
        self.store
            .commit(&ops)
            .map_err(|e| Attempt::Store(EngineError::store("migrate", e).to_string()))?;
        volume.set_placement(extent, Some(dest));
        self.pending.lock().ops.remove(&key);
        drop(_map);
        drop(_exclusive);
        self.tiers[job.from]
            .move_failures
            .store(0, Ordering::Relaxed);
        self.tiers[job.to].move_failures.store(0, Ordering::Relaxed);
        self.tiering
            .counters
            .bytes_moved
            .fetch_add(volume.extent_size(), Ordering::Relaxed);
        let freed = vec![(source.tier, source.slot(volume.slot_order))];
        if self
            .io_epochs
            .advance_and_drain(crate::engine::DRAIN_TIMEOUT)
        {
            self.release_slots(freed);
        } else {
            self.pending.lock().frees.extend(freed);
        }
        Ok(record)
    }

    /// Copies the whole extent and flushes the destination, paced as `pacing` says.
    ///
    /// A paced copy takes the whole extent's bandwidth, and waits for its share of a
    /// disk's time, before its first chunk; then it copies the chunks back to back,
    /// yielding only to foreground I/O. Chunks paced one by
    /// one spread an extent over many foreground requests, and on a disk every request
    /// between two chunks moves the head: a seek per chunk, which the next foreground
    /// request waits for (BENCHMARKS.md, "Foreground p99 while migrating").
    fn copy_extent(
        &self,
        volume: &Volume,
        source: Placement,
        dest: Placement,
        pacing: Pacing,
    ) -> std::result::Result<(), Attempt> {
        let paced = pacing != Pacing::Unpaced;
        let len = volume.extent_size();
        let chunk = self.tiering.config.copy_chunk_bytes.min(len);
        let mut buf = vec![0u8; usize::try_from(chunk).unwrap_or(usize::MAX)];
        let (src_tier, dst_tier) = (&self.tiers[source.tier], &self.tiers[dest.tier]);
        let src_start = source.granule * crate::config::GRANULE_BYTES;
        let dst_start = dest.granule * crate::config::GRANULE_BYTES;
        if paced {
            // In chunk-sized takes: no bucket hands out more than its burst at once.
            let mut granted = 0;
            while granted < len {
                let n = chunk.min(len - granted);
                if self.tiering.cancel.is_cancelled()
                    || !self.tiering.limiter.acquire(
                        source.tier,
                        dest.tier,
                        n,
                        &self.tiering.cancel,
                    )
                {
                    return Err(Attempt::Cancelled);
                }
                granted += n;
            }
            // Before the first chunk only, like the bandwidth: waiting between chunks would
            // cost a disk a seek per chunk.
            if pacing == Pacing::PacedInDiskShare {
                self.wait_for_disk_time(source.tier, dest.tier)?;
            }
        }
        let on_disk = self.seeking(&[source.tier, dest.tier]);
        let mut done = 0;
        while done < len {
            let mut n = chunk.min(len - done);
            if paced {
                if self.tiering.cancel.is_cancelled() {
                    return Err(Attempt::Cancelled);
                }
                // A disk whose queue never drained is kept busy by foreground requests:
                // each chunk would wait behind them and then seek, and so would the request
                // after it. The rest of the extent goes in one step instead (up to
                // `BUSY_DISK_STEP_BYTES`): one seek, as the policies' copy model has it.
                if !self.yield_to_foreground(source.tier, dest.tier, on_disk) && on_disk {
                    n = (len - done).min(super::BUSY_DISK_STEP_BYTES.max(chunk));
                }
            }
            // Grown past a chunk only when a busy disk calls for a longer step.
            let n_bytes = usize::try_from(n).unwrap_or(usize::MAX);
            if buf.len() < n_bytes {
                buf.resize(n_bytes, 0);
            }
            let part = &mut buf[..n_bytes];
            let request = Request {
                kind: IoKind::Read,
                at: src_start + done,
                len: n,
                alone: self.alone(source.tier),
            };
            let started = Instant::now();
            src_tier.device.read_at(part, request.at).map_err(|e| {
                Attempt::Device(source.tier, format!("{} read: {e}", src_tier.name()))
            })?;
            self.charge_disk_time(source.tier, started.elapsed(), &request);
            let request = Request {
                kind: IoKind::Write,
                at: dst_start + done,
                alone: self.alone(dest.tier),
                ..request
            };
            let started = Instant::now();
            dst_tier.device.write_at(part, request.at).map_err(|e| {
                Attempt::Device(dest.tier, format!("{} write: {e}", dst_tier.name()))
            })?;
            self.charge_disk_time(dest.tier, started.elapsed(), &request);
            done += n;
        }
        dst_tier
            .device
            .flush()
            .map_err(|e| Attempt::Device(dest.tier, format!("{} flush: {e}", dst_tier.name())))
    }

    /// Either tier is a disk (its profile has a seek penalty).
    fn seeking(&self, tiers: &[usize]) -> bool {
        tiers
            .iter()
            .any(|&t| self.tiers[t].config.profile.seek_penalty)
    }

    /// Waits (bounded) while foreground requests are in flight on either tier (`seeking`:
    /// either is a disk); `false` if they still were when the wait ran out.
    fn yield_to_foreground(&self, a: usize, b: usize, seeking: bool) -> bool {
        let busy = || {
            self.tiers[a].fg_in_flight.load(Ordering::Relaxed) > 0
                || self.tiers[b].fg_in_flight.load(Ordering::Relaxed) > 0
        };
        // A chunk let in among queued foreground requests on a disk costs each of them a
        // seek, so a disk's queue gets longer to drain.
        let limit = if seeking {
            super::MAX_FOREGROUND_YIELD_SEEKING
        } else {
            super::MAX_FOREGROUND_YIELD
        };
        // Sleep-polls rather than spins: on a busy machine a spinning mover takes the CPU
        // the foreground requests it is waiting for need.
        let deadline = Instant::now() + limit;
        while busy() && Instant::now() < deadline {
            std::thread::sleep(super::FOREGROUND_POLL);
        }
        !busy()
    }

    /// Waits while either tier is a disk in use whose copies took more than their share of
    /// its time (`PlacementConfig::disk_time_share`, [`strata_policy::disk_time`]).
    fn wait_for_disk_time(&self, a: usize, b: usize) -> std::result::Result<(), Attempt> {
        loop {
            let wait_ns = self.disk_time_wait_ns(a).max(self.disk_time_wait_ns(b));
            if wait_ns == 0 {
                return Ok(());
            }
            // In slices, so a disk that falls quiet lets the copy go early.
            let slice = wait_ns.min(super::DISK_TIME_POLL_NS);
            self.tiering
                .counters
                .disk_time_wait_ns
                .fetch_add(slice, Ordering::Relaxed);
            if self.tiering.cancel.sleep(Duration::from_nanos(slice)) {
                return Err(Attempt::Cancelled);
            }
        }
    }

    /// How long a copy to or from `tier` must wait for its disk-time share now (0 for a
    /// tier without a seek penalty).
    fn disk_time_wait_ns(&self, tier: usize) -> u64 {
        if !self.tiers[tier].config.profile.seek_penalty {
            return 0;
        }
        let calls = self.tiers[tier].fg_calls.load(Ordering::Relaxed);
        self.tiering.disk_time[tier]
            .lock()
            .wait_ns(self.tiering.now_ns(), calls)
    }

    /// Per tier, how long a copy to or from it must wait for its disk-time share now.
    pub(crate) fn disk_time_waits(&self) -> Vec<u64> {
        (0..self.tiers.len())
            .map(|t| self.disk_time_wait_ns(t))
            .collect()
    }

    /// Whether `tier` has no foreground request in flight, and its foreground call count,
    /// as a copy request starts.
    fn alone(&self, tier: usize) -> Alone {
        let t = &self.tiers[tier];
        Alone {
            idle: t.fg_in_flight.load(Ordering::Relaxed) == 0,
            calls: t.fg_calls.load(Ordering::Relaxed),
        }
    }

    /// Charges a copy request's device time to `tier`'s disk-time account (disks only): it
    /// took `took`, of which no more than the tier's profile gives such a request, seek
    /// included, is the copy's own ([`disk_time::device_ns`]), with the profile's time
    /// scaled to the disk's measured speed when the disk is clearly slower than its profile
    /// ([`disk_time::ServiceRatio`]). A request that ran alone on the disk (none of the
    /// tier's foreground requests in flight when it started, and none started during it) is
    /// a sample of that speed.
    fn charge_disk_time(&self, tier: usize, took: Duration, request: &Request) {
        let t = &self.tiers[tier];
        let profile = &t.config.profile;
        if !profile.seek_penalty {
            return;
        }
        let took_ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let calls = t.fg_calls.load(Ordering::Relaxed);
        let busy_ns = {
            let mut pace = t.copy_pace.lock();
            if request.alone.idle && calls == request.alone.calls {
                // Where the last copy request ended, with no foreground call since: no seek.
                let sequential =
                    pace.last_end == Some(request.at) && pace.calls_at_end == request.alone.calls;
                let modelled_ns = profile.service_ns(request.kind, request.len, sequential);
                pace.ratio.observe(took_ns, modelled_ns);
                self.warn_if_slower_than_profile(tier, &mut pace);
            }
            pace.last_end = Some(request.at.saturating_add(request.len));
            pace.calls_at_end = calls;
            let with_seek_ns = profile.service_ns(request.kind, request.len, false);
            disk_time::copy_charge_ns(took_ns, with_seek_ns, &pace.ratio)
        };
        let now = self.tiering.now_ns();
        self.tiering.disk_time[tier]
            .lock()
            .charge(now, calls, busy_ns);
    }

    /// Tells the operator, once, that a disk serves copies clearly slower than its profile.
    fn warn_if_slower_than_profile(&self, tier: usize, pace: &mut crate::tier::CopyPace) {
        let scale = pace.ratio.cap_scale();
        if scale > 1.0 && !pace.warned {
            pace.warned = true;
            tracing::warn!(
                tier = self.tiers[tier].name(),
                ratio = scale,
                "the disk serves copies more slowly than its profile says; copies are charged \
                 at its measured speed, and the tier's profile should be set to match it"
            );
        }
    }

    /// Runs one move now in the calling thread (same protocol, limits and log as the
    /// executor). For operators and tests.
    pub(crate) fn migrate_now(&self, job: &MoveJob) -> Result<MigrationRecord> {
        self.execute_move(job).map_err(|why| {
            EngineError::new(
                crate::EngineErrorKind::InvalidArgument,
                "migrate_extent",
                format!("move refused: {why:?}"),
            )
            .with_volume(&job.volume.record.name)
            .with_extent(job.extent)
        })
    }
}
