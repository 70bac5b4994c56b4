//! Fuzzes the engine's on-disk record decoders (`strata_engine::store_format`): arbitrary
//! bytes must decode to a value or an error, never a panic, and every decoded value must
//! survive an encode/decode round trip unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_engine::store_format::{
    decode_map_key, decode_map_value, decode_u64, decode_volume, encode_map_value, encode_u64,
    encode_volume, map_key,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = decode_volume(data) {
        let encoded = encode_volume(&record).expect("a decoded volume record encodes");
        assert_eq!(decode_volume(&encoded).ok(), Some(record));
    }
    if let Ok(value) = decode_map_value(data) {
        assert_eq!(
            decode_map_value(&encode_map_value(&value)).ok(),
            Some(value)
        );
    }
    if let Ok(counter) = decode_u64(data) {
        assert_eq!(encode_u64(counter), data);
    }
    // Keys: the first 8 bytes pick the volume id the rest is decoded against.
    if let Some((id, key)) = data.split_first_chunk::<8>() {
        let volume_id = u64::from_be_bytes(*id);
        if let Ok(extent) = decode_map_key(volume_id, key) {
            assert_eq!(map_key(volume_id, extent), key);
        }
    }
});
