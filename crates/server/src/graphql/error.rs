//! The back office's one conversion of errors into GraphQL errors: a
//! message and a stable `extensions.code`. Internal causes are logged with
//! their chain and never sent to the client.

use async_graphql::ErrorExtensions as _;
use paycode_app::{AppError, ProcessError};
use paycode_projections::ProjectionError;

/// Every `extensions.code` the back office answers with, and what it means;
/// the README's table is this list (a test compares them). A rejection by
/// the domain carries the domain's own code (`ORDER_NOT_PAID`, ...).
pub const CODES: &[(&str, &str)] = &[
    (
        "UNAUTHENTICATED",
        "no bearer token, or one no operator holds",
    ),
    (
        "FORBIDDEN",
        "the token's role or merchant scope does not allow it",
    ),
    ("NOT_FOUND", "no such thing inside the token's scope"),
    (
        "BAD_REQUEST",
        "the body is not a GraphQL request (JSON with `query`)",
    ),
    ("PAYLOAD_TOO_LARGE", "the body is over 64 KiB"),
    (
        "GRAPHQL_PARSE_FAILED",
        "the query text is not GraphQL (a syntax error)",
    ),
    (
        "GRAPHQL_VALIDATION_FAILED",
        "the query does not fit the schema: an unknown field, a mistyped argument, a subscription with more than one root field",
    ),
    (
        "QUERY_TOO_COMPLEX",
        "the query could answer more than the complexity limit (page sizes count)",
    ),
    (
        "QUERY_TOO_DEEP",
        "the query nests deeper than the depth limit",
    ),
    (
        "PAGE_SIZE_OUT_OF_RANGE",
        "`first` is below 1 or above the page limit",
    ),
    (
        "BAD_CURSOR",
        "a cursor this API did not issue for this query and token",
    ),
    (
        "BAD_USER_INPUT",
        "an argument's value is refused (an amount, a day, a note)",
    ),
    (
        "CONCURRENT_UPDATE",
        "another request changed the order at the same time: retry",
    ),
    (
        "PROVIDER_NOT_CONFIGURED",
        "the merchant has no account with that provider",
    ),
    (
        "INTERNAL",
        "paycode failed; the cause is in its log, not in the answer",
    ),
];

/// What a resolver can fail with, shaped by what the client does next.
#[derive(Debug, thiserror::Error)]
pub enum BackOfficeError {
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadInput(String),
    /// A cursor this API did not issue, or issued for another query or scope.
    #[error("{0}")]
    BadCursor(&'static str),
    /// A refusal of the request as a whole, before GraphQL ran: its code
    /// (`BAD_REQUEST`, `PAYLOAD_TOO_LARGE`).
    #[error("{message}")]
    Coded { code: &'static str, message: String },
    /// `first` outside 1 to the page limit.
    #[error("first must be 1 to {max}")]
    PageSize { max: usize },
    /// The domain refused the command: its own stable code.
    #[error("{message}")]
    Rejected { code: &'static str, message: String },
    #[error("internal error")]
    Internal,
}

impl BackOfficeError {
    pub fn code(&self) -> &'static str {
        match self {
            BackOfficeError::Unauthenticated => "UNAUTHENTICATED",
            BackOfficeError::Forbidden(_) => "FORBIDDEN",
            BackOfficeError::NotFound => "NOT_FOUND",
            BackOfficeError::BadInput(_) => "BAD_USER_INPUT",
            BackOfficeError::BadCursor(_) => "BAD_CURSOR",
            BackOfficeError::PageSize { .. } => "PAGE_SIZE_OUT_OF_RANGE",
            BackOfficeError::Rejected { code, .. } | BackOfficeError::Coded { code, .. } => code,
            BackOfficeError::Internal => "INTERNAL",
        }
    }

    /// Logs the cause; the client gets `INTERNAL` and nothing more.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> BackOfficeError {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(next) = source {
            chain.push_str(": ");
            chain.push_str(&next.to_string());
            source = next.source();
        }
        tracing::error!(error = %chain, "back office: internal error");
        BackOfficeError::Internal
    }

    pub fn into_graphql(self) -> async_graphql::Error {
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| e.set("code", code))
    }
}

impl From<ProjectionError> for BackOfficeError {
    fn from(error: ProjectionError) -> BackOfficeError {
        match error {
            ProjectionError::RebuildInProgress(_) | ProjectionError::UnknownProjection(_) => {
                BackOfficeError::BadInput(error.to_string())
            }
            ProjectionError::Store(_)
            | ProjectionError::Database(_)
            | ProjectionError::Corrupt { .. }
            | ProjectionError::RebuildCancelled(_)
            | ProjectionError::RebuildOutpaced(_)
            | ProjectionError::Timeout { .. }
            | ProjectionError::TaskFailed(_) => BackOfficeError::internal(&error),
        }
    }
}

impl From<ProcessError> for BackOfficeError {
    fn from(error: ProcessError) -> BackOfficeError {
        match error {
            ProcessError::ProviderNotConfigured { .. } => BackOfficeError::Rejected {
                code: "PROVIDER_NOT_CONFIGURED",
                message: error.to_string(),
            },
            ProcessError::App(app) => app.into(),
        }
    }
}

impl From<AppError> for BackOfficeError {
    fn from(error: AppError) -> BackOfficeError {
        match error {
            AppError::Rejected(rejection) => BackOfficeError::Rejected {
                code: rejection.code(),
                message: rejection.to_string(),
            },
            AppError::Contended { .. } => BackOfficeError::Rejected {
                code: "CONCURRENT_UPDATE",
                message: "the order is being changed by another request; try again".into(),
            },
            AppError::Corrupt { .. } | AppError::Store(_) => BackOfficeError::internal(&error),
        }
    }
}

/// `?` for resolvers: every error leaves through [`BackOfficeError`].
pub type GqlResult<T> = Result<T, async_graphql::Error>;

pub trait OrGraphql<T> {
    fn gql(self) -> GqlResult<T>;
}

impl<T, E: Into<BackOfficeError>> OrGraphql<T> for Result<T, E> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(|e| e.into().into_graphql())
    }
}
