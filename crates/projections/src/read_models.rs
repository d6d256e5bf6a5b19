//! The [`ReadModels`] handle and what the live runner (`live.rs`), the
//! rebuilds (`rebuild.rs`) and the queries (`query.rs`) share through it:
//! opening the database, the one writing connection with the projectors
//! ([`Writer`]), the pool of reading connections, the status, and
//! [`apply_page`], the one way events reach the rows.
//!
//! Invariant: every write goes through the one writer, one transaction at a
//! time, and a page's rows and checkpoints commit in the same transaction.
//! Events at or below a generation's checkpoint are skipped inside the
//! transaction that would apply them, so a page applied twice (a retry
//! after a failed commit, a rebuild's swap racing the live runner) changes
//! nothing.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use paycode_store::EventStore;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::watch;

use crate::error::ProjectionError;
use crate::page::{self, Batch};
use crate::registry::Projectors;
use crate::views::ProjectionStatus;
use crate::{Projection, db};

/// Queries running at once, each on its own connection and blocking thread;
/// the others wait their turn. Two: on two cores, back-office queries can
/// then take at most one core's worth from the payment process, however
/// many clients send them.
pub const READ_CONCURRENCY: usize = 2;
/// Events per rebuild transaction: bigger, as nothing waits on a rebuild's commit.
const REBUILD_PAGE: usize = 32_768;

/// The read models of one node: a handle shared by the runner, the
/// rebuilds and the queries. Cheap to clone.
#[derive(Clone)]
pub struct ReadModels {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    path: PathBuf,
    pub(crate) store: Arc<dyn EventStore>,
    /// The one writing connection of this process: the live runner, the
    /// rebuilds and the swaps take turns on it, one transaction at a time.
    /// A std mutex: it is only locked inside `spawn_blocking`.
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    /// At most [`READ_CONCURRENCY`] queries at once.
    read_permits: Arc<tokio::sync::Semaphore>,
    /// The lowest checkpoint of the serving generations, as this process last saw it.
    pub(crate) reached: watch::Sender<u64>,
    pub(crate) rebuilding: Mutex<BTreeSet<Projection>>,
    /// Events per rebuild transaction; tests make it small to see many pages.
    pub(crate) rebuild_page: AtomicUsize,
}

/// The writing connection, with what the projections keep in memory between pages.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    /// The log, to fold again an order that is not in memory.
    store: Arc<dyn EventStore>,
    /// Each projection's code and folded orders, per generation.
    pub(crate) projectors: Projectors,
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
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
        let (writer, projectors, reached) = blocking(move || {
            let mut conn = db::open(&opened)?;
            let mut projectors = Projectors::default();
            db::init(&mut conn, &mut projectors)?;
            let reached = min_checkpoint(&conn)?;
            Ok((conn, projectors, reached))
        })
        .await?;
        Ok(ReadModels {
            inner: Arc::new(Inner {
                path,
                store: Arc::clone(&store),
                writer: Mutex::new(Writer {
                    conn: writer,
                    store,
                    projectors,
                }),
                readers: Mutex::new(Vec::new()),
                read_permits: Arc::new(tokio::sync::Semaphore::new(READ_CONCURRENCY)),
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
        // Never closed, so `acquire` cannot fail; were it closed, the
        // queries would be unavailable, as the caller is told.
        let permit = Arc::clone(&inner.read_permits)
            .acquire_owned()
            .await
            .map_err(|e| ProjectionError::Store(paycode_store::StoreError::unavailable(e)))?;
        blocking(move || {
            let _permit = permit;
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
            if pool.len() < READ_CONCURRENCY {
                pool.push(conn);
            }
            result
        })
        .await
    }

    /// Runs `f` on the writer, when its turn comes.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || f(&mut lock(&inner.writer))).await
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProjectionError> + Send + 'static,
) -> Result<T, ProjectionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ProjectionError::TaskFailed)?
}

/// The lowest checkpoint of the serving generations: the position every
/// read model has reached.
pub(crate) fn min_checkpoint(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(MIN(k.position), 0) FROM projection_current c
         JOIN projection_checkpoint k ON k.name = c.name AND k.generation = c.generation",
        [],
        |row| row.get(0),
    )
}

/// Which generation a batch goes to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// The serving generation, whichever it is when the transaction starts.
    Current,
    /// A generation being rebuilt.
    Generation(u64),
}

/// Applies the events of `batch` past each target generation's checkpoint,
/// and moves the checkpoints to the batch's last position, in one
/// transaction. Returns the checkpoint after the batch.
pub(crate) fn apply_page(
    writer: &mut Writer,
    targets: &[(Projection, Target)],
    batch: &Batch,
) -> Result<u64, ProjectionError> {
    let Writer {
        conn,
        store,
        projectors,
    } = writer;
    let mut read_history =
        |stream: &str, before: u64| page::history(store.as_ref(), stream, before);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut applied = Vec::new();
    for &(projection, target) in targets {
        let projector = projectors.get(projection);
        let generation = match target {
            Target::Current => {
                let serving = db::current(&tx, projection)?.unwrap_or(0);
                projector.forget_before(serving);
                serving
            }
            Target::Generation(g) => g,
        };
        let checkpoint = db::checkpoint(&tx, projection, generation)?;
        if batch.last <= checkpoint {
            continue;
        }
        let events = batch.after(checkpoint);
        projector.apply(&tx, generation, checkpoint, events, &mut read_history)?;
        db::set_checkpoint(&tx, projection, generation, batch.last)?;
        applied.push((projection, generation));
    }
    tx.commit()?;
    for (projection, generation) in applied {
        projectors.get(projection).committed(generation, batch.last);
    }
    Ok(batch.last)
}
