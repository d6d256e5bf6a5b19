//! The `projections` section: the back office's read models with a large
//! log (targets: order lookup p99 < 5 ms and a filtered page of 50 p99 <
//! 20 ms with 1,000,000 orders in the read model; a full rebuild at >=
//! 200,000 events/s).
//!
//! The log is the `replay` section's: whole orders driven through the
//! domain along six paths, 50 merchants, appended order by order (so one
//! order's events are contiguous in the log, as when the day is quiet).
//! Untimed: generating and appending it. Timed: the live runner's first
//! catch-up, a rebuild of each projection, and queries against the result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use paycode_domain::Amount;
use paycode_projections::{OrderFilter, OrderKey, Projection, ReadModels};
use paycode_store::EventStore;
use paycode_store_sqlite::SqliteStore;

use crate::report::{Measurement, table, thousands};

#[derive(Debug, clap::Args)]
pub struct ProjectionsArgs {
    /// Events in the generated log (about 4.4 events per order: 4,400,000
    /// events hold 1,000,000 orders).
    #[arg(long, default_value_t = 4_400_000)]
    events: u64,
    /// Order lookups timed.
    #[arg(long, default_value_t = 10_000)]
    lookups: usize,
    /// Filtered pages timed.
    #[arg(long, default_value_t = 2_000)]
    pages: usize,
}

/// The merchants the generator spreads orders over (`m000` to `m049`).
const MERCHANTS: u64 = 50;

pub async fn run(args: ProjectionsArgs) -> anyhow::Result<()> {
    let generated = crate::replay::generate(args.events)?;
    let orders = generated.len() as u64;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(dir.path().join("log.db"))?);
    crate::replay::fill(&store, generated, 128).await?;
    let events = store.head().await?;
    let models = ReadModels::open(dir.path().join("read.db"), store.clone()).await?;

    let started = Instant::now();
    ensure!(
        models.catch_up().await? == events,
        "the runner did not reach the head"
    );
    let mut runs = vec![Measurement {
        what: "live runner: first catch-up, both projections".into(),
        events,
        elapsed: started.elapsed(),
    }];
    for projection in Projection::ALL {
        let report = models
            .rebuild(&[projection], |_| std::ops::ControlFlow::Continue(()))
            .await?;
        runs.push(Measurement {
            what: format!("rebuild `{projection}` alone and swap"),
            events,
            elapsed: report.elapsed,
        });
    }
    let report = models
        .rebuild(&Projection::ALL, |_| std::ops::ControlFlow::Continue(()))
        .await?;
    let full = Measurement {
        what: "full rebuild: every projection in one pass, and swap".into(),
        events,
        elapsed: report.elapsed,
    };
    let full_rate = full.rate();
    runs.push(full);

    let page = models.orders(OrderFilter::default(), None, 1).await?;
    ensure!(!page.orders.is_empty(), "the read model is empty");
    let lookups = time_lookups(&models, orders, args.lookups).await?;
    let pages = time_pages(&models, args.pages).await?;
    let searches = time_searches(&models, orders, args.lookups / 10).await?;
    let console_pages = time_console_pages(&models).await?;

    println!("## Projections (read models)\n");
    println!(
        "{} orders, {} events in the log; the read models in SQLite (WAL) next to it.\n",
        thousands(orders),
        thousands(events)
    );
    print!("{}", table(&runs));
    println!();
    println!("| query | runs | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |");
    for (what, latencies) in [
        ("order by merchant + out_trade_no", &lookups),
        (
            "filtered page of 50 (merchant + amount range, then its next page)",
            &pages,
        ),
    ] {
        println!(
            "| {what} | {} | {} | {} | {} |",
            latencies.len(),
            micros(percentile(latencies, 50)),
            micros(percentile(latencies, 99)),
            micros(latencies.last().copied().unwrap_or_default()),
        );
    }
    println!();
    println!(
        "The console's queries, as the server runs them (GraphQL's own work excluded), on every merchant (an admin's view):\n"
    );
    println!("| console query | runs | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| search by any number (provider trade number, merchant order number, refund number) | {} | {} | {} | {} |",
        searches.len(),
        micros(percentile(&searches, 50)),
        micros(percentile(&searches, 99)),
        micros(searches.last().copied().unwrap_or_default()),
    );
    for (what, latencies) in &console_pages {
        println!(
            "| {what} | {} | {} | {} | {} |",
            latencies.len(),
            micros(percentile(latencies, 50)),
            micros(percentile(latencies, 99)),
            micros(latencies.last().copied().unwrap_or_default()),
        );
    }
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let (lookup_p99, page_p99) = (percentile(&lookups, 99), percentile(&pages, 99));
    println!("\nTargets:\n");
    println!(
        "- order lookup p99 < 5 ms with {} orders: {} ({}).",
        thousands(orders),
        verdict(lookup_p99 < Duration::from_millis(5)),
        micros(lookup_p99)
    );
    println!(
        "- filtered page of 50 p99 < 20 ms: {} ({}).",
        verdict(page_p99 < Duration::from_millis(20)),
        micros(page_p99)
    );
    let search_p99 = percentile(&searches, 99);
    println!(
        "- console: search by any number < 100 ms: {} (p99 {}).",
        verdict(search_p99 < Duration::from_millis(100)),
        micros(search_p99)
    );
    let slowest_first_page = console_pages
        .iter()
        .filter(|(what, _)| what.starts_with("first page"))
        .map(|(_, l)| percentile(l, 99))
        .max()
        .unwrap_or_default();
    println!(
        "- console: first page of a filtered list < 100 ms: {} (slowest filter's p99 {}).",
        verdict(slowest_first_page < Duration::from_millis(100)),
        micros(slowest_first_page)
    );
    println!(
        "- full rebuild >= 200,000 events/s: {} ({} events/s).",
        verdict(full_rate >= 200_000),
        thousands(full_rate)
    );
    println!();
    Ok(())
}

/// A small fixed-seed generator: the same orders are looked up on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

async fn time_lookups(
    models: &ReadModels,
    orders: u64,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut rng = Lcg(7);
    let mut latencies = Vec::with_capacity(runs);
    for _ in 0..runs {
        let n = rng.below(orders);
        let key = OrderKey::MerchantOrder {
            merchant: format!("m{:03}", n % MERCHANTS),
            out_trade_no: format!("T{n:010}"),
        };
        let started = Instant::now();
        let found = models.order(key).await?;
        latencies.push(started.elapsed());
        ensure!(found.is_some(), "order {n} is missing");
    }
    latencies.sort();
    Ok(latencies)
}

async fn time_pages(models: &ReadModels, runs: usize) -> anyhow::Result<Vec<Duration>> {
    let mut rng = Lcg(11);
    let mut latencies = Vec::with_capacity(runs);
    for _ in 0..runs / 2 {
        let filter = OrderFilter {
            // Not by status: the generator gives each merchant a fixed mix of
            // paths, so some merchants have no order in a given status.
            merchant: Some(format!("m{:03}", rng.below(MERCHANTS))),
            amount_min: Amount::from_fen(10_000), // 100.00 yuan
            amount_max: Amount::from_fen(40_000), // 400.00 yuan
            ..OrderFilter::default()
        };
        let started = Instant::now();
        let first = models.orders(filter.clone(), None, 50).await?;
        latencies.push(started.elapsed());
        ensure!(
            first.orders.len() == 50,
            "a page holds 50 orders, not {}",
            first.orders.len()
        );
        let started = Instant::now();
        models.orders(filter, first.next, 50).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    Ok(latencies)
}

/// Searches by the numbers a person holds, each found: the provider's trade
/// number, the merchant order number (on every merchant) and a refund's.
async fn time_searches(
    models: &ReadModels,
    orders: u64,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut rng = Lcg(13);
    let mut latencies = Vec::with_capacity(runs * 3);
    for _ in 0..runs {
        let n = rng.below(orders);
        let order = models
            .order(OrderKey::MerchantOrder {
                merchant: format!("m{:03}", n % MERCHANTS),
                out_trade_no: format!("T{n:010}"),
            })
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {n} is missing"))?;
        let refunds = models
            .refunds(
                Some(order.merchant.clone()),
                Some(order.out_trade_no.clone()),
                None,
                1,
            )
            .await?
            .refunds;
        let numbers = [
            order.provider_trade_no.clone(),
            Some(order.out_trade_no.clone()),
            refunds.first().map(|r| r.out_refund_no.clone()),
        ];
        for number in numbers.into_iter().flatten() {
            let filter = OrderFilter {
                number: Some(number.clone()),
                ..OrderFilter::default()
            };
            let started = Instant::now();
            let page = models.orders(filter, None, 50).await?;
            latencies.push(started.elapsed());
            ensure!(
                page.orders.iter().any(|o| o.order_id == order.order_id),
                "searching {number} did not find its order"
            );
        }
    }
    latencies.sort();
    Ok(latencies)
}

/// The first page of 50 under the filters the console offers, on every
/// merchant, and the totals line it shows above the page.
async fn time_console_pages(models: &ReadModels) -> anyhow::Result<Vec<(String, Vec<Duration>)>> {
    let day = chrono::Duration::days(1);
    let newest = models
        .orders(OrderFilter::default(), None, 1)
        .await?
        .orders
        .first()
        .map(|o| o.created_at)
        .ok_or_else(|| anyhow::anyhow!("no orders"))?;
    let filters = [
        ("first page: no filter", OrderFilter::default()),
        (
            "first page: state SUCCESS, WeChat Pay",
            OrderFilter {
                status: Some(paycode_domain::Status::Success),
                provider: Some("wechatpay".into()),
                ..OrderFilter::default()
            },
        ),
        (
            "first page: terminal till-3, created in the last day",
            OrderFilter {
                terminal_id: Some("till-3".into()),
                created_from: Some(newest - day),
                ..OrderFilter::default()
            },
        ),
        (
            "first page: amount 100.00 to 400.00",
            OrderFilter {
                amount_min: Amount::from_fen(10_000),
                amount_max: Amount::from_fen(40_000),
                ..OrderFilter::default()
            },
        ),
        (
            "first page: needs attention",
            OrderFilter {
                needs_attention: Some(true),
                ..OrderFilter::default()
            },
        ),
        (
            "first page: with a refund still processing",
            OrderFilter {
                refund_state: Some("PROCESSING".into()),
                ..OrderFilter::default()
            },
        ),
    ];
    let mut measured = Vec::new();
    for (what, filter) in filters {
        let mut latencies = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            models.orders(filter.clone(), None, 50).await?;
            latencies.push(started.elapsed());
        }
        latencies.sort();
        measured.push((what.to_owned(), latencies));
    }
    let mut totals = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        models.order_totals(OrderFilter::default()).await?;
        totals.push(started.elapsed());
    }
    totals.sort();
    measured.push((
        "totals line: count and sum of every order".to_owned(),
        totals,
    ));
    Ok(measured)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

fn micros(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03} ms", us / 1_000, us % 1_000)
}
