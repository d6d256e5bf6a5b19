//! Test support: a fresh schema per store on the PostgreSQL named by
//! `PAYCODE_TEST_POSTGRES_URL`, dropped when the store is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use paycode_store::{
    Appended, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamName,
};
use paycode_store_postgres::PostgresStore;
use tokio::sync::watch;
use uuid::Uuid;

pub const URL_VAR: &str = "PAYCODE_TEST_POSTGRES_URL";

/// The test server's URL, or `None` after printing the skip line.
pub fn url() -> Option<String> {
    let url = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipping: {URL_VAR} is not set");
    }
    url
}

/// A schema name no other test, run or process uses.
pub fn unique_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = Uuid::new_v4().simple().to_string();
    format!(
        "paycode_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &random[..8]
    )
}

/// A store on its own new schema; the schema is dropped with the store.
#[derive(Debug)]
pub struct TestStore {
    pub store: Option<PostgresStore>,
    pub url: String,
}

impl TestStore {
    pub async fn fresh(url: String) -> TestStore {
        let store = PostgresStore::connect(&url, &unique_schema())
            .await
            .expect("connect to the test PostgreSQL");
        TestStore {
            store: Some(store),
            url,
        }
    }

    pub fn inner(&self) -> &PostgresStore {
        self.store.as_ref().expect("the store lives until drop")
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        let schema = store.schema().to_owned();
        drop(store);
        let url = self.url.clone();
        // Drop cannot await, and the test's runtime may be shutting down: a
        // thread with its own small runtime drops the schema. Best effort:
        // a leftover schema only costs space in the test database.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(connection);
                let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                client.batch_execute(&sql).await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

#[async_trait::async_trait]
impl EventStore for TestStore {
    async fn append(
        &self,
        s: &StreamName,
        e: ExpectedVersion,
        ev: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        self.inner().append(s, e, ev).await
    }

    async fn read_stream(
        &self,
        s: &StreamName,
        from: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner().read_stream(s, from, limit).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner().read_all(after, limit).await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.inner().head().await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.inner().watch_head()
    }

    fn separate_reader(
        &self,
        connections: usize,
    ) -> Result<Option<Arc<dyn EventStore>>, StoreError> {
        self.inner().separate_reader(connections)
    }
}
