//! A subscription to the global order that works over any backend: it catches
//! up with `read_all` in pages, then waits on `watch_head` for new commits.
//!
//! It relies on two promises of the trait: `read_all` never skips an event
//! whose position is below one it has returned, and `watch_head` is updated
//! only after the commit is readable. It is not a push channel: it holds no
//! task and no buffer beyond one page.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use crate::{EventStore, RecordedEvent, StoreError};

/// Events fetched per `read_all` call while catching up. Big enough that the
/// per-call cost vanishes, small enough that a page of large events stays a
/// few megabytes.
pub const SUBSCRIPTION_PAGE: usize = 512;

/// Every event after a position, exactly once, in commit order; never ends.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    /// The position of the last event handed out (or the start).
    position: u64,
    page: VecDeque<RecordedEvent>,
    head: watch::Receiver<u64>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("store", &self.store)
            .field("position", &self.position)
            .field("buffered", &self.page.len())
            .finish()
    }
}

impl Subscription {
    /// Starts after global position `after` (0: from the beginning).
    pub fn new(store: Arc<dyn EventStore>, after: u64) -> Subscription {
        let head = store.watch_head();
        Subscription {
            store,
            position: after,
            page: VecDeque::new(),
            head,
        }
    }

    /// The position of the last event returned by [`Subscription::next`]
    /// (the starting position before the first): the checkpoint to store.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next event in commit order, waiting for one if caught up.
    /// Errors leave the subscription where it was: calling again retries.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.page.pop_front() {
                if event.position <= self.position {
                    return Err(StoreError::Corrupt(format!(
                        "read_all returned position {} after position {}",
                        event.position, self.position
                    )));
                }
                self.position = event.position;
                return Ok(event);
            }
            // No lost wake-up: `wait_for` looks at the current head first, so
            // a commit between this empty read and the wait still ends it.
            let page = self
                .store
                .read_all(self.position, SUBSCRIPTION_PAGE)
                .await?;
            if page.is_empty() {
                self.wait_past_position().await?;
            }
            self.page.extend(page);
        }
    }

    async fn wait_past_position(&mut self) -> Result<(), StoreError> {
        let after = self.position;
        match self.head.wait_for(|head| *head > after).await {
            Ok(_) => Ok(()),
            Err(closed) => Err(StoreError::unavailable(closed)),
        }
    }
}
