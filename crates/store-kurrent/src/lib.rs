//! The KurrentDB (EventStoreDB) backend of the paycode event store, for
//! deployments that want the purpose-built, clustered event database.
//!
//! Built only with this crate's `kurrentdb` feature
//! (`cargo build -p paycode-store-kurrent --features kurrentdb`, or
//! `paycode-store-kurrent = { workspace = true, features = ["kurrentdb"] }`):
//! without it the crate is empty, so the default build does not compile the
//! gRPC client (tonic, prost, hyper, a TLS stack).
//!
//! With the feature, [`KurrentStore`] maps the store's contract onto KurrentDB:
//!
//! - Streams: paycode stream `s` is KurrentDB stream `{namespace}/{s}`
//!   (namespace `paycode` by default). `/` never occurs in a paycode stream
//!   name, so the prefix `{namespace}/` selects exactly this store's streams
//!   in `$all`, and tests get a fresh, empty store per namespace.
//! - Versions: KurrentDB revisions are 0-based, ours 1-based: version `v` is
//!   revision `v - 1`; `Exact(n)` is expected revision `n - 1`, `NoStream`
//!   and `Exact(0)` are KurrentDB's `NoStream`, `Any` is `Any`.
//! - Global positions: our position is the event's prepare position in the
//!   KurrentDB log. It is unique per event and increases in `$all` order;
//!   without explicit transactions (which paycode never uses, and the gRPC
//!   API does not offer) it equals the commit position, so `read_all(after)`
//!   reads `$all` from `(after, after)` and drops the event at `after`.
//!   It is the one position that stream reads also return (they carry no
//!   commit position). Positions are sparse (byte offsets), never 0 for an
//!   event (the log starts with system records).
//! - Events: the event id is ours (idempotent retries), the event type is
//!   `{type}@{type_version}`, data and metadata are stored as given, with the
//!   binary content type.
//! - Idempotency: before appending, the newest [`IDEMPOTENCY_SCAN`] events of
//!   the stream are searched for the batch's ids (an identical retry returns
//!   the original ack, a partial match is `IdempotencyMismatch`). KurrentDB
//!   keeps no index of event ids across streams, so an id reused in ANOTHER
//!   stream is not detected here (the SQLite and PostgreSQL backends refuse
//!   it): the conformance case on partly stored ids fails that one check.
//! - Waking: a catch-up subscription to `$all`, filtered by the prefix,
//!   moves `watch_head`; it resubscribes from its last position when it
//!   drops. Every call to the server has its own timeout
//!   ([`OPERATION_TIMEOUT`]).

#[cfg(feature = "kurrentdb")]
mod codec;
#[cfg(feature = "kurrentdb")]
mod follow;
#[cfg(feature = "kurrentdb")]
mod store;

#[cfg(feature = "kurrentdb")]
pub use store::{
    ConnectError, DEFAULT_NAMESPACE, IDEMPOTENCY_SCAN, KurrentStore, MAX_NAMESPACE_BYTES,
    OPERATION_TIMEOUT,
};
