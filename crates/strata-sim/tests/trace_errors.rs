//! Bad input never panics: malformed lines are errors naming file, line and text (or are
//! counted with `skip_bad_lines`), zero-length requests and non-data opcodes are skipped and
//! counted, undetectable files and truncated binary records are reported.

use std::io::Write;
use std::path::{Path, PathBuf};

use strata_sim::trace::{
    Format, MAX_LINE_EXCERPT_CHARS, TraceErrorKind, TraceOptions, TraceStats, open_trace,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

/// A copy of a plain-text fixture with `bad` inserted as line `line_no` (1-based).
fn corrupted_copy(dir: &Path, name: &str, line_no: usize, bad: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(line_no - 1, bad);
    let path = dir.join(format!("corrupt_{name}"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn drain(path: &Path, options: &TraceOptions) -> (u64, Option<strata_sim::TraceError>, TraceStats) {
    let mut reader = open_trace(path, options).unwrap();
    let mut count = 0;
    let mut error = None;
    for record in reader.by_ref() {
        match record {
            Ok(_) => count += 1,
            Err(e) => error = Some(e),
        }
    }
    (count, error, reader.stats())
}

#[test]
fn a_bad_line_names_file_line_and_text_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "msr_hm_0_sample1000.csv",
            "128166385295514663,hm,0,Erase,1,2,3",
            1_000,
        ),
        (
            "mqsim_tpcc-small.trace",
            "938513000 4 26471903x 16 0",
            6_999,
        ),
        ("tencent_handwritten.csv", "1538323200,8390656,8,7,1063", 6),
        (
            "blkparse_handwritten.txt",
            "  8,0    3  9  0.5  697  Q   R 22349O + 8 [x]",
            4,
        ),
        ("fio_v2_handwritten.log", "/dev/vdb scribble 0 4096", 3),
    ];
    for (name, bad, good_records) in cases {
        let path = corrupted_copy(dir.path(), name, 4, bad);
        let (count, error, _) = drain(&path, &TraceOptions::default());
        let error = error.unwrap_or_else(|| panic!("{name}: no error"));
        assert_eq!(error.kind(), TraceErrorKind::BadLine, "{name}");
        assert_eq!(error.path(), path, "{name}");
        assert_eq!(error.line(), Some(4), "{name}");
        assert_eq!(error.text(), Some(bad.trim()), "{name}");
        let message = error.to_string();
        assert!(message.contains(&format!("corrupt_{name}:4:")), "{message}");
        assert!(count < good_records, "{name}: stops at the bad line");

        let skipping = TraceOptions::default().with_skip_bad_lines(true);
        let (count, error, stats) = drain(&path, &skipping);
        assert!(error.is_none(), "{name}");
        assert_eq!(count, good_records, "{name}");
        assert_eq!(stats.bad_lines, 1, "{name}");
    }
}

#[test]
fn long_bad_lines_are_truncated_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!("1,hm,0,Read,{},512,1", "9".repeat(1_000));
    let path = corrupted_copy(dir.path(), "msr_hm_0_sample1000.csv", 2, &bad);
    let (_, error, _) = drain(&path, &TraceOptions::default());
    let text = error.unwrap().text().unwrap().to_owned();
    assert!(
        text.chars().count() <= MAX_LINE_EXCERPT_CHARS + 1,
        "{}",
        text.len()
    );
    assert!(text.starts_with("1,hm,0,Read,999"));
}

#[test]
fn overlong_lines_are_bad_lines_and_the_next_line_still_parses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.csv");
    let text = format!(
        "1,hm,0,Read,0,4096,1\n{}\n2,hm,0,Write,4096,4096,1\n",
        "7".repeat(100_000)
    );
    std::fs::write(&path, text).unwrap();
    let (count, error, _) = drain(&path, &TraceOptions::default());
    assert_eq!(count, 1);
    let error = error.unwrap();
    assert_eq!(error.line(), Some(2));
    assert!(error.reason().contains("longer"), "{error}");
    let skipping = TraceOptions::default().with_skip_bad_lines(true);
    let (count, error, stats) = drain(&path, &skipping);
    assert!(error.is_none());
    assert_eq!((count, stats.bad_lines), (2, 1));
}

#[test]
fn zero_length_requests_and_other_opcodes_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "version,time,op,size,lbn").unwrap();
    writeln!(file, "1,10,28,4096,8").unwrap();
    writeln!(file, "1,11,35,0,0").unwrap();
    writeln!(file, "1,12,2a,0,16").unwrap();
    writeln!(file, "1,13,2a,512,16").unwrap();
    drop(file);
    let (count, error, stats) = drain(&path, &TraceOptions::default());
    assert!(error.is_none());
    assert_eq!(count, 2);
    assert_eq!(
        stats,
        TraceStats {
            records: 2,
            bad_lines: 0,
            zero_length: 1,
            other_ops: 1
        }
    );
}

#[test]
fn truncated_lbn_record_is_a_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.lbn");
    std::fs::write(&path, [1, 0, 0, 0, 2, 0, 0, 0, 9]).unwrap();
    let options = TraceOptions::default().with_format(Format::Lbn);
    let (count, error, _) = drain(&path, &options);
    assert_eq!(count, 2);
    let error = error.unwrap();
    assert_eq!(error.kind(), TraceErrorKind::BadLine);
    assert_eq!(error.line(), Some(3));
    let (count, error, stats) = drain(&path, &options.with_skip_bad_lines(true));
    assert_eq!((count, error.is_none(), stats.bad_lines), (2, true, 1));
}

#[test]
fn undetectable_and_missing_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello world\nthis is not a trace\n").unwrap();
    let error = open_trace(&path, &TraceOptions::default()).unwrap_err();
    assert_eq!(error.kind(), TraceErrorKind::UnknownFormat);
    assert_eq!(error.path(), path);
    let missing = dir.path().join("missing.csv");
    let error = open_trace(&missing, &TraceOptions::default()).unwrap_err();
    assert_eq!(error.kind(), TraceErrorKind::Io);
}

#[test]
fn out_of_range_requests_are_bad_lines_not_wraparounds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.csv");
    std::fs::write(
        &path,
        "1,hm,0,Read,18446744073709551000,4096,1\n1,hm,0,Read,0,4096,1\n",
    )
    .unwrap();
    let (count, error, _) = drain(&path, &TraceOptions::default());
    assert_eq!(count, 0);
    assert_eq!(error.unwrap().line(), Some(1));
}

#[test]
fn garbage_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed: u32 = 12_345;
    for (i, format) in Format::ALL.into_iter().enumerate() {
        let bytes: Vec<u8> = (0..4_096)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                // Mostly digits, separators and newlines, so parsers get past the first field.
                b"0123456789,. \nRW+-xa"[(seed >> 24) as usize % 20]
            })
            .collect();
        let path = dir.path().join(format!("garbage{i}"));
        std::fs::write(&path, bytes).unwrap();
        let options = TraceOptions::default()
            .with_format(format)
            .with_skip_bad_lines(true);
        if let Ok(reader) = open_trace(&path, &options) {
            let results: Vec<_> = reader.collect();
            assert!(results.len() <= 4_096, "{format}");
        }
    }
}
