//! The state the HTTP API serves from; [`crate::wiring`] builds it from the
//! configuration.

use std::sync::Arc;

use paycode_app::PaymentProcess;
use paycode_store::EventStore;

use crate::config::ApiKeys;

/// Everything the HTTP API needs.
#[derive(Debug, Clone)]
pub struct Service {
    /// The one door for every change to an order, and its reads.
    pub process: PaymentProcess,
    /// The log, for the operations endpoints (its head) and the read models.
    pub store: Arc<dyn EventStore>,
    pub keys: Arc<ApiKeys>,
    /// The back office's read models, when this node serves them: readiness
    /// waits for them to catch up, and `/metrics` reports their lag.
    pub read_models: Option<paycode_projections::ReadModels>,
    /// The start-up self-check of every provider account (`/readyz`).
    pub accounts: crate::checks::AccountChecks,
}

impl Service {
    /// The process worker: rebuilds the work list from the log, then works
    /// whatever is due, for ever (`paycode_app::worker`).
    pub async fn run_worker(self) {
        paycode_app::worker::run(self.process).await;
    }
}
