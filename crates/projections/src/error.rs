//! The one error type of the projections, shaped by what the caller does.

use paycode_store::StoreError;

/// What went wrong. Reactions: `Store` and `Database` are retried later (the
/// runner backs off); `Corrupt` needs a person (the log holds an event this
/// version cannot read); `RebuildInProgress` and `UnknownProjection` are the
/// caller's to fix; `Timeout` means the projection did not reach a position
/// in time, the write itself did happen.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the read-model database failed")]
    Database(#[from] rusqlite::Error),
    #[error("event at position {position} cannot be projected: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("a rebuild of projection {0} is already running")]
    RebuildInProgress(&'static str),
    #[error("the rebuild of projection {0} was cancelled; the old copy serves on")]
    RebuildCancelled(String),
    #[error(
        "the rebuild of projection {0} could not catch up with the log; the old copy serves on"
    )]
    RebuildOutpaced(String),
    #[error("unknown projection {0:?}")]
    UnknownProjection(String),
    #[error("the projections did not reach position {position} in time")]
    Timeout { position: u64 },
    #[error("a read-model task stopped unexpectedly")]
    TaskFailed(#[source] tokio::task::JoinError),
}
