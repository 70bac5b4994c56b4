//! The forwarding pool against our server: concurrent requests share at most the configured
//! connections, an error reply leaves the pool usable, and a server that went away and came
//! back on another port is reached again once the pool is pointed there.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use strata_nbd::pool::forwarded_io_error;
use strata_nbd::proto::NBD_EINVAL;
use strata_nbd::{ClientPool, PoolConfig};

use crate::common::{MIB, MemExport, Provider, TestServer, pseudo_random_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_requests_share_bounded_connections_and_survive_errors() {
    let export = Arc::new(MemExport::new(4 * MIB));
    let server = TestServer::start(Provider::default().with("vol", export.clone())).await;
    let config = PoolConfig {
        max_connections: 2,
        ..PoolConfig::default()
    };
    let pool = Arc::new(ClientPool::new(server.addr.to_string(), "vol", config));
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let data = pseudo_random_bytes(64 * 1024, i);
            pool.write(i * 64 * 1024, &data, i % 2 == 0).await.unwrap();
            let mut back = vec![0; data.len()];
            pool.read(i * 64 * 1024, &mut back).await.unwrap();
            assert_eq!(back, data, "request {i}");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    pool.flush().await.unwrap();
    assert!(export.flushes.load(Ordering::SeqCst) >= 1);
    assert!(
        server.stats.connections_total.load(Ordering::SeqCst) <= 2,
        "at most max_connections opened"
    );

    // An error reply is the request's answer; the next request still works.
    let err = pool.read(4 * MIB as u64, &mut [0; 4096]).await.unwrap_err();
    assert_eq!(err.nbd_errno(), Some(NBD_EINVAL));
    assert_eq!(
        forwarded_io_error(err).raw_os_error(),
        Some(libc::EINVAL),
        "the errno survives forwarding"
    );
    pool.trim(0, 4096).await.unwrap();
    pool.write_zeroes(8192, 4096, true, false).await.unwrap();
    let mut back = vec![1; 4096];
    pool.read(8192, &mut back).await.unwrap();
    assert!(back.iter().all(|&b| b == 0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_reached_again() {
    let export = Arc::new(MemExport::new(MIB));
    let first = TestServer::start(Provider::default().with("vol", export.clone())).await;
    let pool = ClientPool::new(first.addr.to_string(), "vol", PoolConfig::default());
    pool.write(0, b"before", false).await.unwrap();
    first.stop().await;

    // Down: the retried request fails with a transport error, not an NBD error reply.
    let err = pool.read(0, &mut [0; 6]).await.unwrap_err();
    assert_eq!(err.nbd_errno(), None, "{err}");

    let second = TestServer::start(Provider::default().with("vol", export.clone())).await;
    pool.set_address(&second.addr.to_string());
    let mut back = [0; 6];
    pool.read(0, &mut back).await.unwrap();
    assert_eq!(&back, b"before");
    second.stop().await;
}
