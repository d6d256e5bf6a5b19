//! The `e2e` section: payments through paycode's POS API against the
//! provider simulator, both in this process, over real HTTP on loopback
//! (target: >= 2,000 payments/s on the WeChat path with p99 < 50 ms).
//!
//! paycode runs as `paycode serve` wires it (wall clock, random ids, a fresh
//! SQLite store, the process worker) and the simulator with its clock
//! running and no faults or added latency. A bounded set of clients sends
//! `POST /v1/payments`, each waiting for its answer before the next request;
//! every request's latency is recorded. Clients, paycode and the simulator
//! share the machine's cores, as they would on one small box.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use paycode_server::{Config, Service};
use paycode_store::EventStore;
use paycode_store_sqlite::SqliteStore;

use crate::report::thousands;

#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// Payments per run.
    #[arg(long, default_value_t = 20_000)]
    payments: u64,
    /// Concurrent clients, each with one request in flight (the target
    /// run; one more WeChat run uses a quarter of them, to show what fewer
    /// requests in flight do to latency).
    #[arg(long, default_value_t = 64)]
    clients: u64,
    /// Payments sent before each run and not measured: connections open,
    /// caches and the SQLite file warm up.
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
}

const API_KEY: &str = "bench-key";

/// The target on the WeChat path.
const TARGET_RATE: u64 = 2_000;
const TARGET_P99: Duration = Duration::from_millis(50);

/// One payment of a run: the code and what its answer's state must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    WechatPaid,
    AlipayPaid,
    WechatPending,
    AlipayPending,
    WechatNoBalance,
}

impl Kind {
    fn code(self, n: u64) -> String {
        // Simulator markers: wallet prefix, scenario SS, parameter NN.
        match self {
            Kind::WechatPaid => format!("1300{n:014}"),
            Kind::AlipayPaid => format!("2800{n:014}"),
            // Paid 20 s later, before the 30 s deadline: the answer
            // (`wait_seconds: 0`) must say PAYING, and polls settle it.
            Kind::WechatPending => format!("130120{n:012}"),
            Kind::AlipayPending => format!("280120{n:012}"),
            Kind::WechatNoBalance => format!("130300{n:012}"),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::WechatPaid | Kind::AlipayPaid => "SUCCESS",
            Kind::WechatPending | Kind::AlipayPending => "PAYING",
            Kind::WechatNoBalance => "FAILED",
        }
    }
}

/// Which payments a run sends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mix {
    /// Every payment a WeChat code that pays at once.
    Wechat,
    /// In twenty: 12 WeChat and 5 Alipay paying at once, one of each
    /// pending (answered at once with `wait_seconds: 0`, then polled by the
    /// worker while the run goes on), one WeChat without balance.
    Mixed,
}

impl Mix {
    fn kind(self, n: u64) -> Kind {
        match self {
            Mix::Wechat => Kind::WechatPaid,
            Mix::Mixed => match n % 20 {
                0..=11 => Kind::WechatPaid,
                12..=16 => Kind::AlipayPaid,
                17 => Kind::WechatPending,
                18 => Kind::AlipayPending,
                _ => Kind::WechatNoBalance,
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mix::Wechat => "WeChat, pay at once",
            Mix::Mixed => "mixed: WeChat + Alipay, 10% pending or refused",
        }
    }
}

/// What one run measured.
#[derive(Debug)]
pub(crate) struct RunResult {
    mix: Mix,
    clients: u64,
    payments: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// Answers that were not 201 with the state the code leads to.
    pub unexpected: Vec<String>,
}

impl RunResult {
    pub(crate) fn rate(&self) -> u64 {
        let nanos = self.elapsed.as_nanos().max(1);
        u64::try_from(u128::from(self.payments) * 1_000_000_000 / nanos).unwrap_or(u64::MAX)
    }

    /// The latency below which `percent` of requests finished (nearest rank).
    pub(crate) fn percentile(&self, percent: usize) -> Duration {
        let rank = (self.latencies.len() * percent).div_ceil(100).max(1);
        self.latencies
            .get(rank - 1)
            .copied()
            .unwrap_or(Duration::ZERO)
    }
}

/// paycode and the simulator, serving.
pub(crate) struct World {
    pub base: String,
    pub http: reqwest::Client,
    pub sim: paycode_sim::RunningSim,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The back office's read models, when it serves one.
    pub models: Option<paycode_projections::ReadModels>,
    _dir: tempfile::TempDir,
}

pub async fn run(args: E2eArgs) -> anyhow::Result<()> {
    let world = start(None).await?;
    let mut results = Vec::new();
    let runs = [
        (Mix::Wechat, args.clients),
        (Mix::Wechat, (args.clients / 4).max(1)),
        (Mix::Mixed, args.clients),
    ];
    for (i, (mix, clients)) in runs.into_iter().enumerate() {
        let warm = format!("warm{i}");
        drive(&world, mix, &warm, args.warmup, clients).await?;
        results.push(drive(&world, mix, &format!("run{i}"), args.payments, clients).await?);
    }
    for task in &world.tasks {
        task.abort();
    }
    world.sim.shutdown().await;
    print_section(&args, &results);
    Ok(())
}

fn config(sim_base: &str) -> anyhow::Result<Config> {
    let mut config = Config::empty();
    config
        .merchants
        .push(paycode_server::config::simulator_merchant(
            "bench", API_KEY, sim_base,
        ));
    Ok(config)
}

/// paycode and the simulator; with `operators`, also the back office
/// (`/graphql`, its read models and their runner), as `paycode serve` has it.
pub(crate) async fn start(
    operators: Option<&[paycode_server::graphql::auth::OperatorConfig]>,
) -> anyhow::Result<World> {
    let mut sim_config = paycode_sim::SimConfig::example()?;
    sim_config.clock.frozen = false;
    let sim = paycode_sim::start(sim_config, "127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(dir.path().join("e2e.db"))?);
    let service = Service::new(store.clone(), &config(&sim.base_url())?)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut tasks = Vec::new();
    let mut models = None;
    let mut router = paycode_server::router(service.clone());
    if let Some(operators) = operators {
        use paycode_server::graphql::{BackOffice, auth::Operators, routes};
        let read_models =
            paycode_projections::ReadModels::open(dir.path().join("read.db"), store).await?;
        tasks.push(tokio::spawn(read_models.clone().run()));
        let office = BackOffice::new(
            read_models.clone(),
            service.process.clone(),
            Arc::new(Operators::from_config(operators)?),
        )?;
        router = router.merge(routes(office));
        models = Some(read_models);
    }
    let serve = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("paycode stopped serving: {error}");
        }
    });
    let worker = tokio::spawn(service.run_worker());
    let settings = paycode_provider::HttpSettings {
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(30),
    };
    let http = paycode_provider::build_http_client(&settings, None)?;
    tasks.extend([serve, worker]);
    Ok(World {
        base,
        http,
        sim,
        tasks,
        models,
        _dir: dir,
    })
}

/// Sends `payments` payments of `mix` from `clients` clients; an answer
/// without the state its code leads to is counted and kept, not fatal, so a
/// slow run still reports; a failed HTTP exchange ends the run.
pub(crate) async fn drive(
    world: &World,
    mix: Mix,
    run: &str,
    payments: u64,
    clients: u64,
) -> anyhow::Result<RunResult> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|_| {
            let (next, http, url, run) = (
                next.clone(),
                world.http.clone(),
                format!("{}/v1/payments", world.base),
                run.to_owned(),
            );
            tokio::spawn(async move {
                let (mut latencies, mut unexpected) = (Vec::new(), Vec::new());
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= payments {
                        return anyhow::Ok((latencies, unexpected));
                    }
                    let (latency, wrong) = pay(&http, &url, &run, n, mix.kind(n)).await?;
                    latencies.push(latency);
                    unexpected.extend(wrong);
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(usize::try_from(payments)?);
    let mut unexpected = Vec::new();
    for task in tasks {
        let (some, wrong) = task.await??;
        latencies.extend(some);
        unexpected.extend(wrong);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(RunResult {
        mix,
        clients,
        payments,
        elapsed,
        latencies,
        unexpected,
    })
}

/// A serial no other payment of the process uses: a payment code pays once
/// (the simulator refuses a used code under another order number, as the
/// wallets do), and every run numbers its orders from 0.
fn code_serial() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One `POST /v1/payments`: its latency, once the answer is read, and what
/// was wrong with the answer, if anything.
async fn pay(
    http: &reqwest::Client,
    url: &str,
    run: &str,
    n: u64,
    kind: Kind,
) -> anyhow::Result<(Duration, Option<String>)> {
    let body = serde_json::json!({
        "out_trade_no": format!("{run}-{n}"),
        "auth_code": kind.code(code_serial()),
        "amount": "12.50",
        "subject": "bench",
        "wait_seconds": 0,
    })
    .to_string();
    let sent = Instant::now();
    let response = http
        .post(url)
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("payment {run}-{n}"))?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let latency = sent.elapsed();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let wrong = (status != 201 || answer["state"] != kind.expected()).then(|| {
        format!(
            "payment {run}-{n} ({kind:?}) answered {status} after {} ms: {text}",
            latency.as_millis()
        )
    });
    Ok((latency, wrong))
}

/// `d` in milliseconds with one decimal.
pub(crate) fn millis(d: Duration) -> String {
    let tenths = d.as_micros() / 100;
    format!("{}.{}", tenths / 10, tenths % 10)
}

fn print_section(args: &E2eArgs, results: &[RunResult]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## End to end: POS API + simulator\n");
    println!(
        "`cargo run --release -p paycode-bench -- e2e`: paycode (SQLite store, WAL, synchronous=FULL; process worker running) and the simulator (clock running, no faults, no added latency) in one process with the clients, over HTTP on loopback, {cores} cores."
    );
    println!(
        "Each client has one `POST /v1/payments` in flight (`wait_seconds: 0`); {} payments per run after {} unmeasured ones. Every answer is checked (201 and the state its code leads to).\n",
        thousands(args.payments),
        thousands(args.warmup)
    );
    println!(
        "| run | clients | payments | seconds | payments/s | p50 ms | p99 ms | max ms | unexpected answers |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in results {
        let ms = r.elapsed.as_millis();
        println!(
            "| {} | {} | {} | {}.{:03} | {} | {} | {} | {} | {} |",
            r.mix.name(),
            r.clients,
            thousands(r.payments),
            ms / 1000,
            ms % 1000,
            thousands(r.rate()),
            millis(r.percentile(50)),
            millis(r.percentile(99)),
            millis(r.latencies.last().copied().unwrap_or_default()),
            r.unexpected.len()
        );
    }
    for r in results {
        if let Some(first) = r.unexpected.first() {
            println!(
                "\n{} ({} clients): {} answers without the expected state; the first: `{first}`",
                r.mix.name(),
                r.clients,
                r.unexpected.len()
            );
        }
    }
    // The target run: the first, WeChat with all the clients.
    if let Some(wechat) = results.first() {
        let met = wechat.rate() >= TARGET_RATE
            && wechat.percentile(99) < TARGET_P99
            && wechat.unexpected.is_empty();
        println!("\nTargets:\n");
        println!(
            "- >= 2,000 payments/s on the WeChat path with p99 < 50 ms, {} clients: {} ({} payments/s, p99 {} ms).",
            wechat.clients,
            if met { "met" } else { "NOT met" },
            thousands(wechat.rate()),
            millis(wechat.percentile(99))
        );
    }
}
