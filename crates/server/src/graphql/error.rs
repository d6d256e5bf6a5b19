//! The back office's one conversion of errors into GraphQL errors: a
//! message and a stable `extensions.code`. Internal causes are logged with
//! their chain and never sent to the client.

use async_graphql::ErrorExtensions as _;
use paycode_app::{AppError, ProcessError};
use paycode_projections::ProjectionError;

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
            BackOfficeError::Rejected { code, .. } => code,
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
