//! Queries take turns: at most [`CONCURRENT_QUERIES`] run at once on a
//! node, over HTTP and over the WebSocket alike (`graphql-transport-ws` runs
//! queries too), so however many viewers ask, the back office takes at most
//! that many cores' worth of work from the payment process. Mutations and
//! subscriptions do not wait: an operator's refund waits for the provider
//! and must not also wait for a viewer's page, and a subscription lives for
//! hours (each of its events reads one order).

use std::sync::Arc;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{BatchRequest, BatchResponse, Data, Executor, Request, Response};
use futures_util::StreamExt as _;
use futures_util::stream::{self, BoxStream};
use tokio::sync::Semaphore;

use super::BackOfficeSchema;

/// Queries running at once on a node; the others wait their turn. One: on
/// two cores a query then takes at most one core from the payment process.
pub const CONCURRENT_QUERIES: usize = 1;

/// The schema, with queries taking turns.
#[derive(Clone)]
pub struct Turns {
    schema: BackOfficeSchema,
    permits: Arc<Semaphore>,
}

impl Turns {
    pub fn new(schema: BackOfficeSchema) -> Turns {
        Turns {
            schema,
            permits: Arc::new(Semaphore::new(CONCURRENT_QUERIES)),
        }
    }
}

/// Whether a request waits its turn: a query does, and so does one that
/// does not parse (it fails at once, in its turn). The parsed document stays
/// in the request, so the schema does not parse the query a second time.
fn waits(request: &mut Request) -> bool {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return true;
    };
    let operation = match (&document.operations, &operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name.as_str()),
        (DocumentOperations::Multiple(_), None) => None,
    };
    !operation.is_some_and(|o| {
        matches!(
            o.node.ty,
            OperationType::Mutation | OperationType::Subscription
        )
    })
}

impl Executor for Turns {
    async fn execute(&self, mut request: Request) -> Response {
        // Never closed, so acquiring cannot fail.
        let _turn = match waits(&mut request) {
            true => self.permits.clone().acquire_owned().await.ok(),
            false => None,
        };
        self.schema.execute(request).await
    }

    async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match batch {
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request).await),
            BatchRequest::Batch(requests) => {
                let mut responses = Vec::with_capacity(requests.len());
                for request in requests {
                    responses.push(self.execute(request).await);
                }
                BatchResponse::Batch(responses)
            }
        }
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let session_data = session_data.unwrap_or_default();
        if !waits(&mut request) {
            return self
                .schema
                .execute_stream_with_session_data(request, session_data);
        }
        // A query over the socket: its one answer, in its turn.
        let (schema, permits) = (self.schema.clone(), self.permits.clone());
        stream::once(async move {
            let _turn = permits.acquire_owned().await.ok();
            schema
                .execute_stream_with_session_data(request, session_data)
                .collect::<Vec<_>>()
                .await
        })
        .flat_map(stream::iter)
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, operation: Option<&str>) -> Request {
        let request = Request::new(query);
        match operation {
            Some(name) => request.operation_name(name),
            None => request,
        }
    }

    #[test]
    fn queries_wait_their_turn_and_mutations_and_subscriptions_do_not() {
        let two = "query A { me { name } } mutation B { rebuildProjection(name: \"orders\") }";
        for (query, operation, waits_its_turn) in [
            ("{ orders { endCursor } }", None, true),
            ("query { me { name } }", None, true),
            (
                "mutation { rebuildProjection(name: \"orders\") }",
                None,
                false,
            ),
            ("subscription { orderUpdates { id } }", None, false),
            (two, Some("A"), true),
            (two, Some("B"), false),
            ("{ not graphql", None, true),
        ] {
            assert_eq!(
                waits(&mut request(query, operation)),
                waits_its_turn,
                "{query} {operation:?}"
            );
        }
    }
}
