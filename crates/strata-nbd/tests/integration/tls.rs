//! `NBD_OPT_STARTTLS`: our client against our server over TCP and a Unix socket, the
//! refusals of "require" mode on raw sockets, "optional" mode serving both, a client that
//! does not trust the server's CA, and qemu-io and nbdinfo as real TLS clients.

use std::sync::Arc;

use strata_nbd::proto::{
    NBD_OPT_EXPORT_NAME, NBD_OPT_LIST, NBD_OPT_STARTTLS, NBD_REP_ACK, NBD_REP_ERR_TLS_REQD,
};
use strata_nbd::tls::rustls;
use strata_nbd::tls::rustls::pki_types::pem::PemObject;
use strata_nbd::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use strata_nbd::{ClientTls, NbdClient, NbdErrorKind, NbdServer, ServerConfig, ServerTls, TlsMode};

use crate::common::{
    MIB, MemExport, Provider, RawConn, TestServer, output_text, pseudo_random_bytes, run_tool,
};
use crate::pki::{self, Pki};

fn provider() -> Provider {
    Provider::default().with("vol", Arc::new(MemExport::new(4 * MIB)))
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_tls(pki: &Pki, mode: TlsMode) -> ServerTls {
    let certs = vec![CertificateDer::from_pem_slice(pki.server_cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    ServerTls::new(Arc::new(config), mode)
}

fn client_tls(ca_pem: &str) -> ClientTls {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    ClientTls::new(Arc::new(config), "127.0.0.1").unwrap()
}

async fn start(pki: &Pki, mode: TlsMode) -> TestServer {
    let server = NbdServer::new(Arc::new(provider()), ServerConfig::default())
        .with_tls(server_tls(pki, mode));
    TestServer::start_server(server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_round_trips_inside_tls_over_tcp_and_unix() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::generate(dir.path());
    let server = start(&pki, TlsMode::Require).await;
    let tls = client_tls(&pki.ca_pem);
    let data = pseudo_random_bytes(256 * 1024, 11);
    let mut client = NbdClient::connect_tcp_tls(server.addr, "vol", &tls)
        .await
        .unwrap();
    assert_eq!(client.size(), 4 * MIB as u64);
    client.write(8192, &data, true).await.unwrap();
    client.flush().await.unwrap();
    client.disconnect().await.unwrap();
    let mut client = NbdClient::connect_unix_tls(&server.socket_path, "vol", &tls)
        .await
        .unwrap();
    assert_eq!(client.read(8192, data.len() as u32).await.unwrap(), data);
    client.disconnect().await.unwrap();
    server.wait_idle().await;
    let stats = server.stats.snapshot();
    assert_eq!(
        (stats.protocol_errors_total, stats.error_replies_total),
        (0, 0)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_mode_refuses_everything_before_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::generate(dir.path());
    let server = start(&pki, TlsMode::Require).await;

    // Our plain client: GO is refused with TLS_REQD, reported as a TLS error.
    let err = NbdClient::connect_tcp(server.addr, "vol")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), NbdErrorKind::Tls, "{err}");
    let err = NbdClient::list_exports_tcp(server.addr).await.unwrap_err();
    assert_eq!(err.kind(), NbdErrorKind::Tls, "{err}");

    // Raw: LIST gets TLS_REQD and the connection stays usable; STARTTLS is then acked.
    let mut raw = RawConn::connect(server.addr).await;
    raw.send_option(NBD_OPT_LIST, &[]).await;
    let (header, body) = raw.option_reply().await;
    assert_eq!(header.reply_type, NBD_REP_ERR_TLS_REQD);
    assert!(String::from_utf8_lossy(&body).contains("requires TLS"));
    raw.send_option(NBD_OPT_STARTTLS, b"junk").await;
    let (header, _) = raw.option_reply().await;
    assert!(strata_nbd::proto::is_error_reply(header.reply_type));
    raw.send_option(NBD_OPT_STARTTLS, &[]).await;
    let (header, _) = raw.option_reply().await;
    assert_eq!(header.reply_type, NBD_REP_ACK);
    drop(raw);

    // EXPORT_NAME has no error reply: the server closes.
    let mut raw = RawConn::connect(server.addr).await;
    raw.send_option(NBD_OPT_EXPORT_NAME, b"vol").await;
    assert!(raw.closed_by_server().await);

    server.wait_idle().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_mode_serves_plain_and_tls_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::generate(dir.path());
    let server = start(&pki, TlsMode::Optional).await;
    let mut plain = NbdClient::connect_tcp(server.addr, "vol").await.unwrap();
    plain.write(0, b"plain", false).await.unwrap();
    let mut secure = NbdClient::connect_tcp_tls(server.addr, "vol", &client_tls(&pki.ca_pem))
        .await
        .unwrap();
    assert_eq!(secure.read(0, 5).await.unwrap(), b"plain");
    plain.disconnect().await.unwrap();
    secure.disconnect().await.unwrap();
    assert_eq!(
        NbdClient::list_exports_tcp(server.addr).await.unwrap(),
        ["vol"]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_ca_fails_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::generate(&dir.path().join("real"));
    let other = pki::generate(&dir.path().join("other"));
    let server = start(&pki, TlsMode::Require).await;
    let err = NbdClient::connect_tcp_tls(server.addr, "vol", &client_tls(&other.ca_pem))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), NbdErrorKind::Tls, "{err}");
    server.wait_idle().await;
    assert_eq!(server.stats.snapshot().protocol_errors_total, 1);
    server.stop().await;
}

/// `--object tls-creds-x509,...` plus `--image-opts` naming the creds: how qemu tools speak TLS.
fn qemu_tls_args(pki: &Pki, server: &TestServer) -> Vec<String> {
    vec![
        "--object".into(),
        format!(
            "tls-creds-x509,id=tls0,dir={},endpoint=client",
            pki.dir.display()
        ),
        "--image-opts".into(),
        format!(
            "driver=nbd,host=127.0.0.1,port={},export=vol,tls-creds=tls0",
            server.addr.port()
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_io_and_nbdinfo_speak_tls_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::generate(dir.path());
    let server = start(&pki, TlsMode::Require).await;
    let mut args = qemu_tls_args(&pki, &server);
    for command in ["write -P 0x5a 0 1M", "read -P 0x5a 0 1M"] {
        args.extend(["-c".to_owned(), command.to_owned()]);
    }
    let text = output_text(&run_tool("qemu-io", args).await);
    assert!(text.contains("read 1048576/1048576"), "{text}");
    assert!(!text.contains("Pattern verification failed"), "{text}");

    // libnbd takes the creds directory in the URI; `nbds://` makes TLS mandatory.
    let uri = format!(
        "nbds://127.0.0.1:{}/vol?tls-certificates={}",
        server.addr.port(),
        pki.dir.display()
    );
    let info = run_tool("nbdinfo", vec!["--size".into(), uri]).await;
    assert_eq!(output_text(&info).trim(), (4 * MIB).to_string());
    server.stop().await;
}
