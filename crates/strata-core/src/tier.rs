//! Tier kinds. The three built-in kinds have default device profiles; a named custom tier
//! must bring its own.

use crate::{DeviceProfile, ParseError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a tier is made of. Ordering of built-in kinds is fastest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum TierKind {
    Nvme,
    Ssd,
    Hdd,
    /// An operator-named tier (lowercase letters, digits, `-`, `_`).
    Custom(String),
}

impl TierKind {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Nvme => "nvme",
            Self::Ssd => "ssd",
            Self::Hdd => "hdd",
            Self::Custom(name) => name,
        }
    }

    /// The emulation defaults of DESIGN.md for built-in kinds; `None` for custom tiers.
    pub fn default_profile(&self) -> Option<DeviceProfile> {
        match self {
            Self::Nvme => Some(DeviceProfile::NVME),
            Self::Ssd => Some(DeviceProfile::SSD),
            Self::Hdd => Some(DeviceProfile::HDD),
            Self::Custom(_) => None,
        }
    }
}

impl fmt::Display for TierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TierKind {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nvme" => Ok(Self::Nvme),
            "ssd" => Ok(Self::Ssd),
            "hdd" => Ok(Self::Hdd),
            _ if !s.is_empty()
                && s.len() <= 32
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                }) =>
            {
                Ok(Self::Custom(s.to_owned()))
            }
            _ => Err(ParseError::new(
                s,
                "a tier name: nvme, ssd, hdd or up to 32 of [a-z0-9_-]",
            )),
        }
    }
}

impl From<TierKind> for String {
    fn from(kind: TierKind) -> Self {
        kind.as_str().to_owned()
    }
}

impl TryFrom<String> for TierKind {
    type Error = ParseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ["nvme", "ssd", "hdd", "archive-1"] {
            let kind: TierKind = name.parse().expect(name);
            assert_eq!(kind.to_string(), name);
        }
        assert!("NVMe".parse::<TierKind>().is_err());
        assert!("../etc".parse::<TierKind>().is_err());
        assert!("".parse::<TierKind>().is_err());
    }
}
