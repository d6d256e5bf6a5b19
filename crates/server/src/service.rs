//! Wiring a running paycode from its configuration: the store, the
//! provider clients of every merchant, the payment process and its worker,
//! and, for the demo, the simulator in the same process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use paycode_alipay::{AlipayClient, AlipayConfig};
use paycode_app::reconciliation::BillAccount;
use paycode_app::{
    Clock, IdSource, OrderService, PaymentProcess, ProviderDirectory, RandomIds, SystemClock,
};
use paycode_store::EventStore;
use paycode_wechatpay::{SignType, WechatPayClient, WechatPayConfig};

use crate::OpenedStore;
use crate::config::{ApiKeys, Config, wechat_identity};

/// The longest the worker sleeps when nothing is due: new work from the API
/// wakes it sooner through the store's head, and this bound keeps a missed
/// wake-up from delaying a poll by more than a second.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// How often a node renews its work leases: well inside `LEASE_TTL` (5 s),
/// so a live node never loses one to a slow renewal.
const LEASE_RENEW: Duration = Duration::from_secs(1);

/// Builds one client per configured merchant account.
pub fn provider_directory(config: &Config) -> anyhow::Result<ProviderDirectory> {
    let mut directory = ProviderDirectory::default();
    let http = config.provider_http.settings();
    for merchant in &config.merchants {
        if let Some(account) = &merchant.wechat {
            let sign_type = match account.sign_type.as_str() {
                "MD5" => SignType::Md5,
                "HMAC-SHA256" => SignType::HmacSha256,
                other => anyhow::bail!(
                    "merchant {}: unknown WeChat sign_type {other:?}",
                    merchant.id
                ),
            };
            let client = WechatPayClient::new(WechatPayConfig {
                base_url: account.base_url.trim_end_matches('/').to_owned(),
                appid: account.appid.clone(),
                mch_id: account.mch_id.clone(),
                sub_appid: account.sub_appid.clone(),
                sub_mch_id: account.sub_mch_id.clone(),
                api_key: account.api_key.resolve()?,
                sign_type,
                spbill_create_ip: account.spbill_create_ip.clone(),
                client_identity: wechat_identity(account)?,
                http,
                gzip_bills: false,
            })
            .with_context(|| format!("merchant {}: WeChat Pay account", merchant.id))?;
            directory.insert(merchant.id.clone(), Arc::new(client));
            directory.insert_bill_account(
                merchant.id.clone(),
                BillAccount::Wechat {
                    appid: account.appid.clone(),
                    mch_id: account.mch_id.clone(),
                    sub_mch_id: account.sub_mch_id.clone(),
                },
            );
        }
        if let Some(account) = &merchant.alipay {
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            };
            let client = AlipayClient::new(AlipayConfig {
                gateway_url: account.gateway_url.clone(),
                app_id: account.app_id.clone(),
                app_private_key: paycode_provider::Secret::new(read(&account.app_private_key)?),
                alipay_public_key: read(&account.alipay_public_key)?,
                app_auth_token: account
                    .app_auth_token
                    .as_ref()
                    .map(|t| t.resolve())
                    .transpose()?,
                http,
            })
            .with_context(|| format!("merchant {}: Alipay account", merchant.id))?;
            directory.insert(merchant.id.clone(), Arc::new(client));
            directory.insert_bill_account(
                merchant.id.clone(),
                BillAccount::Alipay {
                    pid: account.pid.clone(),
                },
            );
        }
    }
    Ok(directory)
}

/// Everything the HTTP API needs.
#[derive(Debug, Clone)]
pub struct Service {
    pub process: PaymentProcess,
    pub keys: Arc<ApiKeys>,
    /// The back office's read models, when this node serves them: readiness
    /// waits for them to catch up, and `/metrics` reports their lag.
    pub read_models: Option<paycode_projections::ReadModels>,
    /// The start-up self-check of every provider account (`/readyz`).
    pub accounts: crate::checks::AccountChecks,
}

impl Service {
    /// The production service on a store no other node shares: the wall
    /// clock and random ids.
    pub fn new(store: Arc<dyn EventStore>, config: &Config) -> anyhow::Result<Service> {
        Service::with_clock(store, config, Arc::new(SystemClock), Arc::new(RandomIds))
    }

    /// The production service on an opened store, shared with other nodes
    /// when the store says so (their work is split by leases).
    pub fn on_store(opened: OpenedStore, config: &Config) -> anyhow::Result<Service> {
        let orders = OrderService::new(
            opened.events,
            config.policy.clone(),
            Arc::new(SystemClock),
            Arc::new(RandomIds),
        );
        let node = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let process = PaymentProcess::with_leases(
            orders,
            Arc::new(provider_directory(config)?),
            opened.leases,
            node,
        );
        Ok(Service {
            process,
            keys: Arc::new(ApiKeys::from_merchants(&config.merchants)),
            read_models: None,
            accounts: crate::checks::AccountChecks::default(),
        })
    }

    /// A service whose time and ids are injected (tests, replays).
    pub fn with_clock(
        store: Arc<dyn EventStore>,
        config: &Config,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> anyhow::Result<Service> {
        let orders = OrderService::new(store, config.policy.clone(), clock, ids);
        let process = PaymentProcess::new(orders, Arc::new(provider_directory(config)?));
        Ok(Service {
            process,
            keys: Arc::new(ApiKeys::from_merchants(&config.merchants)),
            read_models: None,
            accounts: crate::checks::AccountChecks::default(),
        })
    }

    /// The process worker: rebuilds the work list from the log, then works
    /// whatever is due, forever. On a shared store it also renews its work
    /// leases and follows other nodes' appends. Runs until the task is dropped.
    pub async fn run_worker(self) {
        let head = loop {
            match self.process.recover().await {
                Ok((open, head)) => {
                    tracing::info!(open, "work list rebuilt from the log");
                    break head;
                }
                Err(error) => {
                    tracing::error!(%error, "could not rebuild the work list; trying again");
                    tokio::time::sleep(IDLE_WAKE).await;
                }
            }
        };
        if self.process.shared() {
            tokio::spawn(self.clone().keep_leases());
            tokio::spawn(self.clone().follow(head));
        }
        let mut wake = self.process.orders().store().watch_head();
        loop {
            while self.process.run_due().await > 0 {}
            let now = self.process.orders().now();
            let sleep = self
                .process
                .next_due_at()
                .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(IDLE_WAKE)
                .min(IDLE_WAKE);
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                changed = wake.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(IDLE_WAKE).await;
                    }
                }
            }
        }
    }

    /// Renews this node's work leases every second, for ever.
    async fn keep_leases(self) {
        loop {
            self.process.renew_leases().await;
            tokio::time::sleep(LEASE_RENEW).await;
        }
    }

    /// Follows the log for orders other nodes append, restarting from a
    /// fresh rebuild if the store fails.
    async fn follow(self, mut after: u64) {
        loop {
            if let Err(error) = self.process.follow_log(after).await {
                tracing::warn!(%error, "following the log failed; rebuilding the work list");
                tokio::time::sleep(IDLE_WAKE).await;
                if let Ok((_, head)) = self.process.recover().await {
                    after = head;
                }
            }
        }
    }
}
