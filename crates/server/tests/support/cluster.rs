//! paycode as child processes against one simulator in the test process:
//! for the crash and several-node tests. Each child is a real `paycode
//! serve` with a short policy (4 s deadline, 1 s polls), so an order settles
//! in seconds of wall time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paycode_domain::{Order, Status};
use paycode_sim::TradeView;
use paycode_store::EventStore;
use serde_json::{Value, json};

/// A tiny seeded generator (splitmix64): kill schedules are reproducible.
pub struct Seeded(pub u64);

impl Seeded {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The scenario mix: (wallet prefix, scenario digits, parameter).
const MIX: &[(&str, u8, u8)] = &[
    ("13", 0, 0), // WeChat, pays at once
    ("28", 0, 0), // Alipay, pays at once
    ("13", 1, 2), // paid after 2 s
    ("28", 1, 2),
    ("13", 2, 0), // never confirmed: reversed at the deadline
    ("28", 2, 0),
    ("13", 3, 0), // insufficient balance
    ("28", 4, 0), // expired code
    ("13", 6, 0), // unknown error, actually paid
    ("28", 6, 0),
    ("13", 7, 0), // unknown error, not paid
    ("28", 7, 0),
    ("13", 8, 1), // reversal asks for one retry
];

/// The payment code of payment `n`: its scenario comes from the mix.
pub fn code(n: u32) -> String {
    let (prefix, scenario, param) = MIX[n as usize % MIX.len()];
    format!("{prefix}{scenario:02}{param:02}{n:012}")
}

/// The simulator on the wall clock (the children run on it too), with `faults`.
pub async fn wall_clock_sim(faults: paycode_sim::FaultConfig) -> paycode_sim::RunningSim {
    let mut sim_config = paycode_sim::SimConfig::example().expect("sim config");
    sim_config.clock.frozen = false;
    sim_config.faults = faults;
    paycode_sim::start(sim_config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim starts")
}

/// A node on its own SQLite store: its config file, port and database file.
pub struct SqliteNode {
    pub config: PathBuf,
    pub port: u16,
    pub db: PathBuf,
}

/// One node on its own SQLite store in `dir`.
pub fn sqlite_node(dir: &Path, sim_base: &str) -> SqliteNode {
    let port = free_port();
    let db = dir.join("paycode.db");
    let config = write_config(
        dir,
        "node",
        sim_base,
        port,
        &format!("sqlite:{}", db.display()),
    );
    SqliteNode { config, port, db }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binds")
        .local_addr()
        .expect("addr")
        .port()
}

/// Writes a config for one node and returns its path.
pub fn write_config(dir: &Path, name: &str, sim_base: &str, port: u16, store: &str) -> PathBuf {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");
    let text = format!(
        r#"
listen = "127.0.0.1:{port}"
store = "{store}"
read_models = "{read_models}"
node = "{name}"
[[operators]]
token_sha256 = "{operator}"
role = "operator"
name = "ops-{name}"
[provider_http]
connect_timeout_ms = 1000
total_timeout_ms = 2000
[policy]
pay_deadline_secs = 4
pay_call_timeout_secs = 2
poll_interval_secs = 1
reversal_backoff_base_secs = 1
reversal_backoff_cap_secs = 2
reversal_max_attempts = 8
wechat_min_reverse_after_pay_secs = 1
refund_retry_after_secs = 2
refund_resend_base_secs = 1
refund_resend_cap_secs = 2
refund_poll_base_secs = 1
refund_poll_cap_secs = 2
[[merchants]]
id = "shop"
api_keys_sha256 = ["{key}"]
[merchants.wechat]
base_url = "{sim_base}"
appid = "wx2421b1c4370ec43b"
mch_id = "10000100"
api_key = "paycodesimulatorwechatapikey0001"
[merchants.alipay]
gateway_url = "{sim_base}/gateway.do"
app_id = "2014072300007148"
pid = "2088102177846880"
app_private_key = "{keys}/alipay-app-private.pem"
alipay_public_key = "{keys}/alipay-gateway-public.pem"
"#,
        key = paycode_server::config::sha256_hex(super::KEY.as_bytes()),
        operator = paycode_server::config::sha256_hex(OPERATOR_TOKEN.as_bytes()),
        // Each node its own read models, as on separate machines.
        read_models = dir.join(format!("{name}.readmodels.db")).display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("config written");
    path
}

/// The back-office token every node of `write_config` accepts (operator role).
pub const OPERATOR_TOKEN: &str = "cluster-operator";

/// A paycode child process, SIGKILLed when dropped, so a failing test
/// leaves no server behind.
#[derive(Debug)]
pub struct Node(Child);

impl Node {
    /// SIGSTOP: the process stops where it is, holding its connections
    /// and its leases' rows, as a node in a long pause would.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Node::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {which} failed");
    }

    /// SIGTERM, and wait for the process to finish stopping on its own.
    pub fn terminate(&mut self) {
        self.signal("-TERM");
        let status = self.0.wait().expect("the node stops");
        assert!(
            status.success(),
            "a node stopped with SIGTERM exits 0: {status}"
        );
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        // Already dead is fine: the point is that it is not running.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn spawn_paycode(config: &Path, log: &Path) -> Node {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_paycode"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("paycode starts");
    Node(child)
}

/// How long one payment may go unacknowledged (nodes dying and restarting)
/// before the test gives up instead of hanging.
const ACKNOWLEDGE_WITHIN: Duration = Duration::from_secs(60);

pub fn http() -> reqwest::Client {
    let settings = paycode_provider::HttpSettings {
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(10),
    };
    paycode_provider::build_http_client(&settings, None).expect("client")
}

/// Concurrent clients paying codes `0..payments` between them while the test
/// does other things (kills nodes); each retries a payment until a node
/// acknowledges it.
pub struct Clients(Vec<tokio::task::JoinHandle<Vec<(u32, Value)>>>);

impl Clients {
    pub fn start(http: &reqwest::Client, bases: &[String], clients: u32, payments: u32) -> Clients {
        Clients(
            (0..clients)
                .map(|c| {
                    let (http, bases) = (http.clone(), bases.to_vec());
                    tokio::spawn(async move {
                        let mut acknowledged = Vec::new();
                        for n in (c..payments).step_by(clients as usize) {
                            acknowledged.push((n, pay_until_acknowledged(&http, &bases, n).await));
                        }
                        acknowledged
                    })
                })
                .collect(),
        )
    }

    /// Every payment with the answer that acknowledged it, once all clients finished.
    pub async fn acknowledged(self) -> Vec<(u32, Value)> {
        let mut acknowledged = Vec::new();
        for client in self.0 {
            acknowledged.extend(client.await.expect("client finished"));
        }
        acknowledged
    }
}

/// Sends payment `n` until a node acknowledges it, trying the nodes in turn
/// (any of them may be dead or being restarted).
pub async fn pay_until_acknowledged(http: &reqwest::Client, bases: &[String], n: u32) -> Value {
    let body = json!({ "out_trade_no": format!("o-{n}"), "auth_code": code(n), "amount": "10.00", "subject": "crash test" });
    let started = Instant::now();
    for attempt in 0.. {
        assert!(
            started.elapsed() < ACKNOWLEDGE_WITHIN,
            "no node acknowledged payment {n} within {ACKNOWLEDGE_WITHIN:?}"
        );
        let base = &bases[(n as usize + attempt) % bases.len()];
        let sent = http
            .post(format!("{base}/v1/payments"))
            .header("authorization", format!("Bearer {}", super::KEY))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            if let Ok(text) = response.text().await {
                if status == 200 || status == 201 {
                    return serde_json::from_str(&text).expect("an acknowledged answer is JSON");
                }
                assert!(
                    status >= 500 || status == 409,
                    "order {n}: unexpected {status}: {text}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!("the loop above only ends by returning")
}

pub async fn project(store: &dyn EventStore) -> BTreeMap<String, Order> {
    paycode_app::replay::project_orders(store)
        .await
        .expect("the log projects")
}

pub fn settled(order: &Order) -> bool {
    paycode_app::PaymentProcess::is_settled(order)
}

/// Waits until `count` orders exist and all are settled; panics with the
/// first open order and the tail of `log` after `within`.
pub async fn wait_until_settled(
    store: &dyn EventStore,
    count: usize,
    within: Duration,
    log: &Path,
) -> BTreeMap<String, Order> {
    let started = Instant::now();
    loop {
        let orders = project(store).await;
        if orders.len() == count && orders.values().all(settled) {
            return orders;
        }
        if started.elapsed() > within {
            let open: Vec<_> = orders.values().filter(|o| !settled(o)).collect();
            let first = open.first().map(|o| format!("{o:#?}")).unwrap_or_default();
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log_text.lines().rev().take(40).collect();
            panic!(
                "{} of {} orders still open after {within:?}; the first: {first}\npaycode's log, last lines first:\n{}",
                open.len(),
                orders.len(),
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every acknowledged payment is in the log, and what was acknowledged as
/// final stayed so.
pub fn check_acknowledged(orders: &BTreeMap<String, Order>, acknowledged: &[(u32, Value)]) {
    for (n, answer) in acknowledged {
        let order = orders
            .get(&paycode_domain::order_stream(
                &paycode_domain::MerchantId::parse("shop").expect("an id"),
                &paycode_domain::OutTradeNo::parse(&format!("o-{n}")).expect("a number"),
            ))
            .unwrap_or_else(|| panic!("acknowledged order {n} lost"));
        assert_eq!(
            answer["order_id"].as_str(),
            Some(order.order_id.to_string().as_str())
        );
        match answer["state"].as_str() {
            Some("SUCCESS") => assert_eq!(order.status, Status::Success, "order {n}"),
            Some("FAILED") => assert_eq!(order.status, Status::Failed, "order {n}"),
            _ => {}
        }
    }
}

/// The books agree: every charge the simulator kept is a SUCCESS order with
/// that trade, every SUCCESS order is a charge, and trades reversed at the
/// provider belong to reversed orders.
pub fn check_agreement(orders: &BTreeMap<String, Order>, trades: &[TradeView]) {
    let by_provider_no: HashMap<String, &Order> = orders
        .values()
        .flat_map(|o| {
            o.attempts
                .iter()
                .map(move |a| (a.provider_order_no.as_str().to_owned(), o))
        })
        .collect();
    for trade in trades {
        let order = by_provider_no.get(&trade.out_trade_no).unwrap_or_else(|| {
            panic!("the simulator has a trade paycode never requested: {trade:?}")
        });
        match trade.phase.as_str() {
            "paid" => {
                assert_eq!(
                    order.status,
                    Status::Success,
                    "charged but not SUCCESS: {trade:?} / {order:?}"
                );
                assert_eq!(
                    order.provider_trade_no.as_deref(),
                    Some(trade.trade_no.as_str()),
                    "{order:?}"
                );
            }
            "reversed" => assert!(
                matches!(order.status, Status::Revoked | Status::TradeClosed),
                "reversed at the provider but {:?} here: {order:?}",
                order.status
            ),
            "closed" | "failed" | "paying" => {
                assert_ne!(
                    order.status,
                    Status::Success,
                    "SUCCESS without a charge: {trade:?} / {order:?}"
                )
            }
            other => panic!("unknown simulator phase {other}"),
        }
    }
    let charged: HashSet<&str> = trades
        .iter()
        .filter(|t| t.phase == "paid")
        .map(|t| t.trade_no.as_str())
        .collect();
    for order in orders.values().filter(|o| o.status == Status::Success) {
        let trade_no = order
            .provider_trade_no
            .as_deref()
            .expect("a SUCCESS order has a trade number");
        assert!(
            charged.contains(trade_no),
            "SUCCESS without a kept charge: {order:?}"
        );
    }
}
