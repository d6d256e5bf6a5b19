//! The back office's GraphQL API at `/graphql`: POST for queries and
//! mutations, GET for GraphiQL in a browser, and `/graphql/ws` for
//! subscriptions (the `graphql-transport-ws` and `graphql-ws` protocols).
//!
//! Requests authenticate with `Authorization: Bearer <token>` (a WebSocket
//! sends `{"authorization": "Bearer <token>"}` as its `connection_init`
//! payload). Bodies are capped at [`MAX_BODY_BYTES`]; queries at
//! [`MAX_DEPTH`] and [`MAX_COMPLEXITY`]. Errors carry a stable
//! `extensions.code` (see `error.rs`). The SDL is checked in under
//! `schemas/graphql/schema.graphql`.

pub mod auth;
pub mod error;
pub mod ops;
mod reconciliation;
mod schema;
pub mod types;
mod updates;

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, Response as GqlResponse, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use paycode_app::PaymentProcess;
use paycode_projections::ReadModels;

use self::auth::Operators;
use self::error::BackOfficeError;
pub use self::schema::{Mutation, Query, Subscription};

/// A GraphQL request is a query text and a few variables: 64 KiB is far
/// above any real one and keeps a client from making us parse megabytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Deep enough for order { refunds { ... } } and order { history { ... } }.
pub const MAX_DEPTH: usize = 8;
/// Bounds the fields one request resolves (each field counts 1).
pub const MAX_COMPLEXITY: usize = 2_000;

pub type BackOfficeSchema = Schema<Query, Mutation, Subscription>;

/// What the resolvers need: the read models, the payment process for
/// writes, and the configured tokens.
#[derive(Clone)]
pub struct BackOffice {
    pub models: ReadModels,
    pub process: PaymentProcess,
    pub operators: Arc<Operators>,
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
        .extension(DefaultErrorCode);
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
struct GraphqlState {
    schema: BackOfficeSchema,
    operators: Arc<Operators>,
}

/// The `/graphql` routes.
pub fn routes(office: BackOffice) -> Router {
    let state = GraphqlState {
        operators: Arc::clone(&office.operators),
        schema: build(Some(office)),
    };
    Router::new()
        .route("/graphql", get(graphiql).post(execute))
        .route("/graphql/ws", get(websocket))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

fn error_response(status: StatusCode, error: BackOfficeError) -> Response {
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

/// POST /graphql: authenticate, parse, execute.
async fn execute(State(state): State<GraphqlState>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match state.operators.authenticate(authorization) {
        Ok(principal) => principal,
        Err(error) => return error_response(StatusCode::UNAUTHORIZED, error),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                BackOfficeError::BadInput(format!("not a GraphQL request: {error}")),
            );
        }
    };
    let response = state.schema.execute(request.data(principal)).await;
    json(StatusCode::OK, &response)
}

/// Gives every error a code in `extensions.code`, over HTTP and WebSocket
/// alike. Errors raised by async-graphql itself (a query that does not
/// parse or validate, exceeds the depth or complexity limit, or passes a
/// value of the wrong type) carry none: they are all the client's to fix.
struct DefaultErrorCode;

impl ExtensionFactory for DefaultErrorCode {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DefaultErrorCode)
    }
}

#[async_trait::async_trait]
impl Extension for DefaultErrorCode {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> GqlResponse {
        with_default_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, GqlResponse>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, GqlResponse> {
        next.run(ctx, stream).map(with_default_codes).boxed()
    }
}

fn with_default_codes(mut response: GqlResponse) -> GqlResponse {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response
}

/// GET /graphql/ws: subscriptions; the token comes in `connection_init`.
async fn websocket(
    State(state): State<GraphqlState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let operators = Arc::clone(&state.operators);
            GraphQLWebSocket::new(socket, state.schema, protocol)
                .on_connection_init(move |payload| async move {
                    let header = payload
                        .get("authorization")
                        .or_else(|| payload.get("Authorization"))
                        .and_then(|v| v.as_str());
                    let principal = operators
                        .authenticate(header)
                        .map_err(BackOfficeError::into_graphql)?;
                    let mut data = Data::default();
                    data.insert(principal);
                    Ok(data)
                })
                .serve()
        })
}

/// Opens the read models of `config.read_models` on the service's store,
/// starts their runner, and returns the `/graphql` routes, the runner's task
/// and the read models (for readiness and metrics).
pub async fn start(
    service: &crate::Service,
    config: &crate::Config,
) -> anyhow::Result<(Router, tokio::task::JoinHandle<()>, ReadModels)> {
    use anyhow::Context as _;
    let operators = Operators::from_config(&config.operators)?;
    let read_models = config.read_models_path();
    if let Some(parent) = read_models.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let store = std::sync::Arc::clone(service.process.orders().store());
    let models = ReadModels::open(&read_models, store)
        .await
        .with_context(|| format!("opening the read models {}", read_models.display()))?;
    let runner = tokio::spawn(models.clone().run());
    let office = BackOffice {
        models: models.clone(),
        process: service.process.clone(),
        operators: Arc::new(operators),
    };
    Ok((routes(office), runner, models))
}
