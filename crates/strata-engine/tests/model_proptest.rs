//! Random operation sequences against a plain byte-array model of the volume: after every
//! read the engine agrees with the model, including across flush-then-restart.

use proptest::prelude::*;
use std::sync::Arc;
use strata_engine::VolumeSpec;
use strata_engine::testing::{KIB, Rig, pattern};
use strata_meta::{MemoryStore, MetaStore};

const VOLUME_BYTES: u64 = 2 << 20;
const EXTENT_BYTES: u64 = 64 * KIB;

#[derive(Debug, Clone)]
enum Op {
    Write {
        offset: u64,
        len: u64,
        seed: u8,
        fua: bool,
    },
    Trim {
        offset: u64,
        len: u64,
    },
    WriteZeroes {
        offset: u64,
        len: u64,
        fua: bool,
    },
    Read {
        offset: u64,
        len: u64,
    },
    Flush,
    FlushAndRestart,
}

fn range() -> impl Strategy<Value = (u64, u64)> {
    (0..VOLUME_BYTES).prop_flat_map(|offset| {
        let max = (VOLUME_BYTES - offset).min(300 * KIB);
        (Just(offset), 0..=max)
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (range(), any::<u8>(), any::<bool>())
            .prop_map(|((offset, len), seed, fua)| Op::Write { offset, len, seed, fua }),
        1 => range().prop_map(|(offset, len)| Op::Trim { offset, len }),
        1 => (range(), any::<bool>())
            .prop_map(|((offset, len), fua)| Op::WriteZeroes { offset, len, fua }),
        3 => range().prop_map(|(offset, len)| Op::Read { offset, len }),
        1 => Just(Op::Flush),
        1 => Just(Op::FlushAndRestart),
    ]
}

/// Whole extents inside `[offset, offset + len)`, as a byte range.
fn whole_extents(offset: u64, len: u64) -> std::ops::Range<usize> {
    let start = offset.div_ceil(EXTENT_BYTES) * EXTENT_BYTES;
    let end = (offset + len) / EXTENT_BYTES * EXTENT_BYTES;
    if start >= end {
        0..0
    } else {
        start as usize..end as usize
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn engine_matches_a_byte_array_model(ops in proptest::collection::vec(op(), 1..40)) {
        let store: Arc<dyn MetaStore> = Arc::new(MemoryStore::new());
        // A small fast tier so spills happen; enough total room for the whole volume.
        let mut rig = Rig::with_store(&[512 * KIB, 2 << 20], store);
        rig.engine
            .create_volume(VolumeSpec::new("m", VOLUME_BYTES).with_extent_size(EXTENT_BYTES))
            .unwrap();
        let mut vol = rig.engine.open_volume("m").unwrap();
        let mut model = vec![0u8; VOLUME_BYTES as usize];
        for op in ops {
            match op {
                Op::Write { offset, len, seed, fua } => {
                    let data = pattern(seed, len as usize);
                    vol.write(offset, &data, fua).unwrap();
                    model[offset as usize..(offset + len) as usize].copy_from_slice(&data);
                }
                Op::Trim { offset, len } => {
                    vol.trim(offset, len).unwrap();
                    model[whole_extents(offset, len)].fill(0);
                }
                Op::WriteZeroes { offset, len, fua } => {
                    vol.write_zeroes(offset, len, fua).unwrap();
                    model[offset as usize..(offset + len) as usize].fill(0);
                }
                Op::Read { offset, len } => {
                    let mut buf = vec![0xa5u8; len as usize];
                    vol.read(offset, &mut buf).unwrap();
                    prop_assert!(buf == model[offset as usize..(offset + len) as usize],
                        "read {}+{} differs from the model", offset, len);
                }
                Op::Flush => vol.flush().unwrap(),
                Op::FlushAndRestart => {
                    vol.flush().unwrap();
                    drop(vol);
                    rig.reopen();
                    vol = rig.engine.open_volume("m").unwrap();
                }
            }
            let allocated = vol.info().allocated_bytes;
            prop_assert!(allocated <= VOLUME_BYTES);
        }
        let mut all = vec![0u8; VOLUME_BYTES as usize];
        vol.read(0, &mut all).unwrap();
        prop_assert!(all == model, "final contents differ from the model");
    }
}
