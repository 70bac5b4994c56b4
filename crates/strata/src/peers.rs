//! How a server calls the other servers of its cluster: the HTTP(S) side of
//! [`strata_api::PeerApi`], used to create and delete partitioned volumes' backings on
//! their owners, with this server's own API token.
//!
//! Each owner is called at the URL it registered: `https://host:port` when its API runs
//! with `[tls] api = true`, `http://host:port` otherwise (and for records of servers that
//! registered without a scheme). HTTPS peers are verified against `[tls] peer_ca_file`
//! when it is set, else against the built-in web roots, like the CLI without `--api-ca`.

use crate::api_client::{ApiClient, CaCerts, path_segment};
use strata_api::PeerApi;

/// Other servers' REST APIs over HTTP or HTTPS.
#[derive(Debug)]
pub struct HttpPeers {
    /// This server's API token, sent as the bearer token (every server of a cluster has
    /// the same one).
    pub token: Option<String>,
    /// CA certificates that sign the peers' API certificates (`tls.peer_ca_file`); None
    /// trusts the built-in web roots.
    pub ca: Option<CaCerts>,
}

impl HttpPeers {
    fn client(&self, api_url: &str) -> ApiClient {
        // The registry hands out URLs; a bare address (an older record) is plain HTTP.
        let base = strata_control::api_url(api_url);
        ApiClient::with_roots(&base, self.ca.clone()).with_token(self.token.as_deref())
    }
}

impl PeerApi for HttpPeers {
    fn create_backing(&self, api_url: &str, volume: &str) -> Result<(), String> {
        let path = format!("/v1/volumes/{}/backing", path_segment(volume));
        self.client(api_url)
            .post::<_, serde_json::Value>(&path, &serde_json::json!({}))
            .map(drop)
            .map_err(|err| format!("{err:#}"))
    }

    fn delete_backing(&self, api_url: &str, volume: &str) -> Result<(), String> {
        let path = format!("/v1/volumes/{}/backing", path_segment(volume));
        self.client(api_url)
            .delete(&path)
            .map_err(|err| format!("{err:#}"))
    }
}
