//! The GraphQL object types: read-model rows as the back office sees them.
//! Money is a string in yuan with two decimals (`"88.80"`), never a float;
//! instants are RFC 3339 in UTC.

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, InputValueError, InputValueResult, Scalar,
    ScalarType, SimpleObject, Value,
};
use chrono::{DateTime, Utc};
use paycode_projections::{AttentionView, DailyTotalView, OrderView, RefundView};
use paycode_store::StreamName;

use super::BackOffice;
use super::auth::Principal;
use super::error::{BackOfficeError, GqlResult, OrGraphql as _};

/// The most events of one order's history one request may ask for; orders
/// hold tens.
const MAX_HISTORY: i32 = 1_000;
/// The history's page when the client names none: more than any order holds
/// today (a payment, polls, refunds and their queries).
const DEFAULT_HISTORY: i32 = 100;
/// How many refunds `Order.refunds` is counted as holding: WeChat's limit
/// per order, which paycode applies to both providers.
const REFUNDS_ESTIMATE: usize = 50;

/// The complexity of a history of `first` events: each counts its fields.
fn history_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let events = first.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
    1 + usize::try_from(events).unwrap_or(1) * child_complexity
}

/// Where an order stands.
// `remote`: the domain's one table of statuses (`paycode_domain::Status`);
// async-graphql's conversions both ways make the compiler check that the
// two lists of variants are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "paycode_domain::Status")]
pub enum OrderStatus {
    /// Requested and not final: waiting for the customer or for a query.
    Paying,
    /// Paid (refunds keep it `SUCCESS`).
    Success,
    /// Definitely refused; nothing charged.
    Failed,
    /// A reversal was requested and is not confirmed.
    Reversing,
    /// A WeChat Pay trade was reversed.
    Revoked,
    /// An Alipay trade was reversed or closed.
    TradeClosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ProviderName {
    Wechatpay,
    Alipay,
}

impl ProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Wechatpay => "wechatpay",
            ProviderName::Alipay => "alipay",
        }
    }
}

/// One order, read from the `orders` read model.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Order {
    pub id: String,
    pub merchant: String,
    pub out_trade_no: String,
    pub status: OrderStatus,
    pub provider: String,
    pub amount: String,
    /// The sum of succeeded refunds.
    pub refunded: String,
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    pub provider_order_no: String,
    pub provider_trade_no: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub needs_attention: bool,
    /// A log position: in a query, the one the read model had reached (the
    /// order reflects every event up to it); in `orderUpdates`, the position
    /// of the event the update is for, so a subscriber that reconnects
    /// passes the last one it saw as `after` and misses nothing.
    pub as_of: Position,
    #[graphql(skip)]
    pub stream: String,
}

impl From<OrderView> for Order {
    fn from(view: OrderView) -> Order {
        Order {
            id: view.order_id,
            merchant: view.merchant,
            out_trade_no: view.out_trade_no,
            status: view.status.into(),
            provider: view.provider,
            amount: view.amount.to_yuan_string(),
            refunded: view.refunded.to_yuan_string(),
            subject: view.subject,
            store_id: view.store_id,
            terminal_id: view.terminal_id,
            provider_order_no: view.provider_order_no,
            provider_trade_no: view.provider_trade_no,
            created_at: view.created_at,
            paid_at: view.paid_at,
            updated_at: view.updated_at,
            needs_attention: view.needs_attention,
            as_of: Position(view.as_of),
            stream: view.stream,
        }
    }
}

/// The caller of the request, checked again in nested fields: a parent
/// that forgot its check must not open a way to another merchant's rows.
pub(super) fn principal_seeing<'a>(
    ctx: &'a Context<'_>,
    merchant: &str,
) -> GqlResult<&'a Principal> {
    let principal = ctx
        .data::<Principal>()
        .map_err(|_| BackOfficeError::Unauthenticated.into_graphql())?;
    if principal.sees(merchant) {
        Ok(principal)
    } else {
        Err(BackOfficeError::NotFound.into_graphql())
    }
}

#[ComplexObject]
impl Order {
    /// This order's refunds, newest first.
    #[graphql(complexity = "1 + REFUNDS_ESTIMATE * child_complexity")]
    async fn refunds(&self, ctx: &Context<'_>) -> GqlResult<Vec<Refund>> {
        principal_seeing(ctx, &self.merchant)?;
        let office = ctx.data_unchecked::<BackOffice>();
        let rows = office
            .models
            .refunds(
                Some(self.merchant.clone()),
                Some(self.out_trade_no.clone()),
                None,
                paycode_projections::MAX_PAGE,
            )
            .await
            .gql()?;
        Ok(rows.refunds.into_iter().map(Refund::from).collect())
    }

    /// The order's events, oldest first, read from its stream in the log:
    /// the first `first` (default 100, at most 1,000).
    #[graphql(complexity = "history_cost(first, child_complexity)")]
    async fn history(&self, ctx: &Context<'_>, first: Option<i32>) -> GqlResult<Vec<HistoryEntry>> {
        principal_seeing(ctx, &self.merchant)?;
        let first = first.unwrap_or(DEFAULT_HISTORY);
        let limit = usize::try_from(first)
            .ok()
            .filter(|n| (1..=MAX_HISTORY as usize).contains(n))
            .ok_or_else(|| {
                BackOfficeError::PageSize {
                    max: MAX_HISTORY as usize,
                }
                .into_graphql()
            })?;
        let office = ctx.data_unchecked::<BackOffice>();
        let stream = StreamName::parse(&self.stream)
            .map_err(|e| BackOfficeError::internal(&e).into_graphql())?;
        let events = office
            .log()
            .read_stream(&stream, 1, limit)
            .await
            .map_err(|e| BackOfficeError::internal(&e).into_graphql())?;
        Ok(events.iter().map(HistoryEntry::from_recorded).collect())
    }
}

/// A position in the event log, as a JSON number. Not `Int`: GraphQL's
/// `Int` stops at 2^31 - 1, which a busy log passes within weeks; a JSON
/// number is exact up to 2^53, past any log's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position(pub u64);

/// A log position: a non-negative integer (a JSON number, exact up to 2^53).
#[Scalar]
impl ScalarType for Position {
    fn parse(value: Value) -> InputValueResult<Position> {
        let Value::Number(n) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        n.as_u64()
            .map(Position)
            .ok_or_else(|| InputValueError::custom("a position is a non-negative integer"))
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// One event of an order's history.
#[derive(Debug, Clone, SimpleObject)]
pub struct HistoryEntry {
    pub position: Position,
    pub version: u64,
    /// The event type, e.g. `PaymentSucceeded`.
    pub event_type: String,
    /// When the fact was recorded.
    pub at: Option<DateTime<Utc>>,
    /// The provider's raw result code, for events that record an exchange.
    pub provider_code: Option<String>,
    pub provider_message: Option<String>,
    /// Who caused it: the operator's name, `till <store>/<terminal>` for a
    /// payment the POS API asked for, `paycode` for a step the payment
    /// process took by itself (a poll, a deadline, a re-send).
    pub by: Option<String>,
    /// Why: a refund's reason, a reversal's (`deadline_passed`,
    /// `operator`, ...), an abandoned reversal's.
    pub reason: Option<String>,
    /// A person's note on a manual resolution.
    pub note: Option<String>,
    /// The pay or reversal attempt it belongs to (1, 2, ...).
    pub attempt: Option<i64>,
    /// Where a provider answer came from: `call` (the request's own
    /// answer) or `poll` (a later query).
    pub source: Option<String>,
    /// The provider's trade number, when the event learned it.
    pub provider_trade_no: Option<String>,
    /// The command that produced it.
    pub command: Option<String>,
    /// For refund events: the till's refund number.
    pub out_refund_no: Option<String>,
    /// For a refund request: the number the provider knows it by.
    pub provider_refund_no: Option<String>,
    /// The amount the event names (a refund request's), as a decimal string.
    pub amount: Option<String>,
    /// For refund events: the state the refund is in after it (`REQUESTED`,
    /// `PROCESSING`, `SUCCEEDED`, `FAILED`, `UNKNOWN`, `ABNORMAL`).
    pub refund_state: Option<String>,
}

/// The state a refund event leaves its refund in.
fn refund_state_after(event_type: &str, data: &serde_json::Value) -> Option<&'static str> {
    Some(match event_type {
        "RefundRequested" | "RefundRetried" => "REQUESTED",
        "RefundProcessingReported" => "PROCESSING",
        "RefundSucceeded" => "SUCCEEDED",
        "RefundFailed" => "FAILED",
        "RefundNotConfirmed" => "UNKNOWN",
        "RefundAbnormal" => "ABNORMAL",
        "RefundResolved" => match data["resolution"].as_str() {
            Some("refunded") => "SUCCEEDED",
            Some("not_refunded") => "FAILED",
            _ => "REQUESTED",
        },
        _ => return None,
    })
}

/// Who caused an event that records no person: the till for what the POS
/// API asked, paycode for what the process did by itself.
fn actor(event_type: &str, command: Option<&str>, data: &serde_json::Value) -> Option<String> {
    match (event_type, command) {
        ("PaymentRequested", _) => {
            let place: Vec<&str> = ["store_id", "terminal_id"]
                .iter()
                .filter_map(|key| data[*key].as_str())
                .collect();
            Some(if place.is_empty() {
                "till".to_owned()
            } else {
                format!("till {}", place.join("/"))
            })
        }
        ("PaymentRetried", _) => Some("till".to_owned()),
        // A refund or reversal an operator asked for names them in `by`;
        // without it, the till asked through the POS API.
        ("RefundRequested" | "ReversalRequested", Some("RequestRefund" | "RequestReversal")) => {
            Some("till".to_owned())
        }
        _ => Some("paycode".to_owned()),
    }
}

impl HistoryEntry {
    fn from_recorded(event: &paycode_store::RecordedEvent) -> HistoryEntry {
        let data: serde_json::Value = serde_json::from_slice(&event.data).unwrap_or_default();
        let metadata: serde_json::Value =
            serde_json::from_slice(&event.metadata).unwrap_or_default();
        let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
        let command = text(&metadata["command"]);
        HistoryEntry {
            position: Position(event.position),
            version: event.version,
            event_type: event.event_type.clone(),
            at: text(&data["at"]).and_then(|at| at.parse().ok()),
            provider_code: text(&data["reply"]["code"]),
            provider_message: text(&data["reply"]["message"]),
            by: text(&data["by"]).or_else(|| actor(&event.event_type, command.as_deref(), &data)),
            reason: text(&data["reason"]),
            note: text(&data["note"]),
            attempt: data["attempt"].as_i64(),
            source: text(&data["source"]),
            provider_trade_no: text(&data["provider_trade_no"]),
            command,
            out_refund_no: text(&data["out_refund_no"]),
            provider_refund_no: text(&data["provider_refund_no"]),
            amount: text(&data["amount"]),
            refund_state: refund_state_after(&event.event_type, &data).map(str::to_owned),
        }
    }
}

#[derive(Debug, Clone, SimpleObject)]
pub struct Refund {
    pub order_id: String,
    pub merchant: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub provider: String,
    pub amount: String,
    /// `REQUESTED`, `PROCESSING`, `SUCCEEDED`, `FAILED`, `UNKNOWN` (not confirmed: sent again) or `ABNORMAL` (WeChat `CHANGE`: the money went back to the merchant account).
    pub state: String,
    pub provider_refund_id: Option<String>,
    pub reason: Option<String>,
    pub requested_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<RefundView> for Refund {
    fn from(v: RefundView) -> Refund {
        Refund {
            order_id: v.order_id,
            merchant: v.merchant,
            out_trade_no: v.out_trade_no,
            out_refund_no: v.out_refund_no,
            provider: v.provider,
            amount: v.amount.to_yuan_string(),
            state: v.state,
            provider_refund_id: v.provider_refund_id,
            reason: v.reason,
            requested_by: v.requested_by,
            requested_at: v.requested_at,
            updated_at: v.updated_at,
        }
    }
}

/// An order on the manual-intervention queue.
#[derive(Debug, Clone, SimpleObject)]
pub struct ManualIntervention {
    pub order_id: String,
    pub merchant: String,
    pub out_trade_no: String,
    pub provider: String,
    pub amount: String,
    pub status: OrderStatus,
    pub abandon_reason: Option<String>,
    pub reversal_reason: Option<String>,
    pub reversal_attempts: u32,
    pub since: DateTime<Utc>,
    pub last_provider_code: Option<String>,
    pub last_provider_message: Option<String>,
}

impl From<AttentionView> for ManualIntervention {
    fn from(v: AttentionView) -> ManualIntervention {
        ManualIntervention {
            order_id: v.order_id,
            merchant: v.merchant,
            out_trade_no: v.out_trade_no,
            provider: v.provider,
            amount: v.amount.to_yuan_string(),
            status: v.status.into(),
            abandon_reason: v.abandon_reason,
            reversal_reason: v.reversal_reason,
            reversal_attempts: v.reversal_attempts,
            since: v.since,
            last_provider_code: v.last_code,
            last_provider_message: v.last_message,
        }
    }
}

/// One merchant's figures for one provider on one Beijing day.
#[derive(Debug, Clone, SimpleObject)]
pub struct DailyTotal {
    pub merchant: String,
    pub provider: String,
    /// `YYYY-MM-DD`, Beijing time (UTC+8).
    pub day: String,
    pub paid_count: u64,
    pub paid: String,
    pub refunded: String,
    pub reversed_count: u64,
    pub reversed: String,
}

impl From<DailyTotalView> for DailyTotal {
    fn from(v: DailyTotalView) -> DailyTotal {
        DailyTotal {
            merchant: v.merchant,
            provider: v.provider,
            day: v.day,
            paid_count: v.paid_count,
            paid: v.paid.to_yuan_string(),
            refunded: v.refunded.to_yuan_string(),
            reversed_count: v.reversed_count,
            reversed: v.reversed.to_yuan_string(),
        }
    }
}

/// The nodes that share the store and the work partitions each holds.
#[derive(Debug, Clone, SimpleObject)]
pub struct Cluster {
    /// Whether other nodes may share the store (false: the embedded store,
    /// whose one node holds every partition).
    pub shared: bool,
    /// The node that answered.
    pub this_node: String,
    pub nodes: Vec<ClusterNode>,
    /// Partitions no live lease covers (taken at the nodes' next renewal).
    pub free_partitions: Vec<u32>,
}

/// A live node.
#[derive(Debug, Clone, SimpleObject)]
pub struct ClusterNode {
    pub node: String,
    /// The work partitions whose leases it holds.
    pub partitions: Vec<u32>,
    /// When the first of its leases runs out unless renewed (null: it holds none).
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When its beat runs out unless renewed.
    pub beat_expires_at: DateTime<Utc>,
    /// Orders with follow-up work in its partitions, as of its last beat.
    pub work_orders: u64,
    /// How long the oldest due item of its partitions had waited at its last
    /// beat, in seconds (0: nothing overdue).
    pub oldest_due_seconds: u64,
    /// Asked to hand its partitions over.
    pub draining: bool,
}

impl Cluster {
    /// The view a node read from the store, with expiries as instants from `now`.
    pub fn of(view: paycode_app::ClusterView, now: DateTime<Utc>) -> Cluster {
        let at = |left: std::time::Duration| {
            chrono::Duration::from_std(left)
                .ok()
                .and_then(|left| now.checked_add_signed(left))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let nodes = view
            .nodes
            .iter()
            .map(|n| {
                let mine: Vec<_> = view
                    .leases
                    .iter()
                    .filter(|l| l.owner == n.beat.node)
                    .collect();
                ClusterNode {
                    node: n.beat.node.clone(),
                    partitions: mine.iter().map(|l| l.partition).collect(),
                    lease_expires_at: mine.iter().map(|l| l.expires_in).min().map(at),
                    beat_expires_at: at(n.expires_in),
                    work_orders: n.beat.work_orders,
                    oldest_due_seconds: n.beat.oldest_due_secs,
                    draining: n.draining,
                }
            })
            .collect();
        Cluster {
            shared: view.shared,
            this_node: view.this_node,
            nodes,
            free_partitions: (0..paycode_store::PARTITIONS)
                .filter(|p| !view.leases.iter().any(|l| l.partition == *p))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ProjectionState {
    pub name: String,
    pub generation: u64,
    pub checkpoint: Position,
    pub head: Position,
    /// Events in the log that the read model has not applied.
    pub lag: Position,
    /// The checkpoint of a generation being rebuilt, if any.
    pub rebuilding_checkpoint: Option<Position>,
}

/// A page of orders, newest first.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct OrderPage {
    pub nodes: Vec<Order>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
    /// The query's filter, inside the caller's scope, for the totals.
    #[graphql(skip)]
    pub filter: paycode_projections::OrderFilter,
}

#[ComplexObject]
impl OrderPage {
    /// How many orders the filter matches on every page, and the sum of
    /// their amounts: one more pass over the matching rows, so ask only
    /// when it is shown.
    async fn totals(&self, ctx: &Context<'_>) -> GqlResult<OrderTotals> {
        let office = ctx.data_unchecked::<BackOffice>();
        let totals = office
            .models
            .order_totals(self.filter.clone())
            .await
            .gql()?;
        Ok(OrderTotals {
            count: i64::try_from(totals.count).unwrap_or(i64::MAX),
            amount: totals.amount.to_yuan_string(),
        })
    }
}

/// The orders a filter matches, all pages together.
#[derive(Debug, Clone, SimpleObject)]
pub struct OrderTotals {
    pub count: i64,
    /// The sum of their amounts, in yuan.
    pub amount: String,
}

/// A page of refunds, newest first.
#[derive(Debug, Clone, SimpleObject)]
pub struct RefundPage {
    pub nodes: Vec<Refund>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

/// A page of the manual-intervention queue, oldest first.
#[derive(Debug, Clone, SimpleObject)]
pub struct ManualInterventionPage {
    pub nodes: Vec<ManualIntervention>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

/// What a write answers: the log position it reached, whether the read
/// models had caught up with it when answering, and the order as read then.
#[derive(Debug, Clone, SimpleObject)]
pub struct WriteResult {
    /// The global position of the write's last event (`null`: nothing new was appended).
    pub position: Option<Position>,
    /// `false`: the read model had not reached `position` within the wait;
    /// `order` may be older than the write.
    pub projected: bool,
    pub order: Option<Order>,
}

#[derive(Debug, Clone, Default, InputObject)]
pub struct OrderFilterInput {
    pub merchant: Option<String>,
    pub status: Option<OrderStatus>,
    pub provider: Option<ProviderName>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Yuan, e.g. `"10.00"`.
    pub amount_min: Option<String>,
    pub amount_max: Option<String>,
    pub needs_attention: Option<bool>,
    /// Any number a person may hold: the merchant order number, the
    /// provider's trade number (on the customer's receipt), the provider
    /// order number of the latest attempt, or a refund's number (the
    /// till's or the provider's).
    pub number: Option<String>,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// Orders with at least one refund in this state.
    pub refund_state: Option<RefundState>,
}

/// Where a refund stands.
// `remote`: the domain's states; async-graphql's conversions both ways
// make the compiler check the two lists of variants are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "paycode_domain::RefundState")]
pub enum RefundState {
    Requested,
    Processing,
    Succeeded,
    Failed,
    /// Not confirmed by the provider: sent again.
    Unknown,
    /// WeChat `CHANGE`: the money went back to the merchant account.
    Abnormal,
}

impl RefundState {
    /// The read model's spelling: the domain's.
    pub fn as_str(self) -> &'static str {
        paycode_domain::RefundState::from(self).as_str()
    }
}

/// The caller, as the token says: the console shows only what it may do.
#[derive(Debug, Clone, SimpleObject)]
pub struct Me {
    pub name: String,
    /// `VIEWER`, `OPERATOR` or `ADMIN`.
    pub role: String,
    /// The one merchant this token sees; `null`: every merchant.
    pub merchant: Option<String>,
}

/// What a person established about a refund on the manual queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RefundResolutionKind {
    /// The customer got the money (at the provider, or another way).
    Refunded,
    /// Nothing reached the customer and nothing will: the amount is free again.
    NotRefunded,
    /// Send it to the provider again under the same number.
    Resend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ManualOutcomeKind {
    /// The trade is closed or its money returned (checked at the provider).
    Reversed,
    /// The customer paid and the merchant keeps the money.
    Paid,
    /// Nothing was charged.
    NotCharged,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_past_graphql_int_reads_and_writes_exactly() {
        let past_int = 3_000_000_000_u64;
        let value = Value::Number(past_int.into());
        assert_eq!(
            Position::parse(value.clone()).ok(),
            Some(Position(past_int))
        );
        assert_eq!(Position(past_int).to_value(), value);
        assert!(Position::parse(Value::Number((-1).into())).is_err());
        assert!(Position::parse(Value::String("12".into())).is_err());
    }
}
