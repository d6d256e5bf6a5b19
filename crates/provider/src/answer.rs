//! The answers of a provider, shaped by what the payment process does next.
//!
//! Each variant names a next step, not a wire code: `Pending` means "poll",
//! `Unknown` means "query, then reverse", `Failed` means "nothing was charged,
//! stop", `Refused` means "our configuration is wrong, a person must fix it".
//! Every answer keeps the provider's raw code and message ([`RawOutcome`]) so
//! that the event recording it says exactly what the provider said.

use chrono::{DateTime, Utc};
use paycode_domain::{Amount, Money};

use crate::ProviderError;

/// The provider's own code and message, kept verbatim for events and people.
///
/// For WeChat Pay the code is the `err_code` (or `trade_state`,
/// `refund_status`, `return_code`), for Alipay the `sub_code` when there is
/// one, else the `code` (or `trade_status`, `refund_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOutcome {
    pub code: String,
    pub message: String,
}

impl RawOutcome {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> RawOutcome {
        RawOutcome {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Why the outcome of a call is not known. Either way the process must find
/// out (query) and, if it still cannot tell, reverse.
#[derive(Debug)]
pub enum Unclear {
    /// The provider answered, validly signed, that it does not know yet
    /// (WeChat `SYSTEMERROR`, `BANKERROR`, `return_code=FAIL`; Alipay `20000`,
    /// `ACQ.SYSTEM_ERROR`) or that the order was already paid (`ORDERPAID`,
    /// `ACQ.TRADE_HAS_SUCCESS`: query it, never charge again).
    Provider(RawOutcome),
    /// No answer that can be trusted: timeout, transport failure, a signature
    /// that does not verify, a malformed or cut body.
    NoValidAnswer(ProviderError),
}

impl Unclear {
    /// A code and message for the event that records this answer. Errors use
    /// their stable [`ProviderError::code`]; secrets never appear in them.
    pub fn raw(&self) -> RawOutcome {
        match self {
            Unclear::Provider(raw) => raw.clone(),
            Unclear::NoValidAnswer(error) => RawOutcome::new(error.code(), error.to_string()),
        }
    }
}

impl From<ProviderError> for Unclear {
    fn from(error: ProviderError) -> Unclear {
        Unclear::NoValidAnswer(error)
    }
}

/// A trade the provider confirmed as paid, from a verified response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidTrade {
    /// WeChat `transaction_id`, Alipay `trade_no`.
    pub provider_trade_no: String,
    /// When the customer paid (WeChat `time_end`, Alipay `gmt_payment` /
    /// `send_pay_date`, both Beijing time on the wire), if the answer says.
    pub paid_at: Option<DateTime<Utc>>,
    /// The order total (WeChat `total_fee`, Alipay `total_amount`).
    pub total: Money,
    /// What the customer's own funds paid, discounts excluded (WeChat
    /// `cash_fee`, Alipay `buyer_pay_amount`), when the answer carries it.
    pub customer_paid: Option<Amount>,
    /// For a payment: the success code; for a query: the trade state.
    pub raw: RawOutcome,
}

/// The answer to a payment.
#[derive(Debug)]
pub enum PayAnswer {
    /// Charged. The order is `SUCCESS`.
    Paid(PaidTrade),
    /// The customer is confirming (password): poll the query API.
    Pending(RawOutcome),
    /// The outcome is unknown: query, then reverse.
    Unknown(Unclear),
    /// Definitely not charged (expired code, no balance, ...): the order fails.
    Failed(RawOutcome),
    /// Refused because of our configuration (bad key, no permission, bad
    /// parameters): nothing was charged, and a person must fix the setup.
    Refused(RawOutcome),
}

/// The answer to a query of a trade's state.
#[derive(Debug)]
pub enum QueryAnswer {
    /// Paid (WeChat `SUCCESS`, `REFUND`; Alipay `TRADE_SUCCESS`, `TRADE_FINISHED`).
    /// Refunds do not undo a payment: refunded amounts are tracked apart.
    Paid(PaidTrade),
    /// Not paid yet, the customer may still pay (WeChat `USERPAYING`,
    /// `NOTPAY`, `ACCEPT`; Alipay `WAIT_BUYER_PAY`): poll again.
    Pending(RawOutcome),
    /// The payment failed in an unclear way (WeChat `PAYERROR`, "请撤销订单"):
    /// reverse to be safe.
    PaymentFailed(RawOutcome),
    /// Closed: no money is held (WeChat `CLOSED`; Alipay `TRADE_CLOSED`, which
    /// also covers a paid trade that was fully refunded or cancelled).
    Closed(RawOutcome),
    /// Reversed (WeChat `REVOKED`): closed, and money returned if it was paid.
    Revoked(RawOutcome),
    /// The provider has no such trade (WeChat `ORDERNOTEXIST`, Alipay
    /// `ACQ.TRADE_NOT_EXIST`).
    NotFound(RawOutcome),
    /// The state could not be learned: ask again later, then reverse.
    Unknown(Unclear),
    /// Refused because of our configuration.
    Refused(RawOutcome),
}

/// What a confirmed reversal did, when the provider says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReverseEffect {
    /// The trade was unpaid and is now closed (Alipay `action=close`).
    Closed,
    /// The trade was paid and the money went back (Alipay `action=refund`).
    Refunded,
    /// The provider confirmed without saying which (WeChat never says;
    /// Alipay may omit `action`).
    NotStated,
    /// The provider knows no trade by that number (WeChat `ORDERNOTEXIST`,
    /// Alipay `ACQ.TRADE_NOT_EXIST`): the pay request never reached it, so
    /// nothing was charged and there is nothing to close. Reversal runs at
    /// least a pay deadline after the pay call timed out, so a pay request
    /// still on its way is not a real prospect; reconciliation would show one.
    NotFound,
}

/// A confirmed reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseDone {
    pub effect: ReverseEffect,
    pub raw: RawOutcome,
}

/// The answer to a reversal.
#[derive(Debug)]
pub enum ReverseAnswer {
    /// Confirmed: the trade is closed or refunded.
    Done(ReverseDone),
    /// The provider asks for the reversal to be called again (WeChat
    /// `recall=Y`, Alipay `retry_flag=Y`).
    RetryAsked(RawOutcome),
    /// The provider refused the reversal (too late, trade finished, bad
    /// configuration): final, a person must resolve the order.
    Refused(RawOutcome),
    /// The outcome is unknown: call reverse again (it is idempotent).
    Unknown(Unclear),
}

/// Details of a refund the provider accepted or confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInfo {
    /// WeChat `refund_id`; Alipay has none per refund (its `trade_no` is the trade's).
    pub provider_refund_id: Option<String>,
    /// The refunded amount, when the answer carries it.
    pub amount: Option<Money>,
    pub raw: RawOutcome,
}

/// The answer to a refund request.
#[derive(Debug)]
pub enum RefundAnswer {
    /// The money went back (Alipay `fund_change=Y`).
    Succeeded(RefundInfo),
    /// Accepted, the final result comes from a refund query (WeChat always;
    /// Alipay `fund_change=N`).
    Processing(RefundInfo),
    /// Refused (too old, amount over the rest, trade not refundable, bad
    /// configuration): nothing was refunded.
    Failed(RawOutcome),
    /// Unknown: retry with the same refund number, or query the refund.
    Unknown(Unclear),
}

/// The answer to a refund query.
#[derive(Debug)]
pub enum RefundQueryAnswer {
    /// The refund reached the customer.
    Succeeded(RefundInfo),
    /// Still in progress: ask again later.
    Processing(RefundInfo),
    /// Closed without refunding (WeChat `REFUNDCLOSE`), or refused.
    Failed(RawOutcome),
    /// Stuck (WeChat `CHANGE`, e.g. the card was frozen): a person must act.
    Abnormal(RawOutcome),
    /// The provider knows no successful refund by that number (WeChat
    /// `REFUNDNOTEXIST`, Alipay answer without `refund_status`).
    NotFound(RawOutcome),
    /// Could not be learned: ask again later.
    Unknown(Unclear),
}

/// How a bill file's bytes are packed, as the provider sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillEncoding {
    /// WeChat's comma-separated text, UTF-8.
    Text,
    /// WeChat's text, gzip-compressed (`tar_type=GZIP`).
    Gzip,
    /// Alipay's zip of GBK CSV files.
    Zip,
}

/// A bill file as downloaded, unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillFile {
    pub bytes: Vec<u8>,
    pub encoding: BillEncoding,
}

/// The answer to a bill download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillAnswer {
    File(BillFile),
    /// The provider says there is no bill for that day (WeChat "No Bill
    /// Exist", Alipay `NO_BILL_DATA` / `BILL_NOT_EXIST`).
    NoBill(RawOutcome),
}
