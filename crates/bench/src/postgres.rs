//! The `postgres` section: how fast the PostgreSQL event store appends and
//! reads, with the same runs as the SQLite `store` section (one writer, one
//! writer in batches, 64 concurrent writers through group commit, read back).
//!
//! It needs a server: the URL comes from `--url` or
//! `PAYCODE_BENCH_POSTGRES_URL`; without one the section prints a note and
//! measures nothing. Every run gets a fresh schema, dropped at the end.

use std::sync::Arc;

use anyhow::Context;
use paycode_store_postgres::{PostgresStore, WriterStats};

use crate::report::{Measurement, one_decimal, table, thousands};
use crate::store::{append_from_writers, bench_event, one_writer, read_back};

#[derive(Debug, clap::Args)]
pub struct PostgresArgs {
    /// The server to measure; the schemas are created and dropped in its database.
    #[arg(long, env = "PAYCODE_BENCH_POSTGRES_URL")]
    url: Option<String>,
    /// Events per append run (batched and concurrent runs).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Events for the one-writer, one-event-per-append run: each append waits
    /// for its own commit and fsync.
    #[arg(long, default_value_t = 5_000)]
    single_events: u64,
    /// Events written, then read back in order, for the read run.
    #[arg(long, default_value_t = 500_000)]
    read_events: u64,
    /// Events per append in the one-writer batched run.
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// Concurrent writers, each on its own stream, one event per append.
    #[arg(long, default_value_t = 64)]
    writers: u64,
    /// Events per `read_all` page.
    #[arg(long, default_value_t = 4_096)]
    page: usize,
}

/// Events per append while filling the store for the read run.
const FILL_BATCH: u64 = 1_000;

pub async fn run(args: PostgresArgs) -> anyhow::Result<()> {
    let Some(url) = args.url.clone() else {
        println!("## Event store (PostgreSQL)\n");
        println!(
            "Skipped: no server given. Set `PAYCODE_BENCH_POSTGRES_URL` (or pass `--url`) to measure, e.g. `PAYCODE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test make bench`."
        );
        return Ok(());
    };
    let mut schemas = Vec::new();
    let outcome = measure(&args, &url, &mut schemas).await;
    for schema in &schemas {
        drop_schema(&url, schema).await?;
    }
    let (rows, stats) = outcome?;
    print_section(&args, &rows, stats);
    Ok(())
}

/// Every run, each on its own schema (recorded in `schemas` for the drop).
async fn measure(
    args: &PostgresArgs,
    url: &str,
    schemas: &mut Vec<String>,
) -> anyhow::Result<(Vec<Measurement>, WriterStats)> {
    let mut fresh = |name: &str| {
        let schema = format!("paycode_bench_{}_{name}", std::process::id());
        schemas.push(schema.clone());
        async move {
            PostgresStore::connect(url, &schema)
                .await
                .with_context(|| format!("connect to {url}, schema {schema}"))
        }
    };
    let store = fresh("single").await?;
    let single = one_writer(&store, args.single_events, 1).await?;
    let store = fresh("batched").await?;
    let batched = one_writer(&store, args.events, args.batch).await?;
    let store = Arc::new(fresh("concurrent").await?);
    let (concurrent, stats) = concurrent_writers(&store, args.writers, args.events).await?;
    let store = fresh("read").await?;
    let fill = one_writer(&store, args.read_events, FILL_BATCH).await?;
    let read = read_back(&store, args.read_events, args.page).await?;
    Ok((vec![single, batched, concurrent, fill, read], stats))
}

/// `writers` tasks, each on its own stream, one event per append, all at once.
async fn concurrent_writers(
    store: &Arc<PostgresStore>,
    writers: u64,
    events: u64,
) -> anyhow::Result<(Measurement, WriterStats)> {
    let before = store.writer_stats();
    let elapsed = append_from_writers(store.clone(), writers, events, bench_event).await?;
    let after = store.writer_stats();
    let stats = WriterStats {
        groups: after.groups - before.groups,
        requests: after.requests - before.requests,
        events: after.events - before.events,
    };
    let what = format!("append, {writers} writers, 1 event per append (group commit)");
    let measurement = Measurement {
        what,
        events,
        elapsed,
    };
    Ok((measurement, stats))
}

/// Reads the whole log back in pages, checking the order as it goes.
async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .with_context(|| format!("drop schema {schema}"))
}

fn print_section(args: &PostgresArgs, rows: &[Measurement], stats: WriterStats) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Event store (PostgreSQL)\n");
    println!(
        "`PAYCODE_BENCH_POSTGRES_URL=... cargo run --release -p paycode-bench -- postgres`: the server's own settings (fsync and synchronous_commit as configured), client on the same machine, {cores} cores, events of about {} bytes.",
        bench_event(0).size()
    );
    println!(
        "Writers on distinct streams: {}; one-writer batches: {} events.\n",
        args.writers, args.batch
    );
    print!("{}", table(rows));
    println!();
    println!(
        "Group commit: {} appends by {} writers went into {} transactions, {} events per commit on average.",
        thousands(stats.requests),
        args.writers,
        thousands(stats.groups),
        one_decimal(stats.events, stats.groups)
    );
    let concurrent = rows
        .iter()
        .find(|m| m.what.contains("group commit"))
        .map_or(0, Measurement::rate);
    let met = if concurrent >= 10_000 {
        "met"
    } else {
        "NOT met"
    };
    println!("\nTargets:\n");
    println!(
        "- >= 10,000 events/s appended by {} concurrent writers: {met} ({}).",
        args.writers,
        thousands(concurrent)
    );
}
