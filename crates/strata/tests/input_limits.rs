//! Nothing a client sends reaches the filesystem or grows without bound (issue 9): NBD
//! export names that look like paths, or are huge, open nothing and create no file; an API
//! body over the limit is refused; the server serves on afterwards.

mod common;

use common::{Server, TEST_CONFIG};
use std::collections::BTreeSet;
use std::path::Path;
use strata_nbd::{NbdClient, NbdErrorKind};

/// Every path under `dir`, to compare before and after.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            paths.insert(path.display().to_string());
        }
    }
    paths
}

#[test]
fn path_like_and_oversized_export_names_open_nothing_and_create_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    server.create_volume("real", "16M");
    let before = tree(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let long = "a".repeat(4096);
        for name in [
            "../../../../etc/passwd",
            "/etc/passwd",
            "../data/strata.redb",
            "tiers/nvme.img",
            "real/../real",
            "real\0",
            long.as_str(),
        ] {
            let err = NbdClient::connect_tcp(server.nbd, name)
                .await
                .expect_err(name);
            assert_eq!(err.kind(), NbdErrorKind::UnknownExport, "{name:?}: {err}");
        }
        // Over the 64 KiB option limit: refused as too big, not read into memory.
        let huge = "b".repeat(100 << 10);
        let err = NbdClient::connect_tcp(server.nbd, &huge)
            .await
            .expect_err("huge name");
        assert!(
            matches!(err.kind(), NbdErrorKind::OptionRefused { .. }),
            "{err}"
        );
        let mut ok = NbdClient::connect_tcp(server.nbd, "real")
            .await
            .expect("the real volume still opens");
        ok.write(0, b"still serving", true).await.expect("write");
        ok.disconnect().await.expect("disconnect");
    });
    let after = tree(dir.path());
    let created: Vec<_> = after.difference(&before).collect();
    assert!(created.is_empty(), "files appeared: {created:?}");
}

#[test]
fn an_api_body_over_the_limit_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), TEST_CONFIG);
    let body = format!(
        "{{\"name\": \"big\", \"size\": \"1M\", \"pad\": \"{}\"}}",
        "x".repeat(strata_api::MAX_BODY_BYTES + 1)
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let reply = agent
        .post(format!("{}/v1/volumes", server.api_url()))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .expect("the server answers");
    assert_eq!(reply.status().as_u16(), 413, "an oversized body is refused");
    let list = server.cli(&["volume", "list", "--json"]);
    common::assert_success("volume list", &list);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("\"big\""));
}
