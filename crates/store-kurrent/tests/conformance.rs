//! Runs the shared event-store conformance suite against the KurrentDB server
//! named by `PAYCODE_TEST_KURRENTDB_URL` (e.g.
//! `kurrentdb://127.0.0.1:2113?tls=false`), each case in a namespace of its
//! own. Skipped with a line on stderr when the variable is unset, and built
//! only with the `kurrentdb` feature. CI does not run a KurrentDB server.
#![cfg(feature = "kurrentdb")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use paycode_store::EventStore;
use paycode_store_kurrent::KurrentStore;

const URL_VAR: &str = "PAYCODE_TEST_KURRENTDB_URL";

/// A namespace no other test, run or process uses. Namespaces are never
/// deleted: a test server accumulates them.
fn unique_namespace() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "paycode_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &random[..8]
    )
}

async fn fresh_store() -> Option<Arc<dyn EventStore>> {
    let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipping: {URL_VAR} is not set");
        return None;
    };
    let store = KurrentStore::connect_in(&url, &unique_namespace())
        .await
        .expect("connect to the test KurrentDB");
    let store: Arc<dyn EventStore> = Arc::new(store);
    Some(store)
}

paycode_store::conformance_tests!(optional fresh_store());
