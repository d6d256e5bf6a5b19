//! What the queries return: plain rows of the read models, with money as
//! `Amount` and instants as UTC, and the cursors a page continues from. The
//! server maps them to its API types.

use chrono::{DateTime, Utc};
use paycode_domain::{Amount, Status};
use serde::{Deserialize, Serialize};

/// One order, as the `orders` read model holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    pub stream: String,
    pub order_id: String,
    pub merchant: String,
    pub out_trade_no: String,
    pub status: Status,
    /// The provider of the current attempt.
    pub provider: String,
    pub amount: Amount,
    /// The sum of succeeded refunds.
    pub refunded: Amount,
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// The order number sent to the provider for the current attempt.
    pub provider_order_no: String,
    pub provider_trade_no: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub needs_attention: bool,
    /// The position of the read model this row was read at: what a reader saw.
    #[serde(skip)]
    pub as_of: u64,
}

/// Where a page of orders continues: the last row's sort key (newest first,
/// by creation time then order id). The server encodes it into an opaque cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageAfter {
    pub created_ms: i64,
    pub order_id: String,
}

/// Where a page of refunds continues: the last row's sort key (newest
/// first, then by stream and number, so the order is total).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAfter {
    pub requested_ms: i64,
    pub stream: String,
    pub out_refund_no: String,
}

/// Where a page of the manual queue continues: the last row's sort key
/// (oldest first, then by order id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionAfter {
    pub since_ms: i64,
    pub order_id: String,
}

/// One page of orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageAfter>,
}

/// One page of refunds, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundPage {
    pub refunds: Vec<RefundView>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<RefundAfter>,
}

/// One page of the manual-intervention queue, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttentionPage {
    pub items: Vec<AttentionView>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<AttentionAfter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundView {
    pub order_id: String,
    pub merchant: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub provider: String,
    pub amount: Amount,
    /// `REQUESTED`, `PROCESSING`, `SUCCEEDED` or `FAILED`.
    pub state: String,
    pub provider_refund_id: Option<String>,
    pub reason: Option<String>,
    pub requested_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An order on the manual-intervention queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttentionView {
    pub order_id: String,
    pub merchant: String,
    pub out_trade_no: String,
    pub provider: String,
    pub amount: Amount,
    pub status: Status,
    /// Why the automatic reversal stopped (`attempts_exhausted`, ...).
    pub abandon_reason: Option<String>,
    pub reversal_reason: Option<String>,
    pub reversal_attempts: u32,
    pub since: DateTime<Utc>,
    pub last_code: Option<String>,
    pub last_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyTotalView {
    pub merchant: String,
    pub provider: String,
    /// The Beijing calendar day, `YYYY-MM-DD`.
    pub day: String,
    pub paid_count: u64,
    pub paid: Amount,
    pub refunded: Amount,
    pub reversed_count: u64,
    pub reversed: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionStatus {
    pub name: &'static str,
    pub generation: u64,
    pub checkpoint: u64,
    pub head: u64,
    /// `head - checkpoint`: events the store holds that the read model does not.
    pub lag: u64,
    /// A generation being rebuilt next to the serving one, with its checkpoint.
    pub rebuilding: Option<(u64, u64)>,
}
