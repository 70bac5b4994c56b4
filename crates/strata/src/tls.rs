//! Turns the `[tls]` settings into rustls server configs: the certificate chain, key and
//! optional client CA are read and checked once, then shared by NBD's `STARTTLS` and the
//! HTTPS API (which also announces ALPN `http/1.1`). Only the ring provider is used.

use crate::config::{NbdTls, TlsSettings};
use anyhow::{Context, bail};
use std::path::Path;
use std::sync::Arc;
use strata_nbd::tls::rustls;
use strata_nbd::tls::rustls::pki_types::pem::PemObject;
use strata_nbd::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What each listener serves with; None = plain text.
#[derive(Debug)]
pub struct ListenerTls {
    pub nbd: Option<strata_nbd::ServerTls>,
    pub api: Option<Arc<rustls::ServerConfig>>,
}

impl ListenerTls {
    pub const PLAIN: Self = Self {
        nbd: None,
        api: None,
    };

    /// Reads and checks every file; a missing, unreadable or mismatched one is an error
    /// naming its key and path.
    pub fn load(settings: &TlsSettings) -> anyhow::Result<Self> {
        let certs = read_certs("tls.cert_file", &settings.cert_file)?;
        let key = read_key(&settings.key_file)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .context("the ring provider supports no TLS version")?;
        let builder = match &settings.client_ca_file {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs("tls.client_ca_file", path)? {
                    roots.add(cert).with_context(|| {
                        format!("tls.client_ca_file {}: unusable CA", path.display())
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .with_context(|| format!("tls.client_ca_file {}", path.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(certs, key).with_context(|| {
            format!(
                "tls.cert_file {} and tls.key_file {} do not make a usable pair",
                settings.cert_file.display(),
                settings.key_file.display()
            )
        })?;
        let nbd = match settings.nbd {
            NbdTls::Off => None,
            NbdTls::Optional => Some(strata_nbd::TlsMode::Optional),
            NbdTls::Require => Some(strata_nbd::TlsMode::Require),
        }
        .map(|mode| strata_nbd::ServerTls::new(Arc::new(config.clone()), mode));
        let api = settings.api.then(|| {
            let mut api = config;
            api.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(api)
        });
        Ok(Self { nbd, api })
    }
}

fn read_certs(key: &str, path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read {key} {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{key} {} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{key} {} holds no CERTIFICATE", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read tls.key_file {}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("tls.key_file {} holds no PEM private key", path.display()))
}
