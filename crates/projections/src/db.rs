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
//!
//! Each projection's own tables and indexes come from its [`Projector`];
//! this file knows only the bookkeeping around them.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::Projection;
use crate::projector::Projector;
use crate::registry::Projectors;

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
pub(crate) fn init(conn: &mut Connection, projectors: &mut Projectors) -> rusqlite::Result<()> {
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
        let projector = projectors.get(projection);
        match current(&tx, projection)? {
            None => {
                create_generation(&tx, projector, 1)?;
                create_indexes(&tx, projector, 1)?;
                tx.execute(
                    "INSERT INTO projection_current (name, generation) VALUES (?1, 1)",
                    params![projection.name()],
                )?;
            }
            // A serving generation made by an older build gets the indexes
            // added since (the number search's): built once, here.
            Some(generation) => create_indexes(&tx, projector, generation)?,
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
    projector: &dyn Projector,
    generation: u64,
) -> rusqlite::Result<()> {
    tx.execute_batch(&projector.create_tables(generation))?;
    tx.execute(
        "INSERT OR REPLACE INTO projection_checkpoint (name, generation, position) VALUES (?1, ?2, 0)",
        params![projector.projection().name(), generation],
    )?;
    Ok(())
}

/// Creates the indexes the queries use (applying events needs only the
/// primary keys). A rebuild creates them once its tables are full: one sort
/// instead of a million index inserts.
pub(crate) fn create_indexes(
    tx: &Transaction<'_>,
    projector: &dyn Projector,
    generation: u64,
) -> rusqlite::Result<()> {
    tx.execute_batch(&projector.create_indexes(generation))
}

/// Drops one generation's tables and checkpoint.
pub(crate) fn drop_generation(
    tx: &Transaction<'_>,
    projector: &dyn Projector,
    generation: u64,
) -> rusqlite::Result<()> {
    for table in projector.tables() {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {table}_g{generation}"))?;
    }
    tx.execute(
        "DELETE FROM projection_checkpoint WHERE name = ?1 AND generation = ?2",
        params![projector.projection().name(), generation],
    )?;
    Ok(())
}
