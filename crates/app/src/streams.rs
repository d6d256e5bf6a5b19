//! The one event-sourcing engine: load a stream, fold it, decide, append
//! with the expected version that was read, and decide again on a conflict.
//!
//! Orders (`orders.rs`) and reconciliation runs (`reconciliation/`) both
//! write through [`Streams`]; each says how its events are read and folded
//! by implementing [`Aggregate`].
//!
//! Concurrency is settled by the store, never by an in-memory lock alone:
//! when another writer appended first, the append fails with a conflict and
//! the decision is made again on the fresh state, at most
//! [`MAX_CONFLICT_RETRIES`] times. A decision that finds its work already
//! done (the identical request again) produces no events and appends nothing.
//!
//! New event ids come fresh for every decision. Were they derived from the
//! stream and version instead, two racing writers with different decisions
//! would carry the same ids, and the loser would read the store's idempotent
//! answer as its own success.

use std::marker::PhantomData;
use std::sync::Arc;

use paycode_store::{EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamName};

use crate::clock::IdSource;

/// How often a decision is made again after losing a race for the same
/// version. Each loss means another writer made progress on this stream, so
/// a handful is plenty; past it the caller gets `Contended` and may retry.
pub const MAX_CONFLICT_RETRIES: usize = 8;

/// Events read per call while loading one stream. A stream has tens of
/// events; the bound only keeps a corrupt giant stream from one huge read.
const LOAD_PAGE: usize = 1_000;

/// A state folded from one stream.
pub trait Aggregate: Sized + Send + Sync {
    type Event: Send + Sync;

    /// Reads a stored event; `Err` is the reason it is corrupt.
    fn decode(recorded: &RecordedEvent) -> Result<Self::Event, String>;

    /// The store's type name, type version and JSON bytes of an event.
    fn encode(event: &Self::Event) -> (&'static str, u32, Vec<u8>);

    /// Folds one event onto the state so far (`None`: nothing folded yet);
    /// `Err` is the reason the stream is corrupt.
    fn fold(state: Option<Self>, event: &Self::Event) -> Result<Self, String>;

    /// The stream version this state was folded up to.
    fn version(&self) -> u64;
}

/// Why a decision on a stream did not land.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<R: std::error::Error + 'static> {
    /// The decision refused: tell the caller the rule.
    #[error(transparent)]
    Rejected(R),
    /// Too many concurrent writers on one stream: the caller may try again.
    #[error("{stream} is being changed concurrently; try again")]
    Contended { stream: String },
    /// A stored event cannot be read or folded: a bug or corruption.
    #[error("stream {stream} is corrupt: {reason}")]
    Corrupt { stream: String, reason: String },
    /// The store failed: our fault, logged, not the caller's.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<R: std::error::Error + 'static> StreamError<R> {
    /// The same failure for a caller with another kind of refusal; a
    /// refusal itself goes through `rejected`.
    pub fn map_rejected<S: std::error::Error + 'static>(
        self,
        rejected: impl FnOnce(R) -> S,
    ) -> StreamError<S> {
        match self {
            StreamError::Rejected(r) => StreamError::Rejected(rejected(r)),
            StreamError::Contended { stream } => StreamError::Contended { stream },
            StreamError::Corrupt { stream, reason } => StreamError::Corrupt { stream, reason },
            StreamError::Store(e) => StreamError::Store(e),
        }
    }
}

/// Decodes a stored event and folds it onto `state`; a failure of either
/// is the stream's corruption. Loading a stream, replaying the log and
/// following it all fold through here.
pub fn fold_recorded<A: Aggregate, R: std::error::Error + 'static>(
    state: Option<A>,
    recorded: &RecordedEvent,
) -> Result<A, StreamError<R>> {
    let corrupt = |reason| StreamError::Corrupt {
        stream: recorded.stream.as_str().to_owned(),
        reason,
    };
    let event = A::decode(recorded).map_err(corrupt)?;
    A::fold(state, &event).map_err(corrupt)
}

/// A decision that landed, or found nothing to do.
#[derive(Debug, Clone)]
pub struct Decided<A: Aggregate> {
    /// The state after the decision (`None`: the stream is still empty).
    pub state: Option<A>,
    /// The events appended (empty when there was nothing to do).
    pub events: Vec<A::Event>,
    /// The global position of the last appended event, for read-your-writes.
    pub position: Option<u64>,
}

/// The streams of one aggregate kind in one store.
#[derive(Debug)]
pub struct Streams<A> {
    store: Arc<dyn EventStore>,
    ids: Arc<dyn IdSource>,
    kind: PhantomData<fn() -> A>,
}

impl<A> Clone for Streams<A> {
    fn clone(&self) -> Self {
        Streams {
            store: self.store.clone(),
            ids: self.ids.clone(),
            kind: PhantomData,
        }
    }
}

impl<A: Aggregate> Streams<A> {
    pub fn new(store: Arc<dyn EventStore>, ids: Arc<dyn IdSource>) -> Self {
        Streams {
            store,
            ids,
            kind: PhantomData,
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The stream's state, folded from its first event (`None`: empty).
    pub async fn load<R: std::error::Error + 'static>(
        &self,
        stream: &StreamName,
    ) -> Result<Option<A>, StreamError<R>> {
        let mut state = None;
        let mut from = 1;
        loop {
            let page = self.store.read_stream(stream, from, LOAD_PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(state);
            };
            from = last.version + 1;
            for recorded in &page {
                state = Some(fold_recorded(state, recorded)?);
            }
        }
    }

    /// Decides on the stream's fresh state and appends what `decide` returns,
    /// expecting the version it decided on; on a conflict, decides again.
    /// `metadata` is stored with every event of the decision.
    pub async fn execute<R: std::error::Error + 'static>(
        &self,
        stream: &StreamName,
        metadata: &[u8],
        mut decide: impl FnMut(Option<&A>) -> Result<Vec<A::Event>, R>,
    ) -> Result<Decided<A>, StreamError<R>> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let state = self.load(stream).await?;
            let events = decide(state.as_ref()).map_err(StreamError::Rejected)?;
            if events.is_empty() {
                return Ok(Decided {
                    state,
                    events,
                    position: None,
                });
            }
            let expected = match state.as_ref().map_or(0, A::version) {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v),
            };
            let batch = events
                .iter()
                .map(|event| {
                    let (event_type, type_version, data) = A::encode(event);
                    NewEvent {
                        id: self.ids.new_id(),
                        event_type: event_type.to_owned(),
                        type_version,
                        data,
                        metadata: metadata.to_vec(),
                    }
                })
                .collect();
            match self.store.append(stream, expected, batch).await {
                Ok(appended) => {
                    let mut state = state;
                    for event in &events {
                        state =
                            Some(
                                A::fold(state, event).map_err(|reason| StreamError::Corrupt {
                                    stream: stream.as_str().to_owned(),
                                    reason,
                                })?,
                            );
                    }
                    return Ok(Decided {
                        state,
                        events,
                        position: Some(appended.position),
                    });
                }
                Err(StoreError::Conflict { .. }) => {
                    tracing::debug!(stream = stream.as_str(), "lost a race; deciding again");
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(StreamError::Contended {
            stream: stream.as_str().to_owned(),
        })
    }
}
