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

#[tokio::test]
async fn readiness_waits_for_the_read_models_to_catch_up() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn EventStore> =
        Arc::new(paycode_store_sqlite::SqliteStore::open(dir.path().join("s.db")).expect("opens"));
    // More events than a ready node may trail by.
    let lines = paycode_app::log::parse(std::io::BufReader::new(
        std::fs::File::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/orders.jsonl"
        ))
        .expect("log"),
    ))
    .expect("parses");
    for copy in 0..40 {
        let renamed: Vec<_> = lines
            .iter()
            .cloned()
            .map(|mut line| {
                line.stream = format!("{}-{copy}", line.stream);
                line.id = uuid::Uuid::new_v4();
                if let Some(order_id) = line.data.get_mut("order_id") {
                    // Each copy is an order of its own.
                    *order_id = serde_json::json!(uuid::Uuid::new_v5(
                        &uuid::Uuid::NAMESPACE_OID,
                        line.stream.as_bytes()
                    ));
                }
                line
            })
            .collect();
        paycode_app::log::load(store.as_ref(), &renamed)
            .await
            .expect("loads");
    }
    let models = paycode_projections::ReadModels::open(dir.path().join("rm.db"), store.clone())
        .await
        .expect("opens");
    let mut service =
        paycode_server::Service::new(store, &paycode_server::Config::empty()).expect("builds");
    service.read_models = Some(models.clone());
    let ready = |service: paycode_server::Service| async move {
        paycode_server::router(service)
            .oneshot(
                Request::get("/readyz")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("answers")
            .status()
    };
    assert_eq!(
        ready(service.clone()).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "read models still at 0"
    );
    models.catch_up().await.expect("catches up");
    assert_eq!(ready(service).await, StatusCode::OK);
}
