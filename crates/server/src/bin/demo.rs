//! `paycode-demo` (`make demo`): one payment per simulator scenario, through
//! paycode's POS API, each followed to its final state, printed as a table.
//!
//! paycode and the WeChat Pay / Alipay simulator run in this process on
//! loopback sockets, with both clocks in the demo's hand: the simulator's is
//! frozen and paycode's is a `ManualClock`. Every payment is sent at the same
//! instant; then both clocks move one second at a time, the process worker's
//! due work runs after each step (polls, deadline reversals, refund polls),
//! and each order is read back until it settles. Nothing waits on the wall
//! clock, so the table is the same on every run (ids included: they count up).
//!
//! Not a test harness: `tests/demo.rs` runs this binary and checks the table.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, TimeZone, Utc};
use paycode_app::{ManualClock, SequentialIds, order_stream_name};
use paycode_domain::{MerchantId, OutTradeNo};
use paycode_server::{Config, Service};
use paycode_sim::{RunningSim, SimConfig};
use paycode_store::EventStore;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const MERCHANT: &str = "demo";
const API_KEY: &str = "demo-key";

/// Simulated seconds the demo lets pass at most: the slowest scenario (a
/// reversal the provider always asks to retry) reaches the manual queue
/// after about a minute and a half of backoff under the default policy;
/// five minutes leave room for a slower one.
const MAX_SECONDS: u64 = 300;

/// What the cashier does after the first answer.
#[derive(Debug, Clone)]
enum Follow {
    Nothing,
    /// Cancels the payment at this second (WeChat allows it after 15 s).
    ReverseAt(u64),
    /// Scans a new code once the payment failed.
    RetryWith(String),
    /// Refunds this amount once the payment succeeded.
    Refund(&'static str),
}

/// One payment of the demo.
#[derive(Debug)]
struct Row {
    scenario: &'static str,
    code: String,
    amount: &'static str,
    follow: Follow,
    out_trade_no: String,
    /// The follow-up was sent.
    followed: bool,
    /// Simulated seconds until it settled, once it did.
    settled_after: Option<u64>,
    state: String,
}

fn wechat(scenario: &str, param: &str, serial: u32) -> String {
    format!("13{scenario}{param}{serial:012}")
}

fn alipay(scenario: &str, param: &str, serial: u32) -> String {
    format!("28{scenario}{param}{serial:012}")
}

fn rows() -> Vec<Row> {
    use Follow::{Nothing, Refund, RetryWith, ReverseAt};
    let plan: Vec<(&'static str, String, &'static str, Follow)> = vec![
        (
            "wx 00 pays at once",
            wechat("00", "00", 1),
            "12.50",
            Nothing,
        ),
        (
            "wx 01 pays after 5 s",
            wechat("01", "05", 2),
            "20.00",
            Nothing,
        ),
        (
            "wx 02 never confirmed",
            wechat("02", "00", 3),
            "30.00",
            Nothing,
        ),
        ("wx 03 no balance", wechat("03", "00", 4), "50.00", Nothing),
        ("wx 04 code expired", wechat("04", "00", 5), "8.00", Nothing),
        ("wx 05 code invalid", wechat("05", "00", 6), "8.00", Nothing),
        (
            "wx 06 unknown, paid",
            wechat("06", "00", 7),
            "8.00",
            Nothing,
        ),
        (
            "wx 07 unknown, not paid",
            wechat("07", "00", 8),
            "15.00",
            Nothing,
        ),
        (
            "wx 08 reverse retried 3x",
            wechat("08", "03", 9),
            "40.00",
            Nothing,
        ),
        (
            "wx 09 reverse always retry",
            wechat("09", "00", 10),
            "40.00",
            Nothing,
        ),
        (
            "wx 10 refund processing 20 s",
            wechat("10", "20", 11),
            "30.00",
            Refund("30.00"),
        ),
        (
            "ali 00 pays at once",
            alipay("00", "00", 21),
            "99.99",
            Nothing,
        ),
        (
            "ali 01 pays after 12 s",
            alipay("01", "12", 22),
            "20.00",
            Nothing,
        ),
        (
            "ali 02 never confirmed",
            alipay("02", "00", 23),
            "30.00",
            Nothing,
        ),
        (
            "ali 03 no balance",
            alipay("03", "00", 24),
            "50.00",
            Nothing,
        ),
        (
            "ali 06 unknown, paid",
            alipay("06", "00", 25),
            "8.00",
            Nothing,
        ),
        (
            "ali 07 unknown, not paid",
            alipay("07", "00", 26),
            "15.00",
            Nothing,
        ),
        (
            "ali 09 cancel always retry",
            alipay("09", "00", 27),
            "40.00",
            Nothing,
        ),
        (
            "wx password (> 1000.00)",
            wechat("00", "00", 31),
            "1888.00",
            Nothing,
        ),
        (
            "wx cashier reversal at 16 s",
            wechat("00", "00", 32),
            "19.90",
            ReverseAt(16),
        ),
        (
            "ali refund 60.00 of 100.00",
            alipay("00", "00", 33),
            "100.00",
            Refund("60.00"),
        ),
        (
            "wx no balance, new code",
            wechat("03", "00", 34),
            "30.50",
            RetryWith(wechat("00", "00", 35)),
        ),
    ];
    plan.into_iter()
        .enumerate()
        .map(|(i, (scenario, code, amount, follow))| Row {
            scenario,
            code,
            amount,
            follow,
            out_trade_no: format!("demo-{:02}", i + 1),
            followed: false,
            settled_after: None,
            state: String::new(),
        })
        .collect()
}

fn start_instant() -> DateTime<Utc> {
    // 10:00 in Beijing: the whole Alipay cancel window of the day is ahead.
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0)
        .single()
        .expect("a valid instant")
}

/// paycode and the simulator, serving on loopback, with the demo's clocks.
struct World {
    sim: RunningSim,
    service: Service,
    clock: Arc<ManualClock>,
    store: Arc<dyn EventStore>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

fn config(sim_base: &str) -> anyhow::Result<Config> {
    let mut config = Config::empty();
    config
        .merchants
        .push(paycode_server::config::simulator_merchant(
            MERCHANT, API_KEY, sim_base,
        ));
    Ok(config)
}

impl World {
    async fn start() -> anyhow::Result<World> {
        let mut sim_config = SimConfig::example()?;
        sim_config.clock.start = Some(start_instant());
        sim_config.clock.frozen = true;
        let sim = paycode_sim::start(sim_config, "127.0.0.1:0".parse()?).await?;
        let dir = tempfile::tempdir()?;
        let store: Arc<dyn EventStore> = Arc::new(paycode_store_sqlite::SqliteStore::open(
            dir.path().join("paycode.db"),
        )?);
        let clock = Arc::new(ManualClock::new(start_instant()));
        let service = Service::with_clock(
            store.clone(),
            &config(&sim.base_url())?,
            clock.clone(),
            Arc::new(SequentialIds::new(2026)),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = paycode_server::router(service.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(World {
            sim,
            service,
            clock,
            store,
            addr,
            _dir: dir,
        })
    }

    /// One second passes on both clocks; then what fell due is worked.
    async fn tick(&self) {
        self.clock.advance(chrono::Duration::seconds(1));
        self.sim.sim().advance_clock(1);
        while self.service.process.run_due().await > 0 {}
    }

    /// One call to the POS API; the status and the JSON answer.
    ///
    /// Written by hand as HTTP/1.1 with `Connection: close`: this crate's
    /// HTTP client (reqwest) is only a dev-dependency, and a demo of a few
    /// hundred calls on loopback needs no connection pool.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        tokio::time::timeout(CALL_TIMEOUT, stream.read_to_end(&mut answer))
            .await
            .with_context(|| format!("{method} {path}: no answer"))??;
        parse_answer(&answer).with_context(|| format!("{method} {path}"))
    }

    /// The event types of one order, in order.
    async fn events(&self, out_trade_no: &str) -> anyhow::Result<Vec<String>> {
        let stream = order_stream_name(
            &MerchantId::parse(MERCHANT)?,
            &OutTradeNo::parse(out_trade_no)?,
        );
        let events = self.store.read_stream(&stream, 1, 1_000).await?;
        Ok(events.into_iter().map(|e| e.event_type).collect())
    }
}

/// A bound on one call to paycode, in wall time: every call is answered at
/// once (nothing in the demo long-polls), so this only catches a hang.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads an HTTP/1.1 answer sent with `Connection: close`: status line,
/// headers, and the JSON body (axum sends it whole, with a length).
fn parse_answer(raw: &[u8]) -> anyhow::Result<(u16, Value)> {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("an answer without headers: {text}");
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head}"))?;
    let json = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    Ok((status, json))
}

fn state_of(answer: &Value) -> String {
    answer["state"].as_str().unwrap_or("?").to_owned()
}

/// Sends every row's payment at the demo's first instant.
async fn pay_all(world: &World, rows: &mut [Row]) -> anyhow::Result<()> {
    for row in rows.iter_mut() {
        let body = json!({
            "out_trade_no": row.out_trade_no, "auth_code": row.code,
            "amount": row.amount, "subject": row.scenario,
        });
        let (status, answer) = world.call("POST", "/v1/payments", Some(body)).await?;
        if status != 201 {
            bail!(
                "{}: the payment was refused: {status} {answer}",
                row.scenario
            );
        }
        row.state = state_of(&answer);
    }
    Ok(())
}

/// Does the row's follow-up when it is time; then reads whether it settled.
async fn step(world: &World, row: &mut Row, second: u64) -> anyhow::Result<()> {
    let path = format!("/v1/payments/{}", row.out_trade_no);
    let due = match &row.follow {
        Follow::Nothing => None,
        Follow::ReverseAt(at) => (second >= *at).then(|| (format!("{path}/reversal"), json!({}))),
        Follow::RetryWith(code) => (row.state == "FAILED")
            .then(|| (format!("{path}/attempts"), json!({ "auth_code": code }))),
        Follow::Refund(amount) => (row.state == "SUCCESS").then(|| {
            (
                format!("{path}/refunds"),
                json!({ "out_refund_no": "refund-1", "amount": amount }),
            )
        }),
    };
    if let (false, Some((follow_path, body))) = (row.followed, due) {
        let (status, answer) = world.call("POST", &follow_path, Some(body)).await?;
        if !(200..300).contains(&status) {
            bail!(
                "{}: the follow-up was refused: {status} {answer}",
                row.scenario
            );
        }
        row.followed = true;
    }
    let (_, order) = world.call("GET", &path, None).await?;
    row.state = state_of(&order);
    let refund_done = match row.follow {
        Follow::Refund(_) if row.followed => {
            let (_, refund) = world
                .call("GET", &format!("{path}/refunds/refund-1"), None)
                .await?;
            let refund_state = refund["state"].as_str().unwrap_or("?").to_owned();
            row.state = format!(
                "{}, refund {refund_state} ({})",
                row.state,
                order["refunded_amount"].as_str().unwrap_or("?")
            );
            refund_state == "SUCCEEDED" || refund_state == "FAILED"
        }
        Follow::Refund(_) => false,
        Follow::Nothing | Follow::ReverseAt(_) | Follow::RetryWith(_) => true,
    };
    let follow_done = row.followed || matches!(row.follow, Follow::Nothing);
    let settled = match order["state"].as_str() {
        Some("SUCCESS" | "REVOKED" | "TRADE_CLOSED") => true,
        // A failed payment is final unless the cashier is about to retry it.
        Some("FAILED") => !matches!(row.follow, Follow::RetryWith(_)) || row.followed,
        Some(_) | None => order["needs_attention"] == true,
    };
    if order["needs_attention"] == true {
        row.state.push_str(", needs attention");
    }
    if settled && follow_done && refund_done {
        row.settled_after = Some(second);
    }
    Ok(())
}

/// Short names for the event types, so a whole order fits in a cell.
fn short(event_type: &str) -> &str {
    match event_type {
        "PaymentRequested" => "requested",
        "PaymentRetried" => "retried",
        "PaymentSucceeded" => "paid",
        "PaymentPendingReported" => "pending",
        "PaymentUnknownReported" => "unknown",
        "PaymentFailed" => "failed",
        "ReversalRequested" => "reverse-requested",
        "ReversalRetried" => "reverse-retried",
        "ReversalAttemptFailed" => "reverse-failed",
        "ReversalAbandoned" => "reverse-abandoned",
        "OrderRevoked" => "revoked",
        "TradeClosed" => "closed",
        "ManuallyResolved" => "resolved",
        "RefundRequested" => "refund-requested",
        "RefundSucceeded" => "refunded",
        "RefundProcessingReported" => "refund-processing",
        "RefundFailed" => "refund-failed",
        "RefundRetried" => "refund-retried",
        other => other,
    }
}

/// `requested, pending x3, paid`: repeated types counted once.
fn summary(events: &[String]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for event in events {
        let name = short(event);
        match parts.last_mut() {
            Some((last, count)) if last == name => *count += 1,
            Some(_) | None => parts.push((name.to_owned(), 1)),
        }
    }
    parts
        .into_iter()
        .map(|(name, count)| {
            if count > 1 {
                format!("{name} x{count}")
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn print_table(world: &World, rows: &[Row]) -> anyhow::Result<()> {
    println!("| payment code | scenario | provider | final state | events | settled after |");
    println!("| --- | --- | --- | --- | --- | ---: |");
    for row in rows {
        let events = world.events(&row.out_trade_no).await?;
        let provider = if row.code.starts_with("13") {
            "wechatpay"
        } else {
            "alipay"
        };
        let settled = row.settled_after.map_or_else(
            || format!("not within {MAX_SECONDS} s"),
            |s| format!("{s} s"),
        );
        println!(
            "| {} | {} | {provider} | {} | {}: {} | {settled} |",
            row.code,
            row.scenario,
            row.state,
            events.len(),
            summary(&events)
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut rows = rows();
    println!(
        "paycode demo: {} payments against the WeChat Pay / Alipay simulator, both clocks moved by hand from {}.\n",
        rows.len(),
        start_instant().format("%Y-%m-%d %H:%M:%S UTC")
    );
    pay_all(&world, &mut rows).await?;
    for second in 0..=MAX_SECONDS {
        if second > 0 {
            world.tick().await;
        }
        for row in rows.iter_mut().filter(|r| r.settled_after.is_none()) {
            step(&world, row, second).await?;
        }
        if rows.iter().all(|r| r.settled_after.is_some()) {
            break;
        }
    }
    print_table(&world, &rows).await?;
    let open = rows.iter().filter(|r| r.settled_after.is_none()).count();
    println!(
        "\n{} of {} payments settled.",
        rows.len() - open,
        rows.len()
    );
    world.sim.shutdown().await;
    if open > 0 {
        bail!("{open} payments did not settle within {MAX_SECONDS} s");
    }
    Ok(())
}
