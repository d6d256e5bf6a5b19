//! Runs the shared event-store conformance suite against PostgreSQL, each case
//! on a new schema of the database named by `PAYCODE_TEST_POSTGRES_URL`
//! (skipped with a line on stderr when it is unset; CI sets it).

mod common;

use std::sync::Arc;

use paycode_store::EventStore;

/// A fresh store on its own schema, or `None` (skip) without a test server.
async fn fresh_store() -> Option<Arc<dyn EventStore>> {
    let store: Arc<dyn EventStore> = Arc::new(common::TestStore::fresh(common::url()?).await);
    Some(store)
}

paycode_store::conformance_tests!(optional fresh_store());
