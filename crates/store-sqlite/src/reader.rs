//! Reads: a small pool of read-only connections used from blocking threads,
//! so a long read never holds up an async worker or the writer. In WAL mode a
//! reader sees the last commit that finished before its statement started.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::DateTime;
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row, params};
use tokio::sync::Semaphore;
use uuid::Uuid;

use paycode_store::{RecordedEvent, StoreError, StreamName};

use crate::{schema, sql_error, to_sql_int};

/// Reads running at once. Two cores here; SQLite readers scale with cores,
/// and a few more than that keep the pool busy while others decode.
pub const READ_CONNECTIONS: usize = 4;

/// Capacity reserved up front for a result, whatever the `limit` asked.
const RESERVE_ROWS: usize = 1_024;

const COLUMNS: &str =
    "position, stream, version, id, type, type_version, data, metadata, recorded_at";

#[derive(Debug)]
pub(crate) struct ReadPool {
    path: PathBuf,
    /// Idle connections. A std mutex: it is held only to push or pop, never
    /// across an await or a query.
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// A pool of at most `connections` connections: as many reads run at
    /// once, each on a blocking thread; the others wait their turn here.
    pub fn new(path: PathBuf, connections: usize) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(connections)),
        }
    }

    /// Runs `read` on a pooled connection on a blocking thread; connections
    /// are opened lazily, at most as many as the pool was made for.
    pub async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(StoreError::unavailable)?;
        let pool = self.clone();
        let blocking = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = read(&conn);
            pool.idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(conn);
            result
        });
        blocking.await.map_err(StoreError::unavailable)?
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(&self.path, flags).map_err(sql_error)?;
                schema::configure_reader(&conn)?;
                Ok(conn)
            }
        }
    }
}

pub(crate) fn read_stream(
    conn: &Connection,
    stream: &StreamName,
    from_version: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version LIMIT ?3"
        ))
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(
            params![stream.as_str(), to_sql_int(from_version), to_sql_int(limit)],
            decode,
        )
        .map_err(sql_error)?;
    collect(rows, limit)
}

pub(crate) fn read_all(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
        ))
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(params![to_sql_int(after), to_sql_int(limit)], decode)
        .map_err(sql_error)?;
    collect(rows, limit)
}

fn collect(
    rows: impl Iterator<Item = rusqlite::Result<RecordedEvent>>,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = Vec::with_capacity(limit.min(RESERVE_ROWS));
    for row in rows {
        events.push(row.map_err(sql_error)?);
    }
    Ok(events)
}

/// One row as an event; values that do not decode are conversion failures,
/// which [`sql_error`] reports as `Corrupt`.
fn decode(row: &Row<'_>) -> rusqlite::Result<RecordedEvent> {
    let stream: String = row.get(1)?;
    let id = row.get_ref(3)?.as_blob()?;
    let recorded_at: i64 = row.get(8)?;
    Ok(RecordedEvent {
        position: unsigned(row, 0)?,
        stream: StreamName::try_from(stream).map_err(|e| corrupt(1, Type::Text, e))?,
        version: unsigned(row, 2)?,
        id: Uuid::from_slice(id).map_err(|e| corrupt(3, Type::Blob, e))?,
        event_type: row.get(4)?,
        type_version: row.get(5)?,
        data: row.get(6)?,
        metadata: row.get(7)?,
        recorded_at: DateTime::from_timestamp_micros(recorded_at)
            .ok_or_else(|| corrupt(8, Type::Integer, "recorded_at out of range"))?,
    })
}

fn unsigned(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(column)?;
    u64::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(column, n))
}

fn corrupt(
    column: usize,
    kind: Type,
    error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, kind, error.into())
}
