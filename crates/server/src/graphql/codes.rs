//! Gives every error a stable `extensions.code`, over HTTP and WebSocket
//! alike (the list is `error::CODES`). async-graphql's own errors carry
//! none, so they are told apart by the step that raised them: the parse
//! (`GRAPHQL_PARSE_FAILED`), the validation (`GRAPHQL_VALIDATION_FAILED`,
//! or `QUERY_TOO_COMPLEX` / `QUERY_TOO_DEEP` for the two limits, which
//! async-graphql reports by their messages alone) and, for anything else
//! uncoded, `BAD_USER_INPUT`: a variable of the wrong type, all the
//! client's to fix.
//!
//! The parse step also holds the rule async-graphql does not: a
//! subscription selects exactly one root field (GraphQL spec, "Single root
//! field"), so one subscription is one stream a client can follow.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

/// async-graphql's messages for its two limits (its validation/mod.rs);
/// the server's tests of both limits check the codes, so a release that
/// rewords them fails there rather than quietly answering another code.
const TOO_COMPLEX: &str = "Query is too complex.";
const TOO_DEEP: &str = "Query is nested too deep.";

pub(super) struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_default_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_default_codes).boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| coded(e, "GRAPHQL_PARSE_FAILED"))?;
        single_root_field(&document)?;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let code = match e.message.as_str() {
                        TOO_COMPLEX => "QUERY_TOO_COMPLEX",
                        TOO_DEEP => "QUERY_TOO_DEEP",
                        _ => "GRAPHQL_VALIDATION_FAILED",
                    };
                    coded(e, code)
                })
                .collect()
        })
    }
}

/// Sets `code` unless the error already has one.
fn coded(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

fn with_default_codes(mut response: Response) -> Response {
    response.errors = response
        .errors
        .into_iter()
        .map(|e| coded(e, "BAD_USER_INPUT"))
        .collect();
    response
}

/// Refuses a subscription operation whose root selects more or less than
/// one field, counting through fragments by response key.
fn single_root_field(document: &ExecutableDocument) -> ServerResult<()> {
    for (_, operation) in document.operations.iter() {
        if operation.node.ty != OperationType::Subscription {
            continue;
        }
        let mut keys = HashSet::new();
        let mut seen_fragments = HashSet::new();
        root_keys(
            document,
            &operation.node.selection_set.node,
            &mut keys,
            &mut seen_fragments,
        );
        if keys.len() != 1 {
            let error = ServerError::new(
                format!(
                    "a subscription selects exactly one root field; this one selects {}",
                    keys.len()
                ),
                Some(operation.pos),
            );
            return Err(coded(error, "GRAPHQL_VALIDATION_FAILED"));
        }
    }
    Ok(())
}

fn root_keys(
    document: &ExecutableDocument,
    set: &SelectionSet,
    keys: &mut HashSet<String>,
    seen_fragments: &mut HashSet<String>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                keys.insert(field.node.response_key().node.to_string());
            }
            Selection::InlineFragment(fragment) => {
                root_keys(
                    document,
                    &fragment.node.selection_set.node,
                    keys,
                    seen_fragments,
                );
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                // A fragment cycle is refused by validation; here it must
                // only not loop.
                if seen_fragments.insert(name.clone())
                    && let Some(fragment) = document.fragments.get(name.as_str())
                {
                    root_keys(
                        document,
                        &fragment.node.selection_set.node,
                        keys,
                        seen_fragments,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("the query parses")
    }

    #[test]
    fn a_subscription_has_exactly_one_root_field_through_fragments_too() {
        for ok in [
            "subscription { orderUpdates { id } }",
            "subscription { a: orderUpdates { id } }",
            "subscription { ...F } fragment F on Subscription { orderUpdates { id } }",
            "{ orders { endCursor } projections { name } }",
        ] {
            assert!(single_root_field(&document(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "subscription { a: orderUpdates { id } b: orderUpdates { status } }",
            "subscription { orderUpdates { id } ... on Subscription { x: orderUpdates { id } } }",
            "subscription { orderUpdates { id } ...F } fragment F on Subscription { y: orderUpdates { id } }",
        ] {
            let error = single_root_field(&document(refused)).expect_err(refused);
            assert_eq!(
                error.extensions.and_then(|e| e.get("code").cloned()),
                Some(async_graphql::Value::from("GRAPHQL_VALIDATION_FAILED")),
                "{refused}"
            );
        }
    }
}
