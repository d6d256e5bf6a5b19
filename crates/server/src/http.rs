//! The HTTP router: the POS payment API under `/v1`, and the operations
//! endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::service::Service;

pub fn router(service: Service) -> Router {
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .with_state(service.clone());
    ops.merge(crate::api::routes(service))
}

/// Liveness: the process answers HTTP.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the event store answers a read.
async fn readyz(State(service): State<Service>) -> (StatusCode, String) {
    match service.process.orders().store().head().await {
        Ok(head) => (
            StatusCode::OK,
            format!("ready: event store head at position {head}\n"),
        ),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: event store unavailable\n".to_owned(),
            )
        }
    }
}

/// Prometheus metrics: payments by provider and outcome, reversals,
/// provider call latency, the manual-queue size and the log's head.
async fn metrics(State(service): State<Service>) -> impl IntoResponse {
    let head = service.process.orders().store().head().await.unwrap_or(0);
    let queue = u64::try_from(service.process.manual_queue_size()).unwrap_or(u64::MAX);
    let text = service.process.metrics().render(&[
        (
            "paycode_manual_queue_size",
            "Orders on the manual-intervention queue.",
            queue,
        ),
        (
            "paycode_store_head_position",
            "The global position of the newest event.",
            head,
        ),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The POS API's OpenAPI document, as checked in under `schemas/openapi.json`.
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
}
