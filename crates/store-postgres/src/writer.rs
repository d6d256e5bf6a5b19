//! The writer task: the only user of the write connection. It takes every
//! append waiting in the queue and commits them as one transaction:
//!
//! 1. `pg_advisory_xact_lock` on the schema's append key: from here until
//!    COMMIT no other node appends to this schema;
//! 2. the head, the group's stream versions and stored ids, in statements
//!    of their own sent right behind the lock (pipelined): the server runs
//!    them in order, so each takes its snapshot after the lock was granted.
//!    (One statement that took the lock and read would have read with the
//!    snapshot it took before waiting.) Were a read ever stale, the unique
//!    keys on position, (stream, version) and id would refuse the group: an
//!    error, never a gap or a duplicate;
//! 3. the pure [`plan`](crate::plan) decides each append and numbers rows;
//! 4. one `INSERT ... SELECT FROM unnest(...)` and one `pg_notify`;
//! 5. COMMIT, then the head is published, then the callers are answered.
//!
//! A failed statement rolls the whole group back: every caller in it gets
//! `Unavailable`, and the next group runs on a new connection.
//! If COMMIT itself fails on a broken connection its outcome is unknown,
//! which is what `Unavailable` tells the caller (retry with the same ids).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, IsolationLevel, Row, Statement, Transaction};
use uuid::Uuid;

use paycode_store::{Appended, NewEvent, StoreError};

use crate::head::publish;
use crate::plan::{self, Append, Known, Plan, Stored};
use crate::schema::{Sql, connect, pg_error};
use crate::{from_sql_int, to_sql_int};

/// Appends that may wait for the writer before `append` itself waits to
/// enqueue: back-pressure instead of unbounded memory under overload.
pub const WRITE_QUEUE: usize = 4_096;

/// A group stops taking requests once it holds this many events...
pub const MAX_GROUP_EVENTS: usize = 4_096;

/// ...or this many payload bytes, so one transaction (and the arrays sent
/// with it) stays bounded even with events near the 1 MiB limit. A group may
/// pass either bound by the one request that crossed it.
pub const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// One append waiting for the writer.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub append: Append,
    pub reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Totals since connect, read by benchmarks and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Transactions committed (or attempted).
    pub groups: u64,
    /// Append requests answered.
    pub requests: u64,
    /// Events committed.
    pub events: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    groups: AtomicU64,
    requests: AtomicU64,
    events: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> WriterStats {
        WriterStats {
            groups: self.groups.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
        }
    }
}

/// The writer's connection settings, its client (reconnected when broken)
/// and where it publishes the head.
#[derive(Debug)]
pub(crate) struct Writer {
    config: tokio_postgres::Config,
    conn: Option<Conn>,
    sql: Arc<Sql>,
    head: Arc<watch::Sender<u64>>,
}

/// The write connection and its statements, prepared once per connection so
/// a group pays no parse round trips.
#[derive(Debug)]
struct Conn {
    client: Client,
    lock: Statement,
    head: Statement,
    stream_versions: Statement,
    lookup_ids: Statement,
    insert: Statement,
    notify: Statement,
}

impl Conn {
    async fn open(config: &tokio_postgres::Config, sql: &Sql) -> Result<Conn, StoreError> {
        let client = connect(config).await?;
        let (lock, head, stream_versions, lookup_ids, insert, notify) = tokio::try_join!(
            client.prepare("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"),
            client.prepare(&sql.head),
            client.prepare(&sql.stream_versions),
            client.prepare(&sql.lookup_ids),
            client.prepare(&sql.insert),
            client.prepare("SELECT pg_notify($1, $2)"),
        )
        .map_err(pg_error)?;
        Ok(Conn {
            client,
            lock,
            head,
            stream_versions,
            lookup_ids,
            insert,
            notify,
        })
    }
}

impl Writer {
    /// Opens the write connection now, so a bad server fails `connect`.
    pub async fn open(
        config: tokio_postgres::Config,
        sql: Arc<Sql>,
        head: Arc<watch::Sender<u64>>,
    ) -> Result<Writer, StoreError> {
        let conn = Conn::open(&config, &sql).await?;
        Ok(Writer {
            config,
            conn: Some(conn),
            sql,
            head,
        })
    }

    /// Runs until every sender is gone and the queue is empty.
    pub async fn run(mut self, mut queue: mpsc::Receiver<AppendRequest>, counters: Arc<Counters>) {
        while let Some(first) = queue.recv().await {
            let group = take_group(first, &mut queue);
            counters.groups.fetch_add(1, Ordering::Relaxed);
            counters
                .requests
                .fetch_add(group.len() as u64, Ordering::Relaxed);
            let written = self.commit_group(group).await;
            counters.events.fetch_add(written, Ordering::Relaxed);
        }
    }

    /// Commits one group and answers its callers; returns the events written.
    async fn commit_group(&mut self, group: Vec<AppendRequest>) -> u64 {
        let appends: Vec<&Append> = group.iter().map(|r| &r.append).collect();
        let sql = self.sql.clone();
        let outcome = match self.conn().await {
            Ok(conn) => write_group(conn, &sql, &appends).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(Plan { answers, rows }) => {
                let last = rows.last().map_or(0, |r| r.position);
                // Published before any caller hears back, so a caller that
                // reads watch_head after its append sees its own position.
                publish(&self.head, last);
                for (request, answer) in group.into_iter().zip(answers) {
                    // A caller that gave up (dropped its future) is not an error.
                    let _ = request.reply.send(answer);
                }
                rows.len() as u64
            }
            Err(error) => {
                // Failures are rare (a broken connection, a failover), and
                // the client may not know yet that its socket is dead: the
                // next group starts on a new connection either way.
                self.conn = None;
                let shared = Arc::new(error);
                for request in group {
                    let _ = request
                        .reply
                        .send(Err(StoreError::Unavailable(Box::new(shared.clone()))));
                }
                0
            }
        }
    }

    /// The open connection, reconnecting when the last one broke.
    async fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.conn = Some(Conn::open(&self.config, &self.sql).await?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::unavailable("no write connection"))
    }
}

/// The first request plus whatever else is already waiting, within the bounds.
fn take_group(
    first: AppendRequest,
    queue: &mut mpsc::Receiver<AppendRequest>,
) -> Vec<AppendRequest> {
    let mut events = first.append.events.len();
    let mut bytes: usize = first.append.events.iter().map(NewEvent::size).sum();
    let mut group = vec![first];
    while events < MAX_GROUP_EVENTS && bytes < MAX_GROUP_BYTES {
        let Ok(next) = queue.try_recv() else { break };
        events += next.append.events.len();
        bytes += next.append.events.iter().map(NewEvent::size).sum::<usize>();
        group.push(next);
    }
    group
}

/// One transaction: lock and read, decide, insert and notify, commit.
///
/// Statements are pipelined: the server runs them in the order sent, so the
/// reads sent right behind the lock still start (and take their snapshots)
/// only after the lock was granted.
async fn write_group(conn: &mut Conn, sql: &Sql, group: &[&Append]) -> Result<Plan, StoreError> {
    // Read committed whatever the server's default: each statement must take
    // its own snapshot, after the lock (repeatable read would keep the one
    // taken by the lock statement before it waited).
    let tx = conn
        .client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(pg_error)?;
    let streams: Vec<&str> = group
        .iter()
        .map(|a| a.stream.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let ids: Vec<Uuid> = group
        .iter()
        .flat_map(|a| a.events.iter().map(|e| e.id))
        .collect();
    let (lock, streams, ids): Params<'_> = (&[&sql.append_lock], &[&streams], &[&ids]);
    let (_, head, versions, stored) = tokio::try_join!(
        tx.execute(&conn.lock, lock),
        tx.query_one(&conn.head, &[]),
        tx.query(&conn.stream_versions, streams),
        tx.query(&conn.lookup_ids, ids),
    )
    .map_err(pg_error)?;
    let known = known(&head, &versions, &stored)?;
    let plan = plan::plan(known, group);
    if let Some(last) = plan.rows.last() {
        let head = last.position.to_string();
        let notify: &[&(dyn ToSql + Sync)] = &[&sql.channel, &head];
        tokio::try_join!(insert_rows(&tx, &conn.insert, group, &plan), async {
            tx.execute(&conn.notify, notify).await.map_err(pg_error)
        },)?;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(plan)
}

/// Parameter lists of the pipelined reads (the lock key, the streams, the ids).
type Params<'a> = (
    &'a [&'a (dyn ToSql + Sync)],
    &'a [&'a (dyn ToSql + Sync)],
    &'a [&'a (dyn ToSql + Sync)],
);

/// What the reads found: the head, the group's stream versions and the
/// stored rows of its ids.
fn known(head: &Row, versions: &[Row], stored: &[Row]) -> Result<Known, StoreError> {
    let mut known = Known {
        head: from_sql_int(head.try_get(0).map_err(corrupt)?, "position")?,
        ..Known::default()
    };
    for row in versions {
        let version = from_sql_int(row.try_get(1).map_err(corrupt)?, "version")?;
        known
            .versions
            .insert(row.try_get(0).map_err(corrupt)?, version);
    }
    for row in stored {
        let at = Stored {
            stream: row.try_get(1).map_err(corrupt)?,
            version: from_sql_int(row.try_get(2).map_err(corrupt)?, "version")?,
            position: from_sql_int(row.try_get(3).map_err(corrupt)?, "position")?,
        };
        known.ids.insert(row.try_get(0).map_err(corrupt)?, at);
    }
    Ok(known)
}

/// Every planned row in one statement: one array per column.
async fn insert_rows(
    tx: &Transaction<'_>,
    insert: &Statement,
    group: &[&Append],
    plan: &Plan,
) -> Result<(), StoreError> {
    let n = plan.rows.len();
    let (mut positions, mut streams, mut versions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut ids, mut types, mut type_versions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut data, mut metadata) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for row in &plan.rows {
        let append = group[row.append];
        let event = &append.events[row.index];
        positions.push(to_sql_int(row.position));
        streams.push(append.stream.as_str());
        versions.push(to_sql_int(row.version));
        ids.push(event.id);
        types.push(event.event_type.as_str());
        type_versions.push(i64::from(event.type_version));
        data.push(event.data.as_slice());
        metadata.push(event.metadata.as_slice());
    }
    tx.execute(
        insert,
        &[
            &positions,
            &streams,
            &versions,
            &ids,
            &types,
            &type_versions,
            &data,
            &metadata,
        ],
    )
    .await
    .map_err(pg_error)?;
    Ok(())
}

/// A column that does not decode as the schema says: the table was altered
/// or written by something else.
pub(crate) fn corrupt(error: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}
