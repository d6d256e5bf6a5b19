//! [`KurrentStore`]: the `EventStore` over one KurrentDB client. Every call
//! is a few gRPC requests, each bounded by [`OPERATION_TIMEOUT`]; KurrentDB
//! itself serialises writes and orders `$all`, so there is no writer task.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, ClientSettingsParseError, Position,
    ReadAllOptions, ReadStream, ReadStreamOptions, StreamPosition, SubscriptionFilter,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use paycode_store::{
    Appended, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamName,
};

use crate::codec;
use crate::follow;

/// The namespace of [`KurrentStore::connect`]: streams are `paycode/...`.
pub const DEFAULT_NAMESPACE: &str = "paycode";

/// The longest namespace accepted; it prefixes every stream name.
pub const MAX_NAMESPACE_BYTES: usize = 50;

/// How long one request to the server may take before the call fails as
/// `Unavailable` (for an append: outcome unknown, retry with the same ids).
/// Long enough for a leader election in a cluster, short enough that a
/// caller is not stuck behind a partition.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How many of a stream's newest events an append searches for its ids.
/// Order streams hold tens of events; a retry concerns a recent append.
pub const IDEMPOTENCY_SCAN: usize = 4_096;

/// Why [`KurrentStore::connect`] failed: a configuration to fix, or the
/// server is unreachable.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid KurrentDB connection string")]
    InvalidUrl(#[source] ClientSettingsParseError),
    #[error("invalid namespace {name:?}: {reason}")]
    InvalidNamespace { name: String, reason: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The KurrentDB event store, on the streams of one namespace.
pub struct KurrentStore {
    client: Client,
    namespace: String,
    head_tx: Arc<watch::Sender<u64>>,
    head: watch::Receiver<u64>,
    follower: JoinHandle<()>,
}

impl fmt::Debug for KurrentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KurrentStore")
            .field("namespace", &self.namespace)
            .field("head", &*self.head.borrow())
            .finish()
    }
}

impl KurrentStore {
    /// Connects with a KurrentDB connection string
    /// (`kurrentdb://host:2113?tls=false`, `esdb://...` works too) to the
    /// streams of the namespace [`DEFAULT_NAMESPACE`].
    pub async fn connect(url: &str) -> Result<KurrentStore, ConnectError> {
        KurrentStore::connect_in(url, DEFAULT_NAMESPACE).await
    }

    /// Connects to the streams of `namespace` (1..=50 bytes of `[a-z0-9_]`):
    /// each namespace is a separate, initially empty store on one server.
    pub async fn connect_in(url: &str, namespace: &str) -> Result<KurrentStore, ConnectError> {
        check_namespace(namespace)?;
        let settings: ClientSettings = url.parse().map_err(ConnectError::InvalidUrl)?;
        let client = Client::new(settings).map_err(|e| {
            StoreError::unavailable(format!("the KurrentDB client did not start: {e}"))
        })?;
        let namespace = namespace.to_owned();
        // Also proves the server answers, so a wrong address fails here.
        let initial = head(&client, &namespace).await?;
        let (head_tx, head) = watch::channel(initial);
        let head_tx = Arc::new(head_tx);
        let follower = tokio::spawn(follow::follow(
            client.clone(),
            namespace.clone(),
            head_tx.clone(),
            initial,
        ));
        Ok(KurrentStore {
            client,
            namespace,
            head_tx,
            head,
            follower,
        })
    }

    /// The namespace this store's streams live in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `Some` when the batch's ids are already in the stream: the original
    /// ack for an identical retry, a mismatch for anything else.
    async fn stored_batch(
        &self,
        id: &str,
        stream: &StreamName,
        events: &[NewEvent],
    ) -> Result<Option<Result<Appended, StoreError>>, StoreError> {
        let options = ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .max_count(IDEMPOTENCY_SCAN);
        let newest = read_stream_events(&self.client, &self.namespace, id, &options).await?;
        let found: Vec<&RecordedEvent> = events
            .iter()
            .filter_map(|wanted| newest.iter().find(|e| e.id == wanted.id))
            .collect();
        let Some(last) = found.last() else {
            return Ok(None);
        };
        let same_batch = found.len() == events.len()
            && found.windows(2).all(|w| w[1].version == w[0].version + 1);
        Ok(Some(if same_batch {
            Ok(Appended {
                version: last.version,
                position: last.position,
            })
        } else {
            Err(StoreError::IdempotencyMismatch {
                stream: stream.to_string(),
            })
        }))
    }

    /// The position of the event at `revision`, which must carry `id`.
    async fn position_of(
        &self,
        id: &str,
        revision: u64,
        event: uuid::Uuid,
    ) -> Result<u64, StoreError> {
        let options = ReadStreamOptions::default()
            .forwards()
            .position(StreamPosition::Position(revision))
            .max_count(1);
        let read = read_stream_events(&self.client, &self.namespace, id, &options).await?;
        match read.first() {
            Some(stored) if stored.id == event => Ok(stored.position),
            Some(_) | None => Err(StoreError::Corrupt(format!(
                "{id} has no event {event} at revision {revision} right after appending it"
            ))),
        }
    }
}

impl Drop for KurrentStore {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

#[async_trait::async_trait]
impl EventStore for KurrentStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        paycode_store::check_append(stream, &events)?;
        let id = codec::stream_id(&self.namespace, stream);
        if let Some(answer) = self.stored_batch(&id, stream, &events).await? {
            return answer;
        }
        let last_id = events.last().map(|e| e.id).ok_or(StoreError::EmptyAppend)?;
        let options = AppendToStreamOptions::default().stream_state(codec::stream_state(expected));
        let data: Vec<_> = events.iter().map(codec::event_data).collect();
        let written = timed(self.client.append_to_stream(id.as_str(), &options, data)).await?;
        let write = match written {
            Ok(write) => write,
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                // An identical append may have won the race: that is a retry.
                if let Some(answer) = self.stored_batch(&id, stream, &events).await? {
                    return answer;
                }
                return Err(StoreError::Conflict {
                    stream: stream.to_string(),
                    expected,
                    actual: codec::actual_version(current),
                });
            }
            Err(error) => return Err(store_error(error)),
        };
        let revision = write.next_expected_version;
        let position = self.position_of(&id, revision, last_id).await?;
        follow::publish(&self.head_tx, position);
        Ok(Appended {
            version: revision + 1,
            position,
        })
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let options = ReadStreamOptions::default()
            .forwards()
            .position(StreamPosition::Position(from_version.saturating_sub(1)))
            .max_count(limit);
        let id = codec::stream_id(&self.namespace, stream);
        read_stream_events(&self.client, &self.namespace, &id, &options).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let start = match after {
            0 => StreamPosition::Start,
            p => StreamPosition::Position(Position {
                commit: p,
                prepare: p,
            }),
        };
        // One more than asked: the read starts AT `after`, which is dropped.
        let options = ReadAllOptions::default()
            .forwards()
            .position(start)
            .filter(filter(&self.namespace))
            .max_count(limit.saturating_add(1));
        let mut events = read_all_events(&self.client, &self.namespace, &options).await?;
        events.retain(|e| e.position > after);
        events.truncate(limit);
        Ok(events)
    }

    async fn head(&self) -> Result<u64, StoreError> {
        head(&self.client, &self.namespace).await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }
}

fn check_namespace(name: &str) -> Result<(), ConnectError> {
    let reason = if name.is_empty() || name.len() > MAX_NAMESPACE_BYTES {
        Some("must be 1 to 50 bytes long")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("may only contain lower-case ASCII letters, digits and _")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConnectError::InvalidNamespace {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `$all` restricted to the namespace's streams.
pub(crate) fn filter(namespace: &str) -> SubscriptionFilter {
    SubscriptionFilter::on_stream_name().add_prefix(codec::prefix(namespace))
}

/// The position of the namespace's newest event, 0 when it has none.
pub(crate) async fn head(client: &Client, namespace: &str) -> Result<u64, StoreError> {
    let options = ReadAllOptions::default()
        .backwards()
        .position(StreamPosition::End)
        .filter(filter(namespace))
        .max_count(1);
    let newest = read_all_events(client, namespace, &options).await?;
    Ok(newest.first().map_or(0, |e| e.position))
}

/// Runs `call` under [`OPERATION_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = T>) -> Result<T, StoreError> {
    tokio::time::timeout(OPERATION_TIMEOUT, call)
        .await
        .map_err(|_| StoreError::unavailable("KurrentDB did not answer in time"))
}

/// A whole stream read; a stream that does not exist reads as empty.
async fn read_stream_events(
    client: &Client,
    namespace: &str,
    id: &str,
    options: &ReadStreamOptions,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let read = timed(async {
        let stream = client.read_stream(id, options).await?;
        collect(stream, namespace).await
    })
    .await?;
    match read {
        Err(Fetch::Kurrent(kurrentdb::Error::ResourceNotFound)) => Ok(Vec::new()),
        Err(Fetch::Kurrent(error)) => Err(store_error(error)),
        Err(Fetch::Decode(error)) => Err(error),
        Ok(events) => Ok(events),
    }
}

async fn read_all_events(
    client: &Client,
    namespace: &str,
    options: &ReadAllOptions,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let read = timed(async {
        let stream = client.read_all(options).await?;
        collect(stream, namespace).await
    })
    .await?;
    read.map_err(|fetch| match fetch {
        Fetch::Kurrent(error) => store_error(error),
        Fetch::Decode(error) => error,
    })
}

/// Why reading a response failed: the server, or an event we cannot decode.
enum Fetch {
    Kurrent(kurrentdb::Error),
    Decode(StoreError),
}

impl From<kurrentdb::Error> for Fetch {
    fn from(error: kurrentdb::Error) -> Fetch {
        Fetch::Kurrent(error)
    }
}

/// Every event of a read response (its length is bounded by the request's
/// `max_count`).
async fn collect(mut stream: ReadStream, namespace: &str) -> Result<Vec<RecordedEvent>, Fetch> {
    let mut events = Vec::new();
    while let Some(resolved) = stream.next().await? {
        let recorded = codec::recorded(namespace, resolved.get_original_event());
        events.push(recorded.map_err(Fetch::Decode)?);
    }
    Ok(events)
}

/// A server failure as the store's: an answer the client could not parse is
/// `Corrupt`, everything else (network, leader change, access) `Unavailable`.
fn store_error(error: kurrentdb::Error) -> StoreError {
    if let kurrentdb::Error::InternalParsingError(message) = error {
        return StoreError::Corrupt(message);
    }
    StoreError::Unavailable(Box::new(error))
}
