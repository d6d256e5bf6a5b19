//! Runs the shared event-store conformance suite against SQLite, each case on
//! a fresh database file in its own temporary directory.

use std::sync::Arc;

use paycode_store::{
    Appended, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamName,
};
use paycode_store_sqlite::SqliteStore;
use tempfile::TempDir;
use tokio::sync::watch;

/// A store that owns its temporary directory, deleted after the store closes.
#[derive(Debug)]
struct TempStore {
    store: SqliteStore,
    _dir: TempDir,
}

async fn fresh_store() -> Arc<dyn EventStore> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("events.db")).expect("open a fresh database");
    Arc::new(TempStore { store, _dir: dir })
}

#[async_trait::async_trait]
impl EventStore for TempStore {
    async fn append(
        &self,
        s: &StreamName,
        e: ExpectedVersion,
        ev: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        self.store.append(s, e, ev).await
    }

    async fn read_stream(
        &self,
        s: &StreamName,
        from: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_stream(s, from, limit).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_all(after, limit).await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.store.head().await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.store.watch_head()
    }

    fn separate_reader(
        &self,
        connections: usize,
    ) -> Result<Option<Arc<dyn EventStore>>, StoreError> {
        self.store.separate_reader(connections)
    }
}

paycode_store::conformance_tests!(fresh_store());
