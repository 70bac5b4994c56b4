//! Fuzzes the `strata serve` config file: the binary's own `config.rs` is compiled in
//! unchanged (the binary has no library to link against), then arbitrary TOML goes through
//! `FileConfig::parse` and `FileConfig::resolve`. Neither may panic, and a resolved config
//! must keep the rules `resolve` promises (distinct tiers, capacities in 64 KiB units, a
//! request limit between 4 KiB and 32 MiB).
//!
//! Two inputs are neutralised before `resolve` because they reach outside the process:
//! listen addresses that are not literal `ip:port` (they would go to DNS) and the API token
//! file (it would read an arbitrary path).

#![no_main]

#[expect(
    dead_code,
    reason = "the binary's config module is shared as is; the CLI-only parts go unused here"
)]
#[path = "../../crates/strata/src/config.rs"]
mod config;

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;

fn literal_addr(addr: Option<String>) -> Option<String> {
    addr.filter(|text| text.parse::<SocketAddr>().is_ok())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut file) = config::FileConfig::parse(text) else {
        return;
    };
    file.nbd_listen = literal_addr(file.nbd_listen.take());
    file.api_listen = literal_addr(file.api_listen.take());
    file.api_token_file = None;
    let Ok(resolved) = file.resolve(config::Overrides::default()) else {
        return;
    };
    assert!(!resolved.tiers.is_empty(), "no tiers resolved");
    let mut kinds = std::collections::BTreeSet::new();
    for tier in &resolved.tiers {
        assert!(kinds.insert(tier.kind.clone()), "tier {} twice", tier.kind);
        assert!(tier.capacity_bytes > 0 && tier.capacity_bytes % (64 << 10) == 0);
        assert!(tier.cost_per_gib_month.is_finite() && tier.cost_per_gib_month >= 0.0);
    }
    assert!((4096..=32 << 20).contains(&resolved.nbd_max_request_bytes));
});
