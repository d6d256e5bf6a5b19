//! The runner: follows the store's global order from each projection's
//! checkpoint, applies pages of events in one transaction per projection,
//! and publishes the position every read model has reached (for
//! read-your-writes). It also runs rebuilds and their atomic swap.
//!
//! It reads the log with `read_all` pages and waits on `watch_head`, the same
//! protocol as `paycode_store::Subscription`, because it applies whole pages
//! in one transaction and `Subscription` hands out one event at a time.
//! Events at or below a generation's checkpoint are skipped inside the
//! transaction that would apply them, so a page applied twice (a retry after
//! a failed commit, a rebuild's swap racing the live runner) changes nothing.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use paycode_domain::OrderEvent;
use paycode_store::{EventStore, RecordedEvent};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::watch;

use crate::error::ProjectionError;
use crate::views::ProjectionStatus;
use crate::{Projection, daily, db, orders};

/// Events per live transaction: big enough to amortise the commit, small
/// enough that the write lock is held for milliseconds.
const LIVE_PAGE: usize = 1_024;
/// Events per rebuild transaction: bigger, as nothing waits on a rebuild's commit.
const REBUILD_PAGE: usize = 8_192;
/// Connections kept open for queries; more concurrent queries open their own.
const MAX_POOLED_READERS: usize = 8;
/// How long the runner waits before retrying after a failure (store down,
/// database locked): long enough not to spin, short enough to recover fast.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The runner also looks at the store this often when no wake-up came:
/// another process (a CLI rebuild, an import) may have written the log.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Rounds of "catch up with the live copy, then swap" a rebuild tries before
/// giving up; the live runner only moves while new events arrive, so one or
/// two rounds suffice unless the log grows faster than the rebuild applies.
const MAX_SWAP_ROUNDS: usize = 64;

/// The prefix of every order stream (`paycode_domain::order_stream`).
const ORDER_STREAM_PREFIX: &str = "order-";

/// A decoded order event with where it sits in the log.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub position: u64,
    pub stream: String,
    pub event: OrderEvent,
}

/// A page of the log, decoded once for every projection: its order events
/// and the position of its last event (of any stream).
#[derive(Debug)]
pub(crate) struct Batch {
    pub last: u64,
    pub events: Vec<Decoded>,
}

impl Batch {
    fn decode(page: &[RecordedEvent]) -> Result<Batch, ProjectionError> {
        Ok(Batch {
            last: page.last().map_or(0, |e| e.position),
            events: decode(page)?,
        })
    }

    /// The events past `checkpoint` (positions increase along the page).
    fn after(&self, checkpoint: u64) -> &[Decoded] {
        let start = self.events.partition_point(|d| d.position <= checkpoint);
        &self.events[start..]
    }
}

/// Which generation a batch goes to.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The serving generation, whichever it is when the transaction starts.
    Current,
    /// A generation being rebuilt.
    Generation(u64),
}

/// How far a rebuild is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub projection: Projection,
    /// The log position applied so far.
    pub applied: u64,
    /// The store's head when the rebuild started (grows if it is passed).
    pub target: u64,
    pub elapsed: Duration,
}

impl Progress {
    /// Positions applied per second so far (integer arithmetic: no floats in money code).
    pub fn events_per_sec(&self) -> u64 {
        let ms = u64::try_from(self.elapsed.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.applied.saturating_mul(1_000) / ms
    }

    /// The time left at the rate so far; `None` before the first page.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.events_per_sec();
        (rate > 0).then(|| {
            Duration::from_millis(
                self.target
                    .saturating_sub(self.applied)
                    .saturating_mul(1_000)
                    / rate,
            )
        })
    }
}

/// The outcome of a rebuild that swapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    pub projection: Projection,
    pub generation: u64,
    pub checkpoint: u64,
    pub elapsed: Duration,
}

/// The read models of one node: a handle shared by the runner, the
/// rebuilds and the queries. Cheap to clone.
#[derive(Clone)]
pub struct ReadModels {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    store: Arc<dyn EventStore>,
    /// The one writing connection of this process: the live runner, the
    /// rebuilds and the swaps take turns on it, one transaction at a time.
    /// A std mutex: it is only locked inside `spawn_blocking`.
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// The lowest checkpoint of the serving generations, as this process last saw it.
    reached: watch::Sender<u64>,
    rebuilding: Mutex<BTreeSet<Projection>>,
    /// Events per rebuild transaction; tests make it small to see many pages.
    rebuild_page: AtomicUsize,
}

impl fmt::Debug for ReadModels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadModels")
            .field("path", &self.inner.path)
            .field("reached", &*self.inner.reached.borrow())
            .finish()
    }
}

/// Locks a mutex, recovering from a poisoned one: the guarded value is a
/// connection or a set, both left consistent by SQLite's own rollback.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ReadModels {
    /// Opens (creating when needed) the read-model database at `path`.
    pub async fn open(
        path: impl Into<PathBuf>,
        store: Arc<dyn EventStore>,
    ) -> Result<ReadModels, ProjectionError> {
        let path = path.into();
        let opened = path.clone();
        let (writer, reached) = blocking(move || {
            let mut conn = db::open(&opened)?;
            db::init(&mut conn)?;
            let reached = min_checkpoint(&conn)?;
            Ok((conn, reached))
        })
        .await?;
        Ok(ReadModels {
            inner: Arc::new(Inner {
                path,
                store,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                reached: watch::Sender::new(reached),
                rebuilding: Mutex::new(BTreeSet::new()),
                rebuild_page: AtomicUsize::new(REBUILD_PAGE),
            }),
        })
    }

    /// Sets the events per rebuild transaction (at least 1); the default
    /// suits production, tests use a small one to watch a rebuild page by page.
    pub fn set_rebuild_page(&self, events: usize) {
        self.inner
            .rebuild_page
            .store(events.max(1), Ordering::Relaxed);
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.store
    }

    /// The position every serving read model has reached.
    pub fn reached(&self) -> u64 {
        *self.inner.reached.borrow()
    }

    /// Wakes whenever [`ReadModels::reached`] moves.
    pub fn watch_reached(&self) -> watch::Receiver<u64> {
        self.inner.reached.subscribe()
    }

    /// Read-your-writes: waits until every read model reached `position`,
    /// at most `timeout`. Needs the runner going in this process.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), ProjectionError> {
        let mut reached = self.inner.reached.subscribe();
        match tokio::time::timeout(timeout, reached.wait_for(|at| *at >= position)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(ProjectionError::Timeout { position }),
        }
    }

    /// Applies everything the store holds now, then returns the position reached.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        while self.step().await? {}
        Ok(self.reached())
    }

    /// Follows the log forever: the live runner. Failures are logged and
    /// retried after [`RETRY_AFTER`]; nothing is skipped.
    pub async fn run(self) {
        let mut head = self.inner.store.watch_head();
        loop {
            match self.step().await {
                Ok(true) => {}
                Ok(false) => {
                    let after = self.reached();
                    // A timeout only means nobody woke us; look at the store again.
                    let _ = tokio::time::timeout(IDLE_POLL, head.wait_for(|h| *h > after)).await;
                }
                Err(error) => {
                    tracing::error!(%error, "projection runner failed; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }

    /// One page into every serving generation. `false`: nothing new.
    async fn step(&self) -> Result<bool, ProjectionError> {
        let after = self.read(|tx| Ok(min_checkpoint(tx)?)).await?;
        let page = self.inner.store.read_all(after, LIVE_PAGE).await?;
        if page.is_empty() {
            self.publish(after);
            return Ok(false);
        }
        let batch = Arc::new(blocking(move || Batch::decode(&page)).await?);
        for projection in Projection::ALL {
            let batch = Arc::clone(&batch);
            self.write(move |conn| apply_page(conn, projection, Target::Current, &batch))
                .await?;
        }
        let reached = self.read(|tx| Ok(min_checkpoint(tx)?)).await?;
        self.publish(reached);
        Ok(true)
    }

    fn publish(&self, reached: u64) {
        self.inner.reached.send_if_modified(|at| {
            let moved = reached > *at;
            *at = (*at).max(reached);
            moved
        });
    }

    /// Rebuilds one projection from position 0 into a new generation while
    /// the current one keeps serving, then swaps it in atomically. `progress`
    /// is called after every page; `ControlFlow::Break` abandons the rebuild.
    /// On any failure the new generation is dropped and the old one serves on.
    pub async fn rebuild(
        &self,
        projection: Projection,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()> + Send,
    ) -> Result<RebuildReport, ProjectionError> {
        let _claim = Claim::new(self, projection)?;
        let generation = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let generation = db::next_generation(&tx, projection)?;
                db::create_generation(&tx, projection, generation)?;
                tx.commit()?;
                Ok(generation)
            })
            .await?;
        let result = self
            .fill_and_swap(projection, generation, &mut progress)
            .await;
        if result.is_err() {
            let dropped = self
                .write(move |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    db::drop_generation(&tx, projection, generation)?;
                    Ok(tx.commit()?)
                })
                .await;
            if let Err(error) = dropped {
                tracing::warn!(%error, %projection, generation, "could not drop a failed rebuild; the next rebuild skips its number");
            }
        }
        result
    }

    async fn fill_and_swap(
        &self,
        projection: Projection,
        generation: u64,
        progress: &mut (impl FnMut(&Progress) -> ControlFlow<()> + Send),
    ) -> Result<RebuildReport, ProjectionError> {
        let started = Instant::now();
        let target = self.inner.store.head().await?;
        let mut applied = 0;
        for _round in 0..MAX_SWAP_ROUNDS {
            loop {
                let size = self.inner.rebuild_page.load(Ordering::Relaxed);
                let page = self.inner.store.read_all(applied, size).await?;
                if page.is_empty() {
                    break;
                }
                let batch = blocking(move || Batch::decode(&page)).await?;
                applied = self
                    .write(move |conn| {
                        apply_page(conn, projection, Target::Generation(generation), &batch)
                    })
                    .await?;
                let now = Progress {
                    projection,
                    applied,
                    target: target.max(applied),
                    elapsed: started.elapsed(),
                };
                if progress(&now).is_break() {
                    return Err(ProjectionError::RebuildCancelled(projection.name()));
                }
            }
            if self
                .write(move |conn| swap(conn, projection, generation))
                .await?
            {
                return Ok(RebuildReport {
                    projection,
                    generation,
                    checkpoint: applied,
                    elapsed: started.elapsed(),
                });
            }
        }
        Err(ProjectionError::RebuildOutpaced(projection.name()))
    }

    /// Each projection's serving generation, checkpoint, lag, and any
    /// generation being rebuilt next to it.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let head = self.inner.store.head().await?;
        self.read(move |tx| {
            let mut all = Vec::new();
            for projection in Projection::ALL {
                let generation = db::current(tx, projection)?.unwrap_or(0);
                let checkpoint = db::checkpoint(tx, projection, generation)?;
                let rebuilding = tx
                    .prepare(
                        "SELECT generation, position FROM projection_checkpoint
                         WHERE name = ?1 AND generation > ?2 ORDER BY generation DESC LIMIT 1",
                    )?
                    .query_map(rusqlite::params![projection.name(), generation], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .next()
                    .transpose()?;
                all.push(ProjectionStatus {
                    name: projection.name(),
                    generation,
                    checkpoint,
                    head,
                    lag: head.saturating_sub(checkpoint),
                    rebuilding,
                });
            }
            Ok(all)
        })
        .await
    }

    /// Runs `f` in one read transaction: one snapshot of pointers and rows.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let pooled = lock(&inner.readers).pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => db::open(&inner.path)?,
            };
            let result = {
                let tx = conn.transaction()?;
                let result = f(&tx);
                tx.finish()?;
                result
            };
            let mut pool = lock(&inner.readers);
            if pool.len() < MAX_POOLED_READERS {
                pool.push(conn);
            }
            result
        })
        .await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || f(&mut lock(&inner.writer))).await
    }
}

/// Marks a projection as being rebuilt for as long as it lives.
struct Claim<'a> {
    models: &'a ReadModels,
    projection: Projection,
}

impl<'a> Claim<'a> {
    fn new(models: &'a ReadModels, projection: Projection) -> Result<Claim<'a>, ProjectionError> {
        if !lock(&models.inner.rebuilding).insert(projection) {
            return Err(ProjectionError::RebuildInProgress(projection.name()));
        }
        Ok(Claim { models, projection })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(&self.models.inner.rebuilding).remove(&self.projection);
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProjectionError> + Send + 'static,
) -> Result<T, ProjectionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ProjectionError::TaskFailed)?
}

fn min_checkpoint(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(MIN(k.position), 0) FROM projection_current c
         JOIN projection_checkpoint k ON k.name = c.name AND k.generation = c.generation",
        [],
        |row| row.get(0),
    )
}

/// Applies the events of `batch` past the target generation's checkpoint,
/// and moves the checkpoint to the batch's last position, in one
/// transaction. Returns the checkpoint after the batch.
fn apply_page(
    conn: &mut Connection,
    projection: Projection,
    target: Target,
    batch: &Batch,
) -> Result<u64, ProjectionError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let generation = match target {
        Target::Current => db::current(&tx, projection)?.unwrap_or(0),
        Target::Generation(g) => g,
    };
    let checkpoint = db::checkpoint(&tx, projection, generation)?;
    if batch.last <= checkpoint {
        return Ok(checkpoint);
    }
    let events = batch.after(checkpoint);
    match projection {
        Projection::Orders => orders::apply(&tx, generation, events)?,
        Projection::DailyTotals => daily::apply(&tx, generation, events)?,
    }
    db::set_checkpoint(&tx, projection, generation, batch.last)?;
    tx.commit()?;
    Ok(batch.last)
}

/// The order events of a page; other streams are skipped.
fn decode(page: &[RecordedEvent]) -> Result<Vec<Decoded>, ProjectionError> {
    page.iter()
        .filter(|e| e.stream.as_str().starts_with(ORDER_STREAM_PREFIX))
        .map(|e| {
            OrderEvent::decode(&e.event_type, e.type_version, &e.data)
                .map(|event| Decoded {
                    position: e.position,
                    stream: e.stream.as_str().to_owned(),
                    event,
                })
                .map_err(|error| ProjectionError::Corrupt {
                    position: e.position,
                    reason: error.to_string(),
                })
        })
        .collect()
}

/// Points the projection at `generation` and drops the old tables, if the
/// new generation is at least as far as the serving one (so readers never
/// go back in time). `false`: the live copy moved on; catch up and try again.
fn swap(
    conn: &mut Connection,
    projection: Projection,
    generation: u64,
) -> Result<bool, ProjectionError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let old = db::current(&tx, projection)?.unwrap_or(0);
    if db::checkpoint(&tx, projection, generation)? < db::checkpoint(&tx, projection, old)? {
        return Ok(false);
    }
    tx.execute(
        "UPDATE projection_current SET generation = ?2 WHERE name = ?1",
        rusqlite::params![projection.name(), generation],
    )?;
    db::drop_generation(&tx, projection, old)?;
    tx.commit()?;
    Ok(true)
}
