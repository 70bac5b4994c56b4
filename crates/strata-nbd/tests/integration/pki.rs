//! A throwaway PKI for the TLS tests (also used by the `strata` crate's tests): a CA, a
//! server certificate for `127.0.0.1`/`localhost` and a client certificate, written as PEM
//! files under the names qemu's `tls-creds-x509` looks for in its `dir`.

#![allow(
    dead_code,
    reason = "each test binary that includes this uses a different subset"
)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, date_time_ymd,
};

/// PEM texts of one generated PKI, and the directory holding them as files.
#[derive(Debug)]
pub struct Pki {
    /// Holds `ca-cert.pem`, `server-cert.pem`, `server-key.pem`, `client-cert.pem`,
    /// `client-key.pem`.
    pub dir: PathBuf,
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Pki {
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

fn named(common_name: &str, sans: &[&str]) -> CertificateParams {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).expect("valid subject alt names");
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    // gnutls (qemu) rejects certificates without sensible validity and usage fields.
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2045, 1, 1);
    params
}

/// Generates a fresh CA, server and client certificate and writes them into `dir`.
pub fn generate(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).expect("create pki dir");
    let mut ca_params = named("strata test CA", &[]);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("self-sign CA");

    let leaf = |cn: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose| {
        let mut params = named(cn, sans);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &ca).expect("sign leaf");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert_pem, server_key_pem) = leaf(
        "strata test server",
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert_pem, client_key_pem) = leaf(
        "strata test client",
        &["client.strata.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let pki = Pki {
        dir: dir.to_owned(),
        ca_pem: ca.pem(),
        server_cert_pem,
        server_key_pem,
        client_cert_pem,
        client_key_pem,
    };
    for (file, text) in [
        ("ca-cert.pem", &pki.ca_pem),
        ("server-cert.pem", &pki.server_cert_pem),
        ("server-key.pem", &pki.server_key_pem),
        ("client-cert.pem", &pki.client_cert_pem),
        ("client-key.pem", &pki.client_key_pem),
    ] {
        std::fs::write(dir.join(file), text).expect("write pem");
    }
    pki
}
