//! What can be asked of an order: the commands `decide` judges, and the
//! neutral outcomes of provider exchanges that the app layer reports back.
//!
//! Commands are imperative and transient: they are never stored, only the
//! events a decision produces are. So a command may carry the full payment
//! code (`AuthCode`), which no event ever does.
//!
//! The app layer drives the provider calls; it maps each provider's wire
//! answer to one of the outcomes here and keeps the raw code and message in a
//! `ProviderReply`, so the events record them.

use chrono::{DateTime, Utc};

use crate::event::{ManualOutcome, ProviderReply, RefundResolution, ReverseAction};
use crate::ids::{AuthCode, MerchantId, OutRefundNo, OutTradeNo};
use crate::money::Money;

/// What a pay call or a payment query told about a pay attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// Paid: the order becomes `SUCCESS`.
    Paid {
        provider_trade_no: String,
        paid_at: DateTime<Utc>,
    },
    /// Waiting for the customer (password, confirmation): keep polling.
    Pending,
    /// Definitely refused, nothing charged: the order becomes `FAILED`.
    Failed,
    /// The provider closed or revoked the trade without paycode asking
    /// (a query answering WeChat `REVOKED`/`CLOSED`, Alipay `TRADE_CLOSED`):
    /// nothing is owed, the order becomes `FAILED`.
    ClosedByProvider,
    /// Failed in a way that may have charged the customer (WeChat
    /// `PAYERROR`): reverse to be safe.
    FailedUnclearly,
    /// No usable answer (error, timeout, unverified signature): keep polling
    /// until the deadline, then reverse.
    Unknown,
}

/// What one reverse call answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalOutcome {
    /// The provider confirmed the reversal; `action` says whether it closed
    /// an unpaid trade or refunded a paid one, when the answer says so.
    Done { action: Option<ReverseAction> },
    /// The provider asked to call again (WeChat `recall=Y`, Alipay `retry_flag=Y`).
    RetryAsked,
    /// No usable answer (error, timeout, unverified signature): the reversal
    /// may or may not have happened; call again (reverse is idempotent).
    Unknown,
    /// The provider refused definitively (e.g. Alipay `ACQ.TRADE_CANCEL_TIME_OUT`):
    /// retrying cannot help, a person must decide.
    Refused,
}

/// What a refund call or refund query told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded {
        provider_refund_id: Option<String>,
    },
    /// Accepted but not finished (or a query that could not tell): query
    /// again later.
    Processing {
        provider_refund_id: Option<String>,
    },
    /// Definitely not refunded: the provider refused it (or closed it,
    /// WeChat `REFUNDCLOSE`). Only this frees the amount.
    Failed,
    /// WeChat `CHANGE`: the money went back to the merchant account; a
    /// person must refund the customer another way.
    Abnormal {
        provider_refund_id: Option<String>,
    },
    /// No confirmation that the provider took it: a refund call without a
    /// usable answer, or a refund query that finds no refund by its number.
    /// Sent again with the same number.
    NotConfirmed,
}

/// Who may ask for a reversal by command; the deadline and unclear failures
/// are paycode's own reasons and come from `Tick` and provider outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualReversalReason {
    CashierCancelled,
    Operator,
}

/// The POS's request to charge a payment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPayment {
    pub merchant: MerchantId,
    pub out_trade_no: OutTradeNo,
    pub amount: Money,
    pub subject: String,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// The provider is the one that issued this code.
    pub auth_code: AuthCode,
}

/// A refund as the till or the back office asks for it: idempotent per
/// `out_refund_no` within the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRefund {
    pub out_refund_no: OutRefundNo,
    pub amount: Money,
    /// Sent to the provider: at most [`MAX_REFUND_REASON_CHARS`].
    pub reason: Option<String>,
    /// Who asked (`pos`, or an operator's name).
    pub by: Option<String>,
}

/// Everything that can be asked of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Start a payment (or repeat the identical request: no new events).
    RequestPayment(RequestPayment),
    /// Record the answer to the pay call of `attempt`.
    RecordPayAnswer {
        attempt: u32,
        outcome: PayOutcome,
        reply: ProviderReply,
    },
    /// Record the answer to a payment query for `attempt`.
    RecordPollResult {
        attempt: u32,
        outcome: PayOutcome,
        reply: ProviderReply,
    },
    /// Time has passed: request the reversal of a payment past its deadline,
    /// or abandon a reversal whose window closed. No events when nothing is due.
    Tick,
    /// A cashier or operator asks to reverse the order.
    RequestReversal {
        reason: ManualReversalReason,
        by: String,
    },
    /// Record the answer to the next reverse call.
    RecordReversalResult {
        outcome: ReversalOutcome,
        reply: ProviderReply,
    },
    /// A person resolves a refund on the manual-intervention queue.
    ResolveRefund {
        out_refund_no: OutRefundNo,
        by: String,
        note: String,
        resolution: RefundResolution,
    },
    /// A person resolves an order on the manual-intervention queue.
    ResolveManually {
        by: String,
        note: String,
        outcome: ManualOutcome,
    },
    /// Refund part or all of a paid order (idempotent per `out_refund_no`).
    RequestRefund(RequestRefund),
    /// Record the answer to a refund call.
    RecordRefundResult {
        out_refund_no: OutRefundNo,
        outcome: RefundOutcome,
        reply: ProviderReply,
    },
    /// Record the answer to a refund query.
    RecordRefundPoll {
        out_refund_no: OutRefundNo,
        outcome: RefundOutcome,
        reply: ProviderReply,
    },
    /// Try a definitely failed payment again with a new payment code.
    RetryPayment { auth_code: AuthCode },
}

impl OrderCommand {
    /// The command's name, for logs and tables.
    pub fn name(&self) -> &'static str {
        match self {
            OrderCommand::RequestPayment(_) => "RequestPayment",
            OrderCommand::RecordPayAnswer { .. } => "RecordPayAnswer",
            OrderCommand::RecordPollResult { .. } => "RecordPollResult",
            OrderCommand::Tick => "Tick",
            OrderCommand::RequestReversal { .. } => "RequestReversal",
            OrderCommand::RecordReversalResult { .. } => "RecordReversalResult",
            OrderCommand::ResolveManually { .. } => "ResolveManually",
            OrderCommand::ResolveRefund { .. } => "ResolveRefund",
            OrderCommand::RequestRefund(_) => "RequestRefund",
            OrderCommand::RecordRefundResult { .. } => "RecordRefundResult",
            OrderCommand::RecordRefundPoll { .. } => "RecordRefundPoll",
            OrderCommand::RetryPayment { .. } => "RetryPayment",
        }
    }
}

/// The longest refund reason a door accepts, in characters: WeChat's
/// `refund_desc` limit (80), the tighter of the two providers'.
pub const MAX_REFUND_REASON_CHARS: usize = 80;
