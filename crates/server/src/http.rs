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
        .fallback(crate::api::route_not_found)
}

/// Liveness: the process answers HTTP.
async fn healthz() -> &'static str {
    "ok\n"
}

/// How far the read models may trail the log with the node still ready: a
/// moment's worth of appends, not a rebuild's.
const READY_MAX_LAG: u64 = 1_000;

/// Readiness: the event store answers a read, and the read models (when
/// this node serves them) have caught up with it.
async fn readyz(State(service): State<Service>) -> (StatusCode, String) {
    let head = match service.store.head().await {
        Ok(head) => head,
        Err(error) => {
            tracing::warn!(error = %error, "readiness check: store unavailable");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: event store unavailable\n".to_owned(),
            );
        }
    };
    let problems = service.accounts.problems();
    if !problems.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        );
    }
    match projection_lag(&service, head) {
        lag if lag > READY_MAX_LAG => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: read models {lag} events behind the log\n"),
        ),
        _ => (
            StatusCode::OK,
            format!("ready: event store head at position {head}\n"),
        ),
    }
}

/// Prometheus metrics: payments by provider and outcome, reversals,
/// provider call latency, the manual-queue size, the work list, the log's
/// head and the read models' lag.
async fn metrics(State(service): State<Service>) -> impl IntoResponse {
    let head = service.store.head().await.unwrap_or(0);
    let queue = u64::try_from(service.process.manual_queue_size()).unwrap_or(u64::MAX);
    let work = u64::try_from(service.process.work_list_size()).unwrap_or(u64::MAX);
    let (held_orders, oldest_due) = service.process.held_work();
    let text = service.process.metrics().render(&[
        (
            "paycode_manual_queue_size",
            "Orders on the manual-intervention queue.",
            queue,
        ),
        (
            "paycode_work_list_orders",
            "Orders with follow-up work (polls, deadlines, reversals, refunds) on this node's work list.",
            work,
        ),
        (
            "paycode_partitions_held",
            "Work partitions whose leases this node holds.",
            u64::from(service.process.partitions_held()),
        ),
        (
            "paycode_work_held_orders",
            "Orders with follow-up work in the partitions this node holds.",
            held_orders,
        ),
        (
            "paycode_work_oldest_due_seconds",
            "How long the oldest due follow-up item of this node's partitions has waited (0: none overdue).",
            oldest_due.as_secs(),
        ),
        (
            "paycode_store_head_position",
            "The global position of the newest event.",
            head,
        ),
        (
            "paycode_projection_lag_events",
            "Events the log holds that the read models have not applied.",
            projection_lag(&service, head),
        ),
    ]);
    let text = text + &account_gauges(&service);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `paycode_provider_account_ok{merchant,provider}`: 1 once the account's
/// start-up query answered with a valid signature, 0 before or otherwise.
fn account_gauges(service: &Service) -> String {
    use std::fmt::Write as _;
    let states = service.accounts.states();
    if states.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "# HELP paycode_provider_account_ok Whether the provider account's start-up self-check answered with a valid signature.\n# TYPE paycode_provider_account_ok gauge\n",
    );
    for ((merchant, provider), state) in states {
        let ok = u8::from(state == crate::checks::AccountState::Ok);
        let _ = writeln!(
            out,
            "paycode_provider_account_ok{{merchant=\"{merchant}\",provider=\"{provider}\"}} {ok}"
        );
    }
    out
}

/// Events the read models still have to apply (0 when this node has none).
fn projection_lag(service: &Service, head: u64) -> u64 {
    service
        .read_models
        .as_ref()
        .map_or(0, |models| head.saturating_sub(models.reached()))
}

/// The POS API's OpenAPI document, as checked in under `schemas/openapi.json`.
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
}
