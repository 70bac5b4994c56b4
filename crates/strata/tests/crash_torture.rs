//! `strata torture` as CI runs it: 100 SIGKILLs of a child server at random moments while
//! several connections write checksummed blocks with FLUSH, FUA and WRITE_ZEROES while the
//! `lru-promote` policy migrates extents between tiers; every block acknowledged before the
//! last completed flush must come back intact.

use std::process::Command;

#[test]
fn one_hundred_kills_lose_and_corrupt_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["torture", "--kills", "100", "--json", "--seed", "20261123"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run strata torture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "torture failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json report");
    assert_eq!(report["kills"], 100);
    assert_eq!(report["lost_blocks"], 0);
    assert_eq!(report["corrupt_blocks"], 0);
    // 101 verifications of the 4096-block volume.
    assert_eq!(report["verified_blocks"], 101 * 4096);
    assert!(
        report["acknowledged_writes"].as_u64().unwrap_or(0) > 1000,
        "the writers must have done real work: {report}"
    );
    assert!(report["flushes"].as_u64().unwrap_or(0) > 50, "{report}");
    // The default policy migrates constantly, so kills also land mid-migration.
    assert_eq!(report["policy"], "lru-promote");
    assert!(
        report["migrations_done"].as_u64().unwrap_or(0) > 100,
        "extents must have moved between tiers during the run: {report}"
    );
}
