//! `strata`'s saved state: the candidate it follows and the cost-aware candidate's heat map.
//! A restarted server follows the leader it had elected (an election takes ten minutes of
//! evidence, [`super::SWITCH_SPAN_NS`]) and starts warm.
//!
//! Little-endian:
//!
//! ```text
//! magic "STRATAPS" | version u16 = 1 | leader_len u8 | leader (the candidate's name, UTF-8)
//! heat map (HeatMap::to_bytes, with its own checksum)
//! checksum u64 (FNV-1a of everything before it)
//! ```
//!
//! A state saved before the leader was, a bare heat map (magic "STRATAHM"), still loads: the
//! cost-aware candidate leads. Decoding checks the checksum, the version and every length,
//! and never panics.

use crate::heat::fnv1a;
use crate::{PolicyError, PolicyErrorKind};

const MAGIC: &[u8; 8] = b"STRATAPS";
const VERSION: u16 = 1;
const CHECKSUM_BYTES: usize = 8;

/// What a saved state holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Saved<'a> {
    /// The candidate followed; `None` in a state saved before the leader was.
    pub leader: Option<&'a str>,
    /// The cost-aware candidate's heat map, as [`crate::HeatMap::to_bytes`] wrote it.
    pub heat: &'a [u8],
}

fn corrupt(message: impl Into<String>) -> PolicyError {
    PolicyError::new(PolicyErrorKind::CorruptState, "strata", message)
}

/// Encodes a state; `None` for a leader name over 255 bytes (no candidate has one).
pub(super) fn encode(leader: &str, heat: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(leader.len()).ok()?;
    let mut out = Vec::with_capacity(MAGIC.len() + 3 + leader.len() + heat.len() + CHECKSUM_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(len);
    out.extend_from_slice(leader.as_bytes());
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
    if version != VERSION {
        return Err(corrupt(format!("unsupported version {version}")));
    }
    let (&len, body) = body.split_first().ok_or_else(|| corrupt("no leader"))?;
    let (leader, heat) = body
        .split_at_checked(usize::from(len))
        .ok_or_else(|| corrupt("leader name cut short"))?;
    let leader = std::str::from_utf8(leader).map_err(|_| corrupt("leader name not UTF-8"))?;
    Ok(Saved {
        leader: Some(leader),
        heat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_a_bare_heat_map_is_one_without_a_leader() {
        let heat = b"STRATAHM and the rest of a heat map";
        let saved = encode("arc-tier", heat).expect("a short name");
        assert_eq!(
            decode(&saved).expect("valid"),
            Saved {
                leader: Some("arc-tier"),
                heat
            }
        );
        assert_eq!(
            decode(heat).expect("a bare heat map"),
            Saved { leader: None, heat }
        );
        assert!(encode(&"x".repeat(256), heat).is_none());
    }

    /// Every truncation and every flipped bit is an error of kind `CorruptState`, never a
    /// panic (a flipped bit in the magic makes a bare heat map, which its own checksum
    /// refuses when it loads).
    #[test]
    fn damaged_states_are_refused() {
        let saved = encode("lru-promote", b"STRATAHM heat").expect("a short name");
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
        let mut future = encode("smq", b"").expect("a short name");
        future[MAGIC.len()] = 2;
        let n = future.len() - CHECKSUM_BYTES;
        let checksum = fnv1a(&future[..n]);
        future[n..].copy_from_slice(&checksum.to_le_bytes());
        let refused = decode(&future).expect_err("version 2");
        assert!(refused.message.contains("version 2"), "{refused}");
    }
}
