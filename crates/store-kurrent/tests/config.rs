//! Configuration errors are told apart from an unreachable server, without
//! any server: they are refused before the first request.
#![cfg(feature = "kurrentdb")]

use paycode_store_kurrent::{ConnectError, KurrentStore};

#[tokio::test]
async fn a_malformed_connection_string_is_invalid() {
    let refused = KurrentStore::connect("http//not a connection string").await;
    assert!(
        matches!(refused, Err(ConnectError::InvalidUrl(_))),
        "got {refused:?}"
    );
}

#[tokio::test]
async fn namespaces_are_lower_case_identifiers() {
    for bad in ["", "Paycode", "pay/code", "pay-code", &"a".repeat(51)] {
        let refused = KurrentStore::connect_in("kurrentdb://127.0.0.1:2113?tls=false", bad).await;
        assert!(
            matches!(refused, Err(ConnectError::InvalidNamespace { ref name, .. }) if name == bad),
            "{bad:?}: got {refused:?}"
        );
    }
}
