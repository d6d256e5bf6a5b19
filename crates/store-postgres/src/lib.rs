//! The PostgreSQL backend of the paycode event store: one database shared by
//! several nodes, each running its own [`PostgresStore`] on the same schema.
//!
//! Global order without skipped events: every append transaction takes one
//! transaction-level advisory lock (`pg_advisory_xact_lock`, keyed by the
//! schema) before it reads the head and numbers its events. Appends to one
//! schema therefore run one at a time across all nodes, positions are dense
//! (`head + 1`, `head + 2`, ...) and are handed out in commit order: a reader
//! that sees position `p` committed also sees every position below `p`, so
//! `read_all(after)` can never pass an event that commits later. PostgreSQL
//! releases a transaction's locks only after its commit is visible, and each
//! statement of the next lock holder takes a fresh snapshot after acquiring
//! the lock, so it sees the head the previous holder left.
//!
//! Throughput comes from group commit, not from parallel transactions: one
//! writer task per store takes every append waiting in its queue, decides each
//! on its own (expected version, idempotency) against the transaction, inserts
//! the accepted ones with one `INSERT ... SELECT FROM unnest(...)`, notifies
//! the new head and commits once; callers hear back only after COMMIT.
//!
//! `watch_head` is fed three ways: by the writer after its own commits, by a
//! dedicated connection that LISTENs for the head the append transaction
//! NOTIFYs (so other nodes' appends wake this node at once), and by a poll of
//! the head every [`HEAD_POLL`] in case a notification was missed while the
//! listening connection was down. Reads use a small connection pool and never
//! wait for the writer. TLS is not built in: connect over loopback, a Unix
//! socket or a TLS-terminating proxy.

mod head;
mod plan;
mod reader;
mod schema;
mod writer;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use paycode_store::{
    Appended, EventStore, ExpectedVersion, Lease, Leases, LiveNode, NewEvent, NodeBeat,
    RecordedEvent, StoreError, StreamName,
};

pub use head::HEAD_POLL;
pub use schema::{MAX_SCHEMA_NAME_BYTES, SCHEMA_VERSION};
pub use writer::{MAX_GROUP_BYTES, MAX_GROUP_EVENTS, WRITE_QUEUE, WriterStats};

use plan::Append;
use schema::{SchemaName, Sql};
use writer::AppendRequest;

/// Read connections kept open per store. Reads are short index scans; a few
/// connections keep a subscriber and the API's reads from queuing behind one
/// another without taking many of the server's `max_connections`.
pub const READ_POOL: usize = 6;

/// Why [`PostgresStore::connect`] failed: a configuration to fix, or a store
/// error (the server is unreachable, or holds a schema this build does not know).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid PostgreSQL URL")]
    InvalidUrl(#[source] tokio_postgres::Error),
    #[error("invalid schema name {name:?}: {reason}")]
    InvalidSchemaName { name: String, reason: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The PostgreSQL event store, on one schema of one database.
pub struct PostgresStore {
    /// The connection settings, for a separate reader's pool.
    config: tokio_postgres::Config,
    schema: SchemaName,
    /// Reads, the leases, and the head as this node last saw it.
    reads: reader::Reads,
    requests: mpsc::Sender<AppendRequest>,
    stats: Arc<writer::Counters>,
    /// The listener and the poller: they run until the store is dropped.
    watchers: [JoinHandle<()>; 2],
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("head", &*self.reads.head.borrow())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:5432/db`, key=value strings
    /// work too), creates `schema` if missing, applies the embedded
    /// migrations in it and starts the writer, the listener and the poller.
    /// Several nodes may connect to the same schema at once.
    pub async fn connect(url: &str, schema: &str) -> Result<PostgresStore, ConnectError> {
        let schema = SchemaName::parse(schema)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(ConnectError::InvalidUrl)?;
        custom_plans(&mut config);
        let mut client = schema::connect(&config).await?;
        schema::migrate(&mut client, &schema).await?;
        drop(client);
        let sql = Arc::new(Sql::new(&schema));
        let pool = reader::pool(role(&config, "reader", &schema), READ_POOL)?;
        let initial = reader::head(&pool, &sql).await?;
        let (head_tx, head) = watch::channel(initial);
        let head_tx = Arc::new(head_tx);
        let (requests, queue) = mpsc::channel(WRITE_QUEUE);
        let stats = Arc::new(writer::Counters::default());
        let writer_config = role(&config, "writer", &schema);
        let writer = writer::Writer::open(writer_config, sql.clone(), head_tx.clone()).await?;
        tokio::spawn(writer.run(queue, stats.clone()));
        let watchers = [
            tokio::spawn(head::listen(
                role(&config, "listener", &schema),
                sql.clone(),
                head_tx.clone(),
            )),
            tokio::spawn(head::poll(pool.clone(), sql.clone(), head_tx)),
        ];
        Ok(PostgresStore {
            config,
            schema,
            reads: reader::Reads { pool, sql, head },
            requests,
            stats,
            watchers,
        })
    }

    /// The schema this store lives in.
    pub fn schema(&self) -> &str {
        self.schema.as_str()
    }

    /// Totals of this handle's writer since connect: how well group commit batches.
    pub fn writer_stats(&self) -> WriterStats {
        self.stats.snapshot()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The writer stops by itself once the queue closes and is empty; the
        // watchers loop forever, so they are stopped here.
        for watcher in &self.watchers {
            watcher.abort();
        }
    }
}

#[async_trait::async_trait]
impl Leases for PostgresStore {
    async fn acquire(
        &self,
        partition: u32,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let client = self
            .reads
            .pool
            .get()
            .await
            .map_err(StoreError::unavailable)?;
        let partition = i32::try_from(partition).map_err(StoreError::unavailable)?;
        let rows = client
            .query(
                &self.reads.sql.acquire_lease,
                &[&partition, &owner, &ttl.as_secs_f64()],
            )
            .await
            .map_err(StoreError::unavailable)?;
        Ok(!rows.is_empty())
    }

    async fn release(&self, partition: u32, owner: &str) -> Result<(), StoreError> {
        let partition = i32::try_from(partition).map_err(StoreError::unavailable)?;
        self.lease_client()
            .await?
            .execute(&self.reads.sql.release_lease, &[&partition, &owner])
            .await
            .map_err(StoreError::unavailable)?;
        Ok(())
    }

    async fn beat(&self, beat: &NodeBeat, ttl: Duration) -> Result<(), StoreError> {
        let work = i64::try_from(beat.work_orders).unwrap_or(i64::MAX);
        let oldest = i64::try_from(beat.oldest_due_secs).unwrap_or(i64::MAX);
        self.lease_client()
            .await?
            .execute(
                &self.reads.sql.beat,
                &[&beat.node, &ttl.as_secs_f64(), &work, &oldest],
            )
            .await
            .map_err(StoreError::unavailable)?;
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<LiveNode>, StoreError> {
        let rows = self
            .lease_client()
            .await?
            .query(&self.reads.sql.live_nodes, &[])
            .await
            .map_err(StoreError::unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(LiveNode {
                    beat: NodeBeat {
                        node: row.try_get(0).map_err(StoreError::unavailable)?,
                        work_orders: unsigned(row.try_get(1).map_err(StoreError::unavailable)?),
                        oldest_due_secs: unsigned(row.try_get(2).map_err(StoreError::unavailable)?),
                    },
                    draining: row.try_get(3).map_err(StoreError::unavailable)?,
                    expires_in: millis(row.try_get(4).map_err(StoreError::unavailable)?),
                })
            })
            .collect()
    }

    async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let rows = self
            .lease_client()
            .await?
            .query(&self.reads.sql.live_leases, &[])
            .await
            .map_err(StoreError::unavailable)?;
        rows.iter()
            .map(|row| {
                let partition: i32 = row.try_get(0).map_err(StoreError::unavailable)?;
                Ok(Lease {
                    partition: u32::try_from(partition).map_err(StoreError::unavailable)?,
                    owner: row.try_get(1).map_err(StoreError::unavailable)?,
                    expires_in: millis(row.try_get(2).map_err(StoreError::unavailable)?),
                })
            })
            .collect()
    }

    async fn leave(&self, node: &str) -> Result<(), StoreError> {
        self.lease_client()
            .await?
            .execute(&self.reads.sql.leave, &[&node])
            .await
            .map_err(StoreError::unavailable)?;
        Ok(())
    }

    async fn drain(&self, node: &str) -> Result<bool, StoreError> {
        let rows = self
            .lease_client()
            .await?
            .query(&self.reads.sql.drain, &[&node])
            .await
            .map_err(StoreError::unavailable)?;
        Ok(!rows.is_empty())
    }

    fn shared(&self) -> bool {
        true
    }
}

impl PostgresStore {
    /// A connection of the read pool, for the lease and node tables.
    async fn lease_client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.reads.pool.get().await.map_err(StoreError::unavailable)
    }
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Milliseconds the database counted, as a duration (0 when already past).
fn millis(value: i64) -> Duration {
    Duration::from_millis(unsigned(value))
}

#[async_trait::async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        paycode_store::check_append(stream, &events)?;
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            append: Append {
                stream: stream.clone(),
                expected,
                events,
            },
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| StoreError::unavailable("the writer task has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::unavailable("the writer task stopped before answering"))?
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
        let config = role(&self.config, "separate-reader", &self.schema);
        Ok(Some(Arc::new(reader::Reads {
            pool: reader::pool(config, connections)?,
            sql: self.reads.sql.clone(),
            head: self.reads.head.clone(),
        })))
    }
}

/// Makes every connection plan each execution of a prepared statement with
/// its parameters and the table's current size. A generic plan cached while
/// the table was empty (a new schema) can be a sequential scan, which then
/// grows with the table: the id lookup of a 64-append group took 2.5 ms at
/// 10,000 events instead of 0.1 ms. Planning these small statements costs
/// microseconds. Options already in the URL are kept.
fn custom_plans(config: &mut tokio_postgres::Config) {
    let options = match config.get_options() {
        Some(given) => format!("{given} -c plan_cache_mode=force_custom_plan"),
        None => "-c plan_cache_mode=force_custom_plan".to_owned(),
    };
    config.options(options);
}

/// The settings of one kind of connection: `application_name` is
/// `{schema}-{role}` (at most 59 bytes, under PostgreSQL's 63), so an
/// operator sees in `pg_stat_activity` which connection is a writer, a
/// listener or a reader, and of which store.
fn role(
    config: &tokio_postgres::Config,
    role: &str,
    schema: &SchemaName,
) -> tokio_postgres::Config {
    let mut config = config.clone();
    config.application_name(format!("{schema}-{role}"));
    config
}

/// Converts a count, version or position to PostgreSQL's `bigint`; values
/// past `i64::MAX` clamp, which for a limit means "no limit" and for a
/// version or position "none such".
pub(crate) fn to_sql_int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// Reads a `bigint` the store wrote from a count: negative means a corrupt row.
pub(crate) fn from_sql_int(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative {what} {n}")))
}
