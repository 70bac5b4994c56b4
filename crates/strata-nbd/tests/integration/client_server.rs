//! Our client against our server: every command, error replies that leave the connection
//! usable, several connections, listing, unknown exports, read-only and failing exports.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use strata_nbd::proto::{
    NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_EPERM, NBD_FLAG_CAN_MULTI_CONN, NBD_FLAG_SEND_FLUSH,
};
use strata_nbd::{NbdClient, NbdErrorKind, ServerConfig};

use crate::common::{FailingExport, MIB, MemExport, Provider, TestServer, pseudo_random_bytes};

fn errno(result: Result<impl Sized, strata_nbd::NbdError>) -> Option<u32> {
    result.err().and_then(|e| e.nbd_errno())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_round_trips() {
    let export = Arc::new(MemExport::new(4 * MIB));
    let server = TestServer::start(Provider::default().with("vol", export.clone())).await;
    let mut client = NbdClient::connect_tcp(server.addr, "vol").await.unwrap();
    assert_eq!(client.size(), 4 * MIB as u64);
    assert!(!client.read_only());
    let flags = client.transmission_flags();
    assert_ne!(flags & NBD_FLAG_CAN_MULTI_CONN, 0);
    assert_ne!(flags & NBD_FLAG_SEND_FLUSH, 0);
    let sizes = client.block_sizes().unwrap();
    assert_eq!(
        (sizes.min_bytes, sizes.preferred_bytes, sizes.max_bytes),
        (1, 4096, 32 << 20)
    );

    let data = pseudo_random_bytes(256 * 1024, 7);
    client.write(4096, &data, false).await.unwrap();
    client
        .write(MIB as u64 + 3, b"unaligned", true)
        .await
        .unwrap();
    assert_eq!(client.read(4096, data.len() as u32).await.unwrap(), data);
    assert_eq!(client.read(MIB as u64 + 3, 9).await.unwrap(), b"unaligned");
    client.flush().await.unwrap();
    assert_eq!(export.flushes.load(Ordering::SeqCst), 1);

    client.trim(4096, 4096).await.unwrap();
    client.write_zeroes(8192, 4096, true, true).await.unwrap();
    client
        .write_zeroes(12288, 4096, false, false)
        .await
        .unwrap();
    let after = client.read(4096, 16384).await.unwrap();
    assert!(after[..12288].iter().all(|&b| b == 0));
    assert_eq!(after[12288..], data[12288..16384]);
    assert_eq!(client.read(0, 0).await.unwrap(), Vec::<u8>::new());
    client.disconnect().await.unwrap();
    server.wait_idle().await;
    let stats = server.stats.snapshot();
    assert_eq!(stats.connections_total, 1);
    assert_eq!(stats.error_replies_total, 0);
    assert_eq!(stats.written_bytes_total, data.len() as u64 + 9);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_requests_fail_and_the_connection_continues() {
    let size = MIB as u64;
    let server =
        TestServer::start(Provider::default().with("v", Arc::new(MemExport::new(MIB)))).await;
    let mut client = NbdClient::connect_tcp(server.addr, "v").await.unwrap();
    assert_eq!(errno(client.read(size - 512, 1024).await), Some(NBD_EINVAL));
    assert_eq!(
        errno(client.read(u64::MAX - 10, 512).await),
        Some(NBD_EINVAL)
    );
    assert_eq!(
        errno(client.write(size - 1, &[1, 2], false).await),
        Some(NBD_ENOSPC)
    );
    assert_eq!(
        errno(client.write_zeroes(size, 1, false, false).await),
        Some(NBD_ENOSPC)
    );
    assert_eq!(errno(client.trim(size - 1, 2).await), Some(NBD_EINVAL));
    client.write(size - 2, &[1, 2], false).await.unwrap();
    assert_eq!(client.read(size - 2, 2).await.unwrap(), [1, 2]);
    assert_eq!(server.stats.snapshot().error_replies_total, 5);
    client.disconnect().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_rejected_and_absurd_writes_close_the_connection() {
    let config = ServerConfig {
        max_request_bytes: MIB as u32,
        max_discard_bytes: 2 * MIB as u64,
        ..ServerConfig::default()
    };
    let export = Arc::new(MemExport::new(8 * MIB));
    let server =
        TestServer::start_with(Provider::default().with("v", export.clone()), config).await;
    let mut client = NbdClient::connect_tcp(server.addr, "v").await.unwrap();
    assert_eq!(client.block_sizes().unwrap().max_bytes, MIB as u32);
    let big = vec![0xee; MIB + MIB / 2];
    assert_eq!(errno(client.write(0, &big, false).await), Some(NBD_EINVAL));
    assert_eq!(
        errno(client.read(0, MIB as u32 + 1).await),
        Some(NBD_EINVAL)
    );
    client.write(0, b"fine", false).await.unwrap();
    assert_eq!(client.read(0, 4).await.unwrap(), b"fine");
    assert!(
        export.data.read()[4..].iter().all(|&b| b == 0),
        "discarded payload was written"
    );

    let absurd = vec![0xee; 3 * MIB];
    let error = client.write(0, &absurd, false).await.unwrap_err();
    assert_eq!(error.kind(), NbdErrorKind::Io, "{error}");
    server.wait_idle().await;
    assert_eq!(server.stats.snapshot().protocol_errors_total, 1);

    let mut again = NbdClient::connect_tcp(server.addr, "v").await.unwrap();
    assert_eq!(again.read(0, 4).await.unwrap(), b"fine");
    again.disconnect().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_share_one_export() {
    let server =
        TestServer::start(Provider::default().with("v", Arc::new(MemExport::new(MIB)))).await;
    let mut a = NbdClient::connect_tcp(server.addr, "v").await.unwrap();
    let mut b = NbdClient::connect_unix(&server.socket_path, "v")
        .await
        .unwrap();
    a.write(100, b"from a", true).await.unwrap();
    a.flush().await.unwrap();
    assert_eq!(b.read(100, 6).await.unwrap(), b"from a");
    b.write(200, b"from b", false).await.unwrap();
    b.flush().await.unwrap();
    assert_eq!(a.read(200, 6).await.unwrap(), b"from b");
    assert_eq!(server.stats.snapshot().connections_open, 2);
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    server.wait_idle().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_unknown_exports() {
    let provider = Provider::default()
        .with("b-vol", Arc::new(MemExport::new(MIB)))
        .with("a-vol", Arc::new(MemExport::new(MIB)));
    let server = TestServer::start(provider).await;
    let names = NbdClient::list_exports_tcp(server.addr).await.unwrap();
    assert_eq!(names, ["a-vol", "b-vol"]);
    let names = NbdClient::list_exports_unix(&server.socket_path)
        .await
        .unwrap();
    assert_eq!(names, ["a-vol", "b-vol"]);
    let error = NbdClient::connect_tcp(server.addr, "missing")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), NbdErrorKind::UnknownExport);
    let client = NbdClient::connect_tcp(server.addr, "a-vol").await.unwrap();
    assert_eq!(client.size(), MIB as u64);
    client.disconnect().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_exports_refuse_changes() {
    let export = Arc::new(MemExport::new(MIB).read_only());
    let server = TestServer::start(Provider::default().with("ro", export)).await;
    let mut client = NbdClient::connect_tcp(server.addr, "ro").await.unwrap();
    assert!(client.read_only());
    assert_eq!(errno(client.write(0, b"x", false).await), Some(NBD_EPERM));
    assert_eq!(errno(client.trim(0, 512).await), Some(NBD_EPERM));
    assert_eq!(
        errno(client.write_zeroes(0, 512, false, false).await),
        Some(NBD_EPERM)
    );
    assert_eq!(client.read(0, 512).await.unwrap(), vec![0; 512]);
    client.disconnect().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_errors_become_nbd_errors() {
    let provider = Provider::default()
        .with(
            "eio",
            Arc::new(FailingExport(|| io::Error::from_raw_os_error(libc::EIO))),
        )
        .with(
            "full",
            Arc::new(FailingExport(|| io::ErrorKind::StorageFull.into())),
        );
    let server = TestServer::start(provider).await;
    let mut eio = NbdClient::connect_tcp(server.addr, "eio").await.unwrap();
    assert_eq!(errno(eio.read(0, 512).await), Some(NBD_EIO));
    assert_eq!(errno(eio.flush().await), Some(NBD_EIO));
    let mut full = NbdClient::connect_tcp(server.addr, "full").await.unwrap();
    assert_eq!(errno(full.write(0, b"x", false).await), Some(NBD_ENOSPC));
    assert_eq!(
        errno(full.write_zeroes(0, 1, false, true).await),
        Some(NBD_ENOSPC)
    );
    server.stop().await;
}
