//! The `nodes` section: 1, 2 and 3 paycode nodes on one PostgreSQL store,
//! each a `paycode serve` process of its own (the release binary beside this
//! one), with the load generator and the simulator in this process.
//!
//! For each cluster size, on a fresh schema: the POS rate (WeChat codes that
//! pay at once, spread over the nodes), the follow-up rate (a burst of
//! payments answered PAYING whose polls come due together; every node works
//! the partitions it holds), and, from two nodes up, the takeover time: from
//! SIGKILL of one node until the others hold every partition again.
//!
//! Two cores run everything here (nodes, PostgreSQL, simulator, clients),
//! so more nodes cannot mean more throughput: what this shows is that the
//! work spreads and a dead node's share is taken over quickly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::report::{one_decimal, thousands};

#[derive(Debug, clap::Args)]
pub struct NodesArgs {
    /// POS payments per cluster size.
    #[arg(long, default_value_t = 4_000)]
    payments: u64,
    /// Concurrent POS clients.
    #[arg(long, default_value_t = 32)]
    clients: u64,
    /// Payments answered PAYING whose follow-up is measured.
    #[arg(long, default_value_t = 1_500)]
    pending: u64,
}

const API_KEY: &str = "bench-nodes-key";
const PARTITIONS: u64 = paycode_store::PARTITIONS as u64;

/// A node process, SIGKILLed when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one cluster size measured.
struct Row {
    nodes: usize,
    pos_rate: u64,
    follow_up_items: u64,
    follow_up_rate: u64,
    /// Each node's follow-up calls, to show the work spread.
    spread: Vec<u64>,
    takeover: Option<Duration>,
}

pub async fn run(args: NodesArgs) -> anyhow::Result<()> {
    let Ok(url) = std::env::var("PAYCODE_BENCH_POSTGRES_URL") else {
        println!(
            "## Several nodes on PostgreSQL\n\nSkipped: set `PAYCODE_BENCH_POSTGRES_URL` (as `make bench` does when given one).\n"
        );
        return Ok(());
    };
    let exe = std::env::current_exe()?.with_file_name("paycode");
    if !exe.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p paycode-server --bin paycode`",
            exe.display()
        );
    }
    let mut sim_config = paycode_sim::SimConfig::example()?;
    sim_config.clock.frozen = false;
    let sim = paycode_sim::start(sim_config, "127.0.0.1:0".parse()?).await?;
    let http = paycode_provider::build_http_client(
        &paycode_provider::HttpSettings {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(30),
        },
        None,
    )?;
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let bench = Bench {
        args: &args,
        exe,
        url,
        sim_base: sim.base_url(),
        dir: dir.path(),
        http,
    };
    for count in 1..=3 {
        rows.push(measure(&bench, count).await?);
    }
    sim.shutdown().await;
    print_section(&args, &rows);
    Ok(())
}

/// What every cluster size is measured with.
struct Bench<'a> {
    args: &'a NodesArgs,
    /// The release `paycode` binary.
    exe: PathBuf,
    /// The PostgreSQL server; each size gets a fresh schema on it.
    url: String,
    sim_base: String,
    dir: &'a Path,
    http: reqwest::Client,
}

async fn measure(bench: &Bench<'_>, count: usize) -> anyhow::Result<Row> {
    let Bench {
        args,
        exe,
        url,
        sim_base,
        dir,
        http,
    } = bench;
    let schema = format!(
        "bench_nodes_{}_{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let store = format!("{url}?schema={schema}");
    let mut nodes = Vec::new();
    for i in 0..count {
        let name = format!("n{count}-{i}");
        nodes.push(spawn(exe, dir, &name, sim_base, &store)?);
        if i == 0 {
            // The first node creates the schema.
            wait_serving(http, &nodes[0].base).await?;
        }
    }
    for node in &nodes {
        wait_serving(http, &node.base).await?;
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    wait_balanced(http, &bases, Duration::from_secs(30)).await?;

    let size = count as u64;
    let started = Instant::now();
    pay(http, &bases, args.clients, args.payments, move |n| {
        (
            format!("p{size}-{n}"),
            format!("1300{:014}", 10_000_000 * size + n),
        )
    })
    .await?;
    let pos_rate = per_second(args.payments, started.elapsed());

    // The follow-up burst: paid 1 s after the request, answered PAYING at
    // once, so every order's first poll comes due within the burst.
    let before = follow_up_calls(http, &bases).await;
    let started = Instant::now();
    pay(http, &bases, args.clients, args.pending, move |n| {
        (
            format!("f{size}-{n}"),
            format!("130101{:012}", 20_000_000 * size + n),
        )
    })
    .await?;
    // Every order needs at least one poll; only then can "no work left"
    // not be a node that has not yet heard of orders another node took.
    let polled = Instant::now();
    while follow_up_calls(http, &bases)
        .await
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .sum::<u64>()
        < args.pending
    {
        if polled.elapsed() > Duration::from_secs(300) {
            bail!("{count} nodes: the pending payments were never polled");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_no_work(http, &bases, Duration::from_secs(300)).await?;
    let elapsed = started.elapsed();
    let after = follow_up_calls(http, &bases).await;
    let spread: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let follow_up_items = spread.iter().sum();

    let takeover = if count >= 2 {
        let victim = nodes.remove(0);
        drop(victim); // SIGKILL
        let killed = Instant::now();
        let survivors: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
        loop {
            let held: u64 = partitions(http, &survivors).await.iter().sum();
            if held == PARTITIONS {
                break Some(killed.elapsed());
            }
            if killed.elapsed() > Duration::from_secs(60) {
                bail!("{count} nodes: the survivors never took the killed node's partitions");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    } else {
        None
    };
    drop(nodes);
    drop_schema(url, &schema).await?;
    Ok(Row {
        nodes: count,
        pos_rate,
        follow_up_items,
        follow_up_rate: per_second(follow_up_items, elapsed),
        spread,
        takeover,
    })
}

fn spawn(exe: &Path, dir: &Path, name: &str, sim_base: &str, store: &str) -> anyhow::Result<Node> {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let merchant = config_text(sim_base);
    let config = format!(
        r#"listen = "127.0.0.1:{port}"
store = "{store}"
node = "{name}"
read_models = "{read_models}"
[policy]
poll_interval_secs = 1
{merchant}"#,
        read_models = dir.join(format!("{name}.readmodels.db")).display(),
    );
    let path: PathBuf = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config)?;
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    let child = Command::new(exe)
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    Ok(Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
    })
}

/// The simulator's WeChat account as a `[[merchants]]` table.
fn config_text(sim_base: &str) -> String {
    format!(
        r#"[[merchants]]
id = "bench"
api_keys_sha256 = ["{digest}"]
[merchants.wechat]
base_url = "{sim_base}"
appid = "wx2421b1c4370ec43b"
mch_id = "10000100"
api_key = "paycodesimulatorwechatapikey0001"
sign_type = "HMAC-SHA256"
"#,
        digest = paycode_server::config::sha256_hex(API_KEY.as_bytes()),
    )
}

async fn wait_serving(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("{base} did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// One gauge or counter total from a node's `/metrics` (the sum of the
/// lines named `name` whose labels contain every one of `labels`).
async fn metric(http: &reqwest::Client, base: &str, name: &str, labels: &[&str]) -> u64 {
    let Ok(response) = http.get(format!("{base}/metrics")).send().await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn partitions(http: &reqwest::Client, bases: &[String]) -> Vec<u64> {
    let mut held = Vec::new();
    for base in bases {
        held.push(metric(http, base, "paycode_partitions_held", &[]).await);
    }
    held
}

async fn follow_up_calls(http: &reqwest::Client, bases: &[String]) -> Vec<u64> {
    let mut calls = Vec::new();
    for base in bases {
        let query = metric(
            http,
            base,
            "paycode_provider_call_seconds_count",
            &["call=\"query\""],
        )
        .await;
        let reverse = metric(
            http,
            base,
            "paycode_provider_call_seconds_count",
            &["call=\"reverse\""],
        )
        .await;
        calls.push(query + reverse);
    }
    calls
}

async fn wait_balanced(
    http: &reqwest::Client,
    bases: &[String],
    within: Duration,
) -> anyhow::Result<()> {
    let nodes = bases.len() as u64;
    let started = Instant::now();
    loop {
        let held = partitions(http, bases).await;
        if held.iter().sum::<u64>() == PARTITIONS
            && held.iter().all(|n| *n <= PARTITIONS.div_ceil(nodes) + 1)
        {
            return Ok(());
        }
        if started.elapsed() > within {
            bail!("{nodes} nodes never balanced: {held:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until no node has follow-up work left in its partitions.
async fn wait_no_work(
    http: &reqwest::Client,
    bases: &[String],
    within: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut left = 0;
        for base in bases {
            left += metric(http, base, "paycode_work_held_orders", &[]).await;
        }
        if left == 0 {
            return Ok(());
        }
        if started.elapsed() > within {
            bail!("{left} orders still had follow-up work after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `count` payments from `clients` concurrent clients, round robin
/// over the nodes; `order(n)` gives payment n's order number and code.
async fn pay(
    http: &reqwest::Client,
    bases: &[String],
    clients: u64,
    count: u64,
    order: impl Fn(u64) -> (String, String) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let order = Arc::new(order);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, bases, next, order) =
            (http.clone(), bases.to_vec(), next.clone(), order.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                let (out_trade_no, code) = order(n);
                let body = serde_json::json!({
                    "out_trade_no": out_trade_no,
                    "auth_code": code,
                    "amount": "1.00",
                    "subject": "nodes bench",
                });
                let base = &bases[usize::try_from(n).unwrap_or(0) % bases.len()];
                let response = http
                    .post(format!("{base}/v1/payments"))
                    .header("authorization", format!("Bearer {API_KEY}"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await?;
                let status = response.status().as_u16();
                if status != 201 {
                    bail!("payment {n} answered {status}: {}", response.text().await?);
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"), &[])
        .await?;
    Ok(())
}

fn per_second(count: u64, elapsed: Duration) -> u64 {
    let nanos = elapsed.as_nanos().max(1);
    u64::try_from(u128::from(count) * 1_000_000_000 / nanos).unwrap_or(u64::MAX)
}

fn print_section(args: &NodesArgs, rows: &[Row]) {
    println!("## Several nodes on PostgreSQL\n");
    println!(
        "`PAYCODE_BENCH_POSTGRES_URL=... cargo run --release -p paycode-bench -- nodes` (build `paycode` first: `cargo build --release -p paycode-server --bin paycode`): 1, 2 and 3 `paycode serve` processes on one PostgreSQL schema (fresh per size), the simulator and {} POS clients in the bench process, {} cores for all of it. POS: {} WeChat payments that pay at once, round robin over the nodes. Follow-up: {} payments answered `PAYING` (paid 1 s later), polled by whichever node holds their partition until settled. Takeover: SIGKILL of one node until the others hold all {PARTITIONS} partitions (leases last 5 s, renewed every second).\n",
        args.clients,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        thousands(args.payments),
        thousands(args.pending),
    );
    println!(
        "| nodes | POS payments/s | follow-up calls | follow-up items/s | calls per node | takeover |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.nodes,
            thousands(row.pos_rate),
            thousands(row.follow_up_items),
            thousands(row.follow_up_rate),
            row.spread
                .iter()
                .map(|n| thousands(*n))
                .collect::<Vec<_>>()
                .join(" / "),
            row.takeover.map_or_else(
                || "–".to_owned(),
                |t| format!(
                    "{} s",
                    one_decimal(u64::try_from(t.as_millis()).unwrap_or(u64::MAX), 1_000)
                )
            ),
        );
    }
    println!();
}
