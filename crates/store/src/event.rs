//! The values that cross the store: events going in, events coming out, the
//! expected version of an append and its acknowledgement.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{StoreError, StreamName};

/// The largest event accepted, counting data + metadata bytes. Events are
/// small facts (a few hundred bytes); a megabyte means a bug upstream, and the
/// bound keeps one append from stalling the writer of every other caller.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// What the caller believes the stream's version is before its append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check: append whatever the version.
    Any,
    /// The stream must hold no event yet.
    NoStream,
    /// The stream must hold exactly this many events now (`Exact(0)` is `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream now at `actual` (its event count) satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(n) => actual == n,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(n) => write!(f, "version {n}"),
        }
    }
}

/// An event to append. The id makes retries idempotent: a client that does
/// not know whether its append committed sends it again with the same ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub type_version: u32,
    /// The event as JSON.
    pub data: Vec<u8>,
    /// JSON (correlation, causation, actor), may be empty.
    pub metadata: Vec<u8>,
}

impl NewEvent {
    /// The bytes counted against [`MAX_EVENT_BYTES`].
    pub fn size(&self) -> usize {
        self.data.len() + self.metadata.len()
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: StreamName,
    /// 1-based version within the stream.
    pub version: u64,
    /// 1-based global position; strictly increases in commit order.
    pub position: u64,
    pub event_type: String,
    pub type_version: u32,
    pub data: Vec<u8>,
    pub metadata: Vec<u8>,
    pub recorded_at: DateTime<Utc>,
}

/// The acknowledgement of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append (the version of its last event).
    pub version: u64,
    /// The global position of the last event appended.
    pub position: u64,
}

/// The checks every backend makes before touching storage: at least one
/// event, none over [`MAX_EVENT_BYTES`], no id twice in the batch.
pub fn check_append(stream: &StreamName, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Err(StoreError::EmptyAppend);
    }
    if let Some(big) = events.iter().find(|e| e.size() > MAX_EVENT_BYTES) {
        return Err(StoreError::TooLarge {
            size: big.size(),
            limit: MAX_EVENT_BYTES,
        });
    }
    let mut seen = HashSet::with_capacity(events.len());
    if !events.iter().all(|e| seen.insert(e.id)) {
        return Err(StoreError::IdempotencyMismatch {
            stream: stream.to_string(),
        });
    }
    Ok(())
}
