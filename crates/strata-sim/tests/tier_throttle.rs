//! The optional rate limit of `on_access` moves: off by default (every move runs, as before),
//! and when set, a policy that promotes on every access moves no more than the bucket allows
//! — the same policy code, no simulator change per policy.

use strata_core::{IoKind, SizeOrFraction};
use strata_sim::IoRecord;
use strata_sim::tier::{TierInput, TierSimConfig, TierSizes, simulate_tier};

const MIB: u64 = 1 << 20;

/// 400 random single reads over 200 extents, 5 ms apart (2 s of virtual time).
fn random_reads() -> Vec<IoRecord> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..400u64)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            IoRecord {
                time_ns: Some(i * 5_000_000),
                disk: 0,
                offset_bytes: (x % 200) * MIB,
                len_bytes: 4096,
                kind: IoKind::Read,
            }
        })
        .collect()
}

#[test]
fn on_access_moves_are_unlimited_by_default_and_bounded_when_throttled() {
    let input = TierInput::from_records(random_reads(), MIB, 1000).expect("input");
    let sizes = TierSizes {
        fast: SizeOrFraction::Fraction(0.1),
        middle: None,
    };
    let config = TierSimConfig::default().with_unit_bytes(MIB);
    assert_eq!(config.on_access_bytes_per_s, None);
    let free = simulate_tier(&input, "lru-promote", &sizes, &config).expect("run");
    assert_eq!(free.counters.rejected_moves, 0);

    // 10 MiB/s over a 1 s bucket: at most 10 MiB up front plus 10 MiB/s × 2 s.
    let rate = 10 * MIB;
    let throttled_config = config.clone().with_on_access_bytes_per_s(Some(rate));
    let throttled = simulate_tier(&input, "lru-promote", &sizes, &throttled_config).expect("run");
    assert!(
        throttled.result.migrated_bytes <= 30 * MIB,
        "{}",
        throttled.result.migrated_bytes
    );
    assert!(throttled.result.migrated_bytes > 0);
    assert!(free.result.migrated_bytes > 2 * throttled.result.migrated_bytes);
    assert!(throttled.counters.rejected_moves > 0);
    assert_eq!(throttled.result.requests, free.result.requests);

    // Policies that move only in `plan` are untouched by the throttle.
    for policy in ["static", "smq", "arc-tier", "strata"] {
        let a = simulate_tier(&input, policy, &sizes, &config).expect(policy);
        let b = simulate_tier(&input, policy, &sizes, &throttled_config).expect(policy);
        assert_eq!(a, b, "{policy}");
    }
    assert!(
        TierSimConfig::default()
            .with_on_access_bytes_per_s(Some(0))
            .validate()
            .is_err()
    );
}
