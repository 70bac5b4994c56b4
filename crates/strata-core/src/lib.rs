//! `strata-core`: the vocabulary every other Strata crate shares.
//!
//! It owns plain data and pure functions only — no I/O, no threads, no clocks that read the
//! system time except [`clock::SystemClock`] and [`clock::UnixClock`]. Keeping the device service-time model here
//! lets the real device emulation (`strata-device`) and the virtual-time simulator
//! (`strata-sim`) compute exactly the same latencies.

pub mod clock;
pub mod error;
pub mod model;
pub mod profile;
pub mod size;
pub mod tier;

pub use clock::{Clock, ManualClock, SystemClock, UnixClock};
pub use error::ParseError;
pub use model::{DeviceQueueModel, IoKind};
pub use profile::DeviceProfile;
pub use size::{SizeOrFraction, format_size, parse_fraction, parse_size};
pub use tier::TierKind;

/// Logical block size of every volume, in bytes.
pub const BLOCK_SIZE: u64 = 4096;
/// Default extent size of a volume, in bytes.
pub const DEFAULT_EXTENT_SIZE: u64 = 1 << 20;
/// Smallest extent size a volume may choose, in bytes.
pub const MIN_EXTENT_SIZE: u64 = 64 << 10;
/// Largest extent size a volume may choose, in bytes.
pub const MAX_EXTENT_SIZE: u64 = 64 << 20;

/// Checks an extent size against the rules of DESIGN.md: a power of two from 64 KiB to 64 MiB.
pub fn validate_extent_size(bytes: u64) -> Result<(), ParseError> {
    if bytes.is_power_of_two() && (MIN_EXTENT_SIZE..=MAX_EXTENT_SIZE).contains(&bytes) {
        Ok(())
    } else {
        Err(ParseError::new(
            format_size(bytes),
            "extent size must be a power of two from 64K to 64M",
        ))
    }
}
