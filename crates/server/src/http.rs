//! The HTTP router: the POS payment API under `/v1`, and the operations
//! endpoints (`/healthz`, `/readyz`, `/openapi.json`).

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

/// The POS API's OpenAPI document, as checked in under `schemas/openapi.json`.
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
}
