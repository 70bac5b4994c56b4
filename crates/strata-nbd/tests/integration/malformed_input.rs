//! Hand-made bytes on raw sockets: garbage, unknown commands and options, oversized option
//! payloads, the `NBD_OPT_EXPORT_NAME` path, flush ordering with pipelined requests, and
//! graceful shutdown with a request in flight.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use strata_nbd::NbdClient;
use strata_nbd::proto::{
    self, Command, InfoRequest, NBD_CMD_FLAG_FUA, NBD_EINVAL, NBD_FLAG_C_FIXED_NEWSTYLE,
    NBD_INFO_DESCRIPTION, NBD_INFO_NAME, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME, NBD_OPT_INFO,
    NBD_OPT_LIST, NBD_OPT_STARTTLS, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NBD_REP_ERR_INVALID,
    NBD_REP_ERR_TOO_BIG, NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP, NBD_REP_INFO, NBD_REP_SERVER,
    Request,
};
use tokio::io::AsyncReadExt;

use crate::common::{Hold, MIB, MemExport, Provider, RawConn, TestServer};

fn request(command: Command, handle: u64, offset: u64, len_bytes: u32) -> Request {
    Request {
        flags: 0,
        command,
        handle,
        offset,
        len_bytes,
    }
}

async fn one_export_server() -> (Arc<MemExport>, TestServer) {
    let export = Arc::new(MemExport::new(MIB).described("test volume"));
    let server = TestServer::start(Provider::default().with("v", export.clone())).await;
    (export, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_handshake_closes_only_that_connection() {
    let (_, server) = one_export_server().await;
    let mut bystander = NbdClient::connect_tcp(server.addr, "v").await.unwrap();
    let mut raw = RawConn::connect(server.addr).await;
    raw.go("v").await;
    raw.send_request(request(Command::Read, 1, 0, 512), &[])
        .await;
    let mut good = [0u8; 512];
    assert_eq!(raw.simple_reply().await.error, 0);
    raw.stream.read_exact(&mut good).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &[0xde; 64])
        .await
        .unwrap();
    assert!(
        raw.closed_by_server().await,
        "server kept a connection sending garbage"
    );
    bystander.write(0, b"still here", false).await.unwrap();
    assert_eq!(bystander.read(0, 10).await.unwrap(), b"still here");
    let mut fresh = NbdClient::connect_tcp(server.addr, "v").await.unwrap();
    assert_eq!(fresh.read(0, 10).await.unwrap(), b"still here");
    // The server counts the error after the connection's socket is gone, so the client can
    // see the close first; the other connections stay open, so `wait_idle` cannot be used.
    crate::common::wait_until(|| server.stats.protocol_errors_total.load(Ordering::SeqCst) > 0)
        .await;
    assert_eq!(server.stats.snapshot().protocol_errors_total, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commands_and_flags_get_einval_and_the_connection_continues() {
    let (_, server) = one_export_server().await;
    let mut raw = RawConn::connect(server.addr).await;
    raw.go("v").await;
    raw.send_request(request(Command::Unknown(99), 7, 0, 0), &[])
        .await;
    let reply = raw.simple_reply().await;
    assert_eq!((reply.handle, reply.error), (7, NBD_EINVAL));
    let mut flagged = request(Command::Flush, 8, 0, 0);
    flagged.flags = 1 << 9;
    raw.send_request(flagged, &[]).await;
    assert_eq!(raw.simple_reply().await.error, NBD_EINVAL);
    let mut write = request(Command::Write, 9, 0, 4);
    write.flags = 1 << 7;
    raw.send_request(write, b"abcd").await;
    assert_eq!(raw.simple_reply().await.error, NBD_EINVAL);
    raw.send_request(request(Command::Flush, 10, 0, 0), &[])
        .await;
    let reply = raw.simple_reply().await;
    assert_eq!((reply.handle, reply.error), (10, 0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn option_haggling_errors_and_info() {
    let (_, server) = one_export_server().await;
    let mut raw = RawConn::connect(server.addr).await;
    for option in [NBD_OPT_STARTTLS, NBD_OPT_STRUCTURED_REPLY, 4242] {
        raw.send_option(option, &[]).await;
        let (header, _) = raw.option_reply().await;
        assert_eq!(
            (header.option, header.reply_type),
            (option, NBD_REP_ERR_UNSUP)
        );
    }
    raw.send_option(NBD_OPT_LIST, &[0; 65 * 1024]).await;
    assert_eq!(raw.option_reply().await.0.reply_type, NBD_REP_ERR_TOO_BIG);
    raw.send_option(NBD_OPT_LIST, b"x").await;
    assert_eq!(raw.option_reply().await.0.reply_type, NBD_REP_ERR_INVALID);
    raw.send_option(NBD_OPT_INFO, &[0, 0, 0, 9, b'v']).await;
    assert_eq!(raw.option_reply().await.0.reply_type, NBD_REP_ERR_INVALID);
    let missing = InfoRequest {
        name: "nope".into(),
        info_types: vec![],
    };
    raw.send_option(NBD_OPT_INFO, &missing.encode()).await;
    assert_eq!(raw.option_reply().await.0.reply_type, NBD_REP_ERR_UNKNOWN);

    let info = InfoRequest {
        name: "v".into(),
        info_types: vec![NBD_INFO_NAME, NBD_INFO_DESCRIPTION],
    };
    raw.send_option(NBD_OPT_INFO, &info.encode()).await;
    let mut infos = Vec::new();
    loop {
        let (header, body) = raw.option_reply().await;
        if header.reply_type == NBD_REP_ACK {
            break;
        }
        assert_eq!(header.reply_type, NBD_REP_INFO);
        infos.push(proto::Info::decode(&body).unwrap());
    }
    assert!(infos.contains(&proto::Info::Name("v".into())), "{infos:?}");
    assert!(
        infos.contains(&proto::Info::Description("test volume".into())),
        "{infos:?}"
    );
    assert!(
        infos.iter().any(
            |i| matches!(i, proto::Info::Export { size_bytes, .. } if *size_bytes == MIB as u64)
        )
    );

    raw.send_option(NBD_OPT_LIST, &[]).await;
    let (header, body) = raw.option_reply().await;
    assert_eq!(header.reply_type, NBD_REP_SERVER);
    assert_eq!(proto::decode_server_entry(&body).unwrap(), "v");
    assert_eq!(raw.option_reply().await.0.reply_type, NBD_REP_ACK);
    raw.send_option(NBD_OPT_ABORT, &[]).await;
    assert_eq!(raw.option_reply().await.0.reply_type, NBD_REP_ACK);
    assert!(raw.closed_by_server().await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_options_and_old_clients_are_dropped() {
    let (_, server) = one_export_server().await;
    let mut huge = RawConn::connect(server.addr).await;
    let header = proto::OptionHeader {
        option: NBD_OPT_LIST,
        len_bytes: 100 * MIB as u32,
    };
    tokio::io::AsyncWriteExt::write_all(&mut huge.stream, &header.encode())
        .await
        .unwrap();
    assert!(huge.closed_by_server().await);

    let mut not_fixed = RawConn::connect_with_flags(server.addr, 0).await;
    assert!(not_fixed.closed_by_server().await);
    let mut unknown_flags = RawConn::connect_with_flags(server.addr, 1 << 7 | 1).await;
    assert!(unknown_flags.closed_by_server().await);

    let mut missing = RawConn::connect(server.addr).await;
    missing.send_option(NBD_OPT_EXPORT_NAME, b"nope").await;
    assert!(missing.closed_by_server().await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_name_option_with_and_without_zero_padding() {
    let (_, server) = one_export_server().await;
    for (client_flags, reply_len) in [(NBD_FLAG_C_FIXED_NEWSTYLE, 134), (3, 10)] {
        let mut raw = RawConn::connect_with_flags(server.addr, client_flags).await;
        raw.send_option(NBD_OPT_EXPORT_NAME, b"v").await;
        let mut reply = vec![0u8; reply_len];
        raw.stream.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply[..8], (MIB as u64).to_be_bytes());
        assert!(reply[10..].iter().all(|&b| b == 0));
        raw.send_request(request(Command::Write, 1, 0, 3), b"abc")
            .await;
        assert_eq!(raw.simple_reply().await.error, 0);
        raw.send_request(request(Command::Disconnect, 2, 0, 0), &[])
            .await;
        assert!(raw.closed_by_server().await);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_writes_received_before_it() {
    let (export, server) = one_export_server().await;
    // Both writes stay in the export until the server has received the flush behind them.
    export.hold_writes(Hold::Requests(Arc::clone(&server.stats), 3));
    let mut raw = RawConn::connect(server.addr).await;
    raw.go("v").await;
    raw.send_request(request(Command::Write, 1, 0, 4), b"1111")
        .await;
    let mut fua = request(Command::Write, 2, 4096, 4);
    fua.flags = NBD_CMD_FLAG_FUA;
    raw.send_request(fua, b"2222").await;
    raw.send_request(request(Command::Flush, 3, 0, 0), &[])
        .await;
    let mut handles = Vec::new();
    for _ in 0..3 {
        let reply = raw.simple_reply().await;
        assert_eq!(reply.error, 0);
        handles.push(reply.handle);
    }
    assert_eq!(
        handles[2], 3,
        "flush replied before the writes: {handles:?}"
    );
    assert!(!export.flush_overlapped_write.load(Ordering::SeqCst));
    assert_eq!(export.flushes.load(Ordering::SeqCst), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_then_returns() {
    let (export, server) = one_export_server().await;
    export.hold_writes(Hold::Manual);
    let mut raw = RawConn::connect(server.addr).await;
    raw.go("v").await;
    raw.send_request(request(Command::Write, 5, 0, 4), b"last")
        .await;
    crate::common::wait_until(|| export.writes_inflight.load(Ordering::SeqCst) == 1).await;
    server.shutdown.cancel();
    export.release();
    let reply = raw.simple_reply().await;
    assert_eq!((reply.handle, reply.error), (5, 0));
    assert!(raw.closed_by_server().await);
    assert_eq!(&export.data.read()[..4], b"last");
    server.stop().await;
}
