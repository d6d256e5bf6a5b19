//! Handling a command against an order: load the stream, fold it, decide,
//! append the new events expecting the version that was read.
//!
//! Concurrency is settled by the store, never by an in-memory lock alone:
//! when another writer appended first, the append fails with a conflict, and
//! the command is decided again on the fresh state (a bounded number of
//! times). A decision that finds its work already done (the identical
//! request again) produces no events and returns the current state.
//!
//! New event ids come fresh for every decision. Were they derived from the
//! stream and version instead, two racing writers with different decisions
//! would carry the same ids, and the loser would read the store's idempotent
//! answer as its own success.

use std::sync::Arc;

use paycode_domain::{
    Context, MerchantId, NewIds, Order, OrderCommand, OrderEvent, OutTradeNo, Policy, Rejection,
    evolve, order_stream,
};
use paycode_store::{EventStore, ExpectedVersion, NewEvent, StoreError, StreamName};

use crate::clock::{Clock, IdSource};
use crate::replay::decode;

/// How often a command is decided again after losing a race for the same
/// version. Each loss means another writer made progress on this order, so
/// a handful is plenty; past it the caller gets `Contended` and may retry.
const MAX_CONFLICT_RETRIES: usize = 8;

/// Events read per call while loading one stream. An order has tens of
/// events; the bound only keeps a corrupt giant stream from one huge read.
const LOAD_PAGE: usize = 1_000;

/// What handling a command can end in, shaped by what the caller does.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The domain refused the command: tell the caller the rule's code.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Too many concurrent writers on one order: the caller may try again.
    #[error("the order {stream} is being changed concurrently; try again")]
    Contended { stream: String },
    /// A stored event cannot be read as an order event: a bug or corruption.
    #[error("order stream {stream} is corrupt: {reason}")]
    Corrupt { stream: String, reason: String },
    /// The store failed: our fault, logged, not the caller's.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of a handled command.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The order after the command (`None`: it does not exist, which only a
    /// refused or empty decision on a missing order can leave).
    pub order: Option<Order>,
    /// The events this call appended (empty for an idempotent repeat).
    pub events: Vec<OrderEvent>,
    /// The global position of the last appended event, for read-your-writes.
    pub position: Option<u64>,
}

/// Runs order commands against the event store.
#[derive(Debug, Clone)]
pub struct OrderService {
    store: Arc<dyn EventStore>,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

impl OrderService {
    pub fn new(
        store: Arc<dyn EventStore>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        OrderService {
            store,
            policy: Arc::new(policy),
            clock,
            ids,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The injected clock's time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The stream of one merchant order.
    pub fn stream(merchant: &MerchantId, out_trade_no: &OutTradeNo) -> StreamName {
        StreamName::parse(&order_stream(merchant, out_trade_no))
            .expect("merchant ids and order numbers only hold stream-name characters")
    }

    /// The order's current state, folded from its stream.
    pub async fn load(&self, stream: &StreamName) -> Result<Option<Order>, AppError> {
        let mut order = None;
        let mut from = 1;
        loop {
            let page = self.store.read_stream(stream, from, LOAD_PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(order);
            };
            from = last.version + 1;
            for recorded in &page {
                let event = decode(recorded)?;
                if order.is_none() && !matches!(event, OrderEvent::PaymentRequested(_)) {
                    return Err(AppError::Corrupt {
                        stream: stream.as_str().to_owned(),
                        reason: format!(
                            "stream opens with {}, not PaymentRequested",
                            recorded.event_type
                        ),
                    });
                }
                order = evolve(order, &event);
            }
        }
    }

    /// Decides `command` on the order of `stream` and appends the result.
    pub async fn execute(
        &self,
        stream: &StreamName,
        command: &OrderCommand,
    ) -> Result<Executed, AppError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let order = self.load(stream).await?;
            let version = order.as_ref().map_or(0, |o| o.version);
            let ctx = Context {
                now: self.clock.now(),
                policy: &self.policy,
                ids: NewIds::from_uuids(self.ids.new_id(), self.ids.new_id()),
            };
            let events = paycode_domain::decide(order.as_ref(), command, &ctx)?;
            if events.is_empty() {
                return Ok(Executed {
                    order,
                    events,
                    position: None,
                });
            }
            let expected = match version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v),
            };
            let batch = self.encode(command, &events);
            match self.store.append(stream, expected, batch).await {
                Ok(appended) => {
                    let order = events.iter().fold(order, evolve);
                    return Ok(Executed {
                        order,
                        events,
                        position: Some(appended.position),
                    });
                }
                Err(StoreError::Conflict { .. }) => {
                    tracing::debug!(
                        stream = stream.as_str(),
                        command = command.name(),
                        "lost a race; deciding again"
                    );
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(AppError::Contended {
            stream: stream.as_str().to_owned(),
        })
    }

    fn encode(&self, command: &OrderCommand, events: &[OrderEvent]) -> Vec<NewEvent> {
        let metadata = serde_json::json!({ "command": command.name() })
            .to_string()
            .into_bytes();
        events
            .iter()
            .map(|event| {
                let (event_type, type_version, data) = event.encode();
                NewEvent {
                    id: self.ids.new_id(),
                    event_type: event_type.to_owned(),
                    type_version,
                    data,
                    metadata: metadata.clone(),
                }
            })
            .collect()
    }
}
