//! Interoperability with real NBD clients: qemu-io, qemu-img, nbdinfo and fio's nbd engine.
//! These tools must be installed; a missing tool fails the test.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::common::{
    Hold, MIB, MemExport, Provider, TestServer, output_text, pseudo_random_bytes, run_tool,
};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// qemu-io prints failures instead of always exiting non-zero; reject those too.
fn assert_qemu_io_clean(text: &str) {
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("error"),
        "qemu-io reported an error: {text}"
    );
    assert!(
        !text.contains("Pattern verification failed"),
        "pattern mismatch: {text}"
    );
    assert!(
        !lower.contains("failed"),
        "qemu-io reported a failure: {text}"
    );
}

fn qemu_io_args(uri: &str, commands: &[&str]) -> Vec<String> {
    let mut out = args(&["-f", "raw", uri]);
    for command in commands {
        out.push("-c".to_owned());
        out.push((*command).to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_io_writes_reads_zeroes_and_discards_over_tcp() {
    let export = Arc::new(MemExport::new(64 * MIB));
    let server = TestServer::start(Provider::default().with("vol", export.clone())).await;
    let commands = [
        "write -P 0xab 0 64k",
        "read -P 0xab 0 64k",
        "write -f -P 0xcd 1m 128k",
        "flush",
        "write -z 64k 64k",
        "read -P 0 64k 64k",
        "discard 2m 64k",
        "aio_write -P 0x11 4m 4k",
        "aio_write -P 0x22 8m 4k",
        "aio_flush",
        "read -P 0x11 4m 4k",
        "read -P 0x22 8m 4k",
    ];
    let output = run_tool("qemu-io", qemu_io_args(&server.uri("vol"), &commands)).await;
    assert_qemu_io_clean(&output_text(&output));
    {
        let data = export.data.read();
        assert!(data[..64 * 1024].iter().all(|&b| b == 0xab));
        assert!(data[MIB..MIB + 128 * 1024].iter().all(|&b| b == 0xcd));
        assert!(data[4 * MIB..4 * MIB + 4096].iter().all(|&b| b == 0x11));
    }
    assert!(export.flushes.load(Ordering::SeqCst) >= 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_io_over_unix_socket() {
    let export = Arc::new(MemExport::new(8 * MIB));
    let server = TestServer::start(Provider::default().with("unixvol", export.clone())).await;
    let commands = ["write -P 0x5a 512 3k", "read -P 0x5a 512 3k"];
    let output = run_tool(
        "qemu-io",
        qemu_io_args(&server.unix_uri("unixvol"), &commands),
    )
    .await;
    assert_qemu_io_clean(&output_text(&output));
    assert!(
        export.data.read()[512..512 + 3072]
            .iter()
            .all(|&b| b == 0x5a)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_img_info_and_convert_round_trip() {
    let size_bytes = 8 * MIB;
    let export = Arc::new(MemExport::new(size_bytes));
    let server = TestServer::start(Provider::default().with("img", export.clone())).await;
    let uri = server.uri("img");

    let info = run_tool("qemu-img", args(&["info", "--output=json", &uri])).await;
    let info = output_text(&info);
    assert!(
        info.contains(&format!("\"virtual-size\": {size_bytes}")),
        "{info}"
    );

    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.raw");
    let copy = dir.path().join("copy.raw");
    let bytes = pseudo_random_bytes(size_bytes, 0x5eed);
    std::fs::write(&source, &bytes).unwrap();
    let source = source.to_str().unwrap();
    run_tool(
        "qemu-img",
        args(&["convert", "-n", "-f", "raw", "-O", "raw", source, &uri]),
    )
    .await;
    assert!(
        export.data.read()[..] == bytes[..],
        "export differs from the source image"
    );
    let copy_str = copy.to_str().unwrap();
    run_tool(
        "qemu-img",
        args(&["convert", "-f", "raw", "-O", "raw", &uri, copy_str]),
    )
    .await;
    assert!(
        std::fs::read(&copy).unwrap() == bytes,
        "copy differs from the source image"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbdinfo_lists_exports_and_describes_one() {
    let provider = Provider::default()
        .with(
            "alpha",
            Arc::new(MemExport::new(MIB).described("first volume")),
        )
        .with("beta", Arc::new(MemExport::new(2 * MIB).read_only()));
    let server = TestServer::start(provider).await;
    let listing = run_tool(
        "nbdinfo",
        args(&["--list", &format!("nbd://{}", server.addr)]),
    )
    .await;
    let listing = output_text(&listing);
    assert!(
        listing.contains("alpha") && listing.contains("beta"),
        "{listing}"
    );

    let info = run_tool("nbdinfo", args(&["--json", &server.uri("beta")])).await;
    let info = output_text(&info);
    assert!(info.contains("\"export-size\": 2097152"), "{info}");
    assert!(info.contains("\"is_read_only\": true"), "{info}");
    assert!(info.contains("\"can_multi_conn\": true"), "{info}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fio_random_writes_at_queue_depth_16_verify() {
    let export = Arc::new(MemExport::new(16 * MIB));
    // Writes wait until 16 run at once: fio would hang (and fail) without real concurrency.
    export.hold_writes(Hold::Concurrency(16));
    let server = TestServer::start(Provider::default().with("fio", export.clone())).await;
    let uri = format!("--uri={}", server.uri("fio"));
    let output = run_tool(
        "fio",
        args(&[
            "--name=t",
            "--ioengine=nbd",
            &uri,
            "--rw=randwrite",
            "--bs=4k",
            "--iodepth=16",
            "--size=16m",
            "--verify=crc32c",
            // No verify-state file in the crate directory.
            "--verify_state_save=0",
        ]),
    )
    .await;
    let text = output_text(&output);
    assert!(!text.contains("verify:") || !text.contains("bad"), "{text}");
    assert!(text.contains("err= 0"), "{text}");
    let max_inflight = export.max_writes_inflight.load(Ordering::SeqCst);
    assert!(max_inflight >= 16, "only {max_inflight} writes ran at once");
    server.stop().await;
}
