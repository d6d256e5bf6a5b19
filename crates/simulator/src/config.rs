//! Configuration: the merchants the simulator knows, its clock, faults and customer rules; built in code or read from TOML.
//!
//! Key fields in the TOML file take either an inline PEM or a path; relative paths are tried from the working directory,
//! then from the config file's directory and its ancestors (so the example config works from the repo root and from its own folder).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::SimError;
use crate::faults::FaultConfig;

/// A secret string (API key, private key PEM) that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A WeChat Pay v2 merchant (or a 服务商 sub-merchant when `sub_mch_id` is set).
#[derive(Debug, Clone)]
pub struct WechatMerchant {
    pub appid: String,
    pub mch_id: String,
    pub sub_mch_id: Option<String>,
    /// The 32-character API key (APIv2 key) both sides sign with.
    pub api_key: Secret,
}

/// An Alipay open-platform app.
#[derive(Debug, Clone)]
pub struct AlipayApp {
    pub app_id: String,
    /// The merchant's partner id (`2088...`), used in bill file names.
    pub pid: String,
    /// The app's public key PEM: verifies the merchant's requests.
    pub app_public_key_pem: String,
    /// The simulator's ("Alipay's") private key PEM: signs responses.
    pub gateway_private_key_pem: Secret,
}

#[derive(Debug, Clone, Default)]
pub struct ClockConfig {
    /// Where the clock starts; wall time at start when `None`.
    pub start: Option<DateTime<Utc>>,
    /// A frozen clock moves only through the control API.
    pub frozen: bool,
}

/// Everything the simulator needs to run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub wechat: Vec<WechatMerchant>,
    pub alipay: Vec<AlipayApp>,
    pub clock: ClockConfig,
    pub faults: FaultConfig,
    /// Amounts strictly above this wait for the customer's password (protocols.md 2.2, 4.6).
    pub password_threshold: Decimal,
    pub password_delay_secs: u64,
    /// WeChat revokes an unpaid payment-code order by itself this long after
    /// creation (WeChat's POS guide: 45 s); 0 turns it off.
    pub wechat_auto_revoke_secs: u64,
    /// Seeds the generator of ids and nonces, so runs are reproducible.
    pub id_seed: u64,
    /// Default listen address for the binary (`--listen` wins).
    pub listen: Option<SocketAddr>,
}

/// The example WeChat API key: 32 characters, like a real APIv2 key.
pub const EXAMPLE_WECHAT_API_KEY: &str = "paycodesimulatorwechatapikey0001";
pub const EXAMPLE_WECHAT_APPID: &str = "wx2421b1c4370ec43b";
pub const EXAMPLE_WECHAT_MCH_ID: &str = "10000100";
pub const EXAMPLE_ALIPAY_APP_ID: &str = "2014072300007148";
pub const EXAMPLE_ALIPAY_PID: &str = "2088102177846880";

/// The checked-in test keys, found from this crate's directory so tests work from any working directory.
pub const TEST_KEYS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");

impl SimConfig {
    /// The example setup (one WeChat merchant, one Alipay app with the test keys), with a clock frozen at wall time:
    /// tests move it with `advance_clock`.
    pub fn example() -> Result<SimConfig, SimError> {
        let read = |name: &str| {
            let path = Path::new(TEST_KEYS_DIR).join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| SimError::Config(format!("cannot read {}: {e}", path.display())))
        };
        Ok(SimConfig {
            wechat: vec![WechatMerchant {
                appid: EXAMPLE_WECHAT_APPID.to_owned(),
                mch_id: EXAMPLE_WECHAT_MCH_ID.to_owned(),
                sub_mch_id: None,
                api_key: Secret::new(EXAMPLE_WECHAT_API_KEY),
            }],
            alipay: vec![AlipayApp {
                app_id: EXAMPLE_ALIPAY_APP_ID.to_owned(),
                pid: EXAMPLE_ALIPAY_PID.to_owned(),
                app_public_key_pem: read("alipay-app-public.pem")?,
                gateway_private_key_pem: Secret::new(read("alipay-gateway-private.pem")?),
            }],
            clock: ClockConfig {
                start: None,
                frozen: true,
            },
            faults: FaultConfig::default(),
            password_threshold: Decimal::new(100_000, 2),
            password_delay_secs: 10,
            wechat_auto_revoke_secs: 45,
            id_seed: 1,
            listen: None,
        })
    }

    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<SimConfig, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Config(format!("cannot read config {}: {e}", path.display())))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        SimConfig::from_toml(&text, &base)
    }

    /// Parses TOML; relative key paths are resolved as the module doc says, from `base_dir` for the config's side.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<SimConfig, SimError> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| SimError::Config(format!("invalid config: {e}")))?;
        file.resolve(base_dir)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    #[serde(default = "default_threshold")]
    password_threshold: String,
    #[serde(default = "default_password_delay")]
    password_delay_secs: u64,
    #[serde(default = "default_auto_revoke")]
    wechat_auto_revoke_secs: u64,
    #[serde(default = "default_id_seed")]
    id_seed: u64,
    #[serde(default)]
    clock: FileClock,
    #[serde(default)]
    faults: FaultConfig,
    #[serde(default)]
    wechat: Vec<FileWechat>,
    #[serde(default)]
    alipay: Vec<FileAlipay>,
}

fn default_threshold() -> String {
    "1000.00".to_owned()
}
fn default_auto_revoke() -> u64 {
    45
}

fn default_password_delay() -> u64 {
    10
}
fn default_id_seed() -> u64 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClock {
    /// RFC 3339, e.g. `2026-01-15T10:00:00+08:00`.
    start: Option<String>,
    #[serde(default)]
    frozen: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWechat {
    appid: String,
    mch_id: String,
    sub_mch_id: Option<String>,
    api_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAlipay {
    app_id: String,
    pid: Option<String>,
    /// Inline PEM or a path.
    app_public_key: String,
    /// Inline PEM or a path.
    gateway_private_key: String,
}

impl FileConfig {
    fn resolve(self, base_dir: &Path) -> Result<SimConfig, SimError> {
        let password_threshold: Decimal = self.password_threshold.parse().map_err(|e| {
            SimError::Config(format!(
                "password_threshold `{}`: {e}",
                self.password_threshold
            ))
        })?;
        let start = match self.clock.start {
            None => None,
            Some(text) => Some(
                DateTime::parse_from_rfc3339(&text)
                    .map_err(|e| SimError::Config(format!("clock.start `{text}`: {e}")))?
                    .with_timezone(&Utc),
            ),
        };
        self.faults.validate().map_err(SimError::Config)?;
        let wechat = self
            .wechat
            .into_iter()
            .map(|w| {
                if w.api_key.len() != 32 {
                    return Err(SimError::Config(format!(
                        "wechat mch_id {}: api_key must be 32 characters",
                        w.mch_id
                    )));
                }
                Ok(WechatMerchant {
                    appid: w.appid,
                    mch_id: w.mch_id,
                    sub_mch_id: w.sub_mch_id,
                    api_key: Secret::new(w.api_key),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let alipay = self
            .alipay
            .into_iter()
            .map(|a| {
                Ok(AlipayApp {
                    pid: a.pid.unwrap_or_else(|| EXAMPLE_ALIPAY_PID.to_owned()),
                    app_public_key_pem: pem_or_path(&a.app_public_key, base_dir)?,
                    gateway_private_key_pem: Secret::new(pem_or_path(
                        &a.gateway_private_key,
                        base_dir,
                    )?),
                    app_id: a.app_id,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        Ok(SimConfig {
            wechat,
            alipay,
            clock: ClockConfig {
                start,
                frozen: self.clock.frozen,
            },
            faults: self.faults,
            password_threshold,
            password_delay_secs: self.password_delay_secs,
            wechat_auto_revoke_secs: self.wechat_auto_revoke_secs,
            id_seed: self.id_seed,
            listen: self.listen,
        })
    }
}

/// Inline PEM as is; otherwise a path, tried from the working directory, then from `base_dir` and its ancestors.
fn pem_or_path(value: &str, base_dir: &Path) -> Result<String, SimError> {
    if value.contains("-----BEGIN ") {
        return Ok(value.to_owned());
    }
    let relative = Path::new(value);
    let mut candidates: Vec<PathBuf> = vec![relative.to_path_buf()];
    if relative.is_relative() {
        candidates.extend(base_dir.ancestors().map(|dir| dir.join(relative)));
    }
    let found = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        SimError::Config(format!(
            "key file `{value}` not found (tried the working directory and {})",
            base_dir.display()
        ))
    })?;
    std::fs::read_to_string(found)
        .map_err(|e| SimError::Config(format!("cannot read {}: {e}", found.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_finds_its_keys() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = SimConfig::load(&dir.join("sim.example.toml")).unwrap();
        assert_eq!(config.wechat[0].mch_id, EXAMPLE_WECHAT_MCH_ID);
        assert_eq!(config.wechat[0].api_key.expose().len(), 32);
        assert_eq!(config.alipay[0].app_id, EXAMPLE_ALIPAY_APP_ID);
        assert!(
            config.alipay[0]
                .app_public_key_pem
                .contains("BEGIN PUBLIC KEY")
        );
        assert!(
            !format!("{config:?}").contains(EXAMPLE_WECHAT_API_KEY),
            "secrets must not print"
        );
    }

    #[test]
    fn faults_can_be_aimed_and_auto_revoke_set_in_the_file() {
        let text = r#"
            wechat_auto_revoke_secs = 0
            [faults]
            [[faults.targets]]
            call = "reverse"
            provider = "alipay"
            out_trade_no = "A1"
            nth = 2
            fault = { kind = "drop", effect_applied = false }
        "#;
        let config = SimConfig::from_toml(text, Path::new(".")).unwrap();
        assert_eq!(config.wechat_auto_revoke_secs, 0);
        let target = &config.faults.targets[0];
        assert_eq!(target.call, crate::faults::CallKind::Reverse);
        assert_eq!(target.provider, Some(crate::ledger::Provider::Alipay));
        assert_eq!(
            (target.out_trade_no.as_deref(), target.nth),
            (Some("A1"), 2)
        );
        assert_eq!(
            target.fault,
            crate::faults::Fault::Drop {
                effect_applied: false
            }
        );
        let defaults = SimConfig::from_toml("", Path::new(".")).unwrap();
        assert_eq!(defaults.wechat_auto_revoke_secs, 45);
        let zeroth = "[[faults.targets]]\ncall = 'pay'\nnth = 0\nfault = { kind = 'http5xx' }\n";
        assert!(SimConfig::from_toml(zeroth, Path::new(".")).is_err());
    }

    #[test]
    fn unknown_fields_and_short_api_keys_are_refused() {
        let base = Path::new(".");
        assert!(SimConfig::from_toml("colour = 1", base).is_err());
        let short = "[[wechat]]\nappid='wx1'\nmch_id='1'\napi_key='short'\n";
        assert!(SimConfig::from_toml(short, base).is_err());
        let missing = "[[alipay]]\napp_id='1'\napp_public_key='no/such.pem'\ngateway_private_key='no/such.pem'\n";
        assert!(SimConfig::from_toml(missing, base).is_err());
    }
}
