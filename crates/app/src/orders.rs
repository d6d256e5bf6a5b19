//! Orders as streams: how an order is read from and written to the log, and
//! the per-order command service the payment process writes through.
//!
//! `OrderService` is crate-private: every change to an order goes through
//! `PaymentProcess`, which keeps the work list, the manual queue and the
//! metrics in step with what was appended.

use std::sync::Arc;

use paycode_domain::{
    Context, MerchantId, NewIds, Order, OrderCommand, OrderEvent, OutTradeNo, Policy, Rejection,
    evolve_checked, order_stream,
};
use paycode_store::{EventStore, RecordedEvent, StreamName};

use crate::clock::{Clock, IdSource};
use crate::streams::{Aggregate, StreamError, Streams};

/// What handling an order command can end in, shaped by what the caller
/// does: a refusal carries the domain rule's stable code.
pub type AppError = StreamError<Rejection>;

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

impl Aggregate for Order {
    type Event = OrderEvent;

    fn decode(recorded: &RecordedEvent) -> Result<OrderEvent, String> {
        OrderEvent::decode(&recorded.event_type, recorded.type_version, &recorded.data)
            .map_err(|e| e.to_string())
    }

    fn encode(event: &OrderEvent) -> (&'static str, u32, Vec<u8>) {
        event.encode()
    }

    fn fold(state: Option<Order>, event: &OrderEvent) -> Result<Order, String> {
        evolve_checked(state, event).map_err(|e| e.to_string())
    }

    fn version(&self) -> u64 {
        self.version
    }
}

/// The stream of one merchant order, as the store names it.
pub fn order_stream_name(merchant: &MerchantId, out_trade_no: &OutTradeNo) -> StreamName {
    StreamName::parse(&order_stream(merchant, out_trade_no))
        .expect("merchant ids and order numbers only hold stream-name characters")
}

/// Runs order commands against the event store.
#[derive(Debug, Clone)]
pub(crate) struct OrderService {
    streams: Streams<Order>,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
}

impl OrderService {
    pub(crate) fn new(
        store: Arc<dyn EventStore>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
    ) -> Self {
        OrderService {
            streams: Streams::new(store, ids.clone()),
            policy: Arc::new(policy),
            clock,
            ids,
        }
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The injected clock's time.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        self.streams.store()
    }

    /// The order's current state, folded from its stream.
    pub(crate) async fn load(&self, stream: &StreamName) -> Result<Option<Order>, AppError> {
        self.streams.load(stream).await
    }

    /// Decides `command` on the order of `stream` and appends the result.
    pub(crate) async fn execute(
        &self,
        stream: &StreamName,
        command: &OrderCommand,
    ) -> Result<Executed, AppError> {
        let metadata = serde_json::json!({ "command": command.name() })
            .to_string()
            .into_bytes();
        let decided = self
            .streams
            .execute(stream, &metadata, |order| {
                let ctx = Context {
                    now: self.clock.now(),
                    policy: &self.policy,
                    ids: NewIds::from_uuids(self.ids.new_id(), self.ids.new_id()),
                };
                paycode_domain::decide(order, command, &ctx)
            })
            .await?;
        Ok(Executed {
            order: decided.state,
            events: decided.events,
            position: decided.position,
        })
    }
}
