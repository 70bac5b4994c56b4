//! A token bucket: the bandwidth limit of background migration.
//!
//! Tokens are bytes. The bucket starts full (`burst_bytes`), refills at `rate_bytes_per_s`
//! and never holds more than the burst, so over any window of length T the bytes handed out
//! are at most `rate × T + burst` — the property the test below checks. Pure arithmetic over
//! a caller-supplied clock, so it is testable without waiting.

/// Nanoseconds per second.
const NS_PER_S: u128 = 1_000_000_000;

/// See the module docs. Tokens are kept in byte-nanoseconds so refills never lose fractions.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_bytes_per_s: u64,
    burst_bytes: u64,
    /// Available tokens × 10^9.
    scaled_tokens: u128,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ns`. A zero rate never refills.
    pub fn new(rate_bytes_per_s: u64, burst_bytes: u64, now_ns: u64) -> Self {
        Self {
            rate_bytes_per_s,
            burst_bytes,
            scaled_tokens: u128::from(burst_bytes) * NS_PER_S,
            last_ns: now_ns,
        }
    }

    fn refill(&mut self, now_ns: u64) {
        let elapsed_ns = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        let cap = u128::from(self.burst_bytes) * NS_PER_S;
        self.scaled_tokens = self
            .scaled_tokens
            .saturating_add(u128::from(elapsed_ns) * u128::from(self.rate_bytes_per_s))
            .min(cap);
    }

    /// The whole bytes available at `now_ns`.
    pub fn available(&mut self, now_ns: u64) -> u64 {
        self.refill(now_ns);
        u64::try_from(self.scaled_tokens / NS_PER_S).unwrap_or(u64::MAX)
    }

    /// Takes `len_bytes` (all there is, if that is less).
    pub fn spend(&mut self, len_bytes: u64) {
        self.scaled_tokens = self
            .scaled_tokens
            .saturating_sub(u128::from(len_bytes) * NS_PER_S);
    }

    /// Takes `len_bytes` if available now; otherwise takes nothing and returns how long
    /// (ns) until they will be. A request larger than the burst is capped at the burst so it
    /// can eventually pass (the caller is expected to ask in chunks no larger than it).
    pub fn try_take(&mut self, len_bytes: u64, now_ns: u64) -> Result<(), u64> {
        self.refill(now_ns);
        let need = u128::from(len_bytes.min(self.burst_bytes)) * NS_PER_S;
        if self.scaled_tokens >= need {
            self.scaled_tokens -= need;
            return Ok(());
        }
        if self.rate_bytes_per_s == 0 {
            return Err(u64::MAX);
        }
        let missing = need - self.scaled_tokens;
        let wait_ns = missing.div_ceil(u128::from(self.rate_bytes_per_s));
        Err(u64::try_from(wait_ns).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn waits_are_exact() {
        let mut bucket = TokenBucket::new(1000, 500, 0);
        assert_eq!(bucket.try_take(500, 0), Ok(()));
        assert_eq!(bucket.try_take(100, 0), Err(100_000_000));
        assert_eq!(bucket.try_take(100, 100_000_000), Ok(()));
        assert!(TokenBucket::new(0, 10, 0).try_take(20, 5).is_ok());
    }

    #[test]
    fn what_is_spent_comes_back_at_the_rate_up_to_the_burst() {
        let mut bucket = TokenBucket::new(1000, 500, 0);
        assert_eq!(bucket.available(0), 500);
        bucket.spend(450);
        assert_eq!(bucket.available(0), 50);
        assert_eq!(bucket.available(100_000_000), 150);
        bucket.spend(1_000);
        assert_eq!(bucket.available(100_000_000), 0);
        assert_eq!(bucket.available(10_000_000_000), 500);
    }

    proptest! {
        /// Whatever the request pattern, the bytes granted up to any time t never exceed
        /// rate × t + burst.
        #[test]
        fn never_more_than_rate_times_time_plus_burst(
            rate in 1u64..10_000_000,
            burst in 1u64..4_000_000,
            steps in proptest::collection::vec((0u64..50_000_000, 1u64..2_000_000), 1..300),
        ) {
            let mut bucket = TokenBucket::new(rate, burst, 0);
            let mut now_ns = 0u64;
            let mut granted: u128 = 0;
            for (advance_ns, len) in steps {
                now_ns += advance_ns;
                if bucket.try_take(len, now_ns).is_ok() {
                    granted += u128::from(len.min(burst));
                }
                let limit = u128::from(rate) * u128::from(now_ns) / NS_PER_S + u128::from(burst);
                prop_assert!(granted <= limit, "granted {} > limit {} at {} ns", granted, limit, now_ns);
            }
        }

        /// A caller that waits as told always gets its tokens on the next try.
        #[test]
        fn waiting_as_told_succeeds(rate in 1u64..10_000_000, burst in 1u64..4_000_000, len in 1u64..4_000_000) {
            let mut bucket = TokenBucket::new(rate, burst, 0);
            prop_assert!(bucket.try_take(burst, 0).is_ok());
            match bucket.try_take(len, 0) {
                Ok(()) => prop_assert!(len.min(burst) == 0),
                Err(wait_ns) => prop_assert!(bucket.try_take(len, wait_ns).is_ok()),
            }
        }
    }
}
