//! The POS API's OpenAPI document: checked in under `schemas/openapi.json`,
//! served at `/openapi.json`, and in step with the router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use paycode_server::{Config, Service};
use tower::ServiceExt as _;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.json");

fn service() -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = paycode_store_sqlite::SqliteStore::open(dir.path().join("s.db")).expect("opens");
    (
        dir,
        Service::new(Arc::new(store), &Config::empty()).expect("builds"),
    )
}

#[test]
fn the_checked_in_document_is_the_one_the_code_serves() {
    let document = paycode_server::openapi::document();
    if std::env::var_os("PAYCODE_UPDATE_SCHEMAS").is_some() {
        std::fs::write(CHECKED_IN, &document).expect("written");
        return;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == document,
        "schemas/openapi.json is out of date: run `make schemas`"
    );
}

#[test]
fn the_document_lists_exactly_the_routes() {
    let document: serde_json::Value =
        serde_json::from_str(&paycode_server::openapi::document()).expect("JSON");
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = paycode_server::api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routed.sort();
    assert_eq!(documented, routed);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let (_dir, service) = service();
    for (method, path) in paycode_server::api::ROUTES {
        let concrete = path
            .replace("{out_trade_no}", "o-1")
            .replace("{out_refund_no}", "r-1");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&concrete)
            .body(Body::from("{}"))
            .expect("a request");
        let response = paycode_server::router(service.clone())
            .oneshot(request)
            .await
            .expect("answers");
        // Unauthenticated: the route exists and asks for a key (not 404/405).
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    let response = paycode_server::router(service)
        .oneshot(
            Request::get("/openapi.json")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, paycode_server::openapi::document().as_bytes());
}

/// Every code the POS API can answer with is in the document, with the
/// status the server uses, and the document lists no other.
#[test]
fn the_document_lists_every_error_code_with_its_status() {
    let document: serde_json::Value =
        serde_json::from_str(&paycode_server::openapi::document()).expect("JSON");
    let error_code = &document["components"]["schemas"]["ErrorCode"];
    let mut documented: Vec<(String, u64)> = error_code["x-status"]
        .as_object()
        .expect("x-status")
        .iter()
        .map(|(code, status)| (code.clone(), status.as_u64().expect("a status")))
        .collect();
    documented.sort();
    let mut served: Vec<(String, u64)> = paycode_server::api::error_codes()
        .into_iter()
        .map(|(code, status)| (code.to_owned(), u64::from(status)))
        .collect();
    served.sort();
    assert_eq!(documented, served);
    let listed: Vec<&str> = error_code["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(listed.len(), served.len());
    for rejection in paycode_domain::Rejection::ALL {
        assert!(listed.contains(&rejection.code()), "{}", rejection.code());
    }
    for code in [
        "CONCURRENT_UPDATE",
        "UNKNOWN_FIELD",
        "DUPLICATE_FIELD",
        "UNSUPPORTED_MEDIA_TYPE",
        "ROUTE_NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "INVALID_FIELD",
        "INVALID_OUT_TRADE_NO",
        "INVALID_OUT_REFUND_NO",
        "UNKNOWN_AUTH_CODE",
        "PROVIDER_NOT_CONFIGURED",
    ] {
        assert!(listed.contains(&code), "{code}");
    }
}
