//! The self-describing blocks the torture writer puts on the volume: a magic, the block's
//! own index, a sequence number and a CRC32 over the rest, so a read tells exactly which
//! version it holds or that it holds garbage.

pub const BLOCK: usize = 4096;
const MAGIC: &[u8; 8] = b"STRTORT1";

/// What a block read back turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Zeros,
    Version(u64),
    /// Checksum, magic or block index wrong: bytes nobody wrote here.
    Garbage,
}

pub fn encode(block: u64, seq: u64) -> Vec<u8> {
    let mut data = vec![0u8; BLOCK];
    data[..8].copy_from_slice(MAGIC);
    data[8..16].copy_from_slice(&block.to_le_bytes());
    data[16..24].copy_from_slice(&seq.to_le_bytes());
    let mut state = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ block | 1;
    for word in data[32..].chunks_exact_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes());
    }
    let crc = checksum(&data);
    data[24..28].copy_from_slice(&crc.to_le_bytes());
    data
}

pub fn decode(data: &[u8], block: u64) -> Observed {
    if data.iter().all(|&b| b == 0) {
        return Observed::Zeros;
    }
    if data.len() != BLOCK || &data[..8] != MAGIC {
        return Observed::Garbage;
    }
    let field = |range: std::ops::Range<usize>| {
        let mut bytes = [0u8; 8];
        bytes[..range.len()].copy_from_slice(&data[range]);
        u64::from_le_bytes(bytes)
    };
    if field(8..16) != block || field(24..28) != u64::from(checksum(data)) {
        return Observed::Garbage;
    }
    Observed::Version(field(16..24))
}

/// CRC32 over the block with the checksum field itself left out.
fn checksum(data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&data[..24]);
    hasher.update(&data[28..]);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_detect_damage() {
        let data = encode(42, 7);
        assert_eq!(decode(&data, 42), Observed::Version(7));
        assert_eq!(decode(&data, 43), Observed::Garbage, "wrong place");
        let mut torn = data.clone();
        torn[2000] ^= 1;
        assert_eq!(decode(&torn, 42), Observed::Garbage, "bit flip");
        assert_eq!(decode(&vec![0; BLOCK], 42), Observed::Zeros);
    }
}
