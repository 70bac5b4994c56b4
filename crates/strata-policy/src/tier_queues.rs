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

use crate::{ExtentId, TierId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use strata_core::{DeviceProfile, DeviceQueueModel, IoKind};

/// One copy started by [`TierQueues::copy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CopyId(u64);

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
    /// When the copy's read arrives at the source.
    start_ns: u64,
    len_bytes: u64,
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

/// The devices of a set of tiers and the copies between them.
#[derive(Debug, Clone, Default)]
pub struct TierQueues {
    devices: Vec<DeviceQueueModel>,
    queued: BinaryHeap<Reverse<QueuedStep>>,
    in_flight: HashMap<ExtentId, Chain>,
    next_copy: u64,
    /// `in_flight` size at which finished copies are next swept out.
    sweep_at: usize,
}

impl TierQueues {
    /// One device per profile, the fastest tier first.
    pub fn new(profiles: impl IntoIterator<Item = DeviceProfile>) -> Self {
        Self {
            devices: profiles.into_iter().map(DeviceQueueModel::new).collect(),
            ..Self::default()
        }
    }

    pub fn tier_count(&self) -> usize {
        self.devices.len()
    }

    /// Admits, in arrival order, every queued copy step that arrives by `now_ns`.
    fn advance(&mut self, now_ns: u64) {
        while let Some(&Reverse(step)) = self.queued.peek() {
            if step.arrival_ns > now_ns {
                break;
            }
            self.queued.pop();
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
            if let Some(link) = self
                .in_flight
                .get_mut(&step.extent)
                .and_then(|chain| chain.iter_mut().find(|l| l.copy == step.copy))
            {
                match next {
                    Some(_) => link.read_done_ns = Some(done_ns),
                    None => link.done_ns = Some(done_ns),
                }
            }
        }
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
        self.submit_now(arrival_ns, at, kind, len)
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
        let link = *self
            .in_flight
            .get(&extent)?
            .iter()
            .find(|link| link.copy == copy)?;
        self.done_after(link, now_ns)
    }

    /// When `link`'s copy is done (estimated while one of its steps is still queued), if
    /// that is after `now_ns`. Every step due by `now_ns` has been admitted, so a copy whose
    /// time is still unknown is done after `now_ns`.
    fn done_after(&self, link: Link, now_ns: u64) -> Option<u64> {
        let done_ns = link.done_ns.unwrap_or_else(|| {
            let read_done_ns = link.read_done_ns.unwrap_or_else(|| {
                self.estimate(link.start_ns, link.source, IoKind::Read, link.len_bytes)
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

    /// Starts copying `len_bytes` of `extent` from `from` to `to` at `now_ns`, or when the
    /// extent's copy in flight is done.
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

    /// [`Self::copy`], started no earlier than `ready_ns` (when its destination is free).
    pub fn copy_after(
        &mut self,
        now_ns: u64,
        ready_ns: u64,
        extent: ExtentId,
        from: DevicePlace,
        to: DevicePlace,
        len_bytes: u64,
    ) -> CopyId {
        let start_ns = self
            .copy_done_ns(extent, now_ns)
            .unwrap_or(now_ns)
            .max(ready_ns);
        let copy = CopyId(self.next_copy);
        self.next_copy += 1;
        let read = QueuedStep {
            arrival_ns: start_ns,
            copy,
            extent,
            place: from,
            then_write: Some(to),
            len_bytes,
        };
        self.queued.push(Reverse(read));
        let chain = self.in_flight.entry(extent).or_default();
        if finished_by(chain, now_ns) {
            chain.clear();
        }
        chain.push_back(Link {
            copy,
            source: from,
            destination: to,
            start_ns,
            len_bytes,
            read_done_ns: None,
            done_ns: None,
        });
        self.advance(now_ns);
        if self.in_flight.len() >= self.sweep_at {
            self.in_flight
                .retain(|_, chain| !finished_by(chain, now_ns));
            self.sweep_at = 2 * self.in_flight.len() + 64;
        }
        copy
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
    /// Every hold, the one to look at again soonest first, handed over or not.
    due: BinaryHeap<Reverse<Hold<T>>>,
    /// Per tier, the holds not handed over, by their copy's first estimated end.
    by_tier: Vec<BTreeMap<(u64, CopyId), (ExtentId, T)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hold<T> {
    /// When to look at it again: the copy's estimated end, never later than its real end.
    due_ns: u64,
    copy: CopyId,
    extent: ExtentId,
    tier: TierId,
    /// The first estimate, its key in `by_tier`.
    first_due_ns: u64,
    held: T,
}

impl<T> Default for HeldSources<T> {
    fn default() -> Self {
        Self {
            due: BinaryHeap::new(),
            by_tier: Vec::new(),
        }
    }
}

impl<T: Ord + Copy> HeldSources<T> {
    /// Holds `held`, on `tier`, until `copy` of `extent` is done.
    pub fn hold(
        &mut self,
        queues: &mut TierQueues,
        now_ns: u64,
        (extent, copy): (ExtentId, CopyId),
        tier: TierId,
        held: T,
    ) {
        let due_ns = queues
            .copy_of_done_ns(extent, copy, now_ns)
            .unwrap_or(now_ns);
        if self.by_tier.len() <= tier.rank() {
            self.by_tier.resize_with(tier.rank() + 1, BTreeMap::new);
        }
        self.by_tier[tier.rank()].insert((due_ns, copy), (extent, held));
        self.due.push(Reverse(Hold {
            due_ns,
            copy,
            extent,
            tier,
            first_due_ns: due_ns,
            held,
        }));
    }

    /// Passes to `release` everything not handed over whose copy is done by `now_ns`.
    pub fn release_done(
        &mut self,
        queues: &mut TierQueues,
        now_ns: u64,
        mut release: impl FnMut(T),
    ) {
        while let Some(&Reverse(hold)) = self.due.peek() {
            if hold.due_ns > now_ns {
                break;
            }
            self.due.pop();
            match queues.copy_of_done_ns(hold.extent, hold.copy, now_ns) {
                None => {
                    let key = (hold.first_due_ns, hold.copy);
                    let tier = self.by_tier.get_mut(hold.tier.rank());
                    if tier.and_then(|t| t.remove(&key)).is_some() {
                        release(hold.held);
                    }
                }
                Some(later_ns) => self.due.push(Reverse(Hold {
                    due_ns: later_ns,
                    ..hold
                })),
            }
        }
    }

    /// Hands over the hold on `tier` whose copy was expected to end first: returns what it
    /// held and when its copy is done (estimated as it stands). Release what is done first.
    pub fn take(&mut self, tier: TierId, queues: &mut TierQueues, now_ns: u64) -> Option<(T, u64)> {
        let ((_, copy), (extent, held)) = self.by_tier.get_mut(tier.rank())?.pop_first()?;
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
