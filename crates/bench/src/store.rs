//! The `store` section: how fast the SQLite event store appends and reads,
//! next to a plain rusqlite loop writing the same rows into the same schema.
//!
//! Every run gets a fresh database file (WAL, synchronous=FULL: each commit
//! waits for fsync). The baseline writes in transactions of the size group
//! commit produced for 64 writers, so the difference is the store's own
//! cost: channels, per-append checks (expected version, idempotency), waking
//! callers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use paycode_store::{EventStore, ExpectedVersion, NewEvent, StreamName};
use paycode_store_sqlite::{SqliteStore, WriterStats};
use rusqlite::params;
use uuid::Uuid;

use crate::report::{Measurement, one_decimal, table, thousands};

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Events per append run (batched and concurrent runs, and the baseline).
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Events for the one-writer, one-event-per-append run: each append waits
    /// for its own fsync, so the full count would take minutes.
    #[arg(long, default_value_t = 20_000)]
    single_events: u64,
    /// Events written, then read back in order, for the read run.
    #[arg(long, default_value_t = 1_000_000)]
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
    /// Directory for the database files (default: a new temporary directory).
    /// Pick one on the disk you want measured.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Events per append while filling the database for the read run.
const FILL_BATCH: u64 = 1_000;

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let mut rows = Vec::new();

    let store = fresh_store(&dir, "single")?;
    rows.push(one_writer(&store, args.single_events, 1).await?);
    let store = fresh_store(&dir, "batched")?;
    rows.push(one_writer(&store, args.events, args.batch).await?);

    let store = Arc::new(fresh_store(&dir, "concurrent")?);
    let (concurrent, stats) =
        concurrent_writers(&store, args.writers, args.events, Ids::TimeOrdered).await?;
    let group = stats.events.div_ceil(stats.groups.max(1)).max(1);
    let baseline = plain_rusqlite(&dir.join("baseline.db"), args.events, group)?;
    rows.extend([concurrent.clone(), baseline.clone()]);
    let store = Arc::new(fresh_store(&dir, "random-ids")?);
    rows.push(
        concurrent_writers(&store, args.writers, args.events, Ids::Random)
            .await?
            .0,
    );

    let store = fresh_store(&dir, "read")?;
    rows.push(one_writer(&store, args.read_events, FILL_BATCH).await?);
    let read = read_back(&store, args.read_events, args.page).await?;
    rows.push(read.clone());

    print_section(&args, &dir, &rows);
    print_notes(&args, stats, &concurrent, &baseline, &read);
    Ok(())
}

fn fresh_store(dir: &Path, name: &str) -> anyhow::Result<SqliteStore> {
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    SqliteStore::open(&path).with_context(|| format!("open {}", path.display()))
}

/// How event ids are made: time-ordered (`Uuid::now_v7`, what the app's
/// `RandomIds` makes, so every run but one uses them), whose inserts land on
/// the last page of the id index, or random (`Uuid::new_v4`) for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    Random,
    TimeOrdered,
}

impl Ids {
    fn make(self) -> Uuid {
        match self {
            Ids::Random => Uuid::new_v4(),
            Ids::TimeOrdered => Uuid::now_v7(),
        }
    }
}

/// A realistic event: about 200 bytes of JSON data and 60 of metadata.
/// Shared with the PostgreSQL section, so both stores write the same rows.
pub(crate) fn bench_event(n: u64) -> NewEvent {
    event_with_id(n, Ids::TimeOrdered)
}

fn event_with_id(n: u64, ids: Ids) -> NewEvent {
    NewEvent {
        id: ids.make(),
        event_type: "PaymentRequested".to_owned(),
        type_version: 1,
        data: format!(
            r#"{{"merchant":"m-000042","out_trade_no":"T{n:020}","amount":"88.80","currency":"CNY","auth_code":"134567******6789","provider":"wechatpay","requested_at":"2026-11-27T03:00:00Z"}}"#
        )
        .into_bytes(),
        metadata: br#"{"correlation":"9b2f6c1e-4d7a-4f0e-8a51-2c3d4e5f6a7b","actor":"pos-17"}"#.to_vec(),
    }
}

/// One writer on one stream, `batch` events per append, waiting for each.
pub(crate) async fn one_writer(
    store: &dyn EventStore,
    events: u64,
    batch: u64,
) -> anyhow::Result<Measurement> {
    let stream = StreamName::parse("bench-one")?;
    let batch = batch.max(1);
    let started = Instant::now();
    let mut written = 0;
    while written < events {
        let size = batch.min(events - written);
        let appended = (written..written + size).map(bench_event).collect();
        store
            .append(&stream, ExpectedVersion::Exact(written), appended)
            .await?;
        written += size;
    }
    let what = match batch {
        1 => "append, 1 writer, 1 event per append".to_owned(),
        n => format!("append, 1 writer, {} events per append", thousands(n)),
    };
    Ok(Measurement {
        what,
        events,
        elapsed: started.elapsed(),
    })
}

/// Appends `events` events from `writers` tasks at once, each on its own
/// stream, one event per append; returns how long they took together.
pub(crate) async fn append_from_writers<S: EventStore + ?Sized>(
    store: Arc<S>,
    writers: u64,
    events: u64,
    event: impl Fn(u64) -> NewEvent + Copy + Send + 'static,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, share) = (
                store.clone(),
                events / writers + u64::from(w < events % writers),
            );
            tokio::spawn(async move {
                let stream = StreamName::parse(&format!("bench-w{w}"))?;
                for n in 0..share {
                    store
                        .append(&stream, ExpectedVersion::Exact(n), vec![event(n)])
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

/// `writers` tasks, each on its own stream, one event per append, all at once.
async fn concurrent_writers(
    store: &Arc<SqliteStore>,
    writers: u64,
    events: u64,
    ids: Ids,
) -> anyhow::Result<(Measurement, WriterStats)> {
    let before = store.writer_stats();
    let elapsed = append_from_writers(store.clone(), writers, events, move |n| {
        event_with_id(n, ids)
    })
    .await?;
    let after = store.writer_stats();
    let stats = WriterStats {
        groups: after.groups - before.groups,
        requests: after.requests - before.requests,
        events: after.events - before.events,
    };
    let what = match ids {
        Ids::TimeOrdered => format!("append, {writers} writers, 1 event per append (group commit)"),
        Ids::Random => {
            format!("append, {writers} writers, 1 event per append, random v4 ids (for comparison)")
        }
    };
    Ok((
        Measurement {
            what,
            events,
            elapsed,
        },
        stats,
    ))
}

/// The same rows through one rusqlite connection, `per_tx` rows per
/// transaction, in the store's schema and settings.
fn plain_rusqlite(path: &Path, events: u64, per_tx: u64) -> anyhow::Result<Measurement> {
    drop(fresh_store(
        path.parent().unwrap_or(Path::new(".")),
        "baseline",
    )?);
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(paycode_store_sqlite::WRITER_PRAGMAS)?;
    let started = Instant::now();
    let mut written = 0;
    while written < events {
        let size = per_tx.min(events - written);
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (stream, version, id, type, type_version, data, metadata, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for n in written..written + size {
                let e = bench_event(n);
                let stream = format!("bench-w{}", n % 64);
                let version = i64::try_from(n / 64 + 1)?;
                insert.execute(params![
                    stream,
                    version,
                    e.id.as_bytes(),
                    e.event_type,
                    e.type_version,
                    e.data,
                    e.metadata,
                    0
                ])?;
            }
        }
        tx.commit()?;
        written += size;
    }
    let what = format!(
        "baseline: plain rusqlite, {} rows per transaction",
        thousands(per_tx)
    );
    Ok(Measurement {
        what,
        events,
        elapsed: started.elapsed(),
    })
}

/// Reads the whole log back in pages, checking the order as it goes.
pub(crate) async fn read_back(
    store: &dyn EventStore,
    events: u64,
    page: usize,
) -> anyhow::Result<Measurement> {
    let started = Instant::now();
    let mut position = 0;
    while position < events {
        let got = store.read_all(position, page).await?;
        anyhow::ensure!(
            !got.is_empty(),
            "read_all ended at {position}, expected {events}"
        );
        for event in &got {
            anyhow::ensure!(
                event.position == position + 1,
                "position {} after {position}",
                event.position
            );
            position = event.position;
        }
    }
    let what = format!("read_all in order, pages of {}", thousands(page as u64));
    Ok(Measurement {
        what,
        events,
        elapsed: started.elapsed(),
    })
}

fn print_section(args: &StoreArgs, dir: &Path, rows: &[Measurement]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Event store (SQLite)\n");
    println!(
        "`cargo run --release -p paycode-bench -- store`: SQLite {}, WAL, synchronous=FULL (every commit waits for fsync).",
        rusqlite::version()
    );
    println!(
        "Files in `{}`, {cores} cores, events of about {} bytes.",
        dir.display(),
        bench_event(0).size()
    );
    println!(
        "Writers on distinct streams: {}; one-writer batches: {} events.\n",
        args.writers, args.batch
    );
    print!("{}", table(rows));
}

fn print_notes(
    args: &StoreArgs,
    stats: WriterStats,
    concurrent: &Measurement,
    baseline: &Measurement,
    read: &Measurement,
) {
    println!();
    println!(
        "Group commit: {} appends by {} writers went into {} transactions, {} events per commit on average.",
        thousands(stats.requests),
        args.writers,
        thousands(stats.groups),
        one_decimal(stats.events, stats.groups)
    );
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!("\nTargets:\n");
    println!(
        "- >= 50,000 events/s appended by 64 concurrent writers: {} ({}).",
        verdict(concurrent.rate() >= 50_000),
        thousands(concurrent.rate())
    );
    println!(
        "- at least half the baseline's rate: {} ({} of {}, {}%).",
        verdict(concurrent.rate() * 2 >= baseline.rate()),
        thousands(concurrent.rate()),
        thousands(baseline.rate()),
        concurrent.rate() * 100 / baseline.rate().max(1)
    );
    println!(
        "- >= 1,000,000 events/s read back in order: {} ({}).",
        verdict(read.rate() >= 1_000_000),
        thousands(read.rate())
    );
}
