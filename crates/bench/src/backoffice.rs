//! The `backoffice` section: can a viewer slow the tills? POS payments'
//! latency alone, then the same load while several back-office clients
//! page through orders with their histories at the largest page the
//! complexity limit allows (target: POS p99 under that load at most 1.5x
//! its value alone).
//!
//! paycode serves the POS API and the back office (its read models and
//! their runner) as `paycode serve` does, in this process with the
//! simulator and the clients, over HTTP on loopback. The log first holds
//! `seed` paid orders, so every back-office page is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use paycode_server::graphql::auth::{OperatorConfig, Role};
use serde_json::{Value, json};

use crate::e2e::{Mix, RunResult, World, drive, millis, start};
use crate::report::thousands;

#[derive(Debug, clap::Args)]
pub struct BackofficeArgs {
    /// Paid orders in the log before the runs.
    #[arg(long, default_value_t = 20_000)]
    seed: u64,
    /// POS payments per run.
    #[arg(long, default_value_t = 10_000)]
    payments: u64,
    /// POS clients, each with one payment in flight.
    #[arg(long, default_value_t = 16)]
    clients: u64,
    /// Back-office clients, each with one query in flight, in the loaded run.
    #[arg(long, default_value_t = 4)]
    viewers: u64,
}

const TOKEN: &str = "bench-viewer";

/// Orders per back-office page, with each order's first 20 events: near
/// the complexity limit (`graphql::MAX_COMPLEXITY`), as a checked query
/// below proves.
const PAGE: u32 = 100;

fn heavy_query() -> String {
    format!(
        "query($after: String) {{ orders(first: {PAGE}, after: $after) {{ endCursor hasNextPage
           nodes {{ id merchant outTradeNo status provider amount refunded subject storeId terminalId
             providerOrderNo providerTradeNo createdAt paidAt updatedAt needsAttention asOf
             history(first: 20) {{ position eventType at providerCode providerMessage by }} }} }} }}"
    )
}

pub async fn run(args: BackofficeArgs) -> anyhow::Result<()> {
    let operators = [OperatorConfig {
        token_sha256: paycode_server::config::sha256_hex(TOKEN.as_bytes()),
        role: Role::Viewer,
        merchant: None,
        name: Some("bench".into()),
    }];
    let world = start(Some(&operators)).await?;
    let seeded = drive(&world, Mix::Wechat, "seed", args.seed, 32).await?;
    ensure!(
        seeded.unexpected.is_empty(),
        "seeding: {:?}",
        seeded.unexpected.first()
    );
    if let Some(models) = &world.models {
        models.catch_up().await?;
    }
    // The heaviest page passes the limit, and twice it does not.
    let answer = query(&world, &heavy_query(), Value::Null).await?;
    ensure!(
        answer["errors"].is_null(),
        "the heavy page is refused: {answer}"
    );
    let doubled = heavy_query().replace(&format!("first: {PAGE}"), &format!("first: {}", PAGE * 2));
    let refused = query(&world, &doubled, Value::Null).await?;
    ensure!(
        refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX",
        "twice the heavy page passes: {refused}"
    );

    drive(&world, Mix::Wechat, "warm", 1_000, args.clients).await?;
    let alone = drive(&world, Mix::Wechat, "alone", args.payments, args.clients).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let pages = Arc::new(AtomicU64::new(0));
    let orders = Arc::new(AtomicU64::new(0));
    let viewers: Vec<_> = (0..args.viewers)
        .map(|_| {
            let (stop, pages, orders) = (stop.clone(), pages.clone(), orders.clone());
            let (http, url) = (world.http.clone(), format!("{}/graphql", world.base));
            tokio::spawn(async move { page_through(&http, &url, &stop, &pages, &orders).await })
        })
        .collect();
    let loaded_started = Instant::now();
    let loaded = drive(&world, Mix::Wechat, "loaded", args.payments, args.clients).await?;
    let loaded_elapsed = loaded_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for viewer in viewers {
        viewer.await??;
    }
    for task in &world.tasks {
        task.abort();
    }
    world.sim.shutdown().await;
    print_section(
        &args,
        &alone,
        &loaded,
        pages.load(Ordering::Relaxed),
        orders.load(Ordering::Relaxed),
        loaded_elapsed,
    );
    Ok(())
}

async fn query(world: &World, text: &str, variables: Value) -> anyhow::Result<Value> {
    let text = world
        .http
        .post(format!("{}/graphql", world.base))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(json!({ "query": text, "variables": variables }).to_string())
        .send()
        .await?
        .text()
        .await?;
    Ok(serde_json::from_str(&text)?)
}

/// One viewer: page after page of orders with their histories, from the
/// newest to the oldest and again, until told to stop.
async fn page_through(
    http: &reqwest::Client,
    url: &str,
    stop: &AtomicBool,
    pages: &AtomicU64,
    orders: &AtomicU64,
) -> anyhow::Result<()> {
    let text = heavy_query();
    let mut after = Value::Null;
    while !stop.load(Ordering::Relaxed) {
        let body = http
            .post(url)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(json!({ "query": text, "variables": { "after": after } }).to_string())
            .send()
            .await?
            .text()
            .await?;
        let answer: Value = serde_json::from_str(&body)?;
        ensure!(
            answer["errors"].is_null(),
            "a viewer's page failed: {answer}"
        );
        let page = &answer["data"]["orders"];
        let nodes = page["nodes"].as_array().map_or(0, Vec::len);
        pages.fetch_add(1, Ordering::Relaxed);
        orders.fetch_add(nodes as u64, Ordering::Relaxed);
        after = if page["hasNextPage"] == json!(true) {
            page["endCursor"].clone()
        } else {
            Value::Null
        };
    }
    Ok(())
}

fn print_section(
    args: &BackofficeArgs,
    alone: &RunResult,
    loaded: &RunResult,
    pages: u64,
    orders: u64,
    elapsed: Duration,
) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Back office beside the tills\n");
    println!(
        "`cargo run --release -p paycode-bench -- backoffice`: paycode (SQLite, the back office with its read models and runner, the process worker) and the simulator in one process with the clients, over HTTP on loopback, {cores} cores. {} paid orders in the log first; {} POS clients (WeChat, pay at once), {} payments per run.",
        thousands(args.seed),
        args.clients,
        thousands(args.payments)
    );
    println!(
        "In the loaded run, {} viewers each page through every order, newest first and again, {PAGE} orders a page with each order's first 20 events (the largest page with histories the complexity limit allows; twice that is refused).\n",
        args.viewers
    );
    println!("| run | payments/s | p50 ms | p99 ms | max ms | unexpected answers |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, r) in [("POS alone", alone), ("POS with the viewers", loaded)] {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            thousands(r.rate()),
            millis(r.percentile(50)),
            millis(r.percentile(99)),
            millis(r.percentile(100)),
            r.unexpected.len()
        );
    }
    let millis_elapsed = u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    println!(
        "\nThe viewers meanwhile: {} pages, {} orders with their histories ({} pages/s).",
        thousands(pages),
        thousands(orders),
        thousands(pages * 1_000 / millis_elapsed)
    );
    // In hundredths: 150 is 1.5x.
    let alone_us = alone.percentile(99).as_micros().max(1);
    let ratio = loaded.percentile(99).as_micros() * 100 / alone_us;
    println!("\nTargets:\n");
    println!(
        "- POS p99 with the viewers at most 1.5x its value alone: {} ({}.{:02}x: {} ms against {} ms).\n",
        if ratio <= 150 { "met" } else { "NOT met" },
        ratio / 100,
        ratio % 100,
        millis(loaded.percentile(99)),
        millis(alone.percentile(99))
    );
}
