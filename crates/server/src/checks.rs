//! Start-up checks: the configuration against the providers' rules and
//! paycode's own timing (issue 13), and one signed query per provider
//! account, so a wrong key or certificate shows once, clearly, at start,
//! instead of per payment as an unknown answer, a reversal and a manual
//! queue entry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paycode_domain::{MerchantId, OutTradeNo, Policy};
use paycode_provider::{Provider, ProviderError, QueryAnswer, TradeRef, Unclear};

use crate::config::Config;

/// WeChat revokes an unpaid payment-code order by itself this long after
/// creation (WeChat POS guide, protocols.md 1.10 and 2.x: "revoked by WeChat
/// 45 s after creation").
pub const WECHAT_AUTO_REVOKE_SECS: u32 = 45;

/// WeChat forbids reversing a trade sooner than 15 s after the pay call
/// (protocols.md 1.7, WXD-REV and WXD-MP).
pub const WECHAT_MIN_REVERSE_SECS: u32 = 15;

/// How the configuration's timing stands. `errors` refuse the start;
/// `warnings` are logged once and the node runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigReport {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Checks the policy against the provider clients' timeouts and the
/// providers' documented times.
pub fn check_config(config: &Config) -> ConfigReport {
    let mut report = ConfigReport::default();
    let policy: &Policy = &config.policy;
    let timeout_ms = config.provider_http.total_timeout_ms;
    if timeout_ms > u64::from(policy.pay_call_timeout_secs) * 1000 {
        report.errors.push(format!(
            "provider_http.total_timeout_ms = {timeout_ms} is longer than policy.pay_call_timeout_secs = {}: \
             a pay call could still be in flight when its order is reversed; \
             raise pay_call_timeout_secs or lower the timeout",
            policy.pay_call_timeout_secs
        ));
    }
    if policy.poll_interval_secs == 0 || policy.poll_interval_secs >= policy.pay_deadline_secs {
        report.errors.push(format!(
            "policy.poll_interval_secs = {} must be at least 1 and below policy.pay_deadline_secs = {}, \
             or a pending payment is never queried before it is reversed",
            policy.poll_interval_secs, policy.pay_deadline_secs
        ));
    }
    let wechat = config.merchants.iter().any(|m| m.wechat.is_some());
    if wechat && policy.wechat_min_reverse_after_pay_secs < WECHAT_MIN_REVERSE_SECS {
        report.warnings.push(format!(
            "policy.wechat_min_reverse_after_pay_secs = {} is below WeChat's {WECHAT_MIN_REVERSE_SECS} s: \
             WeChat may refuse reversals this early (fine against the simulator, not in production)",
            policy.wechat_min_reverse_after_pay_secs
        ));
    }
    let latest_reverse = policy.pay_call_timeout_secs + policy.pay_deadline_secs;
    if wechat && latest_reverse > WECHAT_AUTO_REVOKE_SECS {
        report.warnings.push(format!(
            "policy.pay_call_timeout_secs + policy.pay_deadline_secs = {latest_reverse} s is past the \
             {WECHAT_AUTO_REVOKE_SECS} s after which WeChat revokes an unpaid payment-code order itself: \
             such orders end as a provider-side revoke (FAILED) rather than by paycode's reversal"
        ));
    }
    report
}

/// What the self-check learned of one provider account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountState {
    /// Not checked yet.
    Pending,
    /// A signed answer came back: the keys work.
    Ok,
    /// The provider could not be reached; checked again later.
    Unreachable(String),
    /// The answer says the configuration is wrong (key, certificate, app).
    Misconfigured(String),
}

/// The self-check results of every provider account, shared by the
/// background task that fills them and `/readyz` and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct AccountChecks {
    states: Arc<Mutex<BTreeMap<(String, String), AccountState>>>,
}

/// How often an unreachable account is checked again.
const RECHECK: Duration = Duration::from_secs(30);

impl AccountChecks {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), AccountState>> {
        self.states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every account with its state, by merchant and provider.
    pub fn states(&self) -> Vec<((String, String), AccountState)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The accounts whose configuration is wrong, as lines for `/readyz`.
    pub fn problems(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter_map(|((merchant, provider), state)| match state {
                AccountState::Misconfigured(why) => {
                    Some(format!("provider account {merchant}/{provider}: {why}"))
                }
                AccountState::Pending | AccountState::Ok | AccountState::Unreachable(_) => None,
            })
            .collect()
    }

    /// Checks every account once; unreachable ones stay so until `watch`
    /// tries again. Each state change is logged once.
    pub async fn check_all(&self, accounts: &[(MerchantId, Arc<dyn Provider>)]) {
        let checks = accounts.iter().map(|(merchant, client)| async move {
            (
                merchant,
                client.kind(),
                check_account(client.as_ref()).await,
            )
        });
        for (merchant, kind, state) in futures_util::future::join_all(checks).await {
            let key = (merchant.to_string(), kind.as_str().to_owned());
            let before = self.lock().insert(key, state.clone());
            if before.as_ref() != Some(&state) {
                log_state(merchant, kind.as_str(), &state);
            }
        }
    }

    /// Checks every account at start, then the unreachable ones every 30 s
    /// until each has an answer. Runs until every account settled.
    pub async fn watch(self, accounts: Vec<(MerchantId, Arc<dyn Provider>)>) {
        let mut remaining = accounts;
        loop {
            self.check_all(&remaining).await;
            let states = self.lock().clone();
            remaining.retain(|(merchant, client)| {
                let key = (merchant.to_string(), client.kind().as_str().to_owned());
                matches!(states.get(&key), Some(AccountState::Unreachable(_)))
            });
            if remaining.is_empty() {
                return;
            }
            tokio::time::sleep(RECHECK).await;
        }
    }
}

fn log_state(merchant: &MerchantId, provider: &str, state: &AccountState) {
    match state {
        AccountState::Ok => {
            tracing::info!(%merchant, provider, "provider account answers with a valid signature")
        }
        AccountState::Misconfigured(why) => tracing::error!(
            %merchant, provider, problem = why.as_str(),
            "provider account misconfigured: check its key, certificate and app id; payments on it will end unknown and be reversed"
        ),
        AccountState::Unreachable(why) => tracing::warn!(
            %merchant, provider, problem = why.as_str(),
            "provider account not reachable for its start-up check; trying again in 30 s"
        ),
        AccountState::Pending => {}
    }
}

/// One query for an order number that cannot exist. Any answer that
/// verified (most likely "no such order") proves the keys; a refusal for
/// configuration or a signature that does not verify proves them wrong.
pub async fn check_account(client: &dyn Provider) -> AccountState {
    let number = format!(
        "selfcheck{}",
        &uuid::Uuid::new_v4().simple().to_string()[..23]
    );
    let Ok(out_trade_no) = OutTradeNo::parse(&number) else {
        return AccountState::Misconfigured("the self-check order number is invalid".into());
    };
    let trade = TradeRef {
        out_trade_no,
        provider_trade_no: None,
    };
    classify(&client.query(&trade).await)
}

/// What a self-check query's answer says about the account.
pub fn classify(answer: &QueryAnswer) -> AccountState {
    match answer {
        QueryAnswer::NotFound(_)
        | QueryAnswer::Paid(_)
        | QueryAnswer::Pending(_)
        | QueryAnswer::PaymentFailed(_)
        | QueryAnswer::Closed(_)
        | QueryAnswer::Revoked(_) => AccountState::Ok,
        QueryAnswer::Refused(raw) => {
            AccountState::Misconfigured(format!("{}: {}", raw.code, raw.message))
        }
        // WeChat `return_code=FAIL` on a query: 签名错误, appid and mch_id
        // not matching, a bad parameter: the request itself was refused.
        QueryAnswer::Unknown(Unclear::Provider(raw)) if raw.code == "FAIL" => {
            AccountState::Misconfigured(format!("{}: {}", raw.code, raw.message))
        }
        QueryAnswer::Unknown(Unclear::Provider(raw)) => {
            AccountState::Unreachable(format!("{}: {}", raw.code, raw.message))
        }
        QueryAnswer::Unknown(Unclear::NoValidAnswer(error)) => match error {
            ProviderError::SignatureInvalid => AccountState::Misconfigured(
                "the provider's answer did not verify: check the provider's public key (Alipay) or the API key (WeChat)".into(),
            ),
            ProviderError::InvalidConfig(why) => AccountState::Misconfigured(why.clone()),
            ProviderError::Timeout
            | ProviderError::Transport(_)
            | ProviderError::HttpStatus(_)
            | ProviderError::Malformed(_)
            | ProviderError::Rejected { .. } => AccountState::Unreachable(error.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(policy: &str) -> Config {
        let text = format!(
            "{policy}\n[[merchants]]\nid = \"m\"\napi_keys_sha256 = []\n[merchants.wechat]\nappid = \"wx\"\nmch_id = \"1\"\napi_key = \"k\"\n"
        );
        toml::from_str(&text).expect("parses")
    }

    #[test]
    fn the_defaults_pass() {
        assert_eq!(check_config(&config("")), ConfigReport::default());
    }

    #[test]
    fn a_provider_timeout_past_the_pay_call_bound_is_refused() {
        let report = check_config(&config(
            "[provider_http]\nconnect_timeout_ms = 1000\ntotal_timeout_ms = 12000",
        ));
        assert_eq!(report.errors.len(), 1, "{report:?}");
        assert!(report.errors[0].contains("pay_call_timeout_secs"));
    }

    #[test]
    fn a_poll_interval_that_never_polls_is_refused() {
        let report = check_config(&config("[policy]\npoll_interval_secs = 30"));
        assert_eq!(report.errors.len(), 1, "{report:?}");
    }

    #[test]
    fn wechat_times_are_warned_about() {
        let report = check_config(&config(
            "[policy]\npay_deadline_secs = 40\nwechat_min_reverse_after_pay_secs = 5",
        ));
        assert!(report.errors.is_empty(), "{report:?}");
        assert_eq!(report.warnings.len(), 2, "{report:?}");
    }

    #[test]
    fn signed_answers_prove_the_keys_and_refusals_disprove_them() {
        use paycode_provider::RawOutcome;
        let raw = |code: &str| RawOutcome::new(code, "");
        assert_eq!(
            classify(&QueryAnswer::NotFound(raw("ORDERNOTEXIST"))),
            AccountState::Ok
        );
        assert!(matches!(
            classify(&QueryAnswer::Refused(raw("40002"))),
            AccountState::Misconfigured(_)
        ));
        assert!(matches!(
            classify(&QueryAnswer::Unknown(Unclear::Provider(RawOutcome::new(
                "FAIL",
                "签名错误"
            )))),
            AccountState::Misconfigured(_)
        ));
        assert!(matches!(
            classify(&QueryAnswer::Unknown(Unclear::NoValidAnswer(
                ProviderError::SignatureInvalid
            ))),
            AccountState::Misconfigured(_)
        ));
        assert!(matches!(
            classify(&QueryAnswer::Unknown(Unclear::NoValidAnswer(
                ProviderError::Timeout
            ))),
            AccountState::Unreachable(_)
        ));
    }
}
