//! Fuzzes every trace reader through `strata_sim::open_trace`, the entry point the CLI uses:
//! the first input byte picks the format (or auto-detection) and the reader options, the rest
//! is the file content (compressed or not). No reader may panic, and every record must keep
//! the documented invariants: non-zero length, disk id and end address within bounds, and
//! nothing after the first error.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strata_sim::trace::{
    BlkparseAction, Format, MAX_DISK, MAX_END_BYTES, TimeUnit, TraceOptions, detect_format,
    open_trace,
};

/// Records read per input at most: a small compressed input may expand a lot.
const MAX_RECORDS: u64 = 200_000;

/// One scratch file per process, rewritten for every input (readers only open paths).
fn scratch_path() -> &'static PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir for trace inputs"))
            .path()
            .join("input.trace")
    })
}

fn options(selector: u8) -> TraceOptions {
    let format = Format::ALL[usize::from(selector & 0x0f) % Format::ALL.len()];
    let time_unit = [TimeUnit::Ns, TimeUnit::Us, TimeUnit::Ms, TimeUnit::S]
        [usize::from((selector >> 5) & 0x03)];
    let action = if selector & 0x80 == 0 {
        BlkparseAction::Queue
    } else {
        BlkparseAction::Issue
    };
    TraceOptions::default()
        .with_format(format)
        .with_skip_bad_lines(selector & 0x10 != 0)
        .with_time_unit(time_unit)
        .with_blkparse_action(action)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, content)) = data.split_first() else {
        return;
    };
    let _ = detect_format(content);
    let path = scratch_path();
    std::fs::write(path, content).expect("the scratch trace file is writable");
    let Ok(mut reader) = open_trace(path, &options(selector)) else {
        return;
    };
    assert_ne!(
        reader.format(),
        Format::Auto,
        "auto must resolve to a format"
    );
    let mut records = 0u64;
    while records < MAX_RECORDS {
        match reader.next() {
            Some(Ok(record)) => {
                records += 1;
                assert!(record.len_bytes > 0, "zero-length record {record:?}");
                assert!(record.disk <= MAX_DISK, "disk out of range {record:?}");
                let end = record.offset_bytes.checked_add(record.len_bytes);
                assert!(
                    end.is_some_and(|end| end <= MAX_END_BYTES),
                    "end address out of range {record:?}"
                );
            }
            Some(Err(_)) => {
                assert!(reader.next().is_none(), "a reader went on after an error");
                break;
            }
            None => break,
        }
    }
    assert_eq!(reader.stats().records, records);
});
