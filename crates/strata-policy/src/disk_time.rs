//! The disk-time share: how much of a disk's time background copies may take while
//! foreground requests use it.
//!
//! A byte rate does not bound what migration costs a disk's foreground requests. Each copy
//! starts with a seek that no request arriving during it can overtake, and with requests
//! arriving at random (as a VM's do) the share of them that wait behind a copy is the share
//! of the disk's time the copies take (BENCHMARKS.md, "Foreground p99 while migrating").
//! So on a tier whose profile has a seek penalty, the engine's mover charges the device time of each
//! chunk it reads or writes to that tier's [`TimeShare`]. While foreground requests use the
//! disk, a copy waits until the charged time is within `share` of the elapsed time (plus a
//! small burst). A disk without foreground requests is nobody's bottleneck: its copies are
//! not charged and never wait.
//!
//! Pure arithmetic over a caller-supplied clock: the engine's mover runs it on the wall
//! clock, and [`crate::TierQueues`] on virtual time, so the simulator and `strata`'s shadows
//! pace copies as the engine does.

/// Share of a busy disk's time copies may take unless configured otherwise: 5 % keeps its
/// foreground p99 within 10 % (BENCHMARKS.md, "Foreground p99 while migrating").
pub const DEFAULT_SHARE: f64 = 0.05;

/// Foreground calls seen within this long make a disk *in use*.
pub const FOREGROUND_ACTIVE_NS: u64 = 1_000_000_000;

/// Device time copies may take at once after a quiet spell: about one seek and one chunk.
pub const BURST_NS: f64 = 20_000_000.0;

/// The device time to charge for one copy request on a disk: what it took (`measured_ns`),
/// but no more than the disk's profile gives such a request, seek included (`modelled_ns`).
///
/// A request that queued behind foreground requests took their service time too, which is
/// theirs: charging all of it held copies to a fraction of their share exactly when a disk is
/// busiest (BENCHMARKS.md, "Foreground p99 while migrating", the saturated hdd). A request
/// that needed no seek, the next piece where the head already is, is charged what it took.
pub fn device_ns(measured_ns: u64, modelled_ns: u64) -> u64 {
    measured_ns.min(modelled_ns)
}

/// Copy requests a disk served alone before [`ServiceRatio::cap_scale`] trusts its ratio.
pub const RATIO_MIN_SAMPLES: u64 = 16;

/// A disk within this factor of its profile is taken to match it: the charge cap stays the
/// profile's (timer slack and system calls make every request a little slower than modelled).
pub const RATIO_DEAD_BAND: f64 = 1.25;

/// Each sample's weight in the ratio fades by this factor per later sample.
const RATIO_DECAY: f64 = 0.95;

/// How much slower than its profile a disk serves copy requests when nothing else uses it:
/// their measured time over the profile's, as decayed sums (so long requests, those with a
/// seek, weigh most).
///
/// [`device_ns`] caps a copy request's charge at the profile's time, so that time queued
/// behind foreground requests is not charged to the copy; on a disk slower than its
/// profile that cap alone undercharges every copy, and copies take more than their share of
/// its time. Scaled by this ratio the cap fits the disk: the profile's shape, the disk's
/// speed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServiceRatio {
    measured_ns: f64,
    modelled_ns: f64,
    samples: u64,
}

impl ServiceRatio {
    /// One request that ran alone on the disk: it took `measured_ns`, its profile gives
    /// `modelled_ns` (with or without a seek, as the request was).
    pub fn observe(&mut self, measured_ns: u64, modelled_ns: u64) {
        if modelled_ns == 0 {
            return;
        }
        self.measured_ns = self.measured_ns * RATIO_DECAY + measured_ns as f64;
        self.modelled_ns = self.modelled_ns * RATIO_DECAY + modelled_ns as f64;
        self.samples += 1;
    }

    /// Measured over modelled time; `None` before [`RATIO_MIN_SAMPLES`] requests.
    pub fn ratio(&self) -> Option<f64> {
        (self.samples >= RATIO_MIN_SAMPLES && self.modelled_ns > 0.0)
            .then(|| self.measured_ns / self.modelled_ns)
    }

    /// Requests observed.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// What the profile's time is multiplied by to cap a copy request's charge: the ratio,
    /// once it is above [`RATIO_DEAD_BAND`]; else 1.
    pub fn cap_scale(&self) -> f64 {
        self.ratio().filter(|&r| r > RATIO_DEAD_BAND).unwrap_or(1.0)
    }
}

/// The device time to charge for one copy request on a disk `disk` has measured: what it
/// took, but no more than the profile's time for it with a seek (`modelled_ns`) scaled by
/// [`ServiceRatio::cap_scale`] ([`device_ns`] with the disk's own speed).
pub fn copy_charge_ns(measured_ns: u64, modelled_ns: u64, disk: &ServiceRatio) -> u64 {
    device_ns(measured_ns, (modelled_ns as f64 * disk.cap_scale()) as u64)
}

/// One disk's account. See the module docs.
#[derive(Debug, Clone)]
pub struct TimeShare {
    share: f64,
    /// Device time copies may still take, ns; negative while they owe.
    balance_ns: f64,
    last_ns: u64,
    /// The tier's foreground call count at the last look, and when it last changed.
    fg_calls: u64,
    fg_changed_ns: Option<u64>,
}

impl TimeShare {
    /// A full account at `now_ns` for a share in (0, 1].
    pub fn new(share: f64, now_ns: u64) -> Self {
        Self {
            share,
            balance_ns: BURST_NS,
            last_ns: now_ns,
            fg_calls: 0,
            fg_changed_ns: None,
        }
    }

    /// Brings the account to `now_ns`, given the tier's foreground call count then.
    fn advance(&mut self, now_ns: u64, fg_calls: u64) {
        if fg_calls != self.fg_calls {
            self.fg_calls = fg_calls;
            self.fg_changed_ns = Some(now_ns);
        }
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64;
        self.last_ns = self.last_ns.max(now_ns);
        self.balance_ns = (self.balance_ns + elapsed * self.share).min(BURST_NS);
    }

    /// Foreground requests used the disk within [`FOREGROUND_ACTIVE_NS`].
    pub fn in_use(&self, now_ns: u64) -> bool {
        self.fg_changed_ns
            .is_some_and(|at| now_ns.saturating_sub(at) < FOREGROUND_ACTIVE_NS)
    }

    /// How long (ns) the next copy must wait; 0 to go now.
    pub fn wait_ns(&mut self, now_ns: u64, fg_calls: u64) -> u64 {
        self.advance(now_ns, fg_calls);
        // Less than a nanosecond owed is rounding.
        if self.balance_ns > -1.0 || !self.in_use(now_ns) {
            return 0;
        }
        (-self.balance_ns / self.share).ceil() as u64
    }

    /// Charges `busy_ns` of device time a copy just took, if the disk is in use.
    pub fn charge(&mut self, now_ns: u64, fg_calls: u64, busy_ns: u64) {
        self.advance(now_ns, fg_calls);
        if self.in_use(now_ns) {
            self.balance_ns -= busy_ns as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn an_idle_disk_never_waits_and_is_not_charged() {
        let mut account = TimeShare::new(0.05, 0);
        account.charge(0, 0, 500 * MS);
        assert_eq!(account.wait_ns(0, 0), 0);
        // Foreground arrives: the half second copied while the disk was idle is not owed.
        assert_eq!(account.wait_ns(MS, 1), 0);
    }

    #[test]
    fn a_disk_in_use_waits_for_its_share() {
        let mut account = TimeShare::new(0.05, 0);
        // 20 ms of burst, then a 50 ms chunk: 30 ms owed, 600 ms at 5 %.
        account.charge(0, 1, 50 * MS);
        assert_eq!(account.wait_ns(0, 1), 600 * MS);
        assert_eq!(account.wait_ns(600 * MS, 2), 0);
        // Foreground gone for longer than the window: nothing to protect.
        account.charge(700 * MS, 2, 100 * MS);
        assert_eq!(account.wait_ns(700 * MS + FOREGROUND_ACTIVE_NS, 2), 0);
    }

    #[test]
    fn a_copy_request_is_charged_its_own_device_time_not_its_queueing() {
        use strata_core::{DeviceProfile, IoKind};
        let chunk = DeviceProfile::HDD.service_ns(IoKind::Read, 128 << 10, false);
        // 4 ms of seek and 0.73 ms of transfer.
        assert!((4_700_000..4_800_000).contains(&chunk), "{chunk}");
        // Behind three foreground reads (about 12 ms) it took 17 ms: 4.7 of them are its own.
        assert_eq!(device_ns(17 * MS, chunk), chunk);
        // Where the head already was, it took only its transfer: that is what it cost.
        assert_eq!(device_ns(730_000, chunk), 730_000);
    }

    #[test]
    fn the_cap_follows_a_disk_slower_than_its_profile_once_it_is_clear() {
        let mut disk = ServiceRatio::default();
        assert_eq!((disk.ratio(), disk.cap_scale()), (None, 1.0));
        // A disk twice as slow: a seek-and-chunk request and a sequential chunk, each taking
        // twice what the profile gives.
        for _ in 0..RATIO_MIN_SAMPLES / 2 - 1 {
            disk.observe(9_400_000, 4_700_000);
            disk.observe(1_460_000, 730_000);
        }
        disk.observe(9_400_000, 4_700_000);
        assert_eq!(disk.samples(), RATIO_MIN_SAMPLES - 1);
        assert_eq!(disk.cap_scale(), 1.0, "too few requests yet");
        disk.observe(1_460_000, 730_000);
        assert!((disk.cap_scale() - 2.0).abs() < 1e-9, "{disk:?}");
        // Behind foreground reads a seek-and-chunk request took 30 ms: 9.4 of them are the
        // copy's on this disk, not the profile's 4.7.
        assert_eq!(copy_charge_ns(30 * MS, 4_700_000, &disk), 9_400_000);
        assert_eq!(copy_charge_ns(3 * MS, 4_700_000, &disk), 3 * MS);
        // A disk as fast as its profile, give or take the system's overheads, keeps the
        // profile's cap; the ratio is still reported.
        let mut matched = ServiceRatio::default();
        for _ in 0..100 {
            matched.observe(4_900_000, 4_700_000);
            matched.observe(800_000, 730_000);
        }
        let ratio = matched.ratio().expect("sampled");
        assert!((1.0..RATIO_DEAD_BAND).contains(&ratio), "{ratio}");
        assert_eq!(matched.cap_scale(), 1.0);
        assert_eq!(copy_charge_ns(30 * MS, 4_700_000, &matched), 4_700_000);
        // Old samples fade: a disk that got faster (a rebuild finished) comes back.
        for _ in 0..200 {
            disk.observe(4_750_000, 4_700_000);
        }
        assert_eq!(disk.cap_scale(), 1.0, "{disk:?}");
    }

    proptest! {
        /// Whatever the copies take, a copier that waits as told starts each copy with no
        /// more charged than `share × elapsed + burst` while the disk is in use.
        #[test]
        fn charged_time_stays_within_the_share(
            share in 0.01f64..1.0,
            copies in proptest::collection::vec(1u64..50 * MS, 1..200),
        ) {
            let mut account = TimeShare::new(share, 0);
            let mut now = 0u64;
            let mut charged = 0u64;
            // Foreground calls keep coming: the count has moved at every look.
            let mut fg = 0u64;
            let mut calls = || { fg += 1; fg };
            for busy in copies {
                now += account.wait_ns(now, calls());
                prop_assert_eq!(account.wait_ns(now, calls()), 0);
                let limit = share * now as f64 + BURST_NS;
                prop_assert!(charged as f64 <= limit + 1.0, "{} > {}", charged, limit);
                now += busy;
                account.charge(now, calls(), busy);
                charged += busy;
            }
        }
    }
}
