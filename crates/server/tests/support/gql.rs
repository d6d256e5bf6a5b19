//! A GraphQL client for the back office's router, without a socket.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Posts `query` to `/graphql` with an optional bearer token.
pub async fn post(router: &Router, token: Option<&str>, query: &str) -> (StatusCode, Value) {
    let mut request = Request::post("/graphql").header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = json!({ "query": query }).to_string();
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body)).expect("a request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

/// The `extensions.code` of every error in an answer.
pub fn codes(answer: &Value) -> Vec<String> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("NO_CODE")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The value of one unlabelled gauge in `GET /metrics` of a POS router.
pub async fn gauge(router: &Router, name: &str) -> u64 {
    let response = router
        .clone()
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("the router answers");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec()).expect("text");
    super::metric(&text, name, &[]).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}
