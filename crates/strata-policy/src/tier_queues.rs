//! [`TierQueues`]: the tiers' device queue models in virtual time, with migration copies —
//! the one copy model shared by the simulator's executor and `strata`'s shadows.
//!
//! A [`DeviceQueueModel`] serves requests in the order they are submitted, so they have to
//! be submitted in arrival order. A copy reads its source, then writes its destination when
//! that read is done — a time in the future of the request stream. So a copy's steps wait
//! in a queue ordered by arrival time and reach their device only once virtual time gets
//! there (every submission first admits what is due): a copy never holds up a request that
//! arrives before its step does.
//!
//! Until a copy is done, the source serves the extent and keeps its slot, as in the engine,
//! whose map switches only when the copy commits and which frees the source slot after
//! that (`strata-engine` `migrate/mover.rs`, steps 4 and 5). [`HeldSources`] keeps the
//! source slots of the copies in flight until then. A write that lands during the copy
//! makes the engine copy again; that extra pass is not modelled. Copies of one extent run
//! one after the other: a move of an extent whose copy is in flight reads once that copy is
//! done — estimated from the device queues as they stand while the copy's write is still
//! queued (a lower bound: requests that arrive later but before the write are not counted).
//! Along such a chain the earliest copy that is not done decides where a request goes.
//!
//! When a copy starts is the [`CopyModel`]'s call. The default is the engine's mover
//! (`migrate/runner.rs` `execute_loop`, `migrate/mover.rs`): one copy at a time in the order
//! the moves were decided, each once the previous one is done; on a disk that foreground
//! requests used within the last second, copies take at most a share of its time, charged to
//! the same [`TimeShare`] account the engine keeps (with the idle device's service time of
//! the copy's read or write, where the engine charges each request's measured time up to
//! that service time, [`crate::disk_time::device_ns`], and on a busy disk copies an extent
//! in one request, as here); and a move
//! decided while the mover's queue is full is refused ([`TierQueues::mover_full`]). The mover
//! starts a copy only when virtual time reaches it, so whether the disk is in use is known
//! then, not guessed when the move is decided; until then a copy's end is estimated as if it
//! and the copies before it ran one after another, each with a seek (so a copy that needs
//! none, reading where the disk's head already is, may end sooner; [`HeldSources`] frees a
//! source when its copy is done, not when estimated). Unlike the engine's mover, a move between
//! two tiers that need not wait does not overtake one that waits for a disk's share, and no
//! move expires in the queue (the engine's `max_move_age_ms`).
//! [`CopyModel::Overlapping`] starts each copy when it is decided instead, so copies overlap
//! on the devices (the model before this one, kept to compare).

use crate::HashMap;
use crate::disk_time::{DEFAULT_SHARE, TimeShare};
use crate::{ExtentId, TierId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use strata_core::{DeviceProfile, DeviceQueueModel, IoKind};

/// Moves the engine's mover queues before it refuses more (`max_queued_moves`).
pub const DEFAULT_MAX_QUEUED_MOVES: usize = 4096;

/// When [`TierQueues`] starts a copy. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CopyModel {
    /// As the engine's mover: one copy at a time, in the order decided; on a disk
    /// (a profile with a seek penalty) that foreground requests use, copies take at most
    /// `disk_time_share` of its time; a move decided while `max_queued` copies wait to
    /// start is refused.
    Mover {
        disk_time_share: f64,
        max_queued: usize,
    },
    /// Every copy starts when it is decided (after its extent's previous copy and once its
    /// destination slot is free), and copies overlap on the devices.
    Overlapping,
}

impl Default for CopyModel {
    /// The engine's mover with its defaults.
    fn default() -> Self {
        Self::Mover {
            disk_time_share: DEFAULT_SHARE,
            max_queued: DEFAULT_MAX_QUEUED_MOVES,
        }
    }
}

/// The mover's state under [`CopyModel::Mover`]. It starts copies in [`TierQueues::advance`],
/// when virtual time reaches them, so it knows whether a disk was in use when a copy starts.
#[derive(Debug, Clone)]
struct Mover {
    /// Copies decided and not started, in the order decided.
    pending: VecDeque<Pending>,
    /// When the copy started last is done; `None` until its write has been admitted.
    free_ns: Option<u64>,
    /// The copy started last.
    running: Option<CopyId>,
    /// The head of `pending` starts no earlier: where a disk's share last told it to wait.
    not_before_ns: u64,
    /// Sums of the idle devices' service times of the copies decided, and started.
    decided_service_ns: u64,
    started_service_ns: u64,
    /// An estimate of when the copy decided last is done (each copy priced with a seek).
    last_done_bound_ns: u64,
    /// Per tier: the disk-time account, and the foreground requests the tier has served.
    shares: Vec<TimeShare>,
    foreground: Vec<u64>,
}

impl Default for Mover {
    /// Idle from time 0.
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
            free_ns: Some(0),
            running: None,
            not_before_ns: 0,
            decided_service_ns: 0,
            started_service_ns: 0,
            last_done_bound_ns: 0,
            shares: Vec::new(),
            foreground: Vec::new(),
        }
    }
}

/// A copy the mover has not started.
#[derive(Debug, Clone, Copy)]
struct Pending {
    copy: CopyId,
    extent: ExtentId,
    from: DevicePlace,
    to: DevicePlace,
    len_bytes: u64,
    /// When it was decided: it starts no earlier.
    decided_ns: u64,
    /// The idle devices' time of its read and write.
    service_ns: u64,
}

/// One copy started by [`TierQueues::copy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CopyId(u64);

/// A copy whose write has reached its destination device, for logs
/// ([`TierQueues::record_done`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CopyDone {
    /// When the destination write completes: from then on the destination serves.
    pub done_ns: u64,
    pub extent: ExtentId,
    pub from: TierId,
    pub to: TierId,
    /// When the copy's source read was submitted (the mover started it).
    pub start_ns: u64,
}

/// A place on a tier's device: the tier and a byte offset on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DevicePlace {
    pub tier: TierId,
    pub offset: u64,
}

/// One step of a copy, waiting for virtual time to reach its arrival: the source read (with
/// the destination to write next) or the destination write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct QueuedStep {
    arrival_ns: u64,
    /// Which copy; also breaks ties between equal arrivals in submission order.
    copy: CopyId,
    extent: ExtentId,
    place: DevicePlace,
    /// `Some(destination)` for the read, `None` for the write.
    then_write: Option<DevicePlace>,
    len_bytes: u64,
}

impl QueuedStep {
    fn kind(&self) -> IoKind {
        if self.then_write.is_some() {
            IoKind::Read
        } else {
            IoKind::Write
        }
    }
}

/// One copy of a chain.
#[derive(Debug, Clone, Copy)]
struct Link {
    copy: CopyId,
    /// Where the data is, and is served from, until this copy is done.
    source: DevicePlace,
    destination: DevicePlace,
    /// When the copy's read arrives at the source; `None` until the mover starts it.
    start_ns: Option<u64>,
    len_bytes: u64,
    /// While the mover has not started it: an estimate of when it is done, and the sum of
    /// the service times of the copies decided up to it ([`Mover::decided_service_ns`]).
    pending_bound: Option<(u64, u64)>,
    /// When the copy's read is done, once the read has been admitted.
    read_done_ns: Option<u64>,
    /// When the copy is done, once its write has been admitted.
    done_ns: Option<u64>,
}

/// The copies of one extent that are (or were recently) in flight, oldest first.
type Chain = VecDeque<Link>;

/// The latest copy of `chain` is done by `now_ns`.
fn finished_by(chain: &Chain, now_ns: u64) -> bool {
    chain
        .back()
        .is_none_or(|link| link.done_ns.is_some_and(|done| done <= now_ns))
}

/// The disks (devices with a seek penalty) a pending copy reads or writes, by rank.
fn seeky_tiers<'a>(
    devices: &'a [DeviceQueueModel],
    copy: &Pending,
) -> impl Iterator<Item = (usize, IoKind)> + 'a {
    [
        (copy.from.tier, IoKind::Read),
        (copy.to.tier, IoKind::Write),
    ]
    .into_iter()
    .map(|(tier, kind)| (tier.rank(), kind))
    .filter(|&(rank, _)| devices.get(rank).is_some_and(|d| d.profile().seek_penalty))
}

/// The devices of a set of tiers and the copies between them.
#[derive(Debug, Clone, Default)]
pub struct TierQueues {
    devices: Vec<DeviceQueueModel>,
    model: CopyModel,
    mover: Mover,
    queued: BinaryHeap<Reverse<QueuedStep>>,
    in_flight: HashMap<ExtentId, Chain>,
    next_copy: u64,
    /// `in_flight` size at which finished copies are next swept out.
    sweep_at: usize,
    /// Bytes of the copies whose write has reached its device.
    copied_bytes: u64,
    /// The copies whose write reached its device since the last [`Self::take_done`], when
    /// recording.
    done_log: Option<Vec<CopyDone>>,
    /// The copies whose write reached its device and that [`Self::pop_finished`] has not
    /// returned, by when they are done (the executor's [`HeldSources`] takes them).
    finished: BinaryHeap<Reverse<(u64, CopyId)>>,
}

impl TierQueues {
    /// One device per profile, the fastest tier first, copies run as the engine's mover
    /// runs them.
    pub fn new(profiles: impl IntoIterator<Item = DeviceProfile>) -> Self {
        Self::with_model(profiles, CopyModel::default())
    }

    /// [`Self::new`] with copies run by `model`.
    pub fn with_model(profiles: impl IntoIterator<Item = DeviceProfile>, model: CopyModel) -> Self {
        let devices: Vec<_> = profiles.into_iter().map(DeviceQueueModel::new).collect();
        let share = match model {
            CopyModel::Mover {
                disk_time_share, ..
            } => disk_time_share,
            CopyModel::Overlapping => 1.0,
        };
        let mover = Mover {
            shares: devices.iter().map(|_| TimeShare::new(share, 0)).collect(),
            foreground: vec![0; devices.len()],
            ..Mover::default()
        };
        Self {
            devices,
            model,
            mover,
            ..Self::default()
        }
    }

    /// Bytes of the copies whose write has reached its device (as of the last call that
    /// took a time): what has really been copied, where a move decided while the mover is
    /// busy may still wait to start.
    pub fn copied_bytes(&self) -> u64 {
        self.copied_bytes
    }

    pub fn tier_count(&self) -> usize {
        self.devices.len()
    }

    /// The profile `tier`'s device serves at.
    pub fn profile(&self, tier: TierId) -> Option<&DeviceProfile> {
        self.devices.get(tier.rank()).map(DeviceQueueModel::profile)
    }

    /// Serves `tier`'s requests and copy steps from now on at `profile`'s speed
    /// ([`DeviceQueueModel::set_profile`]); nothing for a tier these queues do not have.
    pub fn set_profile(&mut self, tier: TierId, profile: DeviceProfile) {
        if let Some(device) = self.devices.get_mut(tier.rank()) {
            device.set_profile(profile);
        }
    }

    /// Keeps a log of the copies whose write reaches its device from now on.
    pub fn record_done(&mut self) {
        self.done_log.get_or_insert_with(Vec::new);
    }

    /// The copies logged since the last call, in the order their writes reached their
    /// devices (not necessarily the order they complete). A copy is logged once virtual time
    /// reaches its write's arrival, so every copy done by the time of the last call that
    /// took one is in the log by then.
    pub fn take_done(&mut self) -> Vec<CopyDone> {
        self.done_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// A copy done by `now_ns` that this has not returned before, as of the last
    /// [`Self::advance`]. Every copy is returned once, so the owner of these queues must keep
    /// taking them ([`HeldSources`] does).
    fn pop_finished(&mut self, now_ns: u64) -> Option<CopyId> {
        let &Reverse((done_ns, copy)) = self.finished.peek()?;
        (done_ns <= now_ns).then(|| {
            self.finished.pop();
            copy
        })
    }

    /// Admits, in arrival order, every queued copy step that arrives by `now_ns`, and starts
    /// the mover's copies as their time comes.
    fn advance(&mut self, now_ns: u64) {
        loop {
            let step_ns = self.queued.peek().map(|&Reverse(step)| step.arrival_ns);
            let start_ns = self.mover_next_start(now_ns);
            match (step_ns.filter(|&t| t <= now_ns), start_ns) {
                (Some(step), Some(start)) if start < step => self.mover_start(start),
                (Some(_), _) => self.admit_next_step(),
                (None, Some(start)) => self.mover_start(start),
                (None, None) => break,
            }
        }
    }

    /// Admits the earliest queued copy step.
    fn admit_next_step(&mut self) {
        if let Some(Reverse(step)) = self.queued.pop() {
            let done_ns = self.submit_now(step.arrival_ns, step.place, step.kind(), step.len_bytes);
            let next = step.then_write.map(|to| QueuedStep {
                arrival_ns: done_ns,
                place: to,
                then_write: None,
                ..step
            });
            if let Some(next) = next {
                self.queued.push(Reverse(next));
            }
            if next.is_none() {
                self.copied_bytes += step.len_bytes;
                self.finished.push(Reverse((done_ns, step.copy)));
                if self.mover.running == Some(step.copy) {
                    self.mover.free_ns = Some(done_ns);
                }
            }
            if let Some(link) = self.link_mut(step.extent, step.copy) {
                match next {
                    Some(_) => link.read_done_ns = Some(done_ns),
                    None => link.done_ns = Some(done_ns),
                }
                let link = *link;
                if next.is_none()
                    && let Some(log) = self.done_log.as_mut()
                {
                    log.push(CopyDone {
                        done_ns,
                        extent: step.extent,
                        from: link.source.tier,
                        to: link.destination.tier,
                        start_ns: link.start_ns.unwrap_or(done_ns),
                    });
                }
            }
        }
    }

    /// When the mover starts the head of its queue, if that is by `now_ns`: once it has been
    /// decided and the copy before it is done (so is every earlier copy, the one holding its
    /// destination slot included), and — for a disk foreground requests use — once the
    /// copies are within the disk's share of its time.
    fn mover_next_start(&mut self, now_ns: u64) -> Option<u64> {
        let head = *self.mover.pending.front()?;
        loop {
            let start_ns = self
                .mover
                .free_ns?
                .max(head.decided_ns)
                .max(self.mover.not_before_ns);
            if start_ns > now_ns {
                return None;
            }
            let mover = &mut self.mover;
            let wait_ns = seeky_tiers(&self.devices, &head)
                .map(|(rank, _)| mover.shares[rank].wait_ns(start_ns, mover.foreground[rank]))
                .max()
                .unwrap_or(0);
            if wait_ns == 0 {
                return Some(start_ns);
            }
            mover.not_before_ns = start_ns.saturating_add(wait_ns);
        }
    }

    /// Starts the head of the mover's queue at `start_ns`, charging its device time to the
    /// disks it uses.
    fn mover_start(&mut self, start_ns: u64) {
        let Some(head) = self.mover.pending.pop_front() else {
            return;
        };
        for (rank, kind) in seeky_tiers(&self.devices, &head) {
            let busy_ns = self.devices[rank]
                .profile()
                .service_ns(kind, head.len_bytes, false);
            let mover = &mut self.mover;
            mover.shares[rank].charge(start_ns, mover.foreground[rank], busy_ns);
        }
        let mover = &mut self.mover;
        mover.free_ns = None;
        mover.running = Some(head.copy);
        mover.not_before_ns = 0;
        mover.started_service_ns += head.service_ns;
        self.queue_read(
            start_ns,
            head.copy,
            head.extent,
            head.from,
            head.to,
            head.len_bytes,
        );
        if let Some(link) = self.link_mut(head.extent, head.copy) {
            link.start_ns = Some(start_ns);
            link.pending_bound = None;
        }
    }

    fn queue_read(
        &mut self,
        start_ns: u64,
        copy: CopyId,
        extent: ExtentId,
        from: DevicePlace,
        to: DevicePlace,
        len_bytes: u64,
    ) {
        self.queued.push(Reverse(QueuedStep {
            arrival_ns: start_ns,
            copy,
            extent,
            place: from,
            then_write: Some(to),
            len_bytes,
        }));
    }

    fn submit_now(&mut self, arrival_ns: u64, at: DevicePlace, kind: IoKind, len: u64) -> u64 {
        self.devices
            .get_mut(at.tier.rank())
            .map_or(arrival_ns, |d| d.submit(arrival_ns, kind, at.offset, len))
    }

    fn estimate(&self, arrival_ns: u64, at: DevicePlace, kind: IoKind, len: u64) -> u64 {
        self.devices
            .get(at.tier.rank())
            .map_or(arrival_ns, |d| d.estimate(arrival_ns, kind, at.offset, len))
    }

    /// Serves a foreground request arriving at `arrival_ns` at `at`; returns when it
    /// completes. A tier without a device serves at once.
    pub fn submit(&mut self, arrival_ns: u64, at: DevicePlace, kind: IoKind, len: u64) -> u64 {
        self.advance(arrival_ns);
        if let Some(calls) = self.mover.foreground.get_mut(at.tier.rank()) {
            *calls += 1;
        }
        self.submit_now(arrival_ns, at, kind, len)
    }

    /// Under [`CopyModel::Mover`], whether the mover's queue is full at `now_ns`, so a move
    /// decided now is refused.
    pub fn mover_full(&mut self, now_ns: u64) -> bool {
        let CopyModel::Mover { max_queued, .. } = self.model else {
            return false;
        };
        self.advance(now_ns);
        self.mover.pending.len() >= max_queued
    }

    /// When the copy of `extent` that is in flight at `now_ns` is done (estimated from the
    /// queues as they stand while one of its steps is still queued); `None` when no copy of
    /// it is in flight.
    pub fn copy_done_ns(&mut self, extent: ExtentId, now_ns: u64) -> Option<u64> {
        self.advance(now_ns);
        let link = *self.in_flight.get(&extent)?.back()?;
        self.done_after(link, now_ns)
    }

    /// When `copy` (of `extent`) is done, if that is after `now_ns`; `None` once it is done.
    pub fn copy_of_done_ns(&mut self, extent: ExtentId, copy: CopyId, now_ns: u64) -> Option<u64> {
        self.advance(now_ns);
        // A copy leaves its chain only once it is done.
        let link = *self.link_mut(extent, copy)?;
        self.done_after(link, now_ns)
    }

    /// `copy` of `extent`, while it is in its chain.
    fn link_mut(&mut self, extent: ExtentId, copy: CopyId) -> Option<&mut Link> {
        self.in_flight
            .get_mut(&extent)?
            .iter_mut()
            .find(|link| link.copy == copy)
    }

    /// When `link`'s copy is done (estimated while one of its steps is still queued), if
    /// that is after `now_ns`. Every step due by `now_ns` has been admitted, so a copy whose
    /// time is still unknown is done after `now_ns`.
    fn done_after(&self, link: Link, now_ns: u64) -> Option<u64> {
        if let Some((bound_ns, decided_ns)) = link.pending_bound {
            // It and every copy decided before it and not started run one after another
            // from now on.
            let serial_ns = decided_ns.saturating_sub(self.mover.started_service_ns);
            return Some(bound_ns.max(now_ns.saturating_add(serial_ns).max(now_ns + 1)));
        }
        let done_ns = link.done_ns.unwrap_or_else(|| {
            let read_done_ns = link.read_done_ns.unwrap_or_else(|| {
                let start_ns = link.start_ns.unwrap_or(now_ns);
                self.estimate(start_ns, link.source, IoKind::Read, link.len_bytes)
            });
            self.estimate(
                read_done_ns,
                link.destination,
                IoKind::Write,
                link.len_bytes,
            )
        });
        (done_ns > now_ns).then_some(done_ns)
    }

    /// Drops the chains of every extent whose copies are all done by `now_ns` (what
    /// [`Self::copy_after`]'s sweep does when the chains have doubled), so nothing of an
    /// extent that will not be served again stays behind.
    pub fn sweep_finished(&mut self, now_ns: u64) {
        self.advance(now_ns);
        self.in_flight
            .retain(|_, chain| !finished_by(chain, now_ns));
    }

    /// Drops the chain of `extent` if its copies are all done by `now_ns` (the extent will
    /// not be served again: its volume unmapped it); a copy still in flight runs on.
    pub fn sweep_extent(&mut self, extent: ExtentId, now_ns: u64) {
        self.advance(now_ns);
        if self
            .in_flight
            .get(&extent)
            .is_some_and(|chain| finished_by(chain, now_ns))
        {
            self.in_flight.remove(&extent);
        }
    }

    /// Where a request for `extent` arriving at `now_ns` is served if a copy of it is in
    /// flight: the source of the earliest copy that is not done. `None` when none is.
    pub fn in_flight_source(&mut self, extent: ExtentId, now_ns: u64) -> Option<DevicePlace> {
        self.advance(now_ns);
        let chain = self.in_flight.get_mut(&extent)?;
        while chain
            .front()
            .is_some_and(|link| link.done_ns.is_some_and(|done| done <= now_ns))
        {
            chain.pop_front();
        }
        chain.front().map(|link| link.source)
    }

    /// Starts copying `len_bytes` of `extent` from `from` to `to`: under
    /// [`CopyModel::Overlapping`] at `now_ns`, or when the extent's copy in flight is done;
    /// under [`CopyModel::Mover`] when the mover gets to it (call [`Self::mover_full`] first:
    /// the engine refuses a move its full queue cannot take).
    pub fn copy(
        &mut self,
        now_ns: u64,
        extent: ExtentId,
        from: DevicePlace,
        to: DevicePlace,
        len_bytes: u64,
    ) -> CopyId {
        self.copy_after(now_ns, now_ns, extent, from, to, len_bytes)
    }

    /// [`Self::copy`] into a destination that is free from `ready_ns` on (estimated: the end
    /// of the copy holding it). Under [`CopyModel::Overlapping`] the copy starts no earlier.
    /// The mover needs no estimate: it starts the copy after every copy decided before it,
    /// the one holding its destination included, is done.
    pub fn copy_after(
        &mut self,
        now_ns: u64,
        ready_ns: u64,
        extent: ExtentId,
        from: DevicePlace,
        to: DevicePlace,
        len_bytes: u64,
    ) -> CopyId {
        let copy = CopyId(self.next_copy);
        self.next_copy += 1;
        let mut link = Link {
            copy,
            source: from,
            destination: to,
            start_ns: None,
            len_bytes,
            pending_bound: None,
            read_done_ns: None,
            done_ns: None,
        };
        if let CopyModel::Mover { .. } = self.model {
            // After every copy decided before it, which includes the copy holding its
            // destination slot and the earlier copies of its extent: when the copy started
            // last is done, never at `ready_ns`, which may be later (its estimate prices
            // every copy with a seek).
            let service_ns = self.service_ns(from.tier, IoKind::Read, len_bytes)
                + self.service_ns(to.tier, IoKind::Write, len_bytes);
            let mover = &mut self.mover;
            mover.decided_service_ns += service_ns;
            mover.last_done_bound_ns = mover
                .last_done_bound_ns
                .max(now_ns)
                .max(ready_ns)
                .saturating_add(service_ns);
            link.pending_bound = Some((mover.last_done_bound_ns, mover.decided_service_ns));
            mover.pending.push_back(Pending {
                copy,
                extent,
                from,
                to,
                len_bytes,
                decided_ns: now_ns,
                service_ns,
            });
        } else {
            let start_ns = self
                .copy_done_ns(extent, now_ns)
                .unwrap_or(now_ns)
                .max(ready_ns);
            link.start_ns = Some(start_ns);
            self.queue_read(start_ns, copy, extent, from, to, len_bytes);
        }
        let chain = self.in_flight.entry(extent).or_default();
        if finished_by(chain, now_ns) {
            chain.clear();
        }
        chain.push_back(link);
        self.advance(now_ns);
        if self.in_flight.len() >= self.sweep_at {
            self.sweep_finished(now_ns);
            self.sweep_at = 2 * self.in_flight.len() + 64;
        }
        copy
    }

    /// The service time of `len` bytes of `kind` on `tier`'s idle device.
    fn service_ns(&self, tier: TierId, kind: IoKind, len: u64) -> u64 {
        self.devices
            .get(tier.rank())
            .map_or(0, |d| d.profile().service_ns(kind, len, false))
    }

    /// How long a request arriving at `now_ns` on `tier` would wait for a channel (copy
    /// steps still queued not counted).
    pub fn queue_delay_ns(&self, tier: TierId, now_ns: u64) -> u64 {
        self.devices
            .get(tier.rank())
            .map_or(0, |d| d.queue_delay_ns(now_ns))
    }
}

/// The source slots of moves whose copies are in flight. The engine frees a move's source
/// slot only after the copy has committed, so until then the source still takes room on its
/// tier; an executor holds it here and frees it when [`Self::release_done`] says so. The
/// engine runs one move after another, so a move into a tier whose only room is held by an
/// earlier move's source runs once that move is done, into its slot: [`Self::take`] hands
/// such a slot over. `T` is what the executor frees: a slot, or just a tier to count.
#[derive(Debug, Clone)]
pub struct HeldSources<T> {
    /// Per tier, the holds not handed over, by their copy's first estimated end.
    by_tier: Vec<BTreeMap<(u64, CopyId), (ExtentId, T)>>,
    /// Where each hold not handed over is in `by_tier`: its tier and estimated end.
    index: HashMap<CopyId, (TierId, u64)>,
    /// Holds whose copy was already done when they were taken.
    done_at_hold: Vec<CopyId>,
}

impl<T> Default for HeldSources<T> {
    fn default() -> Self {
        Self {
            by_tier: Vec::new(),
            index: HashMap::default(),
            done_at_hold: Vec::new(),
        }
    }
}

impl<T> HeldSources<T> {
    /// Holds `held`, on `tier`, until `copy` of `extent` is done.
    pub fn hold(
        &mut self,
        queues: &mut TierQueues,
        now_ns: u64,
        (extent, copy): (ExtentId, CopyId),
        tier: TierId,
        held: T,
    ) {
        let due_ns = queues.copy_of_done_ns(extent, copy, now_ns);
        if due_ns.is_none() {
            self.done_at_hold.push(copy);
        }
        let due_ns = due_ns.unwrap_or(now_ns);
        if self.by_tier.len() <= tier.rank() {
            self.by_tier.resize_with(tier.rank() + 1, BTreeMap::new);
        }
        self.by_tier[tier.rank()].insert((due_ns, copy), (extent, held));
        self.index.insert(copy, (tier, due_ns));
    }

    /// Passes to `release` everything not handed over whose copy is done by `now_ns`.
    /// Each finished copy is looked at once, when it finishes, however long it waited.
    pub fn release_done(
        &mut self,
        queues: &mut TierQueues,
        now_ns: u64,
        mut release: impl FnMut(T),
    ) {
        queues.advance(now_ns);
        let done_at_hold = std::mem::take(&mut self.done_at_hold);
        let finished = std::iter::from_fn(|| queues.pop_finished(now_ns));
        for copy in done_at_hold.into_iter().chain(finished) {
            let Some((tier, due_ns)) = self.index.remove(&copy) else {
                continue;
            };
            let held = self
                .by_tier
                .get_mut(tier.rank())
                .and_then(|t| t.remove(&(due_ns, copy)));
            if let Some((_, held)) = held {
                release(held);
            }
        }
    }

    /// Passes to `release` everything not handed over, as when the queues the copies ran on
    /// are replaced: holds are of the copies of one [`TierQueues`].
    pub fn release_all(&mut self, mut release: impl FnMut(T)) {
        self.index.clear();
        self.done_at_hold.clear();
        for tier in &mut self.by_tier {
            for (_, (_, held)) in std::mem::take(tier) {
                release(held);
            }
        }
    }

    /// Hands over the hold on `tier` whose copy was expected to end first: returns what it
    /// held and when its copy is done (estimated as it stands). Release what is done first.
    pub fn take(&mut self, tier: TierId, queues: &mut TierQueues, now_ns: u64) -> Option<(T, u64)> {
        let ((_, copy), (extent, held)) = self.by_tier.get_mut(tier.rank())?.pop_first()?;
        self.index.remove(&copy);
        let done_ns = queues
            .copy_of_done_ns(extent, copy, now_ns)
            .unwrap_or(now_ns);
        Some((held, done_ns))
    }

    /// How many are held and not handed over.
    pub fn len(&self) -> usize {
        self.by_tier.iter().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_tier.iter().all(BTreeMap::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const NVME: TierId = TierId(0);
    const HDD: TierId = TierId(1);

    fn two_tiers() -> TierQueues {
        TierQueues::new([DeviceProfile::NVME, DeviceProfile::HDD])
    }

    fn at(tier: TierId, offset: u64) -> DevicePlace {
        DevicePlace { tier, offset }
    }

    /// Service time of a 1 MiB non-sequential request on an idle device.
    fn mib_ns(profile: DeviceProfile, kind: IoKind) -> u64 {
        profile.service_ns(kind, MIB, false)
    }

    #[test]
    fn a_copy_write_does_not_hold_up_an_earlier_request() {
        let mut q = two_tiers();
        // Promotion: the HDD read takes milliseconds, the NVMe write comes after it.
        q.copy(0, ExtentId::new(0, 7), at(HDD, 0), at(NVME, 0), MIB);
        let arrival = 1_000_000;
        let done = q.submit(arrival, at(NVME, 64 * MIB), IoKind::Read, 4096);
        assert_eq!(
            done - arrival,
            DeviceProfile::NVME.service_ns(IoKind::Read, 4096, false),
            "a 4 KiB NVMe read before the copy's write waits for nothing"
        );
    }

    #[test]
    fn a_request_after_the_copy_write_arrives_shares_the_pipe_with_it() {
        let mut q = two_tiers();
        q.copy(0, ExtentId::new(0, 7), at(HDD, 0), at(NVME, 0), 64 * MIB);
        let read_done = DeviceProfile::HDD.service_ns(IoKind::Read, 64 * MIB, false);
        let arrival = read_done + 1_000;
        let done = q.submit(arrival, at(NVME, 512 * MIB), IoKind::Read, 4096);
        // The 64 MiB write holds the pipe for about 30 ms from `read_done`.
        assert!(done - arrival > 10_000_000, "{}", done - arrival);
    }

    #[test]
    fn the_source_serves_until_the_copy_is_done() {
        let mut q = two_tiers();
        let extent = ExtentId::new(0, 7);
        q.copy(0, extent, at(HDD, 3 * MIB), at(NVME, 0), MIB);
        let read = mib_ns(DeviceProfile::HDD, IoKind::Read);
        let done = read + mib_ns(DeviceProfile::NVME, IoKind::Write);
        let source = Some(at(HDD, 3 * MIB));
        assert_eq!(q.in_flight_source(extent, 1_000), source);
        assert_eq!(
            q.in_flight_source(extent, read),
            source,
            "read, not written"
        );
        assert_eq!(q.in_flight_source(extent, done - 1), source);
        assert_eq!(q.in_flight_source(extent, done), None);
        assert_eq!(q.in_flight_source(ExtentId::new(0, 8), 0), None);
    }

    #[test]
    fn a_finished_copy_is_logged_once_with_its_tiers_and_end() {
        let mut q = two_tiers();
        q.record_done();
        let extent = ExtentId::new(0, 7);
        q.copy(0, extent, at(HDD, 3 * MIB), at(NVME, 0), MIB);
        let read = mib_ns(DeviceProfile::HDD, IoKind::Read);
        let done = read + mib_ns(DeviceProfile::NVME, IoKind::Write);
        assert_eq!(q.in_flight_source(extent, read - 1), Some(at(HDD, 3 * MIB)));
        assert!(
            q.take_done().is_empty(),
            "the write has not reached the nvme"
        );
        assert_eq!(q.in_flight_source(extent, done), None);
        let logged = CopyDone {
            done_ns: done,
            extent,
            from: HDD,
            to: NVME,
            start_ns: 0,
        };
        assert_eq!(q.take_done(), vec![logged]);
        assert!(q.take_done().is_empty(), "logged twice");
        let mut quiet = two_tiers();
        quiet.copy(0, extent, at(HDD, 0), at(NVME, 0), MIB);
        quiet.in_flight_source(extent, done);
        assert!(quiet.take_done().is_empty(), "logged without recording");
    }

    #[test]
    fn a_held_source_is_released_once_its_own_copy_is_done() {
        let mut q = two_tiers();
        let mut held = HeldSources::default();
        let extent = ExtentId::new(0, 7);
        let up = q.copy(0, extent, at(HDD, 0), at(NVME, 0), MIB);
        held.hold(&mut q, 0, (extent, up), HDD, HDD);
        // Moved back at once: the second copy starts when the first is done.
        let down = q.copy(1_000, extent, at(NVME, 0), at(HDD, 0), MIB);
        held.hold(&mut q, 1_000, (extent, down), NVME, NVME);
        let first_done =
            mib_ns(DeviceProfile::HDD, IoKind::Read) + mib_ns(DeviceProfile::NVME, IoKind::Write);
        let second_done = q.copy_done_ns(extent, 1_000).expect("in flight");
        assert!(second_done > first_done);
        let mut released = Vec::new();
        let mut release_at = |q: &mut TierQueues, now| {
            held.release_done(q, now, |tier| released.push((now, tier)));
            held.len()
        };
        assert_eq!(release_at(&mut q, first_done - 1), 2);
        assert_eq!(
            release_at(&mut q, first_done),
            1,
            "the first copy's source only"
        );
        assert_eq!(release_at(&mut q, second_done - 1), 1);
        assert_eq!(release_at(&mut q, second_done), 0);
        assert_eq!(released, [(first_done, HDD), (second_done, NVME)]);
    }

    #[test]
    fn a_held_source_is_released_when_its_copy_ends_sooner_than_first_estimated() {
        let mut q = two_tiers();
        q.record_done();
        let mut held = HeldSources::default();
        let (first, extent) = (ExtentId::new(0, 2), ExtentId::new(0, 3));
        // The second copy waits for the first, then reads where the first left the disk's
        // head, so it needs no seek; the estimate of its end made while it waited assumed one.
        q.copy(0, first, at(HDD, 10 * MIB), at(NVME, 0), MIB);
        let up = q.copy(0, extent, at(HDD, 11 * MIB), at(NVME, MIB), MIB);
        held.hold(&mut q, 0, (extent, up), HDD, HDD);
        let estimated = q.copy_of_done_ns(extent, up, 0).expect("in flight");
        q.in_flight_source(extent, estimated);
        let done = q.take_done();
        let [_, done] = done[..] else {
            panic!("both copies done by the estimate: {done:?}");
        };
        assert_eq!(done.extent, extent);
        assert!(done.done_ns < estimated, "{} vs {estimated}", done.done_ns);
        let mut released = Vec::new();
        held.release_done(&mut q, done.done_ns - 1, |tier| released.push(tier));
        assert!(released.is_empty(), "not before its copy is done");
        held.release_done(&mut q, done.done_ns, |tier| released.push(tier));
        assert_eq!(released, [HDD], "as soon as it is done");
        assert!(held.is_empty());
    }

    #[test]
    fn a_move_into_a_held_slot_starts_when_the_copy_holding_it_is_done() {
        let mut q = two_tiers();
        q.record_done();
        let mut held = HeldSources::default();
        let (first, out, up) = (
            ExtentId::new(0, 1),
            ExtentId::new(0, 2),
            ExtentId::new(0, 3),
        );
        // An eviction out of nvme slot 5 waits behind a promotion, then writes where that
        // promotion left the disk's head: no seek, so it ends before its estimate.
        q.copy(0, first, at(HDD, 10 * MIB), at(NVME, 0), MIB);
        let evict = q.copy(0, out, at(NVME, 5 * MIB), at(HDD, 11 * MIB), MIB);
        held.hold(&mut q, 0, (out, evict), NVME, 5u64);
        let (slot, ready) = held.take(NVME, &mut q, 0).expect("the held slot");
        assert_eq!(slot, 5);
        q.copy_after(0, ready, up, at(HDD, 40 * MIB), at(NVME, 5 * MIB), MIB);
        q.in_flight_source(up, 10 * ready);
        let done = q.take_done();
        let of = |extent| done.iter().find(|d| d.extent == extent).expect("done");
        assert!(of(out).done_ns < ready, "{} vs {ready}", of(out).done_ns);
        assert_eq!(
            of(up).start_ns,
            of(out).done_ns,
            "the promotion starts as soon as its slot is free"
        );
    }

    #[test]
    fn release_all_frees_every_hold_not_handed_over() {
        let mut q = two_tiers();
        let mut held = HeldSources::default();
        let (a, b) = (ExtentId::new(0, 1), ExtentId::new(0, 2));
        let down_a = q.copy(0, a, at(NVME, 0), at(HDD, 0), MIB);
        held.hold(&mut q, 0, (a, down_a), NVME, 0u64);
        let down_b = q.copy(0, b, at(NVME, MIB), at(HDD, MIB), MIB);
        held.hold(&mut q, 0, (b, down_b), NVME, 1u64);
        assert_eq!(held.take(NVME, &mut q, 0).map(|(slot, _)| slot), Some(0));
        let mut released = Vec::new();
        held.release_all(|slot| released.push(slot));
        assert_eq!(released, [1]);
        assert!(held.is_empty());
        held.release_done(&mut q, u64::MAX, |slot| released.push(slot));
        assert_eq!(released, [1], "nothing is released twice");
    }

    #[test]
    fn a_handed_over_hold_is_never_released() {
        let mut q = two_tiers();
        let mut held = HeldSources::default();
        let (a, b) = (ExtentId::new(0, 1), ExtentId::new(0, 2));
        // `a` leaves nvme slot 5; `b` takes that slot once `a`'s copy is done.
        let down = q.copy(0, a, at(NVME, 5 * MIB), at(HDD, 0), MIB);
        held.hold(&mut q, 0, (a, down), NVME, 5u64);
        assert_eq!(held.take(HDD, &mut q, 0), None, "nothing held on the hdd");
        let (slot, ready) = held.take(NVME, &mut q, 0).expect("the held slot");
        assert_eq!(slot, 5);
        assert_eq!(Some(ready), q.copy_done_ns(a, 0));
        assert_eq!(held.take(NVME, &mut q, 0), None, "handed over once");
        let up = q.copy_after(0, ready, b, at(HDD, 9 * MIB), at(NVME, 5 * MIB), MIB);
        let b_done = q.copy_of_done_ns(b, up, 0).expect("in flight");
        assert!(
            b_done > ready,
            "it starts when the slot is free: {b_done} vs {ready}"
        );
        let mut released = Vec::new();
        held.release_done(&mut q, b_done, |slot| released.push(slot));
        assert!(released.is_empty(), "the slot is b's now");
        assert!(held.is_empty());
    }

    fn mover(disk_time_share: f64, max_queued: usize) -> TierQueues {
        TierQueues::with_model(
            [DeviceProfile::NVME, DeviceProfile::HDD],
            CopyModel::Mover {
                disk_time_share,
                max_queued,
            },
        )
    }

    /// Two promotions of 4 MiB decided at 0 and 1 µs, each right after a foreground read
    /// on the disk when `busy_disk`; returns when each started and was done.
    fn two_promotions(q: &mut TierQueues, busy_disk: bool) -> [(u64, u64); 2] {
        let (a, b) = (ExtentId::new(0, 1), ExtentId::new(0, 2));
        let foreground = |q: &mut TierQueues, now| {
            if busy_disk {
                q.submit(now, at(HDD, 900 * MIB), IoKind::Read, 4096);
            }
        };
        foreground(q, 0);
        let first = q.copy(0, a, at(HDD, 0), at(NVME, 0), 4 * MIB);
        foreground(q, 1_000);
        let second = q.copy(1_000, b, at(HDD, 64 * MIB), at(NVME, 64 * MIB), 4 * MIB);
        q.advance(10_000_000_000);
        [(a, first), (b, second)].map(|(extent, copy)| {
            let link = q.in_flight[&extent]
                .iter()
                .find(|link| link.copy == copy)
                .expect("a copy of it");
            (link.start_ns.expect("started"), link.done_ns.expect("done"))
        })
    }

    fn promotion_ns() -> (u64, u64) {
        (
            DeviceProfile::HDD.service_ns(IoKind::Read, 4 * MIB, false),
            DeviceProfile::NVME.service_ns(IoKind::Write, 4 * MIB, false),
        )
    }

    #[test]
    fn the_mover_runs_one_copy_at_a_time() {
        let (read_ns, write_ns) = promotion_ns();
        let mut q = mover(0.05, 8);
        assert_eq!(q.copied_bytes(), 0);
        let [(start, first), (next, second)] = two_promotions(&mut q, false);
        assert_eq!(q.copied_bytes(), 8 * MIB);
        assert_eq!((start, first), (0, read_ns + write_ns));
        assert_eq!(
            (next, second),
            (first, first + read_ns + write_ns),
            "after the first, and an idle disk's share never waits"
        );
        let mut overlapping = TierQueues::with_model(
            [DeviceProfile::NVME, DeviceProfile::HDD],
            CopyModel::Overlapping,
        );
        let [(_, first), (next, _)] = two_promotions(&mut overlapping, false);
        assert!(
            next < first,
            "overlapping copies start when decided: {next}"
        );
    }

    #[test]
    fn copies_on_a_busy_disk_take_their_share_of_its_time() {
        let (read_ns, write_ns) = promotion_ns();
        assert!(
            read_ns as f64 > crate::disk_time::BURST_NS,
            "one read is over the burst"
        );
        let [(start, _), (next, _)] = two_promotions(&mut mover(0.05, 8), true);
        // The first read was charged when it started: the second starts once 5 % of the
        // time since pays what the first took beyond the burst.
        assert_eq!(start, 0);
        let due = (read_ns as f64 - crate::disk_time::BURST_NS) / 0.05;
        assert!(
            (next as f64 - due).abs() < 2.0,
            "starts at {next}, due at {due}"
        );
        // With the whole disk's time, right after the first copy (which the foreground
        // read before it delays).
        let [(_, first), (next, _)] = two_promotions(&mut mover(1.0, 8), true);
        assert_eq!(next, first);
        assert!(first < read_ns + write_ns + 5_000_000, "{first}");
    }

    #[test]
    fn a_move_is_refused_while_the_movers_queue_is_full() {
        let mut q = mover(0.05, 1);
        let [_, (start, _)] = two_promotions(&mut q, true);
        let mut q = mover(0.05, 1);
        q.submit(0, at(HDD, 900 * MIB), IoKind::Read, 4096);
        q.copy(0, ExtentId::new(0, 1), at(HDD, 0), at(NVME, 0), 4 * MIB);
        assert!(!q.mover_full(0), "the first copy started at once");
        q.submit(1_000, at(HDD, 900 * MIB), IoKind::Read, 4096);
        q.copy(
            1_000,
            ExtentId::new(0, 2),
            at(HDD, 64 * MIB),
            at(NVME, 64 * MIB),
            4 * MIB,
        );
        assert!(q.mover_full(1_000), "the second copy waits for the disk");
        assert!(q.mover_full(start - 1));
        assert!(!q.mover_full(start), "started: the queue has room");
        let mut overlapping = TierQueues::with_model(
            [DeviceProfile::NVME, DeviceProfile::HDD],
            CopyModel::Overlapping,
        );
        two_promotions(&mut overlapping, true);
        assert!(!overlapping.mover_full(1_000));
    }

    #[test]
    fn copy_done_is_estimated_while_the_write_is_queued() {
        let mut q = two_tiers();
        let extent = ExtentId::new(0, 7);
        q.copy(0, extent, at(HDD, 3 * MIB), at(NVME, 0), MIB);
        let read = mib_ns(DeviceProfile::HDD, IoKind::Read);
        let write = mib_ns(DeviceProfile::NVME, IoKind::Write);
        // Estimated before the write is admitted, exact after: the same on idle devices.
        assert_eq!(q.copy_done_ns(extent, 1_000), Some(read + write));
        assert_eq!(q.copy_done_ns(extent, read + 1), Some(read + write));
        assert_eq!(q.copy_done_ns(extent, read + write), None);
        assert_eq!(q.copy_done_ns(ExtentId::new(0, 8), 0), None);
    }

    #[test]
    fn chained_copies_of_one_extent_run_one_after_the_other() {
        let mut q = two_tiers();
        let extent = ExtentId::new(0, 7);
        q.copy(0, extent, at(HDD, 0), at(NVME, 0), MIB);
        // Moved back before the first copy's write was even admitted.
        q.copy(1_000, extent, at(NVME, 0), at(HDD, 9 * MIB), MIB);
        let first_done =
            mib_ns(DeviceProfile::HDD, IoKind::Read) + mib_ns(DeviceProfile::NVME, IoKind::Write);
        let serial = first_done
            + mib_ns(DeviceProfile::NVME, IoKind::Read)
            + mib_ns(DeviceProfile::HDD, IoKind::Write);
        assert_eq!(q.copy_done_ns(extent, 1_000), Some(serial));
        // At the first copy's source until it is done, then at the second's.
        assert_eq!(q.in_flight_source(extent, first_done - 1), Some(at(HDD, 0)));
        assert_eq!(q.in_flight_source(extent, first_done), Some(at(NVME, 0)));
        assert_eq!(q.copy_done_ns(extent, serial - 1), Some(serial));
        assert_eq!(q.in_flight_source(extent, serial), None);
        assert_eq!(q.copy_done_ns(extent, serial), None);
    }
}
