//! `strata serve` configuration in two layers: the TOML file as written (every key
//! optional, unknown keys rejected by name) and the validated runtime [`ServeConfig`] that
//! the daemon runs on. Command-line flags override file values.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use strata_core::{DeviceProfile, TierKind, parse_size};

/// The TOML file, exactly as an operator writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub nbd_listen: Option<String>,
    pub nbd_socket: Option<PathBuf>,
    pub api_listen: Option<String>,
    pub emulation: Option<bool>,
    pub server_id: Option<String>,
    pub etcd: Option<Vec<String>>,
    pub api_token_file: Option<PathBuf>,
    /// Largest NBD READ/WRITE accepted, e.g. "32M".
    pub nbd_max_request: Option<String>,
    /// Who may open exports: `open` (any volume by name) or `lease` (only `VOLUME:GEN`
    /// of a live lease) [default: open].
    pub nbd_access: Option<NbdAccess>,
    #[serde(default, rename = "tier")]
    pub tiers: Vec<FileTier>,
    /// Placement policy and background migration (`[placement]`; default: `static`).
    #[serde(default)]
    pub placement: strata_engine::PlacementConfig,
    /// The prefetcher (`[prefetch]`; default: on, predictor `auto`).
    #[serde(default)]
    pub prefetch: strata_engine::PrefetchConfig,
    /// Leases, reservations and the server registry (`[control]`).
    #[serde(default)]
    pub control: FileControl,
    /// TLS for NBD (`STARTTLS`) and the API (`[tls]`; default: off).
    pub tls: Option<FileTls>,
    /// Directory of the config file: relative TLS paths are resolved against it.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    /// The live workload profiler and its learning loop (`[profile]`).
    #[serde(default)]
    pub profile: strata_engine::ProfilerConfig,
}

/// The `[tls]` table: one certificate for both listeners, each switched on separately.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates; when set, clients must present a certificate it signed.
    pub client_ca_file: Option<PathBuf>,
    /// `off`, `optional` (STARTTLS offered) or `require` [default: off].
    pub nbd: Option<NbdTls>,
    /// Serve the API over HTTPS only [default: false].
    pub api: Option<bool>,
    /// PEM CA certificates this server trusts when it calls another server's HTTPS API
    /// (partitioned volumes' backings) [default: the built-in web roots only, as the CLI
    /// without `--api-ca`]. Read whenever set, even with both listeners plain.
    pub peer_ca_file: Option<PathBuf>,
}

/// TLS on the NBD listeners (`tls.nbd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NbdTls {
    #[default]
    Off,
    /// `STARTTLS` is offered; plain-text clients are still served.
    Optional,
    /// Every option before `STARTTLS` is refused with `NBD_REP_ERR_TLS_REQD`.
    Require,
}

/// Resolved `[tls]` settings: paths are final; the daemon reads and checks the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub nbd: NbdTls,
    pub api: bool,
}

/// Who may open what over NBD (`nbd_access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NbdAccess {
    /// Any volume by name, or fenced by lease id (`VOLUME:GENERATION`).
    #[default]
    Open,
    /// Only `VOLUME:GENERATION` of a live lease.
    Lease,
}

/// The `[control]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileControl {
    /// How much of a tier's capacity may be promised to reservations in total, ≥ 1
    /// [default: 1, never promise reserved space twice].
    pub overcommit_ratio: Option<f64>,
    /// Seconds a silent server stays `up` [default: 10].
    pub server_ttl_s: Option<u64>,
}

/// One `[[tier]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTier {
    pub kind: String,
    /// Backing file; relative paths are inside the data dir.
    pub path: Option<PathBuf>,
    pub capacity: String,
    pub cost_per_gib_month: Option<f64>,
    pub direct_io: Option<bool>,
    /// Overrides the built-in device profile (required for custom tier kinds).
    pub profile: Option<DeviceProfile>,
}

/// Command-line overrides of `strata serve` (None = not given).
#[derive(Debug, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub nbd_listen: Option<String>,
    pub nbd_socket: Option<PathBuf>,
    pub api_listen: Option<String>,
    pub emulation: Option<bool>,
    pub server_id: Option<String>,
    pub etcd: Option<Vec<String>>,
}

/// Validated settings the daemon runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub nbd_listen: SocketAddr,
    pub nbd_socket: Option<PathBuf>,
    pub api_listen: SocketAddr,
    pub emulation: bool,
    pub server_id: String,
    pub api_token: Option<String>,
    pub nbd_max_request_bytes: u32,
    pub nbd_access: NbdAccess,
    pub tiers: Vec<strata_engine::TierConfig>,
    pub placement: strata_engine::PlacementConfig,
    pub prefetch: strata_engine::PrefetchConfig,
    /// etcd endpoints of the cluster's shared control-plane store; empty = the engine's
    /// embedded store (a single server).
    pub etcd: Vec<String>,
    pub control: strata_control::ControlConfig,
    /// None when neither NBD nor the API uses TLS.
    pub tls: Option<TlsSettings>,
    /// `tls.peer_ca_file`, resolved against the config file's directory.
    pub peer_ca_file: Option<PathBuf>,
    pub profile: strata_engine::ProfilerConfig,
}

/// The embedded default of INTERFACE.md: three sparse file tiers.
const DEFAULT_TIERS: [(TierKind, u64, f64); 3] = [
    (TierKind::Nvme, 2 << 30, 0.25),
    (TierKind::Ssd, 8 << 30, 0.10),
    (TierKind::Hdd, 32 << 30, 0.03),
];

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut config =
            Self::parse(&text).with_context(|| format!("config file {}", path.display()))?;
        config.base_dir = path.parent().map(Path::to_path_buf);
        Ok(config)
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|err| anyhow::anyhow!("{}", err.message()))
    }

    /// Applies overrides and validates everything into a runtime config.
    pub fn resolve(self, over: Overrides) -> anyhow::Result<ServeConfig> {
        let data_dir = over
            .data_dir
            .or(self.data_dir)
            .unwrap_or_else(|| PathBuf::from("strata-data"));
        let etcd = over.etcd.or(self.etcd).unwrap_or_default();
        for url in &etcd {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 8 {
                bail!("etcd endpoint {url:?} must look like http://host:port");
            }
        }
        let control = self.control.resolve()?;
        let tls = match &self.tls {
            Some(tls) => tls.resolve(self.base_dir.as_deref())?,
            None => None,
        };
        let peer_ca_file = match self.tls.as_ref().and_then(|t| t.peer_ca_file.as_ref()) {
            Some(path) if path.as_os_str().is_empty() => bail!("tls.peer_ca_file is empty"),
            Some(path) => Some(match self.base_dir.as_deref() {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.clone(),
            }),
            None => None,
        };
        self.prefetch
            .validate()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.profile
            .validate()
            .map_err(|e| anyhow::anyhow!("{}", e.context.message))?;
        let nbd_listen = parse_addr(
            "nbd_listen",
            &over
                .nbd_listen
                .or(self.nbd_listen)
                .unwrap_or_else(|| "127.0.0.1:10809".into()),
        )?;
        let api_listen = parse_addr(
            "api_listen",
            &over
                .api_listen
                .or(self.api_listen)
                .unwrap_or_else(|| "127.0.0.1:7800".into()),
        )?;
        let api_token = match std::env::var("STRATA_API_TOKEN") {
            Ok(token) if !token.is_empty() => Some(token),
            _ => match &self.api_token_file {
                Some(path) => Some(read_token(path)?),
                None => None,
            },
        };
        let nbd_max_request_bytes = match &self.nbd_max_request {
            Some(text) => {
                let bytes = parse_size(text).context("nbd_max_request")?;
                if !(4096..=(32 << 20)).contains(&bytes) {
                    bail!("nbd_max_request must be between 4K and 32M");
                }
                u32::try_from(bytes).context("nbd_max_request")?
            }
            None => 32 << 20,
        };
        let tiers = if self.tiers.is_empty() {
            DEFAULT_TIERS
                .iter()
                .map(|(kind, capacity, cost)| strata_engine::TierConfig {
                    kind: kind.clone(),
                    path: None,
                    capacity_bytes: *capacity,
                    profile: kind.default_profile().unwrap_or(DeviceProfile::HDD),
                    cost_per_gib_month: *cost,
                    direct_io: false,
                })
                .collect()
        } else {
            self.tiers
                .into_iter()
                .map(|tier| tier.resolve(&data_dir))
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        let mut seen = std::collections::BTreeSet::new();
        for tier in &tiers {
            if !seen.insert(tier.kind.clone()) {
                bail!("tier {} is configured twice", tier.kind);
            }
        }
        Ok(ServeConfig {
            data_dir,
            nbd_listen,
            nbd_socket: over.nbd_socket.or(self.nbd_socket),
            api_listen,
            emulation: over.emulation.or(self.emulation).unwrap_or(true),
            server_id: over
                .server_id
                .or(self.server_id)
                .unwrap_or_else(|| "strata-1".into()),
            api_token,
            nbd_max_request_bytes,
            nbd_access: self.nbd_access.unwrap_or_default(),
            tiers,
            placement: self.placement,
            prefetch: self.prefetch,
            etcd,
            control,
            tls,
            peer_ca_file,
            profile: self.profile,
        })
    }
}

impl FileTls {
    fn resolve(&self, base_dir: Option<&Path>) -> anyhow::Result<Option<TlsSettings>> {
        let nbd = self.nbd.unwrap_or_default();
        let api = self.api.unwrap_or(false);
        if nbd == NbdTls::Off && !api {
            return Ok(None);
        }
        let path = |key: &str, value: &Option<PathBuf>| -> anyhow::Result<PathBuf> {
            let value = value
                .as_ref()
                .with_context(|| format!("tls.{key} is required when tls.nbd or tls.api is on"))?;
            if value.as_os_str().is_empty() {
                bail!("tls.{key} is empty");
            }
            Ok(match base_dir {
                Some(base) if value.is_relative() => base.join(value),
                _ => value.clone(),
            })
        };
        Ok(Some(TlsSettings {
            cert_file: path("cert_file", &self.cert_file)?,
            key_file: path("key_file", &self.key_file)?,
            client_ca_file: match &self.client_ca_file {
                Some(_) => Some(path("client_ca_file", &self.client_ca_file)?),
                None => None,
            },
            nbd,
            api,
        }))
    }
}

impl FileControl {
    fn resolve(&self) -> anyhow::Result<strata_control::ControlConfig> {
        let mut config = strata_control::ControlConfig::default();
        if let Some(ratio) = self.overcommit_ratio {
            if !ratio.is_finite() || !(1.0..=10.0).contains(&ratio) {
                bail!("control.overcommit_ratio must be within 1..=10 (got {ratio})");
            }
            config = config.with_overcommit_ratio(ratio);
        }
        if let Some(ttl) = self.server_ttl_s {
            if !(1..=3600).contains(&ttl) {
                bail!("control.server_ttl_s must be within 1..=3600 (got {ttl})");
            }
            config = config.with_server_ttl(std::time::Duration::from_secs(ttl));
        }
        Ok(config)
    }
}

impl FileTier {
    fn resolve(self, data_dir: &Path) -> anyhow::Result<strata_engine::TierConfig> {
        let kind: TierKind = self.kind.parse().context("tier kind")?;
        let capacity_bytes =
            parse_size(&self.capacity).with_context(|| format!("capacity of tier {kind}"))?;
        if capacity_bytes == 0 || capacity_bytes % strata_core::MIN_EXTENT_SIZE != 0 {
            bail!("capacity of tier {kind} must be a positive multiple of 64K");
        }
        let profile = match (self.profile, kind.default_profile()) {
            (Some(profile), _) | (None, Some(profile)) => profile,
            (None, None) => bail!("custom tier {kind} needs a [tier.profile] table"),
        };
        profile
            .validate()
            .with_context(|| format!("profile of tier {kind}"))?;
        let cost = self.cost_per_gib_month.unwrap_or(0.0);
        if !cost.is_finite() || cost < 0.0 {
            bail!("cost_per_gib_month of tier {kind} must be a non-negative number");
        }
        Ok(strata_engine::TierConfig {
            path: self
                .path
                .map(|p| if p.is_relative() { data_dir.join(p) } else { p }),
            capacity_bytes,
            profile,
            cost_per_gib_month: cost,
            direct_io: self.direct_io.unwrap_or(false),
            kind,
        })
    }
}

fn parse_addr(key: &str, text: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .with_context(|| format!("{key}: {text:?} is not a host:port address"))?
        .next()
        .with_context(|| format!("{key}: {text:?} resolves to no address"))
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read api_token_file {}", path.display()))?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("api_token_file {} is empty", path.display());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_embedded_default() {
        let cfg = FileConfig::parse("").and_then(|f| f.resolve(Overrides::default()));
        let cfg = cfg.expect("default config");
        assert_eq!(cfg.nbd_listen.to_string(), "127.0.0.1:10809");
        assert_eq!(cfg.api_listen.to_string(), "127.0.0.1:7800");
        assert_eq!(cfg.data_dir, PathBuf::from("strata-data"));
        assert!(cfg.emulation);
        let tiers: Vec<_> = cfg
            .tiers
            .iter()
            .map(|t| (t.kind.to_string(), t.capacity_bytes))
            .collect();
        assert_eq!(
            tiers,
            [
                ("nvme".into(), 2 << 30),
                ("ssd".into(), 8 << 30),
                ("hdd".into(), 32 << 30)
            ]
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = FileConfig::parse("data_dri = \"x\"").expect_err("typo must fail");
        assert!(err.to_string().contains("data_dri"), "{err}");
        let err = FileConfig::parse("[[tier]]\nkind = \"nvme\"\ncapacity = \"1G\"\nspeed = 3\n")
            .expect_err("unknown tier key must fail");
        assert!(err.to_string().contains("speed"), "{err}");
    }

    #[test]
    fn tiers_and_overrides_resolve() {
        let text = "emulation = true\n[[tier]]\nkind = \"nvme\"\ncapacity = \"64M\"\npath = \"n.img\"\n\
                    [[tier]]\nkind = \"cold\"\ncapacity = \"1G\"\n[tier.profile]\nread_latency_us = 9000.0\n\
                    write_latency_us = 9000.0\nread_mbps = 100.0\nwrite_mbps = 100.0\nparallelism = 1\nseek_penalty = true\n";
        let over = Overrides {
            data_dir: Some("d".into()),
            emulation: Some(false),
            ..Overrides::default()
        };
        let cfg = FileConfig::parse(text)
            .and_then(|f| f.resolve(over))
            .expect("valid config");
        assert!(!cfg.emulation);
        assert_eq!(cfg.tiers[0].path, Some(PathBuf::from("d/n.img")));
        assert_eq!(cfg.tiers[1].kind.to_string(), "cold");
    }

    #[test]
    fn placement_table_is_read_and_checked() {
        let cfg = FileConfig::parse("[placement]\npolicy = \"lru-promote\"\nmigration_mbps = 50\n")
            .and_then(|f| f.resolve(Overrides::default()))
            .expect("placement table");
        assert_eq!(cfg.placement.policy, "lru-promote");
        assert_eq!(cfg.placement.migration_mbps, 50);
        let err = FileConfig::parse("[placement]\npolicie = \"x\"\n").expect_err("typo");
        assert!(err.to_string().contains("policie"), "{err}");
    }

    #[test]
    fn prefetch_table_is_read_and_unknown_keys_are_named() {
        let cfg = FileConfig::parse(
            "[prefetch]\nenabled = false\npredictor = \"stride\"\nqueue_bound = 32\nbandwidth_share = 0.25\n",
        )
        .and_then(|f| f.resolve(Overrides::default()))
        .expect("prefetch table");
        assert!(!cfg.prefetch.enabled);
        assert_eq!(cfg.prefetch.predictor, "stride");
        assert_eq!(cfg.prefetch.queue_bound, 32);
        assert_eq!(cfg.prefetch.bandwidth_share, 0.25);
        let default = FileConfig::parse("").and_then(|f| f.resolve(Overrides::default()));
        let default = default.expect("default");
        assert!(default.prefetch.enabled);
        assert_eq!(default.prefetch.predictor, "auto");
        let err = FileConfig::parse("[prefetch]\nenable = true\n").expect_err("typo");
        assert!(err.to_string().contains("enable"), "{err}");
    }

    #[test]
    fn shipped_example_configs_are_valid() {
        let single = FileConfig::parse(include_str!("../../../deploy/config/single-server.toml"))
            .expect("single-server.toml parses");
        assert_eq!(single.tiers.len(), 3);
        assert!(single.tiers.iter().all(|t| t.direct_io == Some(true)));
        assert_eq!(single.prefetch, strata_engine::PrefetchConfig::default());
        let demo = FileConfig::parse(include_str!("../../../deploy/config/demo-emulated.toml"))
            .and_then(|f| f.resolve(Overrides::default()))
            .expect("demo-emulated.toml resolves");
        assert!(demo.emulation);
        assert_eq!(demo.tiers.len(), 3);
        // Parsed, not resolved: it names a token file that exists only on a deployed host.
        let node = FileConfig::parse(include_str!("../../../deploy/config/cluster-node.toml"))
            .expect("cluster-node.toml parses");
        assert_eq!(node.etcd.as_ref().map(Vec::len), Some(3));
        let control = node.control.resolve().expect("[control] is valid");
        assert_eq!(control.overcommit_ratio, 1.2);
        let tls = node.tls.as_ref().expect("cluster-node.toml has [tls]");
        assert_eq!((tls.nbd, tls.api), (Some(NbdTls::Require), Some(true)));
    }

    /// `docs/config.md` lists every key at its default: parsing its TOML must give what an
    /// empty file gives, so the reference cannot drift from the code unnoticed.
    #[test]
    fn docs_config_reference_is_the_default() {
        let doc = include_str!("../../../docs/config.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let text = &doc[start..start + doc[start..].find("```").expect("closing fence")];
        let documented = FileConfig::parse(text)
            .and_then(|f| f.resolve(Overrides::default()))
            .expect("the documented config resolves");
        let default = FileConfig::parse("")
            .and_then(|f| f.resolve(Overrides::default()))
            .expect("default");
        // The whole runtime config, field by field (`PartialEq`).
        assert_eq!(documented, default);
    }

    #[test]
    fn tls_table_resolves_paths_against_the_config_file() {
        let text = "[tls]\ncert_file = \"certs/server.pem\"\nkey_file = \"/abs/key.pem\"\n\
                    nbd = \"require\"\n";
        let mut file = FileConfig::parse(text).expect("tls table");
        file.base_dir = Some(PathBuf::from("etc/strata"));
        let tls = file
            .resolve(Overrides::default())
            .expect("resolves")
            .tls
            .expect("tls on");
        assert_eq!(tls.cert_file, PathBuf::from("etc/strata/certs/server.pem"));
        assert_eq!(tls.key_file, PathBuf::from("/abs/key.pem"));
        assert_eq!(
            (tls.nbd, tls.api, tls.client_ca_file),
            (NbdTls::Require, false, None)
        );
        // Both switched off: no TLS, and no files needed.
        let off = FileConfig::parse("[tls]\nnbd = \"off\"\napi = false\n")
            .and_then(|f| f.resolve(Overrides::default()))
            .expect("tls off");
        assert_eq!(off.tls, None);
        assert_eq!(off.peer_ca_file, None);
    }

    #[test]
    fn peer_ca_file_resolves_against_the_config_file_even_with_plain_listeners() {
        for (text, tls_on) in [
            (
                "[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\napi = true\n\
                 peer_ca_file = \"certs/ca.pem\"\n",
                true,
            ),
            ("[tls]\npeer_ca_file = \"certs/ca.pem\"\n", false),
        ] {
            let mut file = FileConfig::parse(text).expect("tls table");
            file.base_dir = Some(PathBuf::from("etc/strata"));
            let config = file.resolve(Overrides::default()).expect("resolves");
            assert_eq!(config.tls.is_some(), tls_on, "{text}");
            assert_eq!(
                config.peer_ca_file,
                Some(PathBuf::from("etc/strata/certs/ca.pem")),
                "{text}"
            );
        }
        let absolute = FileConfig::parse("[tls]\npeer_ca_file = \"/abs/ca.pem\"\n")
            .and_then(|f| f.resolve(Overrides::default()))
            .expect("absolute path");
        assert_eq!(absolute.peer_ca_file, Some(PathBuf::from("/abs/ca.pem")));
        let err = FileConfig::parse("[tls]\npeer_ca_file = \"\"\n")
            .and_then(|f| f.resolve(Overrides::default()))
            .expect_err("empty path");
        assert!(format!("{err:#}").contains("tls.peer_ca_file"), "{err:#}");
        // Still exactly the documented keys: a near miss is refused.
        let err = FileConfig::parse("[tls]\npeer_ca = \"ca.pem\"\n").expect_err("unknown key");
        assert!(format!("{err:#}").contains("peer_ca"), "{err:#}");
    }

    #[test]
    fn bad_values_fail_clearly() {
        for (text, needle) in [
            (
                "[[tier]]\nkind = \"nvme\"\ncapacity = \"lots\"\n",
                "capacity",
            ),
            ("[[tier]]\nkind = \"weird\"\ncapacity = \"1G\"\n", "profile"),
            ("nbd_listen = \"nowhere\"\n", "nbd_listen"),
            (
                "[[tier]]\nkind = \"ssd\"\ncapacity = \"1G\"\n[[tier]]\nkind = \"ssd\"\ncapacity = \"1G\"\n",
                "twice",
            ),
            ("[control]\novercommit_ratio = 0.5\n", "overcommit_ratio"),
            ("[control]\nserver_ttl_s = 0\n", "server_ttl_s"),
            ("nbd_access = \"everyone\"\n", "everyone"),
            ("etcd = [\"localhost:2379\"]\n", "etcd endpoint"),
            (
                "[tls]\nnbd = \"require\"\nkey_file = \"k\"\n",
                "tls.cert_file",
            ),
            ("[tls]\napi = true\ncert_file = \"c\"\n", "tls.key_file"),
            ("[tls]\nnbd = \"always\"\n", "always"),
            ("[tls]\ncert = \"c\"\n", "cert"),
            ("[prefetch]\npredictor = \"psychic\"\n", "psychic"),
            ("[prefetch]\nbandwidth_share = 2.0\n", "bandwidth_share"),
        ] {
            let err = FileConfig::parse(text)
                .and_then(|f| f.resolve(Overrides::default()))
                .expect_err(text);
            assert!(
                format!("{err:#}").contains(needle),
                "{err:#} lacks {needle}"
            );
        }
    }
}
