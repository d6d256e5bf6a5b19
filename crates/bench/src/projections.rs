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

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

fn micros(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03} ms", us / 1_000, us % 1_000)
}
