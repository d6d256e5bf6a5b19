//! Rebuilds: one pass over the log from position 0 for all the projections
//! rebuilt together (read and decoded once, a few pages ahead: [`ReadAhead`]),
//! into new generations next to the serving ones, then an atomic swap
//! ([`swap`]). [`Claim`] keeps two rebuilds of a projection from running at once.
//!
//! Invariant: the serving generations keep serving and following the log
//! throughout. The pointer moves only in the swap's transaction, and only
//! to generations at least as far as the ones serving, so readers never go
//! back in time; a failed or cancelled rebuild drops its own tables and the
//! pointer never moved.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use paycode_store::EventStore;
use rusqlite::TransactionBehavior;
use tokio::sync::mpsc;

use crate::error::ProjectionError;
use crate::page::Batch;
use crate::read_models::{ReadModels, Target, Writer, apply_page, blocking, lock};
use crate::{Projection, db};

/// Decoded pages a rebuild reads ahead of the page it is writing: reading
/// and decoding the log runs beside the SQLite writes.
const READ_AHEAD: usize = 2;
/// Rounds of "catch up with the live copy, then swap" a rebuild tries before
/// giving up; the live runner only moves while new events arrive, so one or
/// two rounds suffice unless the log grows faster than the rebuild applies.
const MAX_SWAP_ROUNDS: usize = 64;

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

impl ReadModels {
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
                    db::create_generation(&tx, writer.projectors.get(projection), generation)?;
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
                        db::drop_generation(&tx, writer.projectors.get(projection), generation)?;
                    }
                    tx.commit()?;
                    for &(projection, generation) in &generations {
                        writer.projectors.get(projection).forget(generation);
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
                        db::create_indexes(&tx, writer.projectors.get(projection), generation)?;
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
        db::drop_generation(&tx, writer.projectors.get(projection), serving)?;
    }
    tx.commit()?;
    for (projection, serving) in old {
        writer.projectors.get(projection).forget(serving);
    }
    Ok(true)
}
