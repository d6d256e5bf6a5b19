//! Crash recovery, end to end: paycode runs as a child process on the
//! embedded store and is SIGKILLed at seeded random moments while 1,000
//! payments of mixed scenarios go through it; each time it is restarted on
//! the same store. At the end every order is final, and the simulator's
//! ledger and paycode's books agree: no charge without SUCCESS (or a
//! completed reversal), no SUCCESS without a charge, no acknowledged
//! payment lost. A second run does the same with 30% provider faults.
//!
//! The simulator runs inside the test process on the wall clock; paycode
//! runs with a short policy (4 s deadline, 1 s polls) so the run takes
//! tens of seconds, not the production half-minute per order.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use paycode_domain::{Order, Status};
use paycode_sim::{FaultConfig, SimConfig, TradeView};
use paycode_store::EventStore;
use serde_json::json;

const PAYMENTS: u32 = 1_000;
/// Concurrent POS clients.
const CLIENTS: u32 = 16;
/// How long the orders may take to settle after the last request was acknowledged.
const SETTLE_WITHIN: Duration = Duration::from_secs(120);

/// A tiny seeded generator (splitmix64): the kill schedule is reproducible.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
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

fn code(n: u32) -> String {
    let (prefix, scenario, param) = MIX[n as usize % MIX.len()];
    format!("{prefix}{scenario:02}{param:02}{n:012}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binds")
        .local_addr()
        .expect("addr")
        .port()
}

fn write_config(dir: &Path, sim_base: &str, port: u16) -> PathBuf {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");
    let text = format!(
        r#"
listen = "127.0.0.1:{port}"
store = "sqlite:{db}"
[provider_http]
connect_timeout_ms = 1000
total_timeout_ms = 2000
[policy]
pay_deadline_secs = 4
poll_interval_secs = 1
reversal_backoff_base_secs = 1
reversal_backoff_cap_secs = 2
reversal_max_attempts = 8
wechat_min_reverse_after_pay_secs = 1
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
app_private_key = "{keys}/alipay-app-private.pem"
alipay_public_key = "{keys}/alipay-gateway-public.pem"
"#,
        db = dir.join("paycode.db").display(),
        key = paycode_server::config::sha256_hex(support::KEY.as_bytes()),
    );
    let path = dir.join("paycode.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

fn spawn_paycode(config: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_paycode"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("paycode starts")
}

/// Sends one payment until paycode acknowledges it (it may be killed meanwhile).
async fn pay_until_acknowledged(http: &reqwest::Client, base: &str, n: u32) -> serde_json::Value {
    let body = json!({ "out_trade_no": format!("o-{n}"), "auth_code": code(n), "amount": "10.00", "subject": "crash test" });
    loop {
        let sent = http
            .post(format!("{base}/v1/payments"))
            .header("authorization", format!("Bearer {}", support::KEY))
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
}

async fn project(db: &Path) -> BTreeMap<String, Order> {
    let store = paycode_store_sqlite::SqliteStore::open(db).expect("the store reopens");
    paycode_app::replay::project_orders(&store as &dyn EventStore)
        .await
        .expect("the log projects")
}

fn settled(order: &Order) -> bool {
    paycode_app::PaymentProcess::is_settled(order)
}

/// The books agree: every charge the simulator kept is a SUCCESS order with
/// that trade, every SUCCESS order is a charge, and reversed trades belong
/// to reversed orders.
fn check_agreement(orders: &BTreeMap<String, Order>, trades: &[TradeView]) {
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
            "closed" | "failed" | "paying" => assert_ne!(
                order.status,
                Status::Success,
                "SUCCESS without a charge: {trade:?} / {order:?}"
            ),
            other => panic!("unknown simulator phase {other}"),
        }
    }
    let charged: std::collections::HashSet<&str> = trades
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

async fn run(faults: FaultConfig, seed: u64) {
    let mut sim_config = SimConfig::example().expect("sim config");
    sim_config.clock.frozen = false;
    sim_config.faults = faults;
    let sim = paycode_sim::start(sim_config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = write_config(dir.path(), &sim.base_url(), port);
    let log = dir.path().join("paycode.log");
    let child = Arc::new(std::sync::Mutex::new(spawn_paycode(&config, &log)));

    // The killer: SIGKILL at seeded moments, restart at once.
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (child, stop, config, log) = (child.clone(), stop.clone(), config.clone(), log.clone());
        tokio::spawn(async move {
            let mut rng = Seeded(seed);
            let mut kills = 0_u32;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(300 + rng.below(1_200))).await;
                let mut running = child.lock().expect("lock");
                running.kill().expect("SIGKILL");
                running.wait().expect("reaped");
                *running = spawn_paycode(&config, &log);
                kills += 1;
            }
            kills
        })
    };

    let settings = paycode_provider::HttpSettings {
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(10),
    };
    let http = paycode_provider::build_http_client(&settings, None).expect("client");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in (c..PAYMENTS).step_by(CLIENTS as usize) {
                    acknowledged.push((n, pay_until_acknowledged(&http, &base, n).await));
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.expect("client finished"));
    }
    stop.store(true, Ordering::Relaxed);
    let kills = killer.await.expect("killer finished");
    assert!(
        kills >= 3,
        "the run must actually crash paycode (killed {kills} times)"
    );

    // Let the last incarnation finish every order.
    let db = dir.path().join("paycode.db");
    let started = Instant::now();
    let orders = loop {
        let orders = project(&db).await;
        if orders.len() == PAYMENTS as usize && orders.values().all(settled) {
            break orders;
        }
        if started.elapsed() > SETTLE_WITHIN {
            let open: Vec<_> = orders.values().filter(|o| !settled(o)).collect();
            let first = open.first().map(|o| format!("{o:#?}")).unwrap_or_default();
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = log_text.lines().rev().take(40).collect();
            panic!(
                "{} orders still open after {SETTLE_WITHIN:?}; the first: {first}\npaycode's log, last lines first:\n{}",
                open.len(),
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    child.lock().expect("lock").kill().expect("SIGKILL");

    // Nothing acknowledged was lost, and what was acknowledged as final stayed so.
    for (n, answer) in &acknowledged {
        let order = orders
            .get(&format!("order-shop-o-{n}"))
            .unwrap_or_else(|| panic!("acknowledged order {n} lost"));
        assert_eq!(
            answer["order_id"].as_str(),
            Some(order.order_id.to_string().as_str())
        );
        match answer["state"].as_str() {
            Some("SUCCESS") => assert_eq!(order.status, Status::Success, "order {n}"),
            Some("FAILED") => assert!(matches!(order.status, Status::Failed), "order {n}"),
            _ => {}
        }
    }
    check_agreement(&orders, &sim.sim().trades());
    let attention = orders.values().filter(|o| o.needs_attention).count();
    eprintln!(
        "crash run: {kills} kills, {} orders settled, {attention} on the manual queue",
        orders.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_nothing_and_charges_nothing_twice() {
    run(FaultConfig::default(), 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_percent_provider_faults_and_crashes_still_leave_the_books_in_agreement() {
    let faults = FaultConfig {
        seed: 11,
        timeout_percent: 6,
        timeout_ms: 2_500,
        drop_percent: 6,
        http_5xx_percent: 6,
        malformed_percent: 6,
        bad_signature_percent: 6,
        ..FaultConfig::default()
    };
    run(faults, 13).await;
}
