//! `strata`'s saved state: the candidate it follows, the challenger on its way to replacing
//! it, and the cost-aware candidate's heat map. A restarted server follows the leader it had
//! elected (an election takes ten minutes of evidence, [`super::SWITCH_SPAN_NS`]), goes on
//! counting the challenger's streak, and starts warm.
//!
//! Little-endian:
//!
//! ```text
//! magic "STRATAPS" | version u16 = 2 | leader_len u8 | leader (the candidate's name, UTF-8)
//! challenger_len u8 (0: none) | challenger name | streak u32 | accesses u64 | since_ns u64
//!     (the three numbers only with a challenger)
//! heat map (HeatMap::to_bytes, with its own checksum)
//! checksum u64 (FNV-1a of everything before it)
//! ```
//!
//! Version 1 has no challenger fields and still loads, without a challenger; so does a
//! bare heat map (magic "STRATAHM"), saved before the leader was: the cost-aware candidate
//! leads. Decoding checks the checksum, the version and every length, and never panics.

use crate::heat::fnv1a;
use crate::{PolicyError, PolicyErrorKind};

const MAGIC: &[u8; 8] = b"STRATAPS";
const VERSION: u16 = 2;
const CHECKSUM_BYTES: usize = 8;

/// What a saved state holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Saved<'a> {
    /// The candidate followed; `None` in a state saved before the leader was.
    pub leader: Option<&'a str>,
    /// The candidate ahead of the leader at the latest intervals, if any.
    pub challenger: Option<SavedChallenger<'a>>,
    /// The cost-aware candidate's heat map, as [`crate::HeatMap::to_bytes`] wrote it.
    pub heat: &'a [u8],
}

/// A challenger's streak, by the candidate's name (see `super::Challenger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SavedChallenger<'a> {
    pub who: &'a str,
    pub streak: u32,
    pub accesses: u64,
    pub since_ns: u64,
}

pub(super) fn corrupt(message: impl Into<String>) -> PolicyError {
    PolicyError::new(PolicyErrorKind::CorruptState, "strata", message)
}

/// Encodes a state; `None` for a candidate name that is empty or over 255 bytes (no
/// candidate has one).
pub(super) fn encode(
    leader: &str,
    challenger: Option<SavedChallenger<'_>>,
    heat: &[u8],
) -> Option<Vec<u8>> {
    let name_len = |name: &str| u8::try_from(name.len()).ok().filter(|&len| len > 0);
    let mut out = Vec::with_capacity(MAGIC.len() + 64 + heat.len() + CHECKSUM_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(name_len(leader)?);
    out.extend_from_slice(leader.as_bytes());
    match challenger {
        None => out.push(0),
        Some(c) => {
            out.push(name_len(c.who)?);
            out.extend_from_slice(c.who.as_bytes());
            out.extend_from_slice(&c.streak.to_le_bytes());
            out.extend_from_slice(&c.accesses.to_le_bytes());
            out.extend_from_slice(&c.since_ns.to_le_bytes());
        }
    }
    out.extend_from_slice(heat);
    let checksum = fnv1a(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Some(out)
}

/// Decodes what [`encode`] wrote, or a bare heat map; the heat map itself is checked by
/// whoever loads it.
pub(super) fn decode(bytes: &[u8]) -> Result<Saved<'_>, PolicyError> {
    if !bytes.starts_with(MAGIC) {
        return Ok(Saved {
            leader: None,
            challenger: None,
            heat: bytes,
        });
    }
    let (body, checksum) = bytes
        .split_last_chunk::<CHECKSUM_BYTES>()
        .filter(|(body, _)| body.len() >= MAGIC.len())
        .ok_or_else(|| corrupt("shorter than a checksum"))?;
    if fnv1a(body) != u64::from_le_bytes(*checksum) {
        return Err(corrupt("checksum mismatch"));
    }
    let body = &body[MAGIC.len()..];
    let (version, body) = body
        .split_first_chunk::<2>()
        .ok_or_else(|| corrupt("no version"))?;
    let version = u16::from_le_bytes(*version);
    if !(1..=VERSION).contains(&version) {
        return Err(corrupt(format!("unsupported version {version}")));
    }
    let (leader, body) = name(body, "leader")?;
    let (challenger, heat) = match version {
        1 => (None, body),
        _ => challenger(body)?,
    };
    Ok(Saved {
        leader: Some(leader),
        challenger,
        heat,
    })
}

/// A length-prefixed candidate name, and what follows it.
fn name<'a>(body: &'a [u8], what: &str) -> Result<(&'a str, &'a [u8]), PolicyError> {
    let (&len, body) = body
        .split_first()
        .ok_or_else(|| corrupt(format!("no {what}")))?;
    let (name, rest) = body
        .split_at_checked(usize::from(len))
        .ok_or_else(|| corrupt(format!("{what} name cut short")))?;
    let name = std::str::from_utf8(name).map_err(|_| corrupt(format!("{what} name not UTF-8")))?;
    Ok((name, rest))
}

/// The challenger fields of version 2, and what follows them.
fn challenger(body: &[u8]) -> Result<(Option<SavedChallenger<'_>>, &[u8]), PolicyError> {
    let (who, body) = name(body, "challenger")?;
    if who.is_empty() {
        return Ok((None, body));
    }
    let cut_short = || corrupt("challenger streak cut short");
    let (streak, body) = body.split_first_chunk::<4>().ok_or_else(cut_short)?;
    let (accesses, body) = body.split_first_chunk::<8>().ok_or_else(cut_short)?;
    let (since_ns, body) = body.split_first_chunk::<8>().ok_or_else(cut_short)?;
    let challenger = SavedChallenger {
        who,
        streak: u32::from_le_bytes(*streak),
        accesses: u64::from_le_bytes(*accesses),
        since_ns: u64::from_le_bytes(*since_ns),
    };
    Ok((Some(challenger), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGER: SavedChallenger<'static> = SavedChallenger {
        who: "lru-promote",
        streak: 7,
        accesses: 12_345,
        since_ns: 600_000_000_123,
    };

    /// Sets the version field of an encoded state and seals it with a new checksum.
    fn with_version(mut saved: Vec<u8>, version: u16) -> Vec<u8> {
        saved[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&version.to_le_bytes());
        let n = saved.len() - CHECKSUM_BYTES;
        let checksum = fnv1a(&saved[..n]);
        saved[n..].copy_from_slice(&checksum.to_le_bytes());
        saved
    }

    #[test]
    fn a_state_round_trips_and_a_bare_heat_map_is_one_without_a_leader() {
        let heat = b"STRATAHM and the rest of a heat map";
        for challenger in [None, Some(CHALLENGER)] {
            let saved = encode("arc-tier", challenger, heat).expect("short names");
            assert_eq!(
                decode(&saved).expect("valid"),
                Saved {
                    leader: Some("arc-tier"),
                    challenger,
                    heat
                }
            );
        }
        assert_eq!(
            decode(heat).expect("a bare heat map"),
            Saved {
                leader: None,
                challenger: None,
                heat
            }
        );
        assert!(encode(&"x".repeat(256), None, heat).is_none());
        let unnamed = SavedChallenger {
            who: "",
            ..CHALLENGER
        };
        assert!(encode("smq", Some(unnamed), heat).is_none());
    }

    /// A version 1 state (leader, then the heat map) loads without a challenger.
    #[test]
    fn a_version_1_state_loads_without_a_challenger() {
        let heat = b"STRATAHM heat";
        let mut v1 = MAGIC.to_vec();
        v1.extend_from_slice(&1u16.to_le_bytes());
        v1.push(3);
        v1.extend_from_slice(b"smq");
        v1.extend_from_slice(heat);
        let checksum = fnv1a(&v1);
        v1.extend_from_slice(&checksum.to_le_bytes());
        assert_eq!(
            decode(&v1).expect("version 1"),
            Saved {
                leader: Some("smq"),
                challenger: None,
                heat
            }
        );
    }

    /// Every truncation and every flipped bit is an error of kind `CorruptState`, never a
    /// panic (a flipped bit in the magic makes a bare heat map, which its own checksum
    /// refuses when it loads); so is a version from the future, and a challenger cut short
    /// under a valid checksum.
    #[test]
    fn damaged_states_are_refused() {
        let saved = encode("lru-promote", Some(CHALLENGER), b"").expect("short names");
        for len in MAGIC.len()..saved.len() {
            let refused = decode(&saved[..len]).expect_err("truncated");
            assert_eq!(refused.kind, PolicyErrorKind::CorruptState, "{len} bytes");
        }
        for bit in MAGIC.len() * 8..saved.len() * 8 {
            let mut damaged = saved.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let refused = decode(&damaged).expect_err("damaged");
            assert_eq!(refused.kind, PolicyErrorKind::CorruptState, "bit {bit}");
        }
        let refused = decode(&with_version(saved.clone(), 3)).expect_err("version 3");
        assert!(refused.message.contains("version 3"), "{refused}");
        // A state cut inside the streak, sealed with a valid checksum.
        let mut cut = saved[..saved.len() - CHECKSUM_BYTES - 3].to_vec();
        cut.extend_from_slice(&[0; CHECKSUM_BYTES]);
        let refused = decode(&with_version(cut, 2)).expect_err("cut short");
        assert!(refused.message.contains("cut short"), "{refused}");
    }
}
