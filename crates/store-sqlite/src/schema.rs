//! The database file: connection settings and the schema, applied at open
//! and versioned with `PRAGMA user_version`.
//!
//! Indexes are deliberately few: every index is one more b-tree written per
//! event inside the writer's transaction. The three that exist each carry a
//! rule: the position (rowid) is the global order, `UNIQUE(stream, version)`
//! is optimistic concurrency and serves stream reads and the "current
//! version" lookup, `UNIQUE(id)` is idempotency. There is no `streams` table:
//! `max(version)` on the `(stream, version)` index is one b-tree descent, the
//! same cost as a lookup in such a table, without a second row to write.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use paycode_store::StoreError;

use crate::sql_error;

/// The schema this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for a lock held by another connection (a
/// checkpoint, another process opening the file) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA_V1: &str = "
CREATE TABLE events (
    position     INTEGER PRIMARY KEY,
    stream       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    id           BLOB    NOT NULL UNIQUE,
    type         TEXT    NOT NULL,
    type_version INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    metadata     BLOB    NOT NULL,
    recorded_at  INTEGER NOT NULL,
    UNIQUE (stream, version)
) STRICT;
PRAGMA user_version = 1;
";

/// Settings of the one write connection: WAL so readers never block the
/// writer, and `synchronous=FULL` so a returned COMMIT survives power loss.
pub fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::unavailable(format!(
            "the database refused WAL mode (it is in {mode} mode)"
        )));
    }
    conn.execute_batch(WRITER_PRAGMAS).map_err(sql_error)
}

/// `synchronous=FULL`: in WAL mode, COMMIT returns after the WAL is synced.
///
/// `wal_autocheckpoint`: the writer copies the WAL into the database every
/// 10,000 pages (40 MiB) instead of SQLite's 1,000. Index pages hit by many
/// commits (random event ids, many streams) are then copied once per
/// checkpoint rather than ten times, and the WAL, restarted after each
/// checkpoint, is mostly overwritten in place, which syncs faster than a
/// growing file. Measured here with 64-row transactions: about twice the
/// commit rate of the default.
///
/// `journal_size_limit`: after a burst, a WAL bigger than 64 MiB shrinks back
/// at the next restart. `cache_size`: 32 MiB for the writer, so the index
/// pages it updates stay in memory.
pub const WRITER_PRAGMAS: &str = "
PRAGMA synchronous = FULL;
PRAGMA wal_autocheckpoint = 10000;
PRAGMA journal_size_limit = 67108864;
PRAGMA cache_size = -32768;
";

/// Settings of a read connection.
pub fn configure_reader(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)
}

/// Brings an empty file to the current schema; refuses a newer one.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_error)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql_error)?;
    match version {
        0 => tx.execute_batch(SCHEMA_V1).map_err(sql_error)?,
        SCHEMA_VERSION => {}
        newer => {
            return Err(StoreError::Corrupt(format!(
                "schema version {newer} is not one this build knows (it knows up to {SCHEMA_VERSION})"
            )));
        }
    }
    tx.commit().map_err(sql_error)
}

/// The highest committed position, 0 when empty.
pub fn head(conn: &Connection) -> Result<u64, StoreError> {
    let max: Option<i64> = conn
        .query_row("SELECT max(position) FROM events", [], |r| r.get(0))
        .optional()
        .map_err(sql_error)?
        .flatten();
    u64::try_from(max.unwrap_or(0)).map_err(|_| StoreError::Corrupt("negative position".to_owned()))
}
