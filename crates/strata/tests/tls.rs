//! TLS against a real `strata serve` (`[tls]`): qemu-io, qemu-img and nbdinfo with x509
//! credentials on an NBD listener in "require" mode, a plain-text qemu-io refused; the CLI
//! over `https://` with `--api-ca`, plain HTTP to that port and an untrusted CA refused;
//! bad certificate files (also `peer_ca_file`) fail start-up with a line naming the key
//! and the file.

mod common;
#[path = "../../strata-nbd/tests/integration/pki.rs"]
mod pki;

use common::{Server, TEST_CONFIG, assert_success};
use std::path::Path;
use std::process::{Command, Output};

/// `TEST_CONFIG` plus a `[tls]` table naming the PKI's files relative to the config file.
fn tls_config(nbd: &str, api: bool) -> String {
    format!(
        "{TEST_CONFIG}\n[tls]\ncert_file = \"pki/server-cert.pem\"\nkey_file = \
         \"pki/server-key.pem\"\nnbd = \"{nbd}\"\napi = {api}\n"
    )
}

/// Runs `strata serve` with `config` until it exits (start-up failures end it at once).
fn serve_once(config: &Path, data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--nbd-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
        .output()
        .expect("run strata serve")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A qemu tool with x509 client credentials from `pki_dir` on `volume` at `server`.
fn qemu_tls(tool: &str, pki_dir: &Path, server: &Server, volume: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .arg("--object")
        .arg(format!(
            "tls-creds-x509,id=tls0,dir={},endpoint=client",
            pki_dir.display()
        ))
        .arg("--image-opts")
        .arg(format!(
            "driver=nbd,host=127.0.0.1,port={},export={volume},tls-creds=tls0",
            server.nbd.port()
        ))
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed (.ci/run installs qemu-utils): {e}"))
}

#[test]
fn nbd_require_mode_serves_qemu_and_nbdinfo_over_tls_and_refuses_plain_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki::generate(&dir.path().join("pki"));
    let server = Server::start(dir.path(), &tls_config("require", false));
    server.create_volume("secure", "64M");

    let out = qemu_tls(
        "qemu-io",
        &pki.dir,
        &server,
        "secure",
        &["-c", "write -P 0x5a 0 1M", "-c", "read -P 0x5a 0 1M"],
    );
    assert_success("qemu-io over TLS", &out);
    let shown = text(&out);
    assert!(shown.contains("read 1048576/1048576"), "{shown}");
    assert!(!shown.contains("Pattern verification failed"), "{shown}");

    let info = qemu_tls(
        "qemu-img",
        &pki.dir,
        &server,
        "secure",
        &["info", "--output=json"],
    );
    assert_success("qemu-img info over TLS", &info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("qemu-img JSON");
    assert_eq!(info["virtual-size"], 64 << 20, "{info}");

    let nbdinfo = Command::new("nbdinfo")
        .arg("--size")
        .arg(format!(
            "nbds://127.0.0.1:{}/secure?tls-certificates={}",
            server.nbd.port(),
            pki.dir.display()
        ))
        .output()
        .expect("nbdinfo must be installed (.ci/run installs libnbd-bin)");
    assert_success("nbdinfo over TLS", &nbdinfo);
    assert_eq!(String::from_utf8_lossy(&nbdinfo.stdout).trim(), "67108864");

    // Plain text: refused during the handshake, and the data written over TLS is untouched.
    let plain = Command::new("qemu-io")
        .args(["-f", "raw", "-c", "write -P 0x11 0 1M"])
        .arg(server.uri("secure"))
        .output()
        .expect("qemu-io");
    assert!(!plain.status.success(), "plain qemu-io must fail");
    let refused = text(&plain);
    assert!(refused.to_lowercase().contains("tls"), "{refused}");
    let check = qemu_tls(
        "qemu-io",
        &pki.dir,
        &server,
        "secure",
        &["-c", "read -P 0x5a 0 1M"],
    );
    assert_success("qemu-io read-back over TLS", &check);
    assert!(!text(&check).contains("Pattern verification failed"));
}

#[test]
fn the_cli_talks_https_with_a_ca_file_and_plain_http_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki::generate(&dir.path().join("pki"));
    let other = pki::generate(&dir.path().join("other"));
    let server = Server::start(dir.path(), &tls_config("off", true));
    let https = format!("https://{}", server.api);
    let strata = |api: &str, ca: Option<&Path>, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(["--api", api])
            .args(args)
            .env_remove("STRATA_API_CA");
        if let Some(ca) = ca {
            cmd.arg("--api-ca").arg(ca);
        }
        cmd.output().expect("run strata")
    };
    let ca = pki.path("ca-cert.pem");
    let created = strata(
        &https,
        Some(&ca),
        &["volume", "create", "web", "--size", "16M"],
    );
    assert_success("volume create over https", &created);
    let status = strata(&https, Some(&ca), &["status", "--json"]);
    assert_success("status over https", &status);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert!(status.to_string().contains("\"web\""), "{status}");

    // The same CA through the environment.
    let by_env = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--api", &https, "volume", "list", "--json"])
        .env("STRATA_API_CA", &ca)
        .output()
        .expect("run strata");
    assert_success("volume list with STRATA_API_CA", &by_env);

    for (api, ca, what) in [
        (
            https.as_str(),
            Some(other.path("ca-cert.pem")),
            "an untrusted CA",
        ),
        (https.as_str(), None, "the web roots only"),
        (server.api_url().as_str(), Some(ca.clone()), "plain http"),
    ] {
        let out = strata(api, ca.as_deref(), &["status"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what} must fail: {}",
            text(&out)
        );
        let line = String::from_utf8_lossy(&out.stderr);
        assert!(
            line.contains("cannot reach the Strata API"),
            "{what}: {line}"
        );
    }
    let missing = strata(&https, Some(&dir.path().join("nope.pem")), &["status"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the API CA file"));
}

#[test]
fn bad_certificate_files_fail_start_up_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki::generate(&dir.path().join("pki"));
    let other = pki::generate(&dir.path().join("other"));
    std::fs::write(dir.path().join("pki/garbage.pem"), "not a certificate\n").expect("write");
    std::fs::copy(
        other.path("server-key.pem"),
        dir.path().join("pki/other-key.pem"),
    )
    .expect("copy key");
    for (cert, key, needle) in [
        (
            "pki/missing.pem",
            "pki/server-key.pem",
            "cannot read tls.cert_file",
        ),
        (
            "pki/garbage.pem",
            "pki/server-key.pem",
            "holds no CERTIFICATE",
        ),
        (
            "pki/server-cert.pem",
            "pki/garbage.pem",
            "holds no PEM private key",
        ),
        (
            "pki/server-cert.pem",
            "pki/other-key.pem",
            "do not make a usable pair",
        ),
    ] {
        let config = format!(
            "{TEST_CONFIG}\n[tls]\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\nnbd = \"require\"\n"
        );
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, config).expect("write config");
        let out = serve_once(&path, &dir.path().join("data"));
        assert_eq!(out.status.code(), Some(1), "{needle}: {}", text(&out));
        let line = String::from_utf8_lossy(&out.stderr);
        assert!(line.contains(needle), "{needle} not in {line}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("ready"));
    }
    // The CA for peers' HTTPS APIs is read at start-up too, even with plain listeners.
    for (peer_ca, needle) in [
        ("pki/missing.pem", "cannot read tls.peer_ca_file"),
        ("pki/garbage.pem", "holds no CERTIFICATE"),
    ] {
        let path = dir.path().join("peer.toml");
        std::fs::write(
            &path,
            format!("{TEST_CONFIG}\n[tls]\npeer_ca_file = \"{peer_ca}\"\n"),
        )
        .expect("write config");
        let out = serve_once(&path, &dir.path().join("data"));
        assert_eq!(out.status.code(), Some(1), "{needle}: {}", text(&out));
        let line = String::from_utf8_lossy(&out.stderr);
        assert!(
            line.contains(needle) && line.contains("tls.peer_ca_file"),
            "{needle} not in {line}"
        );
    }
    drop(pki);
}
