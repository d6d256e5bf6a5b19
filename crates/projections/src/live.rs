//! The live runner: follows the store's global order from the serving
//! generations' checkpoints, applies each page of events to every
//! projection in one transaction ([`apply_page`]), and publishes the
//! position every read model has reached, for read-your-writes
//! ([`ReadModels::wait_for`]).
//!
//! It reads the log with `read_all` pages and waits on `watch_head`, the same
//! protocol as `paycode_store::Subscription`, because it applies whole pages
//! in one transaction and `Subscription` hands out one event at a time.
//!
//! Invariant: the published position only grows, and is one every serving
//! generation has committed (the lowest checkpoint, read after the commit).

use std::time::Duration;

use tokio::sync::watch;

use crate::Projection;
use crate::error::ProjectionError;
use crate::page::Batch;
use crate::read_models::{ReadModels, Target, apply_page, blocking, min_checkpoint};

/// Events per live transaction: big enough to amortise the commit, small
/// enough that the write lock is held for milliseconds.
const LIVE_PAGE: usize = 1_024;
/// Events per live transaction while the runner is far behind (after a
/// restart or a layout change): fewer commits, and nobody is waiting on a
/// position that far ahead anyway.
const CATCH_UP_PAGE: usize = 16_384;
/// How long the runner waits before retrying after a failure (store down,
/// database locked): long enough not to spin, short enough to recover fast.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The runner also looks at the store this often when no wake-up came:
/// another process (a CLI rebuild, an import) may have written the log.
const IDLE_POLL: Duration = Duration::from_secs(1);

impl ReadModels {
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
}
