//! The device service-time model: a queue of `parallelism` channels that share one
//! bandwidth pipe. Pure arithmetic on nanosecond timestamps, so the same code paces real
//! requests (device emulation) and virtual ones (the simulator).

use crate::DeviceProfile;

/// Direction of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoKind {
    Read,
    Write,
}

/// Queueing model of one device.
///
/// A request waits for the earliest free channel, pays the access latency there, then
/// transfers its bytes through a pipe shared by all channels (so parallel requests never
/// exceed the device's bandwidth). A seeking device treats a request that starts where the
/// previous one ended as sequential.
///
/// Requests are served in the order they are submitted, so submit them in arrival order: a
/// request submitted ahead of earlier arrivals takes the pipe first and holds them up
/// (`strata_policy::TierQueues` queues migration copies' writes until their time for this
/// reason).
#[derive(Debug, Clone)]
pub struct DeviceQueueModel {
    profile: DeviceProfile,
    channel_free_ns: Vec<u64>,
    pipe_free_ns: u64,
    last_end_offset: Option<u64>,
}

impl DeviceQueueModel {
    pub fn new(profile: DeviceProfile) -> Self {
        let channels = profile.parallelism.max(1) as usize;
        Self {
            profile,
            channel_free_ns: vec![0; channels],
            pipe_free_ns: 0,
            last_end_offset: None,
        }
    }

    pub fn profile(&self) -> &DeviceProfile {
        &self.profile
    }

    /// Serves the requests submitted from now on at `profile`'s speed, as when a disk turns
    /// out slower than it was taken for. Those already admitted keep their completion
    /// times, and so still hold their channels until then; with fewer channels, the ones
    /// busy longest are kept.
    pub fn set_profile(&mut self, profile: DeviceProfile) {
        let channels = profile.parallelism.max(1) as usize;
        self.channel_free_ns.sort_unstable_by(|a, b| b.cmp(a));
        self.channel_free_ns.resize(channels, 0);
        self.profile = profile;
    }

    /// Admits a request arriving at `arrival_ns` and returns when it completes.
    pub fn submit(&mut self, arrival_ns: u64, kind: IoKind, offset: u64, len_bytes: u64) -> u64 {
        let (channel, done_ns) = self.schedule(arrival_ns, kind, offset, len_bytes);
        self.last_end_offset = Some(offset.saturating_add(len_bytes));
        self.pipe_free_ns = done_ns;
        if let Some(slot) = self.channel_free_ns.get_mut(channel) {
            *slot = done_ns;
        }
        done_ns
    }

    /// When a request arriving at `arrival_ns` would complete if it were submitted now,
    /// without submitting it.
    pub fn estimate(&self, arrival_ns: u64, kind: IoKind, offset: u64, len_bytes: u64) -> u64 {
        self.schedule(arrival_ns, kind, offset, len_bytes).1
    }

    /// The channel a request would take and when it would complete.
    fn schedule(&self, arrival_ns: u64, kind: IoKind, offset: u64, len_bytes: u64) -> (usize, u64) {
        let sequential = self.last_end_offset == Some(offset);
        let (channel, free_ns) = self
            .channel_free_ns
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, free)| free)
            .unwrap_or((0, 0));
        let start_ns = arrival_ns.max(free_ns);
        let accessed_ns = start_ns + self.profile.access_ns(kind, sequential);
        let transfer_start_ns = accessed_ns.max(self.pipe_free_ns);
        let done_ns = transfer_start_ns + self.profile.transfer_ns(kind, len_bytes);
        (channel, done_ns)
    }

    /// How long a request arriving at `now_ns` would wait before a channel takes it.
    pub fn queue_delay_ns(&self, now_ns: u64) -> u64 {
        let earliest = self.channel_free_ns.iter().copied().min().unwrap_or(0);
        earliest.saturating_sub(now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_device_serves_at_profile_latency() {
        let mut m = DeviceQueueModel::new(DeviceProfile::NVME);
        let done = m.submit(1_000, IoKind::Read, 0, 4096);
        assert_eq!(
            done - 1_000,
            DeviceProfile::NVME.service_ns(IoKind::Read, 4096, false)
        );
    }

    #[test]
    fn hdd_queues_and_seeks() {
        let mut m = DeviceQueueModel::new(DeviceProfile::HDD);
        let first = m.submit(0, IoKind::Read, 1 << 30, 4096);
        // Arrives at the same time: waits for the single channel, then seeks.
        let second = m.submit(0, IoKind::Read, 0, 4096);
        assert!(second >= first + 4_000_000);
        // Continues the previous request: no seek.
        let third = m.submit(second, IoKind::Read, 4096, 4096);
        assert!(third - second < 100_000);
        assert!(m.queue_delay_ns(0) > 0);
    }

    #[test]
    fn estimate_is_submit_without_the_side_effects() {
        let mut m = DeviceQueueModel::new(DeviceProfile::HDD);
        m.submit(0, IoKind::Read, 0, 1 << 20);
        let estimate = m.estimate(1_000, IoKind::Write, 1 << 20, 4096);
        assert_eq!(m.estimate(1_000, IoKind::Write, 1 << 20, 4096), estimate);
        assert_eq!(m.submit(1_000, IoKind::Write, 1 << 20, 4096), estimate);
    }

    #[test]
    fn a_new_profile_serves_the_next_requests_and_keeps_the_queue() {
        let mut m = DeviceQueueModel::new(DeviceProfile::HDD);
        let first = m.submit(0, IoKind::Read, 1 << 30, 4096);
        let slow = DeviceProfile::HDD.slowed_by(2.0);
        m.set_profile(slow);
        assert_eq!(m.profile(), &slow);
        // Still queued behind the first request, then served twice as slowly.
        assert_eq!(m.queue_delay_ns(0), first);
        let second = m.submit(0, IoKind::Read, 0, 4096);
        assert_eq!(second - first, slow.service_ns(IoKind::Read, 4096, false));
        assert!(second - first > 2 * first - 1_000, "{first} {second}");
        // Fewer channels keep the busiest one.
        let mut ssd = DeviceQueueModel::new(DeviceProfile::SSD);
        let busy = ssd.submit(0, IoKind::Read, 0, 1 << 20);
        ssd.set_profile(DeviceProfile {
            parallelism: 1,
            ..DeviceProfile::SSD
        });
        assert_eq!(ssd.queue_delay_ns(0), busy);
    }

    #[test]
    fn parallel_requests_share_bandwidth() {
        let mut m = DeviceQueueModel::new(DeviceProfile::NVME);
        let mb = 1 << 20;
        let last = (0..32u64)
            .map(|i| m.submit(0, IoKind::Read, i * mb, mb))
            .max()
            .unwrap_or(0);
        // 32 MiB at 3000 MB/s takes ≥ 11 ms however many channels there are.
        assert!(last >= 11_000_000, "{last}");
    }
}
