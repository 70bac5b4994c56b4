//! The registered placement policies, one file each, and the registry that builds them by
//! name: [`policy_by_name`] and [`policy_names`].

mod all_fast;
mod all_slow;
mod arc_tier;
mod lru_promote;
mod plan;
mod smq;
mod static_fill;
mod strata;
#[cfg(test)]
mod test_rig;

pub use all_fast::AllFast;
pub use all_slow::AllSlow;
pub use arc_tier::ArcTier;
pub use lru_promote::LruPromote;
pub use smq::Smq;
pub use static_fill::StaticFill;
pub use strata::{CostAware, Pin, Reservation, Strata, StrataConfig};

use crate::{CopyModel, PlacementPolicy, PolicyError, PolicyErrorKind};

/// Tunables shared by the registry. Each policy reads the fields it understands.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// Accesses in a sequential run longer than this bypass promotion (`lru-promote`,
    /// `smq`, `arc-tier`; `strata` takes its own from `strata.heat`).
    pub sequential_cutoff_bytes: u64,
    /// Everything `strata` reads: heat aging, admission, watermarks, pins, reservations.
    pub strata: StrataConfig,
    /// How the executor starts copies, so `strata`'s shadows model them alike.
    pub copies: CopyModel,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            sequential_cutoff_bytes: 4 << 20,
            strata: StrataConfig::default(),
            copies: CopyModel::default(),
        }
    }
}

impl PolicyConfig {
    pub fn with_sequential_cutoff_bytes(mut self, bytes: u64) -> Self {
        self.sequential_cutoff_bytes = bytes;
        self
    }

    pub fn with_copies(mut self, copies: CopyModel) -> Self {
        self.copies = copies;
        self
    }

    pub fn with_strata(mut self, strata: StrataConfig) -> Self {
        self.strata = strata;
        self
    }
}

const NAMES: [&str; 7] = [
    "static",
    "all-fast",
    "all-slow",
    "lru-promote",
    "smq",
    "arc-tier",
    "strata",
];

/// Names of every registered policy, in a stable order.
pub fn policy_names() -> &'static [&'static str] {
    &NAMES
}

/// Builds the policy registered under `name`.
pub fn policy_by_name(
    name: &str,
    config: &PolicyConfig,
) -> Result<Box<dyn PlacementPolicy>, PolicyError> {
    match name {
        "static" => Ok(Box::new(StaticFill)),
        "all-fast" => Ok(Box::new(AllFast)),
        "all-slow" => Ok(Box::new(AllSlow)),
        "lru-promote" => Ok(Box::new(LruPromote::new(config.sequential_cutoff_bytes))),
        "smq" => Ok(Box::new(Smq::new(config.sequential_cutoff_bytes))),
        "arc-tier" => Ok(Box::new(ArcTier::new(config.sequential_cutoff_bytes))),
        "strata" => Ok(Box::new(
            Strata::new(config.strata.clone(), config.sequential_cutoff_bytes)?
                .with_copies(config.copies),
        )),
        _ => Err(PolicyError::new(
            PolicyErrorKind::UnknownPolicy,
            name,
            format!("unknown placement policy; known: {}", NAMES.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_reports_itself() {
        for name in policy_names() {
            let policy = policy_by_name(name, &PolicyConfig::default()).expect(name);
            assert_eq!(policy.name(), *name);
        }
        let err = policy_by_name("nope", &PolicyConfig::default()).expect_err("unknown");
        assert_eq!(err.kind, PolicyErrorKind::UnknownPolicy);
        assert!(err.to_string().contains("lru-promote"), "{err}");
    }
}
