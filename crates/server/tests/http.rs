//! The router without a socket (`tower::ServiceExt::oneshot`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use paycode_store::EventStore;
use tower::ServiceExt as _;

async fn get(store: Arc<dyn EventStore>, path: &str) -> (StatusCode, String) {
    let service =
        paycode_server::Service::new(store, &paycode_server::Config::empty()).expect("builds");
    let response = paycode_server::router(service)
        .oneshot(Request::get(path).body(Body::empty()).expect("a request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

fn store() -> (tempfile::TempDir, Arc<dyn EventStore>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = paycode_store_sqlite::SqliteStore::open(dir.path().join("s.db")).expect("opens");
    (dir, Arc::new(store))
}

#[tokio::test]
async fn health_answers_ok() {
    let (_dir, store) = store();
    assert_eq!(
        get(store, "/healthz").await,
        (StatusCode::OK, "ok\n".to_owned())
    );
}

#[tokio::test]
async fn readiness_reports_the_store_head() {
    let (_dir, store) = store();
    let (status, body) = get(store, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ready: event store head at position 0\n");
}

#[tokio::test]
async fn an_unknown_path_is_not_found() {
    let (_dir, store) = store();
    assert_eq!(get(store, "/v0/nothing").await.0, StatusCode::NOT_FOUND);
}
