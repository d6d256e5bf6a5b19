//! Which stream holds what: the domain owns the names of its streams and
//! the rule that an order stream opens with `PaymentRequested`.
//!
//! An order's stream is `order-{merchant}-{out_trade_no}`: one stream per
//! merchant order number, so a retried request lands on the same stream and
//! the store's expected version settles races. A reconciliation run's stream
//! is `recon-{provider}-{merchant}-{yyyymmdd}`
//! ([`crate::reconciliation_stream`]).
//!
//! A merchant id may itself hold `-`, so an order stream's name is not split
//! back into merchant and order number: its first event carries both. What a
//! name tells is its kind ([`is_order_stream`]).

use crate::event::OrderEvent;
use crate::ids::{MerchantId, OutTradeNo};
use crate::state::{Order, evolve};

/// The prefix of every order stream.
pub const ORDER_STREAM_PREFIX: &str = "order-";

/// The name of an order's stream: `order-{merchant}-{out_trade_no}`. Every
/// character of both parts is allowed in a store's stream name.
pub fn order_stream(merchant: &MerchantId, out_trade_no: &OutTradeNo) -> String {
    format!("{ORDER_STREAM_PREFIX}{merchant}-{out_trade_no}")
}

/// Whether a stream name is an order's stream.
pub fn is_order_stream(name: &str) -> bool {
    name.len() > ORDER_STREAM_PREFIX.len() && name.starts_with(ORDER_STREAM_PREFIX)
}

/// An order stream that does not open with `PaymentRequested`: a corrupt log
/// or a log file that was edited. Never produced by paycode's own appends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream opens with {opened_with}, not PaymentRequested")]
pub struct NotAnOrderOpening {
    pub opened_with: &'static str,
}

/// Folds one event into an order, refusing a stream that does not open
/// with `PaymentRequested` (where [`evolve`] only asserts it). Use this on
/// anything read from a store or a file.
pub fn evolve_checked(
    order: Option<Order>,
    event: &OrderEvent,
) -> Result<Order, NotAnOrderOpening> {
    if order.is_none() && !matches!(event, OrderEvent::PaymentRequested(_)) {
        return Err(NotAnOrderOpening {
            opened_with: event.event_type(),
        });
    }
    Ok(evolve(order, event).expect("an order exists once PaymentRequested is folded"))
}

/// Folds a whole stream, checked: `Ok(None)` for an empty stream.
pub fn replay_checked<'a>(
    events: impl IntoIterator<Item = &'a OrderEvent>,
) -> Result<Option<Order>, NotAnOrderOpening> {
    let mut order = None;
    for event in events {
        order = Some(evolve_checked(order, event)?);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AnswerSource;
    use crate::testing::fixtures::{paid, requested, secs, t0, wechat_code};

    #[test]
    fn order_streams_are_named_and_recognised() {
        let merchant = MerchantId::parse("shop-a").unwrap();
        let order = OutTradeNo::parse("T-1").unwrap();
        let name = order_stream(&merchant, &order);
        assert_eq!(name, "order-shop-a-T-1");
        assert!(is_order_stream(&name));
        assert!(!is_order_stream("order-"));
        assert!(!is_order_stream("recon-wechatpay-shop-a-20261120"));
    }

    #[test]
    fn a_stream_must_open_with_the_payment_request() {
        let history = vec![
            requested(wechat_code(), "1.00", t0()),
            paid(1, AnswerSource::Call, t0() + secs(1)),
        ];
        assert!(replay_checked(&history).unwrap().is_some());
        assert_eq!(replay_checked(&[]).unwrap(), None);
        let error = replay_checked(&history[1..]).unwrap_err();
        assert_eq!(error.opened_with, history[1].event_type());
    }
}
