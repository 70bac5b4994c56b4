//! How a server calls the other servers of its cluster: the HTTP side of
//! [`strata_api::PeerApi`], used to create and delete partitioned volumes' backings on
//! their owners, with this server's own API token.

use crate::api_client::{ApiClient, path_segment};
use strata_api::PeerApi;

/// Other servers' REST APIs over HTTP.
#[derive(Debug)]
pub struct HttpPeers {
    pub token: Option<String>,
}

impl HttpPeers {
    fn client(&self, api_address: &str) -> ApiClient {
        ApiClient::new(&format!("http://{api_address}")).with_token(self.token.as_deref())
    }
}

impl PeerApi for HttpPeers {
    fn create_backing(&self, api_address: &str, volume: &str) -> Result<(), String> {
        let path = format!("/v1/volumes/{}/backing", path_segment(volume));
        self.client(api_address)
            .post::<_, serde_json::Value>(&path, &serde_json::json!({}))
            .map(drop)
            .map_err(|err| format!("{err:#}"))
    }

    fn delete_backing(&self, api_address: &str, volume: &str) -> Result<(), String> {
        let path = format!("/v1/volumes/{}/backing", path_segment(volume));
        self.client(api_address)
            .delete(&path)
            .map_err(|err| format!("{err:#}"))
    }
}
