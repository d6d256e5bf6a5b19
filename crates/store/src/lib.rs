//! The event store of paycode: the [`EventStore`] trait every backend
//! implements, the types that cross it, a backend-neutral [`Subscription`]
//! and the [`conformance`] suite every backend must pass.
//!
//! The store knows streams of opaque events (bytes of JSON) and one global
//! order of commits; it knows nothing of orders, payments or providers.
//! Backends live in their own crates (`paycode-store-sqlite`, ...) and run
//! the suite with [`conformance_tests!`].

pub mod conformance;
mod error;
mod event;
mod lease;
mod stream_name;
mod subscription;

use tokio::sync::watch;

pub use error::StoreError;
pub use event::{
    Appended, ExpectedVersion, MAX_EVENT_BYTES, NewEvent, RecordedEvent, check_append,
};
pub use lease::{
    Lease, Leases, LiveNode, NodeBeat, PARTITIONS, SingleNode, fair_share, partition_of,
};
pub use stream_name::{MAX_STREAM_NAME_BYTES, StreamName};
pub use subscription::{SUBSCRIPTION_PAGE, Subscription};

/// An append-only log of events in named streams, with one global order.
///
/// Stream versions are 1-based: the first event of a stream has version 1.
/// Global positions are 1-based and strictly increase in commit order.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug + 'static {
    /// Atomic: all events or none. Idempotent: appending events whose ids are
    /// already stored, as the same batch in the same stream, returns the
    /// original [`Appended`] and stores nothing, whatever `expected` says.
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError>;

    /// Events of one stream with version >= `from_version`, at most `limit`,
    /// in version order. Unknown stream: empty.
    async fn read_stream(
        &self,
        stream: &StreamName,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events with position > `after`, at most `limit`, in global (commit) order.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The highest committed global position (0 when empty).
    async fn head(&self) -> Result<u64, StoreError>;

    /// Wakes when new events are committed: a watch channel of the head position.
    /// The value only grows. It moves after the commit is visible to readers and,
    /// for appends through this handle, before `append` returns.
    fn watch_head(&self) -> watch::Receiver<u64>;

    /// A read-only handle on the same log with connections of its own (at
    /// most `connections` reads at once), for a reader of lower priority
    /// (the back office) whose reads must never queue ahead of this
    /// handle's: the payment process's. Its `append` answers
    /// [`StoreError::ReadOnly`]; its `watch_head` follows this handle's.
    /// `None` (the default): the backend has no pool to set apart (the
    /// KurrentDB client multiplexes one gRPC channel), so the caller reads
    /// through this handle.
    fn separate_reader(
        &self,
        connections: usize,
    ) -> Result<Option<std::sync::Arc<dyn EventStore>>, StoreError> {
        let _ = connections;
        Ok(None)
    }
}
