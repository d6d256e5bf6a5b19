//! The facts of an order's life, as stored: every event type, its payload,
//! its version, and its encoding to the store's format (type name, version,
//! JSON bytes).
//!
//! An event is appended once and never changed, so a payload's JSON shape is a
//! contract: changing it means a new version of that event type, while the old
//! version stays decodable. The checked-in JSON Schemas under
//! `schemas/events/` (see `schema.rs`) make every change visible in review.
//!
//! Events record what happened and the times the decision derived (the next
//! reversal attempt, the earliest reverse), so `evolve` never needs the
//! `Policy` and replay gives the same state under any configuration.
//! Every payload has `at`: the instant the fact was recorded (`Context::now`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{MerchantId, OrderId, OutRefundNo, OutTradeNo, Provider, ProviderOrderNo};
use crate::money::Money;

/// The provider's raw result code and message, kept verbatim in every event
/// that records a provider exchange (WeChat `err_code`/`err_code_des` or
/// `trade_state`; Alipay `code`/`sub_code` and `sub_msg`). For an exchange
/// without an answer the app layer names its own code, e.g. `TIMEOUT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ProviderReply {
    pub code: String,
    pub message: String,
}

impl ProviderReply {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ProviderReply {
        ProviderReply {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Which exchange produced an answer: the pay (or refund) call itself, or a
/// later query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    Call,
    Query,
}

/// Why a reversal was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReversalReason {
    /// The payment was not final when the pay deadline passed.
    DeadlinePassed,
    /// The provider reported a failure that may have charged the customer
    /// (WeChat `PAYERROR`: "支付失败,请撤销订单").
    UnclearFailure,
    /// The cashier cancelled the sale at the till.
    CashierCancelled,
    /// A back-office operator asked for it.
    Operator,
}

/// What a confirmed reversal did at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReverseAction {
    /// The trade was unpaid and is now closed; nothing moved.
    Closed,
    /// The trade was paid and the whole amount went back to the customer.
    Refunded,
}

/// Why the automatic reversal stopped and a person must decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbandonReason {
    /// `Policy::reversal_max_attempts` calls did not confirm it.
    AttemptsExhausted,
    /// The provider refused the reversal definitively.
    Refused,
    /// The provider's reversal window closed before it was confirmed.
    WindowExpired,
}

/// What a person established when resolving an order by hand.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ManualOutcome {
    /// The trade is closed or its money returned (checked at the provider).
    Reversed,
    /// The customer paid and the merchant keeps the money.
    Paid { provider_trade_no: Option<String> },
    /// Nothing was charged.
    NotCharged,
}

/// The first pay attempt of a new order: the order exists from here on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRequested {
    pub order_id: OrderId,
    pub merchant: MerchantId,
    pub out_trade_no: OutTradeNo,
    pub provider: Provider,
    pub amount: Money,
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// The payment code as `AuthCode::masked` prints it; the full code is never stored.
    pub auth_code_masked: String,
    /// The order number sent to the provider for attempt 1.
    pub provider_order_no: ProviderOrderNo,
    pub at: DateTime<Utc>,
}

/// A new pay attempt after a definite failure, with a new payment code and a
/// new provider order number. Earlier attempts stay in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRetried {
    /// 2 for the first retry, and so on.
    pub attempt: u32,
    pub provider: Provider,
    pub auth_code_masked: String,
    pub provider_order_no: ProviderOrderNo,
    pub at: DateTime<Utc>,
}

/// The provider confirmed the payment of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentSucceeded {
    pub attempt: u32,
    pub source: AnswerSource,
    /// WeChat `transaction_id`, Alipay `trade_no`.
    pub provider_trade_no: String,
    /// When the provider says the customer paid.
    pub paid_at: DateTime<Utc>,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The provider says the payment waits for the customer (WeChat `USERPAYING`,
/// Alipay `10003` or `WAIT_BUYER_PAY`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentPendingReported {
    pub attempt: u32,
    pub source: AnswerSource,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The exchange did not tell whether the customer was charged (WeChat
/// `SYSTEMERROR`, Alipay `20000`, a timeout, a reply that did not verify, or
/// an unclear failure such as `PAYERROR`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentUnknownReported {
    pub attempt: u32,
    pub source: AnswerSource,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The provider definitely refused the attempt; nothing was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentFailed {
    pub attempt: u32,
    pub source: AnswerSource,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The provider closed or revoked an attempt's trade that paycode never asked
/// to reverse (WeChat `REVOKED` or `CLOSED`, Alipay `TRADE_CLOSED` from a
/// query): WeChat revokes an unpaid payment-code order by itself 45 s after
/// creation (WeChat POS guide, protocols.md 1.10). Nothing is owed: the order
/// is `FAILED` and the cashier may retry with a new code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentClosedByProvider {
    pub attempt: u32,
    pub source: AnswerSource,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// A paid answer that arrived after the order was settled otherwise: after
/// it was `FAILED`, `REVOKED` or `TRADE_CLOSED`, for an earlier attempt, or
/// naming another trade than the one recorded. The provider's word is a
/// fact: it is kept, the order's state stays, and a person must look
/// (design.md section 4.8). Reconciliation matches the trade through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaidAfterSettlement {
    pub attempt: u32,
    pub source: AnswerSource,
    /// WeChat `transaction_id`, Alipay `trade_no`.
    pub provider_trade_no: String,
    pub paid_at: DateTime<Utc>,
    /// The order's state when the answer arrived.
    pub status_then: crate::state::Status,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The current attempt's trade is to be reversed (closed if unpaid, refunded if paid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReversalRequested {
    pub reason: ReversalReason,
    /// The cashier or operator who asked; `None` when paycode decided.
    pub by: Option<String>,
    /// When the first reverse call is due (WeChat: not before 15 s after the pay call).
    pub first_attempt_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// A reverse call answered "call again" (WeChat `recall=Y`, Alipay `retry_flag=Y`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReversalRetried {
    /// The number of the reverse call that answered, 1-based.
    pub attempt: u32,
    pub reply: ProviderReply,
    /// `None` when this was the last call allowed (a `ReversalAbandoned` follows).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// A reverse call failed: no answer, an error, or a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReversalAttemptFailed {
    pub attempt: u32,
    pub reply: ProviderReply,
    /// `None` when no further call will be made (a `ReversalAbandoned` follows).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// The automatic reversal stopped; the order is on the manual-intervention queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReversalAbandoned {
    pub reason: AbandonReason,
    /// Reverse calls made for this request.
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

/// WeChat Pay confirmed the reversal (`trade_state=REVOKED`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderRevoked {
    pub attempt: u32,
    /// `None` when the provider's answer does not say (WeChat reverse does not).
    pub action: Option<ReverseAction>,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// Alipay confirmed the reversal (`trade_status=TRADE_CLOSED`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TradeClosed {
    pub attempt: u32,
    /// Alipay `action`: `close` or `refund`; `None` when absent.
    pub action: Option<ReverseAction>,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// A person resolved an order from the manual-intervention queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManuallyResolved {
    pub by: String,
    pub note: String,
    pub outcome: ManualOutcome,
    pub at: DateTime<Utc>,
}

/// A refund of part or all of a paid order was requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundRequested {
    /// The till's (or operator's) refund number: the idempotency key within the order.
    pub out_refund_no: OutRefundNo,
    /// The number paycode sends to the provider (WeChat `out_refund_no`,
    /// Alipay `out_request_no`): 32 hex digits of a fresh UUID, so it is
    /// unique across the merchant account as WeChat requires ("商户系统内部
    /// 唯一"), whatever number the till chose. Absent in logs written before
    /// it existed, where the till's number was sent as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_refund_no: Option<OutRefundNo>,
    pub amount: Money,
    pub reason: Option<String>,
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

/// The provider confirmed the refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundSucceeded {
    pub out_refund_no: OutRefundNo,
    pub source: AnswerSource,
    /// WeChat `refund_id`; Alipay has none (`None`).
    pub provider_refund_id: Option<String>,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The provider accepted the refund and has not finished it (WeChat
/// `PROCESSING`, Alipay `fund_change=N`), or the answer was unclear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundProcessingReported {
    pub out_refund_no: OutRefundNo,
    pub source: AnswerSource,
    pub provider_refund_id: Option<String>,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The provider definitely did not refund; the amount is refundable again
/// under a new refund number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundFailed {
    pub out_refund_no: OutRefundNo,
    pub source: AnswerSource,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// The provider did not confirm taking a refund: the refund call's answer was
/// unusable (a timeout, a dropped connection, HTTP 5xx, WeChat `SYSTEMERROR`
/// or `BIZERR_NEED_RETRY`, a signature that did not verify), or a refund
/// query found no refund under its number (WeChat `REFUNDNOTEXIST`, Alipay
/// without data). Not refunded as far as anyone knows, and not refused: the
/// amount stays reserved and the refund is sent again with the same number
/// at `next_send_at` (the provider refunds once per number). `None`: the
/// re-send budget is spent and a person must decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundNotConfirmed {
    pub out_refund_no: OutRefundNo,
    pub source: AnswerSource,
    pub reply: ProviderReply,
    pub next_send_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// The provider could not pay the refund out (WeChat `CHANGE`: the card was
/// closed or frozen, and the money went back to the merchant's account). The
/// amount stays reserved and a person must refund the customer another way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundAbnormal {
    pub out_refund_no: OutRefundNo,
    pub source: AnswerSource,
    pub provider_refund_id: Option<String>,
    pub reply: ProviderReply,
    pub at: DateTime<Utc>,
}

/// What a person established about a refund on the manual-intervention queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundResolution {
    /// The customer got the money (at the provider, or another way).
    Refunded,
    /// Nothing reached the customer and nothing will: the amount is free again.
    NotRefunded,
    /// Send it to the provider again under the same number, with a fresh budget.
    Resend,
}

/// A person resolved a refund from the manual-intervention queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundResolved {
    pub out_refund_no: OutRefundNo,
    pub by: String,
    pub note: String,
    pub resolution: RefundResolution,
    pub at: DateTime<Utc>,
}

/// A refund that definitely failed is asked for again under its own number
/// (the provider refunds once per number, so the retry cannot pay twice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundRetried {
    pub out_refund_no: OutRefundNo,
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

/// Why stored bytes are not an `OrderEvent`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown order event type {event_type:?}")]
    UnknownType { event_type: String },
    #[error("order event type {event_type:?} has no version {version}")]
    UnknownVersion { event_type: String, version: u32 },
    #[error("order event {event_type:?} v{version} has an invalid payload")]
    InvalidPayload {
        event_type: String,
        version: u32,
        #[source]
        source: serde_json::Error,
    },
}

/// Declares `OrderEvent` and its per-type dispatch from one list, so a new
/// event type cannot be added to the enum and forgotten by the codec or the
/// schema generator.
macro_rules! order_events {
    ($($name:ident => $version:literal),* $(,)?) => {
        /// Every fact of an order's life. The variant name is the stored type name.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum OrderEvent {
            $($name($name),)*
        }

        $(impl From<$name> for OrderEvent {
            fn from(payload: $name) -> OrderEvent {
                OrderEvent::$name(payload)
            }
        })*

        impl OrderEvent {
            /// Every (type, current version) pair, in declaration order.
            pub const TYPES: &'static [(&'static str, u32)] = &[$((stringify!($name), $version),)*];

            /// The stored type name, e.g. `"PaymentRequested"`.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(OrderEvent::$name(_) => stringify!($name),)*
                }
            }

            /// The version of the payload's JSON shape.
            pub fn event_version(&self) -> u32 {
                match self {
                    $(OrderEvent::$name(_) => $version,)*
                }
            }

            /// When the fact was recorded.
            pub fn at(&self) -> DateTime<Utc> {
                match self {
                    $(OrderEvent::$name(payload) => payload.at,)*
                }
            }

            /// The store's format: type name, version and the payload as JSON.
            pub fn encode(&self) -> (&'static str, u32, Vec<u8>) {
                let data = match self {
                    $(OrderEvent::$name(payload) => serde_json::to_vec(payload),)*
                };
                // Payloads are plain structs with string keys: serialising cannot fail.
                let data = data.expect("order event payloads always serialise to JSON");
                (self.event_type(), self.event_version(), data)
            }

            /// Reads an event back from the store's format.
            pub fn decode(event_type: &str, version: u32, data: &[u8]) -> Result<OrderEvent, DecodeError> {
                $(if event_type == stringify!($name) && version == $version {
                    return serde_json::from_slice::<$name>(data)
                        .map(OrderEvent::$name)
                        .map_err(|source| DecodeError::InvalidPayload {
                            event_type: event_type.to_owned(),
                            version,
                            source,
                        });
                })*
                if OrderEvent::TYPES.iter().any(|(known, _)| *known == event_type) {
                    Err(DecodeError::UnknownVersion { event_type: event_type.to_owned(), version })
                } else {
                    Err(DecodeError::UnknownType { event_type: event_type.to_owned() })
                }
            }
        }

        /// The JSON Schema of every event type's current version.
        pub(crate) fn payload_schemas() -> Vec<(&'static str, u32, schemars::Schema)> {
            vec![$((stringify!($name), $version, schemars::schema_for!($name)),)*]
        }
    };
}

order_events! {
    PaymentRequested => 1,
    PaymentRetried => 1,
    PaymentSucceeded => 1,
    PaymentPendingReported => 1,
    PaymentUnknownReported => 1,
    PaymentFailed => 1,
    PaymentClosedByProvider => 1,
    PaidAfterSettlement => 1,
    ReversalRequested => 1,
    ReversalRetried => 1,
    ReversalAttemptFailed => 1,
    ReversalAbandoned => 1,
    OrderRevoked => 1,
    TradeClosed => 1,
    ManuallyResolved => 1,
    RefundRequested => 1,
    RefundSucceeded => 1,
    RefundProcessingReported => 1,
    RefundFailed => 1,
    RefundRetried => 1,
    RefundNotConfirmed => 1,
    RefundAbnormal => 1,
    RefundResolved => 1,
}
