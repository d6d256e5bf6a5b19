//! The neutral boundary between paycode and a payment provider (WeChat Pay,
//! Alipay): the [`Provider`] trait, the requests it takes and the answers it
//! gives.
//!
//! An answer says what the payment process must do next (done, poll, query
//! then reverse, give up, call a person), and it always keeps the provider's
//! own code and message so that events can record them.
//!
//! Invariant: nothing here knows a provider's fields. Field names such as
//! `total_fee` or `trade_no` live in the client crates (only the text formats
//! both share, in `text.rs`, are here), which convert to these
//! types at the edge. The one rule every client keeps: a response that cannot
//! be trusted (bad signature, malformed, cut, timed out) is never "paid"; it is
//! [`Unclear::NoValidAnswer`], so the process queries and then reverses.
//!
//! One `Provider` value talks for one merchant account (its keys, its
//! certificate, its service-provider sub-merchant); the application keeps one
//! per merchant and provider.

pub mod answer;
pub mod error;
pub mod http;
pub mod request;
pub mod secret;
pub mod text;

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::NaiveDate;

pub use answer::{
    BillAnswer, BillEncoding, BillFile, PaidTrade, PayAnswer, QueryAnswer, RawOutcome,
    RefundAnswer, RefundInfo, RefundQueryAnswer, ReverseAnswer, ReverseDone, ReverseEffect,
    Unclear,
};
pub use error::ProviderError;
pub use http::{HttpSettings, TlsIdentity, build_http_client};
pub use request::{PayRequest, RefundQueryRequest, RefundRequest, TradeRef};
pub use secret::Secret;

/// A payment provider's API, seen from paycode.
///
/// Every call except [`Provider::download_bill`] returns an answer and no
/// error: a transport failure, a timeout, a bad signature or a malformed body
/// is folded into the answer's `Unknown` variant by the client itself, so no
/// caller can mistake a failed call for a definite outcome.
#[async_trait]
pub trait Provider: Send + Sync + Debug {
    /// Which provider this is (for routing and for events).
    fn kind(&self) -> paycode_domain::Provider;

    /// Charges a payment code (WeChat `/pay/micropay`, Alipay `alipay.trade.pay`).
    async fn pay(&self, request: &PayRequest) -> PayAnswer;

    /// Asks for the state of a trade (`/pay/orderquery`, `alipay.trade.query`).
    async fn query(&self, trade: &TradeRef) -> QueryAnswer;

    /// Reverses a trade: closes it if unpaid, refunds it in full if paid
    /// (`/secapi/pay/reverse`, `alipay.trade.cancel`). Idempotent.
    async fn reverse(&self, trade: &TradeRef) -> ReverseAnswer;

    /// Refunds part or all of a paid trade (`/secapi/pay/refund`,
    /// `alipay.trade.refund`). The same `out_refund_no` is the same refund.
    async fn refund(&self, request: &RefundRequest) -> RefundAnswer;

    /// Asks for the state of one refund (`/pay/refundquery`,
    /// `alipay.trade.fastpay.refund.query`).
    async fn refund_query(&self, request: &RefundQueryRequest) -> RefundQueryAnswer;

    /// Downloads the merchant's trade bill of one day, as the provider sends
    /// it. Errors here decide nothing about money, so they stay errors.
    async fn download_bill(&self, day: NaiveDate) -> Result<BillAnswer, ProviderError>;
}
