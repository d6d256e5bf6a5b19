//! The runner: follows the store's global order from each projection's
//! checkpoint, applies each page of events to every projection in one
//! transaction, and publishes the position every read model has reached (for
//! read-your-writes). It also runs rebuilds (one pass over the log for all
//! the projections rebuilt together) and their atomic swap.
//!
//! It reads the log with `read_all` pages and waits on `watch_head`, the same
//! protocol as `paycode_store::Subscription`, because it applies whole pages
//! in one transaction and `Subscription` hands out one event at a time.
//! Events at or below a generation's checkpoint are skipped inside the
//! transaction that would apply them, so a page applied twice (a retry after
//! a failed commit, a rebuild's swap racing the live runner) changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use paycode_domain::{Order, OrderEvent};
use paycode_store::{EventStore, RecordedEvent, StreamName};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, watch};

use crate::cache::FoldCache;
use crate::daily::DailyOrder;
use crate::error::ProjectionError;
use crate::views::ProjectionStatus;
use crate::{Projection, daily, db, orders};

/// Events per live transaction: big enough to amortise the commit, small
/// enough that the write lock is held for milliseconds.
const LIVE_PAGE: usize = 1_024;
/// Events per live transaction while the runner is far behind (after a
/// restart or a layout change): fewer commits, and nobody is waiting on a
/// position that far ahead anyway.
const CATCH_UP_PAGE: usize = 16_384;
/// Events per rebuild transaction: bigger, as nothing waits on a rebuild's commit.
const REBUILD_PAGE: usize = 32_768;
/// Queries running at once, each on its own connection and blocking thread;
/// the others wait their turn. Two: on two cores, back-office queries can
/// then take at most one core's worth from the payment process, however
/// many clients send them.
pub const READ_CONCURRENCY: usize = 2;
/// How long the runner waits before retrying after a failure (store down,
/// database locked): long enough not to spin, short enough to recover fast.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The runner also looks at the store this often when no wake-up came:
/// another process (a CLI rebuild, an import) may have written the log.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Orders kept folded in memory per generation, in each of the cache's two
/// halves: the orders in flight for several seconds of traffic at 2,000
/// payments/s.
const ORDER_CACHE_HALF: usize = 16_384;
/// The daily-totals projection keeps much less per order.
const DAILY_CACHE_HALF: usize = 65_536;
/// Events per read when an order is folded again from its stream.
const HISTORY_PAGE: usize = 256;
/// Decoded pages a rebuild reads ahead of the page it is writing: reading
/// and decoding the log runs beside the SQLite writes.
const READ_AHEAD: usize = 2;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The projections being rebuilt together.
    pub projections: Vec<Projection>,
    /// The log position applied so far.
    pub applied: u64,
    /// The store's head when the rebuild started (grows if it is passed).
    pub target: u64,
    pub elapsed: Duration,
}

impl Progress {
    /// The projections being rebuilt, as errors and progress bars name them:
    /// `orders+daily_totals`.
    pub fn what(&self) -> String {
        names(&self.projections)
    }

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Each rebuilt projection with the generation that now serves it.
    pub generations: Vec<(Projection, u64)>,
    /// The log position the new generations were swapped in at.
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
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    /// At most [`READ_CONCURRENCY`] queries at once.
    read_permits: Arc<tokio::sync::Semaphore>,
    /// The lowest checkpoint of the serving generations, as this process last saw it.
    reached: watch::Sender<u64>,
    rebuilding: Mutex<BTreeSet<Projection>>,
    /// Events per rebuild transaction; tests make it small to see many pages.
    rebuild_page: AtomicUsize,
}

/// The writing connection, with what the projections keep in memory between pages.
struct Writer {
    conn: Connection,
    /// The log, to fold again an order that is not in memory.
    store: Arc<dyn EventStore>,
    caches: Caches,
}

/// Each projection's folded orders, per generation (see `cache.rs`).
#[derive(Default)]
struct Caches {
    orders: HashMap<u64, FoldCache<Order>>,
    daily: HashMap<u64, FoldCache<DailyOrder>>,
}

impl Caches {
    /// A generation's tables were dropped: so is what was kept of them.
    fn forget(&mut self, projection: Projection, generation: u64) {
        match projection {
            Projection::Orders => {
                self.orders.remove(&generation);
            }
            Projection::DailyTotals => {
                self.daily.remove(&generation);
            }
        }
    }

    /// Generations older than the serving one are never written again
    /// (another process may have swapped them out): what was kept of them goes.
    fn forget_before(&mut self, projection: Projection, serving: u64) {
        match projection {
            Projection::Orders => self.orders.retain(|g, _| *g >= serving),
            Projection::DailyTotals => self.daily.retain(|g, _| *g >= serving),
        }
    }

    /// Marks what a page folded as true at `checkpoint`, once its transaction committed.
    fn committed(&mut self, projection: Projection, generation: u64, checkpoint: u64) {
        match projection {
            Projection::Orders => self
                .orders
                .get_mut(&generation)
                .map(|c| c.committed(checkpoint)),
            Projection::DailyTotals => self
                .daily
                .get_mut(&generation)
                .map(|c| c.committed(checkpoint)),
        };
    }
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
                store: Arc::clone(&store),
                writer: Mutex::new(Writer {
                    conn: writer,
                    store,
                    caches: Caches::default(),
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
        let behind = self.inner.store.watch_head().borrow().saturating_sub(after);
        let size = if !usize::try_from(behind).is_ok_and(|b| b <= CATCH_UP_PAGE) {
            CATCH_UP_PAGE
        } else {
            LIVE_PAGE
        };
        let page = self.inner.store.read_all(after, size).await?;
        if page.is_empty() {
            self.publish(after);
            return Ok(false);
        }
        let batch = blocking(move || Batch::decode(&page)).await?;
        let current = Projection::ALL.map(|projection| (projection, Target::Current));
        self.write(move |writer| apply_page(writer, &current, &batch))
            .await?;
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

    /// Rebuilds projections from position 0 into new generations while the
    /// current ones keep serving, then swaps them in together, atomically.
    /// Projections rebuilt together read and decode the log once.
    /// `progress` is called after every page; `ControlFlow::Break` abandons
    /// the rebuild. On any failure the new generations are dropped and the
    /// old ones serve on.
    pub async fn rebuild(
        &self,
        projections: &[Projection],
        mut progress: impl FnMut(&Progress) -> ControlFlow<()> + Send,
    ) -> Result<RebuildReport, ProjectionError> {
        let mut projections = projections.to_vec();
        projections.sort();
        projections.dedup();
        let _claim = Claim::new(self, &projections)?;
        let chosen = projections.clone();
        let generations = self
            .write(move |writer| {
                let tx = writer
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut generations = Vec::new();
                for projection in chosen {
                    let generation = db::next_generation(&tx, projection)?;
                    db::create_generation(&tx, projection, generation)?;
                    generations.push((projection, generation));
                }
                tx.commit()?;
                Ok(generations)
            })
            .await?;
        let result = self
            .fill_and_swap(projections, generations.clone(), &mut progress)
            .await;
        if result.is_err() {
            let dropped = self
                .write(move |writer| {
                    let tx = writer
                        .conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)?;
                    for &(projection, generation) in &generations {
                        db::drop_generation(&tx, projection, generation)?;
                    }
                    tx.commit()?;
                    for &(projection, generation) in &generations {
                        writer.caches.forget(projection, generation);
                    }
                    Ok(())
                })
                .await;
            if let Err(error) = dropped {
                tracing::warn!(%error, "could not drop a failed rebuild; the next rebuild skips its numbers");
            }
        }
        result
    }

    async fn fill_and_swap(
        &self,
        projections: Vec<Projection>,
        generations: Vec<(Projection, u64)>,
        progress: &mut (impl FnMut(&Progress) -> ControlFlow<()> + Send),
    ) -> Result<RebuildReport, ProjectionError> {
        let started = Instant::now();
        let target = self.inner.store.head().await?;
        let targets: Arc<[(Projection, Target)]> = generations
            .iter()
            .map(|&(projection, g)| (projection, Target::Generation(g)))
            .collect();
        let mut applied = 0;
        for round in 0..MAX_SWAP_ROUNDS {
            let size = self.inner.rebuild_page.load(Ordering::Relaxed);
            let mut pages = ReadAhead::start(Arc::clone(&self.inner.store), applied, size);
            while let Some(batch) = pages.next().await? {
                let targets = Arc::clone(&targets);
                applied = self
                    .write(move |writer| apply_page(writer, &targets, &batch))
                    .await?;
                let now = Progress {
                    projections: projections.clone(),
                    applied,
                    target: target.max(applied),
                    elapsed: started.elapsed(),
                };
                if progress(&now).is_break() {
                    return Err(ProjectionError::RebuildCancelled(names(&projections)));
                }
            }
            if round == 0 {
                let indexing = generations.clone();
                self.write(move |writer| {
                    let tx = writer
                        .conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)?;
                    for &(projection, generation) in &indexing {
                        db::create_indexes(&tx, projection, generation)?;
                    }
                    Ok(tx.commit()?)
                })
                .await?;
            }
            let swapping = generations.clone();
            if self.write(move |writer| swap(writer, &swapping)).await? {
                return Ok(RebuildReport {
                    generations,
                    checkpoint: applied,
                    elapsed: started.elapsed(),
                });
            }
        }
        Err(ProjectionError::RebuildOutpaced(names(&projections)))
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

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T, ProjectionError> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || f(&mut lock(&inner.writer))).await
    }
}

/// Marks projections as being rebuilt for as long as it lives.
struct Claim<'a> {
    models: &'a ReadModels,
    projections: Vec<Projection>,
}

impl<'a> Claim<'a> {
    fn new(
        models: &'a ReadModels,
        projections: &[Projection],
    ) -> Result<Claim<'a>, ProjectionError> {
        let mut rebuilding = lock(&models.inner.rebuilding);
        if let Some(busy) = projections.iter().find(|p| rebuilding.contains(p)) {
            return Err(ProjectionError::RebuildInProgress(busy.name()));
        }
        rebuilding.extend(projections.iter().copied());
        Ok(Claim {
            models,
            projections: projections.to_vec(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut rebuilding = lock(&self.models.inner.rebuilding);
        for projection in &self.projections {
            rebuilding.remove(projection);
        }
    }
}

/// `orders+daily_totals`: how errors and progress name projections rebuilt together.
fn names(projections: &[Projection]) -> String {
    projections
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join("+")
}

/// The log read and decoded a few pages ahead, by a task of its own, while
/// the rebuild writes the page before.
struct ReadAhead {
    pages: mpsc::Receiver<Result<Batch, ProjectionError>>,
    reader: tokio::task::JoinHandle<()>,
}

impl ReadAhead {
    /// Reads from `after` until a page comes back empty (the head as it was then).
    fn start(store: Arc<dyn EventStore>, mut after: u64, size: usize) -> ReadAhead {
        let (send, pages) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(async move {
            loop {
                let page = match store.read_all(after, size).await {
                    Ok(page) if page.is_empty() => return,
                    Ok(page) => page,
                    Err(error) => {
                        let _ = send.send(Err(error.into())).await;
                        return;
                    }
                };
                after = page.last().map_or(after, |e| e.position);
                let batch = blocking(move || Batch::decode(&page)).await;
                let failed = batch.is_err();
                if send.send(batch).await.is_err() || failed {
                    return;
                }
            }
        });
        ReadAhead { pages, reader }
    }

    /// The next page; `None` when the reader reached the head.
    async fn next(&mut self) -> Result<Option<Batch>, ProjectionError> {
        self.pages.recv().await.transpose()
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.reader.abort();
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

/// Applies the events of `batch` past each target generation's checkpoint,
/// and moves the checkpoints to the batch's last position, in one
/// transaction. Returns the checkpoint after the batch.
fn apply_page(
    writer: &mut Writer,
    targets: &[(Projection, Target)],
    batch: &Batch,
) -> Result<u64, ProjectionError> {
    let Writer {
        conn,
        store,
        caches,
    } = writer;
    let mut read_history = |stream: &str, before: u64| history(store.as_ref(), stream, before);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut applied = Vec::new();
    for &(projection, target) in targets {
        let generation = match target {
            Target::Current => {
                let serving = db::current(&tx, projection)?.unwrap_or(0);
                caches.forget_before(projection, serving);
                serving
            }
            Target::Generation(g) => g,
        };
        let checkpoint = db::checkpoint(&tx, projection, generation)?;
        if batch.last <= checkpoint {
            continue;
        }
        let events = batch.after(checkpoint);
        match projection {
            Projection::Orders => {
                let cache = caches
                    .orders
                    .entry(generation)
                    .or_insert_with(|| FoldCache::new(ORDER_CACHE_HALF));
                cache.begin(checkpoint);
                orders::apply(&tx, generation, events, cache, &mut read_history)?;
            }
            Projection::DailyTotals => {
                let cache = caches
                    .daily
                    .entry(generation)
                    .or_insert_with(|| FoldCache::new(DAILY_CACHE_HALF));
                cache.begin(checkpoint);
                daily::apply(&tx, generation, events, cache, &mut read_history)?;
            }
        }
        db::set_checkpoint(&tx, projection, generation, batch.last)?;
        applied.push((projection, generation));
    }
    tx.commit()?;
    for (projection, generation) in applied {
        caches.committed(projection, generation, batch.last);
    }
    Ok(batch.last)
}

/// How a projection gets back an order it no longer holds in memory: the
/// events of `stream` before log position `before`, decoded.
pub(crate) type History<'a> = dyn FnMut(&str, u64) -> Result<Vec<OrderEvent>, ProjectionError> + 'a;

/// Reads [`History`] from the log. Runs on the blocking thread that applies
/// a page, so it waits for the store there.
fn history(
    store: &dyn EventStore,
    stream: &str,
    before: u64,
) -> Result<Vec<OrderEvent>, ProjectionError> {
    let name = StreamName::parse(stream).map_err(|error| ProjectionError::Corrupt {
        position: before,
        reason: error.to_string(),
    })?;
    let runtime = tokio::runtime::Handle::current();
    let mut decoded = Vec::new();
    let mut from_version = 1;
    loop {
        let events = runtime.block_on(store.read_stream(&name, from_version, HISTORY_PAGE))?;
        let full = events.len() == HISTORY_PAGE;
        for event in events.iter().take_while(|e| e.position < before) {
            let event = OrderEvent::decode(&event.event_type, event.type_version, &event.data)
                .map_err(|error| ProjectionError::Corrupt {
                    position: event.position,
                    reason: error.to_string(),
                })?;
            decoded.push(event);
        }
        match events.last() {
            Some(last) if full && last.position < before => from_version = last.version + 1,
            _ => return Ok(decoded),
        }
    }
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

/// Points each projection at its new generation and drops the old tables,
/// all in one transaction, if every new generation is at least as far as
/// the one serving (so readers never go back in time). `false`: a live copy
/// moved on; catch up and try again.
fn swap(writer: &mut Writer, generations: &[(Projection, u64)]) -> Result<bool, ProjectionError> {
    let tx = writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut old = Vec::new();
    for &(projection, generation) in generations {
        let serving = db::current(&tx, projection)?.unwrap_or(0);
        if db::checkpoint(&tx, projection, generation)? < db::checkpoint(&tx, projection, serving)?
        {
            return Ok(false);
        }
        old.push((projection, serving));
    }
    for (&(projection, generation), &(_, serving)) in generations.iter().zip(&old) {
        tx.execute(
            "UPDATE projection_current SET generation = ?2 WHERE name = ?1",
            rusqlite::params![projection.name(), generation],
        )?;
        db::drop_generation(&tx, projection, serving)?;
    }
    tx.commit()?;
    for (projection, serving) in old {
        writer.caches.forget(projection, serving);
    }
    Ok(true)
}
