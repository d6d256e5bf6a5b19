//! The one error enum of the provider boundary, shaped by what the caller
//! does: for pay, query and reverse every variant means "outcome unknown"
//! (the client folds it into [`crate::Unclear::NoValidAnswer`]); for bill
//! downloads it means "try again later" or, for `InvalidConfig`, "fix the setup".
//!
//! Messages never contain secrets: keys are in [`crate::Secret`], and
//! transport errors are stripped of their URL (Alipay puts tokens in it).

use std::error::Error as StdError;

/// Why a provider call gave no trustworthy answer.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The call did not finish within the configured time.
    #[error("the provider did not answer in time")]
    Timeout,
    /// The connection failed or was cut.
    #[error("transport failure talking to the provider")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
    /// The provider answered with an HTTP status other than 200.
    #[error("the provider answered HTTP status {0}")]
    HttpStatus(u16),
    /// The response's signature is missing or does not verify: it is not a fact.
    #[error("the response signature is missing or does not verify")]
    SignatureInvalid,
    /// The response is not what the protocol describes (bad XML or JSON, a
    /// required field missing or unreadable, a body cut short).
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The provider refused the call in a way that fits no answer (a
    /// communication-level failure, a failed bill download).
    #[error("the provider refused the call: {code}: {message}")]
    Rejected { code: String, message: String },
    /// Our own configuration is unusable (a key or certificate that does not
    /// parse, a base URL that is not a URL).
    #[error("invalid provider configuration: {0}")]
    InvalidConfig(String),
}

impl ProviderError {
    /// A stable code for events and API errors; never renamed or reused.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Timeout => "TIMEOUT",
            ProviderError::Transport(_) => "TRANSPORT",
            ProviderError::HttpStatus(_) => "HTTP_STATUS",
            ProviderError::SignatureInvalid => "SIGNATURE_INVALID",
            ProviderError::Malformed(_) => "MALFORMED",
            ProviderError::Rejected { .. } => "REJECTED",
            ProviderError::InvalidConfig(_) => "INVALID_CONFIG",
        }
    }

    /// Converts an HTTP client error, keeping timeouts apart and dropping the
    /// URL, which may carry tokens.
    pub fn from_http(error: reqwest::Error) -> ProviderError {
        if error.is_timeout() {
            return ProviderError::Timeout;
        }
        ProviderError::Transport(Box::new(error.without_url()))
    }
}
