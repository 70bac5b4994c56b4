//! The HTTP client the CLI commands use to talk to a server's REST API (`http://` or
//! `https://`; a private CA is trusted with `--api-ca FILE` / `STRATA_API_CA`).

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// CA certificates from `--api-ca`, read once at start-up before any client exists; every
/// client then trusts them instead of the built-in web roots.
static API_CA: OnceLock<CaCerts> = OnceLock::new();

/// CA certificates a client trusts instead of the built-in web roots.
pub type CaCerts = Arc<Vec<ureq::tls::Certificate<'static>>>;

/// Reads the PEM CA file the CLI was given; fails clearly on a missing file or bad PEM.
pub fn trust_ca_file(path: &Path) -> anyhow::Result<()> {
    let certs = read_ca_file("the API CA file", path)?;
    // A second call (never made by the CLI) keeps the first set.
    let _ = API_CA.set(certs);
    Ok(())
}

/// Reads the CA certificates of a PEM file; `what` names it in errors ("cannot read
/// {what} FILE", "{what} FILE holds no CERTIFICATE").
pub fn read_ca_file(what: &str, path: &Path) -> anyhow::Result<CaCerts> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        let item = item.with_context(|| format!("{what} {} is not PEM", path.display()))?;
        if let ureq::tls::PemItem::Certificate(cert) = item {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        bail!("{what} {} holds no CERTIFICATE", path.display());
    }
    Ok(Arc::new(certs))
}

/// A connection to one server's API, with the bearer token from `STRATA_API_TOKEN`.
#[derive(Debug)]
pub struct ApiClient {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl ApiClient {
    /// A client that trusts the CLI's `--api-ca` (if given) for `https://` bases.
    pub fn new(base: &str) -> Self {
        Self::with_roots(base, API_CA.get().cloned())
    }

    /// A client that trusts `roots` for `https://` bases, or the built-in web roots when
    /// None.
    pub fn with_roots(base: &str, roots: Option<CaCerts>) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(60)));
        if let Some(certs) = roots {
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(certs))
                    .build(),
            );
        }
        let config = config.build();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: config.into(),
            token: std::env::var("STRATA_API_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }

    /// Uses `token` as the bearer token instead of `STRATA_API_TOKEN` (a server calling
    /// another server of its cluster with its own configured token).
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.filter(|t| !t.is_empty()).map(str::to_owned);
        self
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let req = self.agent.get(self.url(path));
        let resp = self.authorize(req).call();
        self.finish(path, resp)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let req = self.agent.post(self.url(path));
        let resp = self.authorize(req).send_json(body);
        self.finish(path, resp)
    }

    pub fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let req = self.agent.put(self.url(path));
        let resp = self.authorize(req).send_json(body);
        self.finish(path, resp)
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<()> {
        let req = self.agent.delete(self.url(path));
        let resp = self.authorize(req).call();
        self.finish::<serde_json::Value>(path, resp).map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorize<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => req.header("Authorization", format!("Bearer {token}")),
            None => req,
        }
    }

    fn finish<T: DeserializeOwned>(
        &self,
        path: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<T> {
        let mut resp =
            resp.with_context(|| format!("cannot reach the Strata API at {}", self.base))?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the reply to {path}"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            bail!("{} ({})", message, status.as_u16());
        }
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).with_context(|| format!("unexpected reply to {path}"))
    }
}

/// One path segment for a URL: names restricted to `[A-Za-z0-9._-]` need no escaping;
/// anything else is percent-encoded so it reaches the server as the literal text (which
/// then accepts or refuses it).
pub fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
