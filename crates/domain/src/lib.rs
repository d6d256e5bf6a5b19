//! The order domain of paycode: identifiers, money, and the order's life as
//! commands, events and the pure `decide` / `evolve` functions.
//!
//! Invariant: this crate does no I/O, never reads the clock and never sees a
//! provider's wire format. Time and new ids come in through the decision
//! context, so replaying the same events always gives the same state.
//!
//! Where to start reading: `command.rs` (what can be asked), `event.rs` (what
//! is stored), `decide.rs` (the rules), `state.rs` (the projection and
//! `evolve`), `due.rs` (what the process manager must do next), `policy.rs`
//! (the configurable times and bounds), `stream.rs` (the names of the
//! streams and the rule that an order stream opens with `PaymentRequested`).

pub mod beijing;
pub mod command;
pub mod decide;
pub mod due;
pub mod event;
pub mod ids;
pub mod money;
pub mod policy;
pub mod reconciliation;
pub mod rejection;
pub mod schema;
pub mod state;
pub mod stream;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use command::{
    MAX_REFUND_REASON_CHARS, ManualReversalReason, OrderCommand, PayOutcome, RefundOutcome,
    RequestPayment, RequestRefund, ReversalOutcome,
};
pub use decide::{Context, NewIds, decide};
pub use due::Due;
pub use event::{
    AbandonReason, AnswerSource, DecodeError, ManualOutcome, ManuallyResolved, OrderEvent,
    OrderRevoked, PaidAfterSettlement, PaymentClosedByProvider, PaymentFailed,
    PaymentPendingReported, PaymentRequested, PaymentRetried, PaymentSucceeded,
    PaymentUnknownReported, ProviderReply, RefundAbnormal, RefundFailed, RefundNotConfirmed,
    RefundProcessingReported, RefundRequested, RefundResolution, RefundResolved, RefundRetried,
    RefundSucceeded, ReversalAbandoned, ReversalAttemptFailed, ReversalReason, ReversalRequested,
    ReversalRetried, ReverseAction, TradeClosed,
};
pub use ids::{
    AuthCode, IdError, MerchantId, OrderId, OutRefundNo, OutTradeNo, Provider, ProviderOrderNo,
};
pub use money::{Amount, Money, MoneyError};
pub use policy::Policy;
pub use reconciliation::{
    BillSource, CarriedItem, CarriedPart, DiscrepancyFound, DiscrepancyResolved, DiscrepancyStatus,
    DiscrepancySuperseded, ReconciliationCompleted, ReconciliationEvent, ReconciliationStarted,
    ResolutionOutcome, ResolutionRejected, RunFigures, RunLog, reconciliation_stream,
};
pub use rejection::Rejection;
pub use state::{Order, PayAttempt, Refund, RefundState, Reversal, Status, evolve, replay};
pub use stream::{
    NotAnOrderOpening, ORDER_STREAM_PREFIX, evolve_checked, is_order_stream, order_stream,
    replay_checked,
};
