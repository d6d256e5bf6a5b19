//! The back-office console in a real browser: headless Chromium driven
//! through chromedriver (Debian's `chromium` and `chromium-driver`, which
//! `.ci/run` installs), against the `paycode` binary with the simulator.
//!
//! One person's day: sign in, find an order by the provider's trade
//! number, read its timeline, refund part of it, resolve a manual-queue
//! item with a note, watch a new payment appear live, rebuild a projection;
//! then a viewer sees no action, and an operator scoped to one merchant
//! never sees the other's orders.
//!
//! Without chromedriver the test prints a skip line, except under CI
//! (`CI` set), where it fails: CI must run it. With
//! `PAYCODE_CONSOLE_SCREENSHOTS=DIR` it saves a PNG of each screen there
//! (`docs/console/` holds the ones the docs show).

mod support;

use std::io::BufReader;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use paycode_sim::SimConfig;
use paycode_store::EventStore;
use serde_json::{Value, json};
use support::cluster::{Node, free_port, http, spawn_paycode};
use support::wechat_code;

const ADMIN: &str = "console-admin";
const VIEWER: &str = "console-viewer";
const SCOPED: &str = "console-operator-demo";
const DEMO_KEY: &str = "console-demo-key";
const OTHER_KEY: &str = "console-other-key";

/// How long the browser waits for something to show before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

fn sha(text: &str) -> String {
    paycode_server::config::sha256_hex(text.as_bytes())
}

/// chromedriver's path, or `None` (with the skip line) when it is missing
/// outside CI.
fn chromedriver() -> Option<PathBuf> {
    let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests: install Debian's chromium and chromium-driver"
        );
        println!("skipped: no chromedriver (install Debian's chromium and chromium-driver)");
    }
    found
}

/// chromedriver as a child process in a process group of its own, which
/// is killed whole when dropped: the Chromium it started goes with it, even
/// when a failed assertion left the session open (killing chromedriver
/// alone left Chromium running, using a core, after a failed test).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser(chromedriver: &Path) -> (Driver, Client) {
    let port = free_port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"] }),
    );
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(error) => {
                assert!(started.elapsed() < PATIENCE, "chromedriver: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// paycode with the simulator, on a log that already holds the recorded
/// fixture (so the manual queue has `ali-stuck`), two merchants and three
/// operator tokens.
struct Paycode {
    _node: Node,
    _sim: paycode_sim::RunningSim,
    base: String,
    _dir: tempfile::TempDir,
}

async fn paycode() -> Paycode {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("paycode.db");
    {
        let store = paycode_store_sqlite::SqliteStore::open(&db).expect("the store opens");
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/orders.jsonl"
        );
        let file = std::fs::File::open(fixture).expect("the fixture opens");
        let mut lines = paycode_app::log::parse(BufReader::new(file)).expect("it parses");
        // Its last event resolves `ali-stuck`: without it, the order waits.
        assert_eq!(
            lines.pop().map(|l| l.event_type).as_deref(),
            Some("ManuallyResolved")
        );
        let store: Arc<dyn EventStore> = Arc::new(store);
        paycode_app::log::load(store.as_ref(), &lines)
            .await
            .expect("it loads");
    }
    let sim = paycode_sim::start(
        SimConfig::example().expect("the simulator's example config"),
        "127.0.0.1:0".parse().expect("an address"),
    )
    .await
    .expect("the simulator starts");
    let sim_base = sim.base_url();
    let port = free_port();
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");
    let wechat = format!(
        r#"base_url = "{sim_base}"
appid = "wx2421b1c4370ec43b"
mch_id = "10000100"
api_key = "paycodesimulatorwechatapikey0001"
sign_type = "HMAC-SHA256""#
    );
    let config = format!(
        r#"listen = "127.0.0.1:{port}"
store = "sqlite:{db}"
[[merchants]]
id = "demo"
api_keys_sha256 = ["{demo_key}"]
[merchants.wechat]
{wechat}
[merchants.alipay]
gateway_url = "{sim_base}/gateway.do"
app_id = "2014072300007148"
pid = "2088102177846880"
app_private_key = "{keys}/alipay-app-private.pem"
alipay_public_key = "{keys}/alipay-gateway-public.pem"
[[merchants]]
id = "other"
api_keys_sha256 = ["{other_key}"]
[merchants.wechat]
{wechat}
[[operators]]
token_sha256 = "{admin}"
role = "admin"
name = "ada"
[[operators]]
token_sha256 = "{viewer}"
role = "viewer"
name = "vic"
[[operators]]
token_sha256 = "{scoped}"
role = "operator"
merchant = "demo"
name = "olga"
"#,
        db = db.display(),
        demo_key = sha(DEMO_KEY),
        other_key = sha(OTHER_KEY),
        admin = sha(ADMIN),
        viewer = sha(VIEWER),
        scoped = sha(SCOPED),
    );
    let path = dir.path().join("paycode.toml");
    std::fs::write(&path, config).expect("the config is written");
    let node = spawn_paycode(&path, &dir.path().join("paycode.log"));
    let base = format!("http://127.0.0.1:{port}");
    let client = http();
    let started = Instant::now();
    while !client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        let log = std::fs::read_to_string(dir.path().join("paycode.log")).unwrap_or_default();
        assert!(started.elapsed() < PATIENCE, "paycode is not ready: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Paycode {
        _node: node,
        _sim: sim,
        base,
        _dir: dir,
    }
}

/// A payment through the POS API with a code that pays at once.
async fn pay(base: &str, key: &str, number: &str, amount: &str, serial: u32) -> Value {
    let body = json!({
        "out_trade_no": number, "auth_code": wechat_code(0, 0, serial), "amount": amount,
        "subject": "console test", "store_id": "store-9", "terminal_id": "t-3",
    });
    let response = http()
        .post(format!("{base}/v1/payments"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("paycode answers");
    let answer: Value =
        serde_json::from_str(&response.text().await.expect("a body")).expect("JSON");
    assert_eq!(answer["state"], "SUCCESS", "{answer}");
    answer
}

/// Waits until the page's text contains `text`.
async fn until_text(c: &Client, text: &str) {
    let started = Instant::now();
    loop {
        let body = c
            .find(Locator::Css("body"))
            .await
            .expect("a body")
            .text()
            .await
            .unwrap_or_default();
        if body.contains(text) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the page never showed {text:?}; it shows:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the element at `xpath` reads `expected` (the screen may be
/// redrawn meanwhile by a live update).
async fn until_xpath_text(c: &Client, xpath: &str, expected: &str) {
    let started = Instant::now();
    loop {
        let text = match c.find(Locator::XPath(xpath)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == expected {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{xpath} never read {expected:?}; last {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let field = c.wait().for_element(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("cleared");
    field.send_keys(value).await.expect("typed");
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .for_element(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("clicked");
}

/// Clicks the button whose text is `label` (in the open dialog, when one is).
async fn press(c: &Client, label: &str) {
    let xpath = format!(
        "(//dialog[@open]//button[normalize-space()='{label}'] | //main//button[normalize-space()='{label}'])[1]"
    );
    c.wait()
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no button {label:?}: {e}"))
        .click()
        .await
        .expect("clicked");
}

async fn buttons(c: &Client) -> Vec<String> {
    let mut labels = Vec::new();
    for button in c
        .find_all(Locator::Css("main button"))
        .await
        .expect("buttons")
    {
        labels.push(button.text().await.unwrap_or_default());
    }
    labels
}

async fn screenshot(c: &Client, name: &str) {
    let Some(dir) = std::env::var_os("PAYCODE_CONSOLE_SCREENSHOTS") else {
        return;
    };
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).expect("written");
}

/// An order's id, asked with the admin token.
async fn order_id(base: &str, merchant: &str, number: &str) -> String {
    let query = format!(r#"{{ order(merchant: "{merchant}", outTradeNo: "{number}") {{ id }} }}"#);
    let answer = http()
        .post(format!("{base}/graphql"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    answer["data"]["order"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/#/orders"))
        .await
        .expect("the console loads");
    if c.find(Locator::Css("#sign-out:not([hidden])"))
        .await
        .is_ok()
    {
        click(c, "#sign-out").await;
    }
    // By keyboard: the token field has the focus; Enter signs in.
    let focused = c.active_element().await.expect("a focused element");
    assert_eq!(
        focused.attr("name").await.expect("an attribute").as_deref(),
        Some("token"),
        "the sign-in screen puts the focus on the token field"
    );
    focused.send_keys(token).await.expect("typed");
    focused
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .expect("Enter");
    c.wait()
        .for_element(Locator::Css("table.orders, .results p"))
        .await
        .expect("the orders screen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_at_the_console_in_a_real_browser() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let paycode = paycode().await;
    let base = paycode.base.clone();
    let paid = pay(&base, DEMO_KEY, "console-1", "30.00", 1).await;
    let trade_no = paid["provider_trade_no"]
        .as_str()
        .expect("a trade number")
        .to_owned();
    pay(&base, OTHER_KEY, "other-1", "8.00", 2).await;
    let (_driver, c) = browser(&chromedriver).await;

    // The root serves the console, with a policy that runs only its own code.
    let page = http()
        .get(format!("{base}/"))
        .send()
        .await
        .expect("the console");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );

    // Sign in: the token is held in this tab's sessionStorage, no cookie.
    c.goto(&format!("{base}/"))
        .await
        .expect("the console loads");
    screenshot(&c, "sign-in").await;
    sign_in(&c, &base, ADMIN).await;
    let held = c
        .execute(
            "return [sessionStorage.getItem('paycode.token'), document.cookie];",
            vec![],
        )
        .await
        .expect("a script runs");
    assert_eq!(held, json!([ADMIN, ""]));
    until_text(&c, "ada · admin").await;

    // Find the order by the number on the customer's receipt.
    fill(&c, "input[name=number]", &trade_no).await;
    click(&c, "form.filters button[type=submit]").await;
    until_text(&c, "1 order, ¥30.00 in all").await;
    screenshot(&c, "orders").await;
    click(&c, "table.orders a").await;
    until_text(&c, "Order console-1").await;
    until_text(&c, "PaymentSucceeded").await;
    until_text(&c, "till store-9/t-3").await;
    screenshot(&c, "order").await;

    // Refund part of it: two confirmations, the second naming the money.
    press(&c, "Refund…").await;
    fill(&c, "dialog input[name=amount]", "10.00").await;
    press(&c, "Refund").await;
    until_text(&c, "Refund ¥10.00 of order console-1").await;
    press(&c, "Refund ¥10.00").await;
    until_text(&c, "SUCCEEDED").await;
    until_text(&c, "RefundSucceeded").await;
    until_xpath_text(&c, "//dt[.='Refunded']/following-sibling::dd[1]", "¥10.00").await;

    // The manual queue: resolve `ali-stuck` with a note (required).
    c.goto(&format!("{base}/#/queue")).await.expect("the queue");
    until_text(&c, "ali-stuck").await;
    screenshot(&c, "queue").await;
    press(&c, "Resolve…").await;
    press(&c, "Record the resolution").await;
    until_text(&c, "A note saying what was checked is required.").await;
    fill(
        &c,
        "dialog textarea[name=note]",
        "closed in the Alipay console, checked by phone",
    )
    .await;
    press(&c, "Record the resolution").await;
    until_text(&c, "0 orders waiting").await;

    // A new payment appears on the first page without a reload.
    c.goto(&format!("{base}/#/orders"))
        .await
        .expect("the orders");
    press(&c, "Clear").await;
    until_text(&c, "console-1").await;
    pay(&base, DEMO_KEY, "console-live", "12.00", 3).await;
    until_text(&c, "console-live").await;

    // Rebuild a projection: the generation moves once the copy is swapped in.
    c.goto(&format!("{base}/#/projections"))
        .await
        .expect("the projections");
    until_text(&c, "daily_totals").await;
    // The admin sees the node holding the follow-up work: one node here.
    until_text(
        &c,
        "The embedded store has one node: it holds every partition.",
    )
    .await;
    until_text(&c, "16: 0, 1, 2, 3").await;
    let generation = "//td[.='orders']/following-sibling::td[1]";
    until_xpath_text(&c, generation, "1").await;
    press(&c, "Rebuild…").await;
    press(&c, "Rebuild").await;
    until_xpath_text(&c, generation, "2").await;
    screenshot(&c, "projections").await;
    c.goto(&format!("{base}/#/daily"))
        .await
        .expect("daily totals");
    until_text(&c, "Per day and wallet").await;
    screenshot(&c, "daily").await;
    c.goto(&format!("{base}/#/reconciliation"))
        .await
        .expect("reconciliation");
    until_text(&c, "Run a day").await;
    until_text(&c, "No day was reconciled in this range.").await;
    // Yesterday (Beijing) at the simulator: its bill holds nothing of ours,
    // and the ledger nothing of that day: a clean day, recorded.
    fill(&c, "form.run input[name=merchant]", "demo").await;
    press(&c, "Download the bill and reconcile").await;
    until_text(&c, "Clean: no open discrepancy.").await;
    press(&c, "Discrepancies").await;
    until_text(&c, "Discrepancies, open first").await;
    screenshot(&c, "reconciliation").await;

    // At tablet width the order screen still fits: nothing wider than the
    // window but the tables, which scroll within their box. Order ids are
    // UUIDs: nothing in them to escape in a link.
    c.set_window_size(820, 1180)
        .await
        .expect("a tablet-sized window");
    let console_1 = order_id(&base, "demo", "console-1").await;
    c.goto(&format!("{base}/#/order/{console_1}"))
        .await
        .expect("the order");
    until_text(&c, "RefundSucceeded").await;
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .expect("a script runs");
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "the page scrolls sideways by {overflow} px"
    );
    screenshot(&c, "order-tablet").await;
    c.set_window_size(1280, 900)
        .await
        .expect("the desktop window again");

    // A viewer reads everything and is offered nothing to do.
    sign_in(&c, &base, VIEWER).await;
    until_text(&c, "vic · viewer").await;
    fill(&c, "input[name=number]", "console-1").await;
    click(&c, "form.filters button[type=submit]").await;
    until_text(&c, "1 order,").await;
    click(&c, "table.orders a").await;
    until_text(&c, "RefundSucceeded").await;
    assert_eq!(
        buttons(&c).await,
        Vec::<String>::new(),
        "a viewer sees no action"
    );
    c.goto(&format!("{base}/#/reconciliation"))
        .await
        .expect("reconciliation");
    until_text(&c, "Reconciliation").await;
    assert!(!buttons(&c).await.iter().any(|b| b.contains("reconcile")));

    // An operator scoped to `demo` never sees `other`'s order, listed or by id.
    let other_id = order_id(&base, "other", "other-1").await;
    sign_in(&c, &base, SCOPED).await;
    until_text(&c, "olga · operator · demo").await;
    until_text(&c, "console-live").await;
    let listed = c
        .find(Locator::Css("table.orders"))
        .await
        .expect("the list")
        .text()
        .await
        .expect("text");
    assert!(
        !listed.contains("other-1") && !listed.contains("other"),
        "{listed}"
    );
    assert!(
        c.find(Locator::Css("input[name=merchant]")).await.is_err(),
        "no merchant filter for a scoped token"
    );
    c.goto(&format!("{base}/#/order/{other_id}"))
        .await
        .expect("the order");
    until_text(&c, "No such order").await;
    assert!(
        c.find(Locator::Css("#nav a[href='#/projections']:not([hidden])"))
            .await
            .is_err()
    );

    // Sign out forgets the token.
    click(&c, "#sign-out").await;
    until_text(&c, "Signed out.").await;
    let held = c
        .execute("return sessionStorage.getItem('paycode.token');", vec![])
        .await
        .expect("a script runs");
    assert_eq!(held, Value::Null);
    c.close().await.expect("the browser closes");
}

/// GraphiQL is the binary's own copy: it renders with no network but
/// paycode's, and runs a query with the token the console holds in the tab.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_loads_from_the_binary_and_runs_a_query() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let paycode = paycode().await;
    let (_driver, c) = browser(&chromedriver).await;
    sign_in(&c, &paycode.base, ADMIN).await;
    c.goto(&format!("{}/graphql", paycode.base))
        .await
        .expect("GraphiQL loads");
    c.wait()
        .for_element(Locator::Css(".graphiql-container"))
        .await
        .expect("GraphiQL renders");
    click(&c, ".graphiql-execute-button").await;
    until_text(&c, "\"role\": \"ADMIN\"").await;
    let scripts = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));",
            vec![],
        )
        .await
        .expect("a script runs");
    assert_eq!(scripts, json!([]), "nothing is loaded from elsewhere");
    screenshot(&c, "graphiql").await;
    c.close().await.expect("the browser closes");
}
