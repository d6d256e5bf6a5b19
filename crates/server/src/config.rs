//! paycode's configuration file (TOML): the store, the listen address, the
//! order policy, the merchants with their API keys and provider accounts,
//! and optionally the built-in provider simulator.
//!
//! Secrets never sit in this file in clear if the operator does not want
//! them to: any string value written as `env:NAME` is read from the
//! environment variable `NAME` at load time. API keys are stored only as
//! SHA-256 hex digests. `PAYCODE_STORE` and `PAYCODE_LISTEN` override the
//! file's `store` and `listen` (through the command line's `--store` and
//! `--listen`, which read them).
//!
//! Nothing here is printed with secrets: the secret-bearing types redact
//! themselves in `Debug`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use paycode_domain::{MerchantId, Policy};
use paycode_provider::{HttpSettings, Secret, TlsIdentity};
use serde::Deserialize;

use crate::StoreUrl;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_store")]
    pub store: String,
    #[serde(default)]
    pub policy: Policy,
    /// Timeouts of every provider call.
    #[serde(default)]
    pub provider_http: ProviderHttp,
    /// Runs `paycode-sim` inside this process (the demo and `make run`).
    pub simulator: Option<SimulatorConfig>,
    #[serde(default)]
    pub merchants: Vec<MerchantConfig>,
    /// Printed at start-up (the demo prints its API key and a curl line).
    pub banner: Option<String>,
    /// Back-office (GraphQL) tokens: a SHA-256 digest, a role, an optional merchant scope.
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
    /// The back office's read-model database (SQLite, rebuildable from the log).
    /// When unset: beside an SQLite store (`data/paycode.db` gives
    /// `data/paycode.readmodels.db`), so read models never outlive the log
    /// they were built from when `--store` changes; `data/readmodels.db` for
    /// the shared stores.
    pub read_models: Option<PathBuf>,
    /// This node's name in the shared node and lease tables (`paycode
    /// cluster status`, `paycode cluster drain NAME`). Unique per running
    /// node; when unset, the process id and a random suffix.
    pub node: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// The store when none is named: the embedded one `make run` uses.
pub const DEFAULT_STORE: &str = "sqlite:data/paycode.db";

fn default_store() -> String {
    DEFAULT_STORE.into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderHttp {
    pub connect_timeout_ms: u64,
    /// The whole call. WeChat micropay may hold a call for several seconds
    /// while it asks the bank, so this is generous; an expired call is an
    /// unknown answer (query, then reverse), never a failure.
    pub total_timeout_ms: u64,
}

impl Default for ProviderHttp {
    fn default() -> Self {
        ProviderHttp {
            connect_timeout_ms: 3_000,
            total_timeout_ms: 10_000,
        }
    }
}

impl ProviderHttp {
    pub fn settings(&self) -> HttpSettings {
        HttpSettings {
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            total_timeout: Duration::from_millis(self.total_timeout_ms),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// The simulator's own TOML file.
    pub config: PathBuf,
    #[serde(default = "default_sim_listen")]
    pub listen: SocketAddr,
}

fn default_sim_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8089))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    pub id: MerchantId,
    /// SHA-256 hex digests of the merchant's POS API keys.
    #[serde(default)]
    pub api_keys_sha256: Vec<String>,
    /// Digests of keys that were withdrawn: refused with `API_KEY_REVOKED`.
    #[serde(default)]
    pub revoked_api_keys_sha256: Vec<String>,
    pub wechat: Option<WechatAccount>,
    pub alipay: Option<AlipayAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatAccount {
    #[serde(default = "wechat_production")]
    pub base_url: String,
    pub appid: String,
    pub mch_id: String,
    pub sub_appid: Option<String>,
    pub sub_mch_id: Option<String>,
    pub api_key: SecretText,
    /// `MD5` (default) or `HMAC-SHA256`.
    #[serde(default = "default_sign_type")]
    pub sign_type: String,
    #[serde(default = "default_ip")]
    pub spbill_create_ip: String,
    /// The API certificate for `/secapi` calls, PEM (convert a PKCS#12 file
    /// with `openssl pkcs12 -in apiclient_cert.p12 -nodes -out apiclient.pem`).
    pub client_cert_pem: Option<PathBuf>,
    pub client_key_pem: Option<PathBuf>,
}

fn wechat_production() -> String {
    paycode_wechatpay::PRODUCTION_BASE_URL.into()
}

fn default_sign_type() -> String {
    "MD5".into()
}

fn default_ip() -> String {
    "127.0.0.1".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipayAccount {
    #[serde(default = "alipay_production")]
    pub gateway_url: String,
    pub app_id: String,
    /// The merchant's partner id (2088 and 12 digits). Payments do not need
    /// it; reconciliation does: the trade bill names its account as
    /// `#账号：[{pid}0156]`, and a run refuses a bill it cannot check.
    pub pid: Option<String>,
    /// The app's private key file (PKCS#8 PEM).
    pub app_private_key: PathBuf,
    /// Alipay's public key file (SPKI PEM).
    pub alipay_public_key: PathBuf,
    pub app_auth_token: Option<SecretText>,
}

fn alipay_production() -> String {
    paycode_alipay::PRODUCTION_GATEWAY_URL.into()
}

/// A secret string from the file, or from the environment with `env:NAME`.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl SecretText {
    pub fn resolve(&self) -> anyhow::Result<Secret<String>> {
        match self.0.strip_prefix("env:") {
            Some(name) => std::env::var(name).map(Secret::new).with_context(|| {
                format!("the environment variable {name} named in the config is not set")
            }),
            None => Ok(Secret::new(self.0.clone())),
        }
    }
}

impl Config {
    /// Where this node's read models live.
    pub fn read_models_path(&self) -> PathBuf {
        self.read_models
            .clone()
            .unwrap_or_else(|| match self.store.parse::<StoreUrl>() {
                Ok(url) => url.default_read_models(),
                Err(_) => PathBuf::from("data/readmodels.db"),
            })
    }

    /// No file: the defaults, no merchants (operations endpoints only).
    pub fn empty() -> Config {
        toml::from_str("").expect("an empty file is a valid config")
    }

    /// Reads and checks the file. Relative paths in it are taken from the
    /// working directory, as the command line's are.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        self.store.parse::<StoreUrl>().map_err(anyhow::Error::msg)?;
        let timing = crate::checks::check_config(self);
        if !timing.errors.is_empty() {
            bail!("{}", timing.errors.join("\n"));
        }
        let mut seen = std::collections::HashSet::new();
        for merchant in &self.merchants {
            if !seen.insert(&merchant.id) {
                bail!("merchant {} is configured twice", merchant.id);
            }
            for digest in merchant
                .api_keys_sha256
                .iter()
                .chain(&merchant.revoked_api_keys_sha256)
            {
                if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    bail!(
                        "merchant {}: API key digests are 64 hex digits (sha256sum of the key)",
                        merchant.id
                    );
                }
            }
        }
        Ok(())
    }
}

/// A merchant holding the simulator's example WeChat Pay and Alipay
/// accounts at `sim_base`, signed with the checked-in test keys: for the
/// demo, the benchmarks and the tests, which run paycode beside `paycode-sim`.
pub fn simulator_merchant(id: &str, api_key: &str, sim_base: &str) -> MerchantConfig {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");
    let text = format!(
        r#"
id = "{id}"
api_keys_sha256 = ["{digest}"]
[wechat]
base_url = "{sim_base}"
appid = "wx2421b1c4370ec43b"
mch_id = "10000100"
api_key = "paycodesimulatorwechatapikey0001"
sign_type = "HMAC-SHA256"
[alipay]
gateway_url = "{sim_base}/gateway.do"
app_id = "2014072300007148"
pid = "2088102177846880"
app_private_key = "{keys}/alipay-app-private.pem"
alipay_public_key = "{keys}/alipay-gateway-public.pem"
"#,
        digest = sha256_hex(api_key.as_bytes()),
    );
    toml::from_str(&text).expect("the simulator merchant's TOML is well formed")
}

/// The TLS identity for WeChat's `/secapi` calls, when both files are named.
pub fn wechat_identity(account: &WechatAccount) -> anyhow::Result<Option<TlsIdentity>> {
    match (&account.client_cert_pem, &account.client_key_pem) {
        (Some(cert), Some(key)) => Ok(Some(TlsIdentity {
            certificate_chain_pem: std::fs::read(cert)
                .with_context(|| format!("reading {}", cert.display()))?,
            private_key_pem: Secret::new(
                std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
            ),
        })),
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => {
            bail!("client_cert_pem and client_key_pem go together")
        }
    }
}

/// The merchant ids a raw API key belongs to.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    active: std::collections::HashMap<String, MerchantId>,
    revoked: std::collections::HashSet<String>,
}

/// Why a request's key is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    Missing,
    Unknown,
    Revoked,
}

impl ApiKeys {
    pub fn from_merchants(merchants: &[MerchantConfig]) -> ApiKeys {
        let mut keys = ApiKeys::default();
        for merchant in merchants {
            for digest in &merchant.api_keys_sha256 {
                keys.active
                    .insert(digest.to_ascii_lowercase(), merchant.id.clone());
            }
            keys.revoked.extend(
                merchant
                    .revoked_api_keys_sha256
                    .iter()
                    .map(|d| d.to_ascii_lowercase()),
            );
        }
        keys
    }

    /// The merchant of a presented key.
    pub fn merchant(&self, key: &str) -> Result<MerchantId, KeyProblem> {
        let digest = sha256_hex(key.as_bytes());
        if self.revoked.contains(&digest) {
            return Err(KeyProblem::Revoked);
        }
        self.active.get(&digest).cloned().ok_or(KeyProblem::Unknown)
    }
}

/// A back-office role. Roles are ordered: a viewer reads; an operator also
/// changes orders; an admin also rebuilds projections (`graphql::auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

/// One back-office token, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Lower-case hex SHA-256 of the bearer token (`sha256sum`).
    pub token_sha256: String,
    pub role: Role,
    /// When set, this token sees and changes only this merchant's orders.
    pub merchant: Option<MerchantId>,
    /// Recorded as `by` in the events this token causes; defaults to the role.
    pub name: Option<String>,
}

/// Lower-case hex SHA-256, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
