//! The order domain of paycode: identifiers, money, and the order's life as
//! commands, events and the pure `decide` / `evolve` functions.
//!
//! Invariant: this crate does no I/O, never reads the clock and never sees a
//! provider's wire format. Time and new ids come in through the decision
//! context, so replaying the same events always gives the same state.

pub mod ids;
pub mod money;

pub use ids::{AuthCode, IdError, MerchantId, OrderId, OutRefundNo, OutTradeNo, Provider, order_stream};
pub use money::{Amount, Money, MoneyError};
