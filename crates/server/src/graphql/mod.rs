//! The back office's GraphQL API at `/graphql`: POST for queries and
//! mutations, GET for GraphiQL in a browser, and `/graphql/ws` for
//! subscriptions (the `graphql-transport-ws` and `graphql-ws` protocols).
//!
//! Requests authenticate with `Authorization: Bearer <token>` (a WebSocket
//! sends `{"authorization": "Bearer <token>"}` as its `connection_init`
//! payload). Bodies are capped at [`MAX_BODY_BYTES`]; queries at
//! [`MAX_DEPTH`] and [`MAX_COMPLEXITY`], where a list counts every item its
//! page can hold. Errors carry a stable `extensions.code` (see `error.rs`),
//! in a JSON body whatever went wrong. The SDL is checked in under
//! `schemas/graphql/schema.graphql`.
//!
//! A viewer must not be able to slow the tills: the back office reads the
//! log through its own connections ([`BACK_OFFICE_LOG_CONNECTIONS`], see
//! `EventStore::separate_reader`) and the read models at most
//! `paycode_projections::READ_CONCURRENCY` queries at a time, and runs
//! [`CONCURRENT_QUERIES`] GraphQL query at a time, so its work queues behind
//! its own, never ahead of a payment's.

pub mod auth;
mod codes;
pub mod error;
mod reconciliation;
mod schema;
mod turns;
pub mod types;
mod updates;
mod websocket;
pub use self::websocket::INIT_TIMEOUT;

pub use self::turns::CONCURRENT_QUERIES;

use std::sync::Arc;

use async_graphql::{Executor as _, Schema};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paycode_app::PaymentProcess;
use paycode_projections::ReadModels;
use paycode_store::{EventStore, StoreError};

use self::auth::Operators;
use self::error::BackOfficeError;
pub use self::schema::{Mutation, Query, Subscription};

/// A GraphQL request is a query text and a few variables: 64 KiB is far
/// above any real one and keeps a client from making us parse megabytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Deep enough for order { refunds { ... } } and order { history { ... } }.
pub const MAX_DEPTH: usize = 8;
/// Bounds the field values one answer can hold: a field counts 1, a list
/// counts its fields once per item of its largest page (`orders(first: 100)`
/// with 20 fields counts 2,001; each order's `history` counts its `first`
/// events). It is also the cap on nodes: every node holds at least one
/// field. A page of 500 orders with 20 fields passes; the same with each
/// order's history does not, nor do many aliased pages in one request.
pub const MAX_COMPLEXITY: usize = 20_000;
/// Connections (SQLite: and blocking threads) of the back office's own
/// reads of the log: order histories and subscriptions.
pub const BACK_OFFICE_LOG_CONNECTIONS: usize = 2;

pub type BackOfficeSchema = Schema<Query, Mutation, Subscription>;

/// What the resolvers need: the read models, the payment process for
/// writes, the configured tokens, and the back office's own reader of the log.
#[derive(Clone)]
pub struct BackOffice {
    pub models: ReadModels,
    pub process: PaymentProcess,
    pub operators: Arc<Operators>,
    /// Reads of the log on connections of their own (the store's own when
    /// its backend has no pool to set apart).
    log: Arc<dyn EventStore>,
}

impl BackOffice {
    /// The back office over `models`, with a reader of the log apart from
    /// the payment process's.
    pub fn new(
        models: ReadModels,
        process: PaymentProcess,
        operators: Arc<Operators>,
    ) -> Result<BackOffice, StoreError> {
        let store = models.store();
        let log = store
            .separate_reader(BACK_OFFICE_LOG_CONNECTIONS)?
            .unwrap_or_else(|| Arc::clone(store));
        Ok(BackOffice {
            models,
            process,
            operators,
            log,
        })
    }

    /// The back office's reader of the log.
    pub fn log(&self) -> &Arc<dyn EventStore> {
        &self.log
    }
}

impl std::fmt::Debug for BackOffice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackOffice")
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

/// The schema with its limits; `data` is the back office (absent for the SDL).
fn build(office: Option<BackOffice>) -> BackOfficeSchema {
    let builder = Schema::build(Query, Mutation, Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(codes::ErrorCodes);
    match office {
        Some(office) => builder.data(office).finish(),
        None => builder.finish(),
    }
}

/// The schema serving `office`, for callers that run requests without HTTP
/// (tests of subscriptions); a request needs a [`auth::Principal`] in its data.
pub fn schema(office: BackOffice) -> BackOfficeSchema {
    build(Some(office))
}

/// The schema in SDL, as checked in under `schemas/graphql/schema.graphql`.
pub fn sdl() -> String {
    build(None).sdl()
}

#[derive(Clone)]
pub(crate) struct GraphqlState {
    /// The schema, with queries taking turns.
    pub(crate) executor: turns::Turns,
    pub(crate) operators: Arc<Operators>,
}

/// The `/graphql` routes.
pub fn routes(office: BackOffice) -> Router {
    let state = GraphqlState {
        operators: Arc::clone(&office.operators),
        executor: turns::Turns::new(build(Some(office))),
    };
    Router::new()
        .route("/graphql", get(crate::console::graphiql).post(execute))
        .route("/graphql/ws", get(websocket::serve))
        // The body is read by `execute`, with its own limit and a JSON answer.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

pub(crate) fn error_response(status: StatusCode, error: BackOfficeError) -> Response {
    let response = async_graphql::Response::from_errors(vec![
        error
            .into_graphql()
            .into_server_error(async_graphql::Pos::default()),
    ]);
    json(status, &response)
}

fn json(status: StatusCode, response: &async_graphql::Response) -> Response {
    match serde_json::to_vec(response) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// POST /graphql: authenticate, read a bounded body, parse, execute.
async fn execute(State(state): State<GraphqlState>, headers: HeaderMap, body: Body) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match state.operators.authenticate(authorization) {
        Ok(principal) => principal,
        Err(error) => return error_response(StatusCode::UNAUTHORIZED, error),
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            BackOfficeError::Coded {
                code: "PAYLOAD_TOO_LARGE",
                message: format!("the body is over {MAX_BODY_BYTES} bytes"),
            },
        );
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                BackOfficeError::Coded {
                    code: "BAD_REQUEST",
                    message: format!("not a GraphQL request: {error}"),
                },
            );
        }
    };
    let response = state.executor.execute(request.data(principal)).await;
    json(StatusCode::OK, &response)
}
