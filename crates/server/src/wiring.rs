//! Wiring a running paycode from its configuration: the provider clients
//! of every merchant, the payment process on the opened store, and the
//! service the HTTP API serves from. The API's state itself is
//! [`crate::service::Service`].

use std::sync::Arc;

use anyhow::Context as _;
use paycode_alipay::{AlipayClient, AlipayConfig};
use paycode_app::reconciliation::BillAccount;
use paycode_app::{
    Clock, IdSource, PaymentProcess, ProcessSetup, ProviderDirectory, RandomIds, SystemClock,
};
use paycode_store::EventStore;
use paycode_wechatpay::{SignType, WechatPayClient, WechatPayConfig};

use crate::OpenedStore;
use crate::config::{ApiKeys, Config, wechat_identity};
use crate::service::Service;

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

impl Service {
    /// The production service on a store no other node shares: the wall
    /// clock and random ids.
    pub fn new(store: Arc<dyn EventStore>, config: &Config) -> anyhow::Result<Service> {
        Service::with_clock(store, config, Arc::new(SystemClock), Arc::new(RandomIds))
    }

    /// The production service on an opened store, shared with other nodes
    /// when the store says so (their work is split by leases).
    pub fn on_store(opened: OpenedStore, config: &Config) -> anyhow::Result<Service> {
        let node = config.node.clone().unwrap_or_else(|| {
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            format!("node-{}-{}", std::process::id(), &suffix[..8])
        });
        let setup = ProcessSetup {
            store: opened.events.clone(),
            policy: config.policy.clone(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            providers: Arc::new(provider_directory(config)?),
        };
        let process = PaymentProcess::with_leases(setup, opened.leases, node);
        Ok(Service::of(process, opened.events, config))
    }

    /// A service whose time and ids are injected (tests, replays).
    pub fn with_clock(
        store: Arc<dyn EventStore>,
        config: &Config,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> anyhow::Result<Service> {
        let process = PaymentProcess::new(ProcessSetup {
            store: store.clone(),
            policy: config.policy.clone(),
            clock,
            ids,
            providers: Arc::new(provider_directory(config)?),
        });
        Ok(Service::of(process, store, config))
    }

    fn of(process: PaymentProcess, store: Arc<dyn EventStore>, config: &Config) -> Service {
        Service {
            process,
            store,
            keys: Arc::new(ApiKeys::from_merchants(&config.merchants)),
            read_models: None,
            accounts: crate::checks::AccountChecks::default(),
        }
    }
}

/// Opens the read models of `config.read_models` on `store`, once per node:
/// the POS API's readiness and `/metrics` and the back office share them.
pub async fn open_read_models(
    config: &Config,
    store: Arc<dyn EventStore>,
) -> anyhow::Result<paycode_projections::ReadModels> {
    let path = config.read_models_path();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    paycode_projections::ReadModels::open(&path, store)
        .await
        .with_context(|| format!("opening the read models {}", path.display()))
}

/// Everything a node serves over HTTP, as `paycode serve` assembles it: the
/// POS API and the operations endpoints, the back office and the console,
/// with JSON answers for what no route serves. Opens the read models once,
/// hands them to the POS API (readiness, `/metrics`) and to the back office,
/// and returns the task that keeps them up to date.
pub async fn app(
    service: &mut Service,
    config: &Config,
) -> anyhow::Result<(axum::Router, tokio::task::JoinHandle<()>)> {
    let read_models = open_read_models(config, service.store.clone()).await?;
    let projector = tokio::spawn(read_models.clone().run());
    service.read_models = Some(read_models.clone());
    let operators = crate::graphql::auth::Operators::from_config(&config.operators)?;
    let back_office = crate::graphql::routes(crate::graphql::BackOffice::new(
        read_models,
        service.process.clone(),
        Arc::new(operators),
    )?);
    let app = crate::api::json_fallbacks(
        crate::router(service.clone())
            .merge(back_office)
            .merge(crate::console::routes()),
    );
    Ok((app, projector))
}
