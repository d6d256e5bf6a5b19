//! The SQLite layout of the read models, in one file.
//!
//! Rebuilds use generation-suffixed tables: projection `orders` at
//! generation 3 lives in `orders_g3`, `refunds_g3` and `attention_g3`. The
//! table `projection_current` points each projection at the generation that
//! serves queries, and `projection_checkpoint` holds the checkpoint of every
//! generation, written in the same transaction as that generation's rows.
//! A rebuild fills a new generation while the current one keeps serving and
//! following the log, then moves the pointer and drops the old tables in one
//! transaction. A reader reads the pointer and its rows inside one read
//! transaction (WAL snapshot), so it sees the old copy or the new one, never
//! a half-built one. A failed rebuild drops its tables; the pointer never moved.
//!
//! Why one file and not one file per generation: one write lock orders the
//! live runner, the rebuild and the swap, and a reader's snapshot covers the
//! pointer and the rows at once.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::Projection;

/// How long a writer waits for the write lock held by another process (a
/// CLI rebuild next to a running server) before the batch fails and is retried.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers keep their snapshot while the runner writes. NORMAL is
    // enough: a read model lost in a power cut is rebuilt from the log.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // 64 MiB of page cache (negative: KiB): the indexes of a million orders
    // stay in memory while a rebuild writes them.
    conn.pragma_update(None, "cache_size", -65_536)?;
    // Copy the WAL back into the file every 64 MiB rather than every 4 MiB:
    // the index pages a page of events dirties are then copied once for
    // many commits. Measured on 1M events: the live runner catches up about
    // 15% faster, a rebuild a few percent.
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
    // A second thread for SQLite's sorter: a rebuild ends by creating the
    // query indexes (nine on the orders projection), each a sort of every row.
    // No gain was measured from it alone; docs/benchmarks.md's projections
    // figures were taken with it on.
    conn.pragma_update(None, "threads", 2)?;
    Ok(conn)
}

/// The version of the layout below, kept in SQLite's `user_version`. A file
/// of another layout (0: the first, which stored each order's state as JSON)
/// is emptied when opened and its read models are rebuilt from the log by
/// the runner: they are a function of the log, so only time is lost.
const LAYOUT: u32 = 2;

/// Creates the bookkeeping tables, and generation 1 of any projection that
/// has none yet.
pub(crate) fn init(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let layout: u32 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if layout != LAYOUT {
        let tables: Vec<String> = tx
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !tables.is_empty() {
            tracing::warn!(
                layout,
                "read models of an older layout: rebuilding them from the log"
            );
        }
        for table in tables {
            tx.execute_batch(&format!("DROP TABLE \"{}\"", table.replace('"', "\"\"")))?;
        }
        tx.pragma_update(None, "user_version", LAYOUT)?;
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS projection_current (
             name TEXT PRIMARY KEY, generation INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS projection_checkpoint (
             name TEXT NOT NULL, generation INTEGER NOT NULL, position INTEGER NOT NULL,
             PRIMARY KEY (name, generation));",
    )?;
    for projection in Projection::ALL {
        match current(&tx, projection)? {
            None => {
                create_generation(&tx, projection, 1)?;
                create_indexes(&tx, projection, 1)?;
                tx.execute(
                    "INSERT INTO projection_current (name, generation) VALUES (?1, 1)",
                    params![projection.name()],
                )?;
            }
            // A serving generation made by an older build gets the indexes
            // added since (the number search's): built once, here.
            Some(generation) => create_indexes(&tx, projection, generation)?,
        }
    }
    tx.commit()
}

pub(crate) fn current(tx: &Connection, projection: Projection) -> rusqlite::Result<Option<u64>> {
    tx.query_row(
        "SELECT generation FROM projection_current WHERE name = ?1",
        params![projection.name()],
        |row| row.get(0),
    )
    .optional()
}

pub(crate) fn checkpoint(
    tx: &Connection,
    projection: Projection,
    generation: u64,
) -> rusqlite::Result<u64> {
    tx.query_row(
        "SELECT position FROM projection_checkpoint WHERE name = ?1 AND generation = ?2",
        params![projection.name(), generation],
        |row| row.get(0),
    )
}

pub(crate) fn set_checkpoint(
    tx: &Transaction<'_>,
    projection: Projection,
    generation: u64,
    position: u64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE projection_checkpoint SET position = ?3 WHERE name = ?1 AND generation = ?2",
        params![projection.name(), generation, position],
    )?;
    Ok(())
}

/// The next unused generation number of a projection (past the current one
/// and any left behind by a crashed rebuild).
pub(crate) fn next_generation(tx: &Connection, projection: Projection) -> rusqlite::Result<u64> {
    tx.query_row(
        "SELECT COALESCE(MAX(generation), 0) + 1 FROM projection_checkpoint WHERE name = ?1",
        params![projection.name()],
        |row| row.get(0),
    )
}

/// Creates the empty tables of one generation, without the indexes of
/// [`create_indexes`], with its checkpoint at 0.
pub(crate) fn create_generation(
    tx: &Transaction<'_>,
    projection: Projection,
    generation: u64,
) -> rusqlite::Result<()> {
    let g = generation;
    let ddl = match projection {
        Projection::Orders => format!(
            "CREATE TABLE orders_g{g} (
                 stream TEXT PRIMARY KEY, order_id TEXT NOT NULL, merchant TEXT NOT NULL,
                 out_trade_no TEXT NOT NULL, status TEXT NOT NULL, provider TEXT NOT NULL,
                 amount_fen INTEGER NOT NULL, refunded_fen INTEGER NOT NULL,
                 subject TEXT NOT NULL, store_id TEXT, terminal_id TEXT,
                 provider_order_no TEXT NOT NULL, provider_trade_no TEXT,
                 created_ms INTEGER NOT NULL, paid_ms INTEGER, updated_ms INTEGER NOT NULL,
                 needs_attention INTEGER NOT NULL);
             CREATE TABLE refunds_g{g} (
                 stream TEXT NOT NULL, out_refund_no TEXT NOT NULL, order_id TEXT NOT NULL,
                 merchant TEXT NOT NULL, out_trade_no TEXT NOT NULL, provider TEXT NOT NULL,
                 amount_fen INTEGER NOT NULL, state TEXT NOT NULL, provider_refund_id TEXT,
                 reason TEXT, requested_by TEXT, requested_ms INTEGER NOT NULL,
                 updated_ms INTEGER NOT NULL, PRIMARY KEY (stream, out_refund_no));
             CREATE TABLE attention_g{g} (
                 stream TEXT PRIMARY KEY, order_id TEXT NOT NULL, merchant TEXT NOT NULL,
                 out_trade_no TEXT NOT NULL, provider TEXT NOT NULL, amount_fen INTEGER NOT NULL,
                 status TEXT NOT NULL, abandon_reason TEXT, reversal_reason TEXT,
                 reversal_attempts INTEGER NOT NULL, since_ms INTEGER NOT NULL,
                 last_code TEXT, last_message TEXT);"
        ),
        Projection::DailyTotals => format!(
            "CREATE TABLE daily_g{g} (
                 merchant TEXT NOT NULL, provider TEXT NOT NULL, day TEXT NOT NULL,
                 paid_count INTEGER NOT NULL DEFAULT 0, paid_fen INTEGER NOT NULL DEFAULT 0,
                 refunded_fen INTEGER NOT NULL DEFAULT 0,
                 reversed_count INTEGER NOT NULL DEFAULT 0,
                 reversed_fen INTEGER NOT NULL DEFAULT 0,
                 PRIMARY KEY (merchant, provider, day)) WITHOUT ROWID;"
        ),
    };
    tx.execute_batch(&ddl)?;
    tx.execute(
        "INSERT OR REPLACE INTO projection_checkpoint (name, generation, position) VALUES (?1, ?2, 0)",
        params![projection.name(), generation],
    )?;
    Ok(())
}

/// Creates the indexes the queries use (applying events needs only the
/// primary keys). A rebuild creates them once its tables are full: one sort
/// instead of a million index inserts.
pub(crate) fn create_indexes(
    tx: &Transaction<'_>,
    projection: Projection,
    generation: u64,
) -> rusqlite::Result<()> {
    let g = generation;
    match projection {
        Projection::Orders => tx.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS orders_g{g}_merchant
                 ON orders_g{g} (merchant, created_ms, order_id);
             CREATE INDEX IF NOT EXISTS orders_g{g}_created ON orders_g{g} (created_ms, order_id);
             CREATE UNIQUE INDEX IF NOT EXISTS orders_g{g}_id ON orders_g{g} (order_id);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_merchant
                 ON refunds_g{g} (merchant, requested_ms);
             CREATE INDEX IF NOT EXISTS orders_g{g}_out_trade_no ON orders_g{g} (out_trade_no);
             CREATE INDEX IF NOT EXISTS orders_g{g}_provider_trade_no
                 ON orders_g{g} (provider_trade_no);
             CREATE INDEX IF NOT EXISTS orders_g{g}_provider_order_no
                 ON orders_g{g} (provider_order_no);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_out_refund_no ON refunds_g{g} (out_refund_no);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_provider_refund_id
                 ON refunds_g{g} (provider_refund_id);
             CREATE INDEX IF NOT EXISTS refunds_g{g}_state ON refunds_g{g} (state);
             CREATE INDEX IF NOT EXISTS orders_g{g}_attention
                 ON orders_g{g} (created_ms, order_id) WHERE needs_attention = 1;"
        )),
        Projection::DailyTotals => Ok(()),
    }
}

/// Drops one generation's tables and checkpoint.
pub(crate) fn drop_generation(
    tx: &Transaction<'_>,
    projection: Projection,
    generation: u64,
) -> rusqlite::Result<()> {
    let tables: &[&str] = match projection {
        Projection::Orders => &["orders", "refunds", "attention"],
        Projection::DailyTotals => &["daily"],
    };
    for table in tables {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {table}_g{generation}"))?;
    }
    tx.execute(
        "DELETE FROM projection_checkpoint WHERE name = ?1 AND generation = ?2",
        params![projection.name(), generation],
    )?;
    Ok(())
}

/// Instants are stored as Unix milliseconds: they sort and compare as integers.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn instant(ms: i64) -> DateTime<Utc> {
    // Every stored value came from `millis`, so it is in range; the epoch
    // stands in for a value written by hand.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
