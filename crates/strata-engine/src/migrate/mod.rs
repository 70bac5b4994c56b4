//! Background tiering: the placement policy's decisions executed on the real devices.
//!
//! Two threads per engine. The *planner* takes access events from every volume's ring
//! (every `access_poll_ms`, never on the I/O path), shows them to the policy
//! (`on_access`) and calls `plan()` every `plan_interval_ms` with that interval's bandwidth
//! budget; moves go to a bounded queue. The *executor* applies them one by one under the
//! executor contract of `strata_policy::PlacementPolicy` (see [`mover`] for the per-move
//! protocol), paced by token buckets ([`bucket`]) and yielding to foreground I/O on the
//! tiers involved. Both stop when the [`cancel::CancelToken`] fires; `Engine::shutdown` and
//! dropping the engine cancel them and wait at the [`cancel::Gate`]. Every executed move is
//! recorded in the migration log ([`log`]).

pub(crate) mod bucket;
pub(crate) mod cancel;
pub(crate) mod log;
mod mover;
mod runner;
pub(crate) mod state;
pub(crate) mod view;

pub use log::{MigrationOutcome, MigrationRecord};
pub(crate) use mover::{MANUAL_REASON, MoveJob};

use crate::config::PlacementConfig;
use bucket::TokenBucket;
use cancel::{CancelToken, Gate};
use log::MigrationLog;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use strata_core::TierKind;
use strata_policy::disk_time::TimeShare;
use strata_policy::{ExtentId, Move, MoveRejection};
use view::SharedPolicy;

/// Longest a chunk copy waits for foreground I/O on its tiers to drain; after that it runs
/// anyway, so sustained foreground load slows migration but cannot starve it forever.
const MAX_FOREGROUND_YIELD: Duration = Duration::from_millis(5);
/// The same when either tier is a disk (its profile has a seek penalty).
const MAX_FOREGROUND_YIELD_SEEKING: Duration = Duration::from_millis(20);
/// Longest sleep of a copy waiting for its disk-time share before it looks again.
const DISK_TIME_POLL_NS: u64 = 50_000_000;
/// Longest step of a copy when foreground requests keep one of its tiers, a disk, busy (its
/// queue did not drain within the yield): the rest of the extent goes in one request up to
/// this, so a default 1 MiB extent costs the disk one seek instead of one per chunk, and the
/// foreground requests queued with it one wait instead of eight.
const BUSY_DISK_STEP_BYTES: u64 = 4 << 20;
/// How often a yielding chunk copy looks whether foreground I/O has drained.
const FOREGROUND_POLL: Duration = Duration::from_micros(200);

/// Counters and gauges of background migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationStats {
    /// The configured policy.
    pub policy: String,
    /// The candidate the policy follows now, for one that follows others (`strata`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub following: Option<String>,
    /// Moves the policy asked for (plan and on_access), before any rejection.
    pub planned: u64,
    /// Moves refused by the executor contract (wrong source, invalid or full or degraded
    /// target, over budget, queue full, another move of the extent queued), and repeats of
    /// a queued move.
    pub rejected: u64,
    /// `rejected` by reason ([`MoveRejection::as_str`]), every reason listed.
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    pub completed: u64,
    pub failed: u64,
    pub aborted: u64,
    pub cancelled: u64,
    /// Bytes copied by completed moves.
    pub bytes_moved: u64,
    /// Time copies waited for their disk-time share on disks in use (ms).
    pub disk_time_wait_ms: u64,
    /// Moves waiting for the executor.
    pub queue_len: usize,
    /// How long the oldest of them has waited, ms (0 with none): a queue the mover does not
    /// keep up with runs moves decided this long ago.
    pub queue_oldest_ms: u64,
    /// Moves being executed right now (0 or 1).
    pub in_flight: u64,
    /// Extents the policy was told a volume unmapped (trimmed or zeroed whole), so it
    /// dropped what it kept of them.
    pub unmapped: u64,
    /// Tiers no longer used as migration targets.
    pub degraded_tiers: Vec<TierKind>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub planned: AtomicU64,
    /// By reason, in the order of [`MoveRejection::ALL`].
    pub rejected: [AtomicU64; MoveRejection::ALL.len()],
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub aborted: AtomicU64,
    pub cancelled: AtomicU64,
    pub bytes_moved: AtomicU64,
    pub in_flight: AtomicU64,
    pub disk_time_wait_ns: AtomicU64,
    pub unmapped: AtomicU64,
}

impl Counters {
    pub fn count_rejection(&self, why: MoveRejection) {
        let at = MoveRejection::ALL.iter().position(|&r| r == why);
        if let Some(counter) = at.and_then(|i| self.rejected.get(i)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct MoveQueue {
    /// In the order queued, each with when.
    moves: VecDeque<(Move, Instant)>,
    /// The queued move of each extent.
    queued: HashMap<ExtentId, Move>,
}

/// Bandwidth limits: one global bucket and one per configured tier pair (by tier index).
#[derive(Debug)]
pub(crate) struct Limiter {
    global: Option<Mutex<TokenBucket>>,
    pairs: BTreeMap<(usize, usize), Mutex<TokenBucket>>,
    epoch: Instant,
}

impl Limiter {
    fn new(config: &PlacementConfig, tier_kinds: &[TierKind]) -> Self {
        let epoch = Instant::now();
        let bucket = |mbps| {
            PlacementConfig::bytes_per_s(mbps)
                .map(|rate| Mutex::new(TokenBucket::new(rate, config.burst_bytes, 0)))
        };
        let index = |kind: &TierKind| tier_kinds.iter().position(|k| k == kind);
        let pairs = config
            .pair_limits
            .iter()
            .filter_map(|p| Some(((index(&p.from)?, index(&p.to)?), bucket(p.mbps)?)))
            .collect();
        Self {
            global: bucket(config.migration_mbps),
            pairs,
            epoch,
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Waits until `len_bytes` may be copied from `from` to `to`; `false` if cancelled.
    pub fn acquire(&self, from: usize, to: usize, len_bytes: u64, cancel: &CancelToken) -> bool {
        for bucket in self.global.iter().chain(self.pairs.get(&(from, to))) {
            loop {
                let waited = bucket.lock().try_take(len_bytes, self.now_ns());
                match waited {
                    Ok(()) => break,
                    Err(wait_ns) => {
                        let wait = Duration::from_nanos(wait_ns.min(1_000_000_000));
                        if cancel.sleep(wait) {
                            return false;
                        }
                    }
                }
            }
        }
        true
    }
}

/// Everything background tiering keeps in the engine.
#[derive(Debug)]
pub(crate) struct Tiering {
    pub config: PlacementConfig,
    pub policy: SharedPolicy,
    pub cancel: CancelToken,
    pub gate: Gate,
    pub queue: Mutex<MoveQueue>,
    pub limiter: Limiter,
    /// The planning calls' byte budget: one interval's worth at most, refilled at the
    /// migration rate, so plans closer together (`Engine::plan_now` between two periodic
    /// ones) share one interval's budget. `None` without a rate limit.
    pub plan_budget: Option<Mutex<TokenBucket>>,
    /// Per tier: the disk-time account of copies (used on tiers with a seek penalty).
    pub disk_time: Vec<Mutex<TimeShare>>,
    pub log: MigrationLog,
    pub counters: Counters,
    /// The policy's heat half-life, the unit of the forecasts it is handed.
    pub heat_half_life_ns: u64,
    /// Origin of the monotonic time policies are given.
    pub started: Instant,
    /// The policies' clock when this engine opened: where the last one saved it, so times
    /// in a saved policy state stay in the past across a restart.
    pub clock_base_ns: u64,
    /// How often the planner saves the policy's state, in ms ([`state::SAVE_INTERVAL`];
    /// tests shorten it).
    pub save_interval_ms: AtomicU64,
}

impl Tiering {
    pub fn new(
        config: PlacementConfig,
        policy: SharedPolicy,
        heat_half_life_ns: u64,
        tier_kinds: &[TierKind],
        log: MigrationLog,
        clock_base_ns: u64,
    ) -> Self {
        let plan_budget = PlacementConfig::bytes_per_s(config.migration_mbps).map(|rate| {
            Mutex::new(TokenBucket::new(
                rate,
                config.plan_budget_bytes(),
                clock_base_ns,
            ))
        });
        Self {
            plan_budget,
            limiter: Limiter::new(&config, tier_kinds),
            disk_time: tier_kinds
                .iter()
                .map(|_| Mutex::new(TimeShare::new(config.disk_time_share, clock_base_ns)))
                .collect(),
            config,
            policy,
            cancel: CancelToken::default(),
            gate: Gate::default(),
            queue: Mutex::new(MoveQueue::default()),
            log,
            counters: Counters::default(),
            heat_half_life_ns,
            started: Instant::now(),
            clock_base_ns,
            save_interval_ms: AtomicU64::new(
                u64::try_from(state::SAVE_INTERVAL.as_millis()).unwrap_or(u64::MAX),
            ),
        }
    }

    /// The policies' clock: monotonic nanoseconds, from where the previous engine on this
    /// store saved it (0 on a new store).
    pub fn now_ns(&self) -> u64 {
        let elapsed = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.clock_base_ns.saturating_add(elapsed)
    }

    /// Queues moves in order; a move of an extent already queued and overflow are rejected.
    /// The policy is told of each, except a repeat of the very move queued: that one will
    /// still run. Moves queued longer than `max_move_age_ms` are dropped first.
    pub fn enqueue(&self, moves: impl IntoIterator<Item = Move>) {
        let mut queue = self.queue.lock();
        let mut added = false;
        let mut refused = self.expire(&mut queue);
        for mv in moves {
            self.counters.planned.fetch_add(1, Ordering::Relaxed);
            let queued = queue.queued.get(&mv.extent).copied();
            let refusal = if queued.is_some() {
                Some(MoveRejection::AlreadyQueued)
            } else if queue.moves.len() >= self.config.max_queued_moves {
                Some(MoveRejection::QueueFull)
            } else {
                None
            };
            if let Some(why) = refusal {
                self.counters.count_rejection(why);
                if queued != Some(mv) {
                    refused.push(mv);
                }
                continue;
            }
            queue.queued.insert(mv.extent, mv);
            queue.moves.push_back((mv, Instant::now()));
            added = true;
        }
        drop(queue);
        self.tell_refused(&refused);
        if added {
            self.cancel.nudge();
        }
    }

    /// Tells the policy that these moves of its own will not happen (with no other lock
    /// held: the planner holds the policy's lock while it reads the engine).
    pub fn tell_refused(&self, moves: &[Move]) {
        if moves.is_empty() {
            return;
        }
        let mut policy = self.policy.lock();
        for mv in moves {
            policy.refused(mv);
        }
    }

    /// Takes the first queued move `ready` accepts, after dropping those queued longer than
    /// `max_move_age_ms`.
    pub fn pop_first(&self, ready: impl Fn(&Move) -> bool) -> Option<Move> {
        let mut queue = self.queue.lock();
        let expired = self.expire(&mut queue);
        let next = queue
            .moves
            .iter()
            .position(|(mv, _)| ready(mv))
            .and_then(|at| queue.moves.remove(at))
            .map(|(next, _)| next);
        if let Some(next) = next {
            queue.queued.remove(&next.extent);
        }
        drop(queue);
        self.tell_refused(&expired);
        next
    }

    /// Takes the moves queued longer than `max_move_age_ms` out of `queue` and counts them;
    /// the caller tells the policy once the queue's lock is released.
    fn expire(&self, queue: &mut MoveQueue) -> Vec<Move> {
        let max_age = Duration::from_millis(self.config.max_move_age_ms);
        let mut expired = Vec::new();
        if max_age.is_zero() {
            return expired;
        }
        // In the order queued, so the expired ones come first.
        while let Some(&(mv, at)) = queue.moves.front() {
            if at.elapsed() < max_age {
                break;
            }
            queue.moves.pop_front();
            queue.queued.remove(&mv.extent);
            self.counters.count_rejection(MoveRejection::Expired);
            expired.push(mv);
        }
        expired
    }

    /// How many moves are queued and how long the oldest has waited (ms; 0 with none), seen
    /// at one moment.
    fn queue_state(&self) -> (usize, u64) {
        let queue = self.queue.lock();
        let oldest_ms = queue.moves.front().map_or(0, |(_, at)| {
            u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)
        });
        (queue.moves.len(), oldest_ms)
    }

    pub fn queue_len(&self) -> usize {
        self.queue.lock().moves.len()
    }

    /// Counts `mv` as rejected (`why`) and tells the policy.
    pub fn reject(&self, mv: &Move, why: MoveRejection) {
        self.counters.count_rejection(why);
        self.tell_refused(std::slice::from_ref(mv));
    }

    pub fn stats(&self, degraded_tiers: Vec<TierKind>) -> MigrationStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (queue_len, queue_oldest_ms) = self.queue_state();
        MigrationStats {
            policy: self.config.policy.clone(),
            following: self.policy.lock().following().map(str::to_owned),
            planned: load(&c.planned),
            rejected: c.rejected.iter().map(load).sum(),
            rejected_by_reason: MoveRejection::ALL
                .iter()
                .zip(&c.rejected)
                .map(|(why, n)| (why.as_str(), load(n)))
                .collect(),
            completed: load(&c.completed),
            failed: load(&c.failed),
            aborted: load(&c.aborted),
            cancelled: load(&c.cancelled),
            bytes_moved: load(&c.bytes_moved),
            disk_time_wait_ms: load(&c.disk_time_wait_ns) / 1_000_000,
            queue_len,
            queue_oldest_ms,
            in_flight: load(&c.in_flight),
            unmapped: load(&c.unmapped),
            degraded_tiers,
        }
    }
}

pub(crate) use runner::{plan_once, resolve, start};

/// Sees the same access stream the policy sees (after each poll of the volumes' rings):
/// the hook for a heat map or profiler that lives outside the engine. Called on the
/// planner thread, never on the I/O path; keep it quick.
pub trait AccessObserver: Send + Sync + std::fmt::Debug {
    fn observe(&self, accesses: &[strata_policy::Access]);
}

impl crate::engine::EngineInner {
    pub(crate) fn notify_access_observers(&self, accesses: &[strata_policy::Access]) {
        for observer in self.access_observers.read().iter() {
            observer.observe(accesses);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use strata_meta::MemoryStore;
    use strata_policy::{Access, MoveReason, PlacementPolicy, TierId, TierView};

    /// Plans nothing; keeps the moves it is told were refused (first) and the extents it is
    /// told a volume unmapped (second). Also for the planner's tests (`runner.rs`).
    #[derive(Debug, Default)]
    pub(super) struct Refusals(
        pub(super) Arc<Mutex<Vec<Move>>>,
        pub(super) Arc<Mutex<Vec<ExtentId>>>,
    );

    impl PlacementPolicy for Refusals {
        fn name(&self) -> &str {
            "refusals"
        }
        fn place_new(&mut self, _: ExtentId, view: &dyn TierView) -> TierId {
            view.slowest()
        }
        fn on_access(&mut self, _: &Access, _: &dyn TierView) -> Vec<Move> {
            Vec::new()
        }
        fn refused(&mut self, mv: &Move) {
            self.0.lock().push(*mv);
        }
        fn unmapped(&mut self, gone: &[ExtentId]) {
            self.1.lock().extend_from_slice(gone);
        }
    }

    fn promote(index: u64) -> Move {
        Move {
            extent: ExtentId::new(1, index),
            from: TierId(1),
            to: TierId(0),
            reason: MoveReason::Promote,
        }
    }

    /// Tiering over an nvme and an hdd with `config`, whose policy tells `told` of the moves
    /// it is told were refused.
    fn refusing(config: PlacementConfig, told: &Arc<Mutex<Vec<Move>>>) -> Tiering {
        let policy: SharedPolicy =
            Arc::new(Mutex::new(Box::new(Refusals(told.clone(), Arc::default()))));
        let log = MigrationLog::open(&MemoryStore::new(), 10).unwrap();
        Tiering::new(config, policy, 1, &[TierKind::Nvme, TierKind::Hdd], log, 0)
    }

    #[test]
    fn the_policy_is_told_of_every_move_the_queue_refuses() {
        let told = Arc::new(Mutex::new(Vec::new()));
        let config = PlacementConfig {
            max_queued_moves: 2,
            ..PlacementConfig::default()
        };
        let tiering = refusing(config, &told);
        // A repeat of a queued move (it will still run: not told), another move of a queued
        // extent, then one past the queue's room.
        let evict_1 = Move {
            from: TierId(0),
            to: TierId(1),
            reason: MoveReason::Evict,
            ..promote(1)
        };
        tiering.enqueue([promote(1), promote(1), evict_1, promote(2), promote(3)]);
        tiering.reject(&promote(4), MoveRejection::OverBudget);
        assert_eq!(*told.lock(), vec![evict_1, promote(3), promote(4)]);
        assert_eq!(tiering.queue_len(), 2);
        let stats = tiering.stats(Vec::new());
        assert_eq!(stats.rejected, 4);
        let by = |why: MoveRejection| stats.rejected_by_reason[why.as_str()];
        assert_eq!(
            (
                by(MoveRejection::AlreadyQueued),
                by(MoveRejection::QueueFull),
                by(MoveRejection::OverBudget),
                by(MoveRejection::WrongSource),
            ),
            (2, 1, 1, 0)
        );
        assert_eq!(stats.rejected_by_reason.len(), MoveRejection::ALL.len());
    }

    #[test]
    fn the_oldest_queued_move_shows_how_long_it_has_waited() {
        let tiering = refusing(PlacementConfig::default(), &Arc::default());
        assert_eq!(tiering.stats(Vec::new()).queue_oldest_ms, 0);
        tiering.enqueue([promote(1)]);
        std::thread::sleep(Duration::from_millis(300));
        tiering.enqueue([promote(2)]);
        assert!(tiering.stats(Vec::new()).queue_oldest_ms >= 300);
        // With the oldest taken, the one queued 300 ms after it is the oldest.
        assert_eq!(tiering.pop_first(|_| true), Some(promote(1)));
        assert!(tiering.stats(Vec::new()).queue_oldest_ms < 300);
        assert_eq!(tiering.pop_first(|_| true), Some(promote(2)));
        assert_eq!(tiering.stats(Vec::new()).queue_oldest_ms, 0);
    }

    /// A move that waited longer than `max_move_age_ms` is dropped unrun, whether a new
    /// move is queued or the executor takes the next, and the policy is told.
    #[test]
    fn a_move_queued_longer_than_its_bound_is_dropped_and_the_policy_told() {
        let told = Arc::new(Mutex::new(Vec::new()));
        let config = PlacementConfig {
            max_move_age_ms: 500,
            ..PlacementConfig::default()
        };
        let tiering = refusing(config, &told);
        let bound = Duration::from_millis(600);
        tiering.enqueue([promote(1), promote(2)]);
        std::thread::sleep(bound);
        // Queueing drops them first, so 1 may be queued again.
        tiering.enqueue([promote(3)]);
        assert_eq!(*told.lock(), [promote(1), promote(2)]);
        tiering.enqueue([promote(1)]);
        assert_eq!(tiering.queue_len(), 2);
        std::thread::sleep(bound);
        // The executor finds both expired.
        assert_eq!(tiering.pop_first(|_| true), None);
        assert_eq!(
            *told.lock(),
            [promote(1), promote(2), promote(3), promote(1)]
        );
        let stats = tiering.stats(Vec::new());
        assert_eq!(stats.rejected_by_reason[MoveRejection::Expired.as_str()], 4);
        assert_eq!((stats.rejected, stats.queue_len), (4, 0));

        // Without a bound, nothing expires.
        let config = PlacementConfig {
            max_move_age_ms: 0,
            ..PlacementConfig::default()
        };
        let tiering = refusing(config, &Arc::default());
        tiering.enqueue([promote(1)]);
        std::thread::sleep(bound);
        assert_eq!(tiering.pop_first(|_| true), Some(promote(1)));
    }

    /// Asks for one move more than each plan's budget affords (promotions of extents 0, 1,
    /// … of volume `volume`), and keeps every budget it was given.
    #[derive(Debug)]
    struct Spender {
        volume: u64,
        budgets: Arc<Mutex<Vec<u64>>>,
    }

    impl PlacementPolicy for Spender {
        fn name(&self) -> &str {
            "spender"
        }
        fn place_new(&mut self, _: ExtentId, view: &dyn TierView) -> TierId {
            view.slowest()
        }
        fn on_access(&mut self, _: &Access, _: &dyn TierView) -> Vec<Move> {
            Vec::new()
        }
        fn plan(&mut self, _: u64, _: &dyn TierView, budget_bytes: u64) -> Vec<Move> {
            self.budgets.lock().push(budget_bytes);
            (0..=budget_bytes / (1 << 20))
                .map(|index| Move {
                    extent: ExtentId::new(self.volume, index),
                    ..promote(index)
                })
                .collect()
        }
    }

    /// Plans closer together than the planning interval share one interval's budget: a
    /// plan at once after one that spent its budget gets what is left of it, and the budget
    /// comes back at the migration rate. Before, every `plan_now` got a whole interval's.
    #[test]
    fn plans_in_quick_succession_share_one_intervals_budget() {
        use crate::VolumeSpec;
        use crate::testing::{MIB, Rig};

        // 1 MB/s and an hour between periodic plans: an hour's budget, 3.6 GB, at most.
        let placement = PlacementConfig {
            migration_mbps: 1,
            plan_interval_ms: 3_600_000,
            ..PlacementConfig::default()
        };
        let rig = Rig::with_placement(
            &[8 * MIB, 64 * MIB],
            Arc::new(MemoryStore::new()),
            placement,
        );
        let volume = rig
            .engine
            .create_volume(VolumeSpec::new("v", 16 * MIB))
            .unwrap();
        let budgets = Arc::new(Mutex::new(Vec::new()));
        *rig.engine.inner().tiering.policy.lock() = Box::new(Spender {
            volume: volume.id,
            budgets: budgets.clone(),
        });
        rig.engine.plan_now();
        rig.engine.plan_now();
        std::thread::sleep(Duration::from_secs(2));
        rig.engine.plan_now();
        let budgets = budgets.lock().clone();
        let hour = 3_600_000_000;
        // The first spends all but the part of an extent its budget cannot buy.
        assert_eq!(budgets[0], hour, "{budgets:?}");
        let left = hour % MIB;
        assert!(budgets[1] < left + 500_000, "{budgets:?}");
        // Two seconds at 1 MB/s, on top of what the second left.
        assert!(budgets[2] >= budgets[1] % MIB + 2_000_000, "{budgets:?}");
        assert!(budgets[2] < hour / 2, "{budgets:?}");
        let stats = rig.engine.migration_stats();
        assert_eq!(
            stats.rejected_by_reason[MoveRejection::OverBudget.as_str()],
            3,
            "one move over each budget"
        );
        rig.engine.shutdown().unwrap();
    }

    /// The mover's own refusals: a move whose copy fails on the device, one whose source
    /// is not where the extent is, and one of a volume that does not exist. Each is
    /// reported to the policy once, and nothing else is.
    #[test]
    fn the_policy_is_told_of_every_move_the_mover_does_not_make() {
        use crate::VolumeSpec;
        use crate::testing::{MIB, pattern, with_faulty_ssd};
        use std::time::{Duration, Instant};

        let (engine, faults) = with_faulty_ssd(PlacementConfig {
            migration_mbps: 0,
            retry_backoff_ms: 1,
            max_attempts: 2,
            ..PlacementConfig::default()
        });
        let volume = engine.create_volume(VolumeSpec::new("v", 4 * MIB)).unwrap();
        let handle = engine.open_volume("v").unwrap();
        handle.write(0, &pattern(5, MIB as usize), false).unwrap();
        handle.write(MIB, &pattern(6, MIB as usize), false).unwrap();
        let told = Arc::new(Mutex::new(Vec::new()));
        let tiering = &engine.inner().tiering;
        *tiering.policy.lock() = Box::new(Refusals(told.clone(), Arc::default()));

        faults.fail_next_writes(1_000);
        let id = volume.id;
        let failed = Move {
            extent: ExtentId::new(id, 0),
            from: TierId(0),
            to: TierId(1),
            reason: MoveReason::Evict,
        };
        let wrong_source = Move {
            extent: ExtentId::new(id, 1),
            from: TierId(1),
            to: TierId(0),
            reason: MoveReason::Promote,
        };
        let no_volume = Move {
            extent: ExtentId::new(id + 100, 0),
            ..failed
        };
        tiering.enqueue([failed, wrong_source, no_volume]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while told.lock().len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut got = told.lock().clone();
        got.sort_by_key(|mv| (mv.extent.volume, mv.extent.index));
        assert_eq!(got, vec![failed, wrong_source, no_volume]);
        let stats = tiering.stats(Vec::new());
        assert_eq!((stats.failed, stats.rejected, stats.completed), (1, 2, 0));
        assert_eq!(stats.rejected_by_reason["wrong_source"], 2);
        assert_eq!(engine.extent_tier("v", 0).unwrap(), Some(TierKind::Nvme));
        engine.shutdown().unwrap();
        assert_eq!(told.lock().len(), 3, "nothing is reported twice");
    }
}
