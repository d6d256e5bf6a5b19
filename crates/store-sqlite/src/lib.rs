//! The embedded SQLite backend of the paycode event store: one file in WAL
//! mode, durable on commit (`synchronous=FULL`).
//!
//! One writer thread owns the write connection and commits every append
//! waiting in its queue as one transaction (group commit): an fsync is paid
//! per group, not per append. Each request is checked on its own (expected
//! version, idempotency) against what the same transaction already holds, so
//! a conflict refuses only its own request. Callers are answered only after
//! COMMIT returned, so nothing acknowledged is lost. Reads run on a small pool
//! of read-only connections on blocking threads and never wait for the writer;
//! a separate reader (the back office's) has a pool of its own.
//!
//! One `SqliteStore` per file per process: the writer holds SQLite's write
//! lock only inside a transaction and checks versions inside it, so a second
//! writer stays correct, but its commits would not wake this handle's
//! `watch_head`. There is no in-memory variant: several connections must
//! share the database, so tests use a file in a temporary directory.

mod reader;
mod schema;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use paycode_store::{
    Appended, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamName,
};

pub use schema::{SCHEMA_VERSION, WRITER_PRAGMAS};
pub use writer::{GATHER_WINDOW, MAX_GROUP_BYTES, MAX_GROUP_EVENTS, WRITE_QUEUE, WriterStats};

pub use reader::READ_CONNECTIONS;
use reader::ReadPool;
use writer::AppendRequest;

/// The SQLite event store. Dropping it closes the queue and waits for the
/// writer thread to finish the group it is committing.
pub struct SqliteStore {
    path: PathBuf,
    requests: Option<mpsc::Sender<AppendRequest>>,
    writer: Option<JoinHandle<()>>,
    reads: SqliteReader,
    stats: Arc<writer::Counters>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("head", &*self.reads.head.borrow())
            .finish()
    }
}

/// Reads of one file: a pool of read-only connections and the head as its
/// store's writer last committed it. The store reads through its own; a
/// [`EventStore::separate_reader`] is another with a pool of its own.
#[derive(Debug)]
struct SqliteReader {
    readers: Arc<ReadPool>,
    head: watch::Receiver<u64>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, applies the
    /// schema and starts the writer thread. Blocking: call it at startup.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(sql_error)?;
        schema::configure_writer(&conn)?;
        schema::migrate(&mut conn)?;
        let (head_tx, head) = watch::channel(schema::head(&conn)?);
        let (requests, queue) = mpsc::channel(WRITE_QUEUE);
        let stats = Arc::new(writer::Counters::default());
        let writer =
            writer::spawn(conn, queue, head_tx, stats.clone()).map_err(StoreError::unavailable)?;
        Ok(SqliteStore {
            reads: SqliteReader {
                readers: Arc::new(ReadPool::new(path.clone(), READ_CONNECTIONS)),
                head,
            },
            path,
            requests: Some(requests),
            writer: Some(writer),
            stats,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Totals of the writer since open: how well group commit is batching.
    pub fn writer_stats(&self) -> WriterStats {
        self.stats.snapshot()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop once it is empty; joining
        // means a reopen of the same file never races the old writer.
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[async_trait::async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        paycode_store::check_append(stream, &events)?;
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream: stream.clone(),
            expected,
            events,
            reply,
        };
        let queue = self
            .requests
            .as_ref()
            .ok_or_else(|| StoreError::unavailable("the store is closing"))?;
        queue
            .send(request)
            .await
            .map_err(|_| StoreError::unavailable("the writer thread has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::unavailable("the writer thread stopped before answering"))?
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reads.read_stream(stream, from_version, limit).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reads.read_all(after, limit).await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.reads.head().await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.reads.watch_head()
    }

    fn separate_reader(
        &self,
        connections: usize,
    ) -> Result<Option<Arc<dyn EventStore>>, StoreError> {
        Ok(Some(Arc::new(SqliteReader {
            readers: Arc::new(ReadPool::new(self.path.clone(), connections.max(1))),
            head: self.reads.head.clone(),
        })))
    }
}

#[async_trait::async_trait]
impl EventStore for SqliteReader {
    async fn append(
        &self,
        _: &StreamName,
        _: ExpectedVersion,
        _: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stream = stream.clone();
        self.readers
            .run(move |conn| reader::read_stream(conn, &stream, from_version, limit))
            .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.readers
            .run(move |conn| reader::read_all(conn, after, limit))
            .await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.readers.run(schema::head).await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }
}

/// Maps a SQLite error to the store's: values that do not decode are
/// `Corrupt`, everything else (I/O, locks, a full disk) is `Unavailable`.
pub(crate) fn sql_error(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::FromSqlConversionFailure(..)
    | rusqlite::Error::IntegralValueOutOfRange(..)
    | rusqlite::Error::InvalidColumnType(..) = error
    {
        return StoreError::Corrupt(error.to_string());
    }
    StoreError::Unavailable(Box::new(error))
}

/// Converts a count or version to SQLite's integer; values past `i64::MAX`
/// clamp, which for a limit means "no limit" and for a version "none such".
pub(crate) fn to_sql_int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
