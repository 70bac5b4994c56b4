//! The load run of issue 9 through `strata bench load`: 64 NBD connections (fio's nbd
//! engine, 4 jobs on each of 16 volumes, writers verifying crc32c as they go) against a child
//! `strata serve` with emulation on, for `STRATA_LOAD_SECONDS` (default 60) seconds. No fio
//! job may fail, the writers must have verified what they wrote, the server must count no
//! NBD error and still answer `/healthz`, and its peak RSS must stay under the bound.

use std::process::Command;

/// Peak resident memory allowed for the server under this load. Measured peaks are in
/// BENCHMARKS.md ("Load"); the bound leaves room for allocator and page-cache noise while
/// still catching a per-request leak, which over 60 s would grow far past it.
const PEAK_RSS_BOUND_BYTES: u64 = 512 << 20;

#[test]
fn sixty_four_verifying_connections_on_sixteen_volumes_stay_error_free_and_bounded() {
    let seconds = std::env::var("STRATA_LOAD_SECONDS").unwrap_or_else(|_| "60".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "bench",
            "load",
            "--json",
            "--volumes",
            "16",
            "--duration",
            &seconds,
        ])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run strata bench load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "strata bench load failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("bench load JSON");
    let field = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {report}"))
    };
    assert_eq!(field("connections"), 64, "{report}");
    assert_eq!(field("fio_errors"), 0, "{report}");
    assert_eq!(report["fio_exit_code"], 0, "{report}");
    assert_eq!(field("server_errors"), 0, "{report}");
    assert_eq!(report["healthy_after"], true, "{report}");
    assert!(field("written_bytes") > 0, "{report}");
    // verify_backlog=256 re-reads every written block soon after writing it.
    assert!(
        field("verified_bytes") * 2 >= field("written_bytes"),
        "writers verified too little: {report}"
    );
    assert!(field("rss_samples") > 0, "{report}");
    let peak = field("peak_rss_bytes");
    assert!(
        peak > 0 && peak < PEAK_RSS_BOUND_BYTES,
        "peak RSS {peak} B not under {PEAK_RSS_BOUND_BYTES} B: {report}"
    );
}
