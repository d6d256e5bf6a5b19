//! A whole paycode against a whole simulator, over real sockets, with both
//! clocks in the test's hand: `pass(secs)` moves them together one second at
//! a time and lets the process worker do what became due.

#![allow(dead_code)] // each test file uses a different part of the harness

pub mod cluster;
pub mod gql;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use paycode_app::{Clock as _, ManualClock, RandomIds};
use paycode_server::{Config, Service};
use paycode_sim::{RunningSim, SimConfig};
use paycode_store::EventStore;
use serde_json::Value;

pub const KEY: &str = "test-key-merchant-a";
pub const OTHER_KEY: &str = "test-key-merchant-b";
pub const REVOKED_KEY: &str = "test-key-revoked";

pub fn start_instant() -> DateTime<Utc> {
    // 10:00 in Beijing: the whole Alipay reverse window of the day is ahead.
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0)
        .single()
        .expect("a valid instant")
}

pub struct World {
    pub sim: RunningSim,
    pub service: Service,
    pub clock: Arc<ManualClock>,
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<dyn EventStore>,
    _dir: tempfile::TempDir,
}

fn sha(text: &str) -> String {
    paycode_server::config::sha256_hex(text.as_bytes())
}

pub fn config(sim_base: &str) -> Config {
    toml::from_str(&config_text(sim_base)).expect("the test config parses")
}

/// The test configuration as a TOML file's text (merchants only).
pub fn config_text(sim_base: &str) -> String {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");
    format!(
        r#"
[[merchants]]
id = "shop-a"
api_keys_sha256 = ["{key}"]
revoked_api_keys_sha256 = ["{revoked}"]
[merchants.wechat]
base_url = "{sim_base}"
appid = "wx2421b1c4370ec43b"
mch_id = "10000100"
api_key = "paycodesimulatorwechatapikey0001"
sign_type = "HMAC-SHA256"
[merchants.alipay]
gateway_url = "{sim_base}/gateway.do"
app_id = "2014072300007148"
pid = "2088102177846880"
app_private_key = "{keys}/alipay-app-private.pem"
alipay_public_key = "{keys}/alipay-gateway-public.pem"

[[merchants]]
id = "shop-b"
api_keys_sha256 = ["{other}"]
[merchants.wechat]
base_url = "{sim_base}"
appid = "wx2421b1c4370ec43b"
mch_id = "10000100"
api_key = "paycodesimulatorwechatapikey0001"
"#,
        key = sha(KEY),
        revoked = sha(REVOKED_KEY),
        other = sha(OTHER_KEY),
    )
}

impl World {
    pub async fn start() -> World {
        World::start_with(|_| {}).await
    }

    /// A world whose paycode configuration `adjust` changes first (shorter
    /// provider timeouts for the fault tests, another policy).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> World {
        let mut sim_config = SimConfig::example().expect("the example simulator config");
        sim_config.clock.start = Some(start_instant());
        sim_config.clock.frozen = true;
        let sim = paycode_sim::start(sim_config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("sim starts");
        let dir = tempfile::tempdir().expect("a temp dir");
        let store: Arc<dyn EventStore> = Arc::new(
            paycode_store_sqlite::SqliteStore::open(dir.path().join("paycode.db"))
                .expect("store opens"),
        );
        let clock = Arc::new(ManualClock::new(start_instant()));
        let mut paycode_config = config(&sim.base_url());
        adjust(&mut paycode_config);
        let service = Service::with_clock(
            store.clone(),
            &paycode_config,
            clock.clone(),
            Arc::new(RandomIds),
        )
        .expect("the service builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = paycode_server::router(service.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let settings = paycode_provider::HttpSettings {
            connect_timeout: std::time::Duration::from_secs(5),
            total_timeout: std::time::Duration::from_secs(30),
        };
        let http = paycode_provider::build_http_client(&settings, None).expect("an HTTP client");
        World {
            sim,
            service,
            clock,
            base,
            http,
            store,
            _dir: dir,
        }
    }

    /// Lets `secs` seconds pass on both clocks, working what falls due each second.
    pub async fn pass(&self, secs: u64) {
        for _ in 0..secs {
            self.clock.advance(Duration::seconds(1));
            self.sim.sim().advance_clock(1);
            while self.service.process.run_due().await > 0 {}
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The SQLite file of the world's event log.
    pub fn db_path(&self) -> std::path::PathBuf {
        self._dir.path().join("paycode.db")
    }

    /// Moves paycode's and the simulator's clocks a whole day at once (the
    /// next morning: a day's bill exists from then), then runs what fell due.
    pub async fn next_day(&self) {
        let day = 86_400;
        self.clock.advance(Duration::seconds(day));
        self.sim.sim().advance_clock(day.unsigned_abs());
        while self.service.process.run_due().await > 0 {}
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("paycode answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            Some(KEY),
            Some(body.to_string()),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, Some(KEY), None).await
    }

    pub async fn pay(&self, out_trade_no: &str, auth_code: &str, amount: &str) -> (u16, Value) {
        let body = serde_json::json!({
            "out_trade_no": out_trade_no, "auth_code": auth_code, "amount": amount, "subject": "test goods",
        });
        self.post("/v1/payments", body).await
    }

    /// The provider order number paycode sent for the order's current
    /// attempt (merchant `shop-a`): what the bills print as 商户订单号.
    pub async fn provider_no(&self, out_trade_no: &str) -> String {
        let order = self
            .service
            .process
            .order(
                &paycode_domain::MerchantId::parse("shop-a").expect("an id"),
                &paycode_domain::OutTradeNo::parse(out_trade_no).expect("a number"),
            )
            .await
            .expect("the order loads")
            .expect("the order exists");
        order
            .current_attempt()
            .provider_order_no
            .as_str()
            .to_owned()
    }

    /// The event types of one order, in order.
    pub async fn events(&self, merchant: &str, out_trade_no: &str) -> Vec<String> {
        let stream = paycode_app::order_stream_name(
            &paycode_domain::MerchantId::parse(merchant).expect("an id"),
            &paycode_domain::OutTradeNo::parse(out_trade_no).expect("a number"),
        );
        let events = self
            .store
            .read_stream(&stream, 1, 1_000)
            .await
            .expect("reads");
        events.into_iter().map(|e| e.event_type).collect()
    }

    pub async fn head(&self) -> u64 {
        self.store.head().await.expect("head")
    }

    /// Aims `fault` at the simulator's next provider call.
    pub fn aim(&self, fault: paycode_sim::Fault) {
        self.sim
            .sim()
            .set_faults(paycode_sim::FaultConfig {
                script: vec![fault],
                ..paycode_sim::FaultConfig::default()
            })
            .expect("faults are valid");
    }

    /// The simulator's phases (`paid`, `reversed`, ...) of the trade with
    /// this provider trade number.
    pub fn sim_phases(&self, trade_no: &str) -> Vec<String> {
        self.sim
            .sim()
            .trades()
            .into_iter()
            .filter(|t| t.trade_no == trade_no)
            .map(|t| t.phase)
            .collect()
    }
}

/// The faults one provider call can meet, as the simulator plays them:
/// lost before the provider, lost after it acted, a 5xx, an answer whose
/// signature does not verify, an answer cut short.
pub fn call_faults() -> [(&'static str, paycode_sim::Fault); 5] {
    use paycode_sim::Fault;
    [
        (
            "before sending",
            Fault::Drop {
                effect_applied: false,
            },
        ),
        (
            "applied, answer lost",
            Fault::Drop {
                effect_applied: true,
            },
        ),
        ("HTTP 5xx", Fault::Http5xx),
        ("bad signature", Fault::BadSignature),
        ("malformed", Fault::Malformed),
    ]
}

/// An 18-digit WeChat code selecting simulator scenario `scenario` with `param`.
pub fn wechat_code(scenario: u8, param: u8, serial: u32) -> String {
    format!("13{scenario:02}{param:02}{serial:012}")
}

/// An 18-digit Alipay code selecting simulator scenario `scenario` with `param`.
pub fn alipay_code(scenario: u8, param: u8, serial: u32) -> String {
    format!("28{scenario:02}{param:02}{serial:012}")
}

/// Puts a PAYING order in the log as a till's request leaves it before any
/// provider answered: the domain's decision appended straight to the store,
/// with no provider call (the back-office tests have no provider). Returns
/// the event's position.
pub async fn request_in_log(
    store: &Arc<dyn EventStore>,
    merchant: &str,
    number: &str,
    amount: &str,
) -> u64 {
    use paycode_domain::{
        AuthCode, Context, MerchantId, Money, NewIds, OrderCommand, OutTradeNo, Policy,
        RequestPayment,
    };
    let merchant = MerchantId::parse(merchant).expect("an id");
    let number = OutTradeNo::parse(number).expect("a number");
    let stream = paycode_app::order_stream_name(&merchant, &number);
    let request = RequestPayment {
        merchant,
        out_trade_no: number,
        amount: Money::parse(amount).expect("money"),
        subject: "a test order".into(),
        store_id: None,
        terminal_id: None,
        auth_code: AuthCode::parse("134567890123456789").expect("a code"),
    };
    let policy = Policy::default();
    let ctx = Context {
        now: Utc::now(),
        policy: &policy,
        ids: NewIds::from_uuids(uuid::Uuid::new_v4(), uuid::Uuid::new_v4()),
    };
    let events = paycode_domain::decide(None, &OrderCommand::RequestPayment(request), &ctx)
        .expect("a new order is accepted");
    let batch = events
        .iter()
        .map(|event| {
            let (event_type, type_version, data) = event.encode();
            paycode_store::NewEvent {
                id: uuid::Uuid::new_v4(),
                event_type: event_type.to_owned(),
                type_version,
                data,
                metadata: Vec::new(),
            }
        })
        .collect();
    store
        .append(&stream, paycode_store::ExpectedVersion::NoStream, batch)
        .await
        .expect("appended")
        .position
}

/// The sum of the `/metrics` samples named `name` whose labels contain every
/// one of `labels` (`call="query"`); `None` when there is no such sample.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> Option<u64> {
    let values: Vec<u64> = text
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}
