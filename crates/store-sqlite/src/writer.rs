//! The writer thread: the only owner of the write connection. It takes every
//! append waiting in the queue, decides and inserts each in one transaction,
//! commits once, publishes the new head and only then answers the callers.
//!
//! Every request is decided before any of its rows is written, so a refused
//! request (conflict, idempotency mismatch) writes nothing and leaves the
//! others in the group alone. A SQL failure (disk full, I/O error) rolls back
//! the whole group: every caller in it gets `Unavailable`, and none of it was
//! committed, so a retry with the same event ids is safe.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot, watch};

use paycode_store::{Appended, ExpectedVersion, NewEvent, StoreError, StreamName};

use crate::to_sql_int;

/// Appends that may wait for the writer before `append` itself waits to
/// enqueue: back-pressure instead of unbounded memory under overload.
pub const WRITE_QUEUE: usize = 4_096;

/// A group stops taking requests once it holds this many events...
pub const MAX_GROUP_EVENTS: usize = 4_096;

/// ...or this many payload bytes, so one transaction (and the WAL it grows)
/// stays bounded even with events near the 1 MiB limit. A group may pass
/// either bound by the one request that crossed it.
pub const MAX_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// The longest a group keeps gathering appends that are still arriving: a
/// fraction of one fsync here (0.1 to 2 ms), so waiting costs less latency
/// than the commits it saves.
pub const GATHER_WINDOW: Duration = Duration::from_micros(200);

/// Consecutive looks at an empty queue (each after yielding the core) that
/// end the gathering early: the callers have all sent theirs.
const GATHER_EMPTY_LOOKS: u32 = 16;

/// One append waiting for the writer.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub stream: StreamName,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Totals since open, read by benchmarks and operators.
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

pub(crate) fn spawn(
    conn: Connection,
    queue: mpsc::Receiver<AppendRequest>,
    head: watch::Sender<u64>,
    counters: Arc<Counters>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("paycode-sqlite-writer".to_owned())
        .spawn(move || run(conn, queue, head, &counters))
}

/// Runs until every sender is gone and the queue is empty.
fn run(
    mut conn: Connection,
    mut queue: mpsc::Receiver<AppendRequest>,
    head: watch::Sender<u64>,
    counters: &Counters,
) {
    let mut last_group = 1;
    while let Some(first) = queue.blocking_recv() {
        let group = take_group(first, &mut queue, last_group > 1);
        last_group = group.len();
        commit_group(&mut conn, group, &head, counters);
    }
}

/// The first request plus the others already waiting, within the bounds.
///
/// When the previous group was shared (`gather`), appends are probably still
/// arriving: callers answered by the last commit are sending their next ones.
/// The writer then keeps looking, yielding its core in between, until the
/// queue stays empty for [`GATHER_EMPTY_LOOKS`] looks or [`GATHER_WINDOW`]
/// passes. That turns "one tiny commit, then one big" into even groups and
/// fewer fsyncs. A lone caller (previous group of one) never waits.
fn take_group(
    first: AppendRequest,
    queue: &mut mpsc::Receiver<AppendRequest>,
    gather: bool,
) -> Vec<AppendRequest> {
    let started = Instant::now();
    let mut events = first.events.len();
    let mut bytes: usize = first.events.iter().map(NewEvent::size).sum();
    let mut group = vec![first];
    let mut empty_looks = 0;
    while events < MAX_GROUP_EVENTS && bytes < MAX_GROUP_BYTES {
        if let Ok(next) = queue.try_recv() {
            events += next.events.len();
            bytes += next.events.iter().map(NewEvent::size).sum::<usize>();
            group.push(next);
            empty_looks = 0;
            continue;
        }
        if !gather || empty_looks >= GATHER_EMPTY_LOOKS || started.elapsed() >= GATHER_WINDOW {
            break;
        }
        empty_looks += 1;
        thread::yield_now();
    }
    group
}

fn commit_group(
    conn: &mut Connection,
    group: Vec<AppendRequest>,
    head: &watch::Sender<u64>,
    counters: &Counters,
) {
    counters.groups.fetch_add(1, Ordering::Relaxed);
    counters
        .requests
        .fetch_add(group.len() as u64, Ordering::Relaxed);
    match write_group(conn, &group) {
        Ok(Committed {
            answers,
            written,
            last_position,
        }) => {
            counters.events.fetch_add(written, Ordering::Relaxed);
            // Published before any caller hears back, so a caller that reads
            // watch_head after its append sees at least its own position.
            head.send_if_modified(|h| {
                let moved = last_position > *h;
                *h = (*h).max(last_position);
                moved
            });
            for (request, outcome) in group.into_iter().zip(answers) {
                // A caller that gave up (dropped its future) is not an error.
                let _ = request.reply.send(outcome);
            }
        }
        Err(error) => {
            let shared = Arc::new(error);
            for request in group {
                let _ = request
                    .reply
                    .send(Err(StoreError::Unavailable(Box::new(shared.clone()))));
            }
        }
    }
}

/// What a committed group tells its callers and the head.
struct Committed {
    /// One per request, in the group's order.
    answers: Vec<Result<Appended, StoreError>>,
    /// Events inserted (retries and refusals insert none).
    written: u64,
    /// The highest position inserted, 0 when none.
    last_position: u64,
}

/// Decides and inserts every request in one transaction, then commits.
fn write_group(conn: &mut Connection, group: &[AppendRequest]) -> rusqlite::Result<Committed> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let recorded_at = Utc::now().timestamp_micros();
    let mut answers = Vec::with_capacity(group.len());
    let (mut written, mut last_position) = (0, 0);
    for request in group {
        let outcome = match decide(&tx, request)? {
            Decision::Insert { first_version } => {
                let appended = insert(&tx, request, first_version, recorded_at)?;
                written += request.events.len() as u64;
                last_position = appended.position;
                Ok(appended)
            }
            Decision::Retry(appended) => Ok(appended),
            Decision::Refuse(error) => Err(error),
        };
        answers.push(outcome);
    }
    tx.commit()?;
    Ok(Committed {
        answers,
        written,
        last_position,
    })
}

/// What to do with one request, decided against the open transaction (which
/// already holds the earlier requests of the group).
enum Decision {
    Insert { first_version: u64 },
    Retry(Appended),
    Refuse(StoreError),
}

fn decide(tx: &Transaction<'_>, request: &AppendRequest) -> rusqlite::Result<Decision> {
    if let Some(decision) = idempotent_retry(tx, request)? {
        return Ok(decision);
    }
    let actual = stream_version(tx, &request.stream)?;
    if !request.expected.admits(actual) {
        return Ok(Decision::Refuse(StoreError::Conflict {
            stream: request.stream.to_string(),
            expected: request.expected,
            actual,
        }));
    }
    Ok(Decision::Insert {
        first_version: actual + 1,
    })
}

/// `None` when no id of the request is stored yet. An identical retry is all
/// ids stored, in this stream, at consecutive versions and positions in the
/// request's order (how this writer stores a batch); anything else with a
/// stored id is a mismatch.
fn idempotent_retry(
    tx: &Transaction<'_>,
    request: &AppendRequest,
) -> rusqlite::Result<Option<Decision>> {
    let mut lookup =
        tx.prepare_cached("SELECT stream, version, position FROM events WHERE id = ?1")?;
    let mut found: Vec<(String, i64, i64)> = Vec::new();
    for event in &request.events {
        let row = lookup
            .query_row([event.id.as_bytes()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        found.extend(row);
    }
    let Some(last) = found.last() else {
        return Ok(None);
    };
    let same_batch = found.len() == request.events.len()
        && found
            .iter()
            .all(|(stream, ..)| stream == request.stream.as_str())
        && found
            .windows(2)
            .all(|w| w[1].1 == w[0].1 + 1 && w[1].2 == w[0].2 + 1);
    if !same_batch {
        return Ok(Some(Decision::Refuse(StoreError::IdempotencyMismatch {
            stream: request.stream.to_string(),
        })));
    }
    let appended = Appended {
        version: to_u64(last.1)?,
        position: to_u64(last.2)?,
    };
    Ok(Some(Decision::Retry(appended)))
}

/// The stream's current version (its event count), 0 for a new stream: one
/// descent of the `(stream, version)` index.
fn stream_version(tx: &Transaction<'_>, stream: &StreamName) -> rusqlite::Result<u64> {
    let mut max = tx.prepare_cached("SELECT max(version) FROM events WHERE stream = ?1")?;
    let version: Option<i64> = max.query_row([stream.as_str()], |r| r.get(0))?;
    to_u64(version.unwrap_or(0))
}

fn insert(
    tx: &Transaction<'_>,
    request: &AppendRequest,
    first_version: u64,
    recorded_at: i64,
) -> rusqlite::Result<Appended> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (stream, version, id, type, type_version, data, metadata, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut appended = Appended {
        version: first_version,
        position: 0,
    };
    for (offset, event) in request.events.iter().enumerate() {
        appended.version = first_version + offset as u64;
        insert.execute(params![
            request.stream.as_str(),
            to_sql_int(appended.version),
            event.id.as_bytes(),
            event.event_type,
            event.type_version,
            event.data,
            event.metadata,
            recorded_at,
        ])?;
        appended.position = to_u64(tx.last_insert_rowid())?;
    }
    Ok(appended)
}

fn to_u64(n: i64) -> rusqlite::Result<u64> {
    u64::try_from(n).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, n))
}
