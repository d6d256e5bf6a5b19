//! The one error type of the store, shaped by what the caller does next.

use std::error::Error;

use crate::ExpectedVersion;

/// What went wrong with a store call. Each variant's [`StoreError::code`] is
/// stable: it is never renamed or reused.
///
/// Reactions: `Conflict` reload and decide again (bounded); `IdempotencyMismatch`,
/// `InvalidStreamName`, `TooLarge`, `EmptyAppend`, `ReadOnly` are caller bugs or bad input,
/// never retried; `Unavailable` retry later, the outcome of an append is then
/// unknown, so retry it with the same event ids; `Corrupt` stop and page a person.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream {stream} is at version {actual}, the append expected {expected}")]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        actual: u64,
    },
    #[error("invalid stream name {name:?}: {reason}")]
    InvalidStreamName { name: String, reason: &'static str },
    #[error("event of {size} bytes (data + metadata) exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("an append needs at least one event")]
    EmptyAppend,
    #[error(
        "in stream {stream}, some of the event ids are already stored but not as this same batch \
         in this stream (or the batch repeats an id)"
    )]
    IdempotencyMismatch { stream: String },
    #[error("the event store is unavailable")]
    Unavailable(#[source] Box<dyn Error + Send + Sync>),
    #[error("the event store holds data it cannot read: {0}")]
    Corrupt(String),
    /// An append through a read-only handle ([`crate::EventStore::separate_reader`]):
    /// a caller bug, never retried.
    #[error("this handle on the event store only reads")]
    ReadOnly,
}

impl StoreError {
    /// The stable code an API or a log line carries for this error.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Conflict { .. } => "store_conflict",
            StoreError::InvalidStreamName { .. } => "store_invalid_stream_name",
            StoreError::TooLarge { .. } => "store_too_large",
            StoreError::EmptyAppend => "store_empty_append",
            StoreError::IdempotencyMismatch { .. } => "store_idempotency_mismatch",
            StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Corrupt(_) => "store_corrupt",
            StoreError::ReadOnly => "store_read_only",
        }
    }

    /// Wraps any backend failure (I/O, driver, closed channel) as `Unavailable`.
    pub fn unavailable(source: impl Into<Box<dyn Error + Send + Sync>>) -> StoreError {
        StoreError::Unavailable(source.into())
    }
}
