//! The neutral inputs of a reconciliation run: the bill's lines and summary as
//! the provider printed them, and the ledger's entries as paycode's events
//! tell them.
//!
//! These types know no file format. The provider client crates parse the
//! WeChat backtick CSV and the Alipay GBK zip; the application converts their
//! rows into [`BillLine`]s and its projections into [`LedgerEntry`]s.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use paycode_domain::{Amount, MerchantId, Money, OutRefundNo, OutTradeNo, Provider};
use serde::{Deserialize, Deserializer, Serialize};

use crate::ReconcileError;

/// The longest identifier a bill may carry. Provider trade numbers are about
/// 28-32 characters and refund numbers at most 64; twice that leaves room for
/// formats we have not seen while still catching a parser that glued a whole
/// row into one field.
const MAX_REF_LEN: usize = 128;

/// A number as a provider prints it on a bill or as paycode sent it: an order
/// number (`out_trade_no`), a provider trade number (`transaction_id`,
/// 支付宝交易号) or a refund number (`out_refund_no`, 退款批次号/请求号).
///
/// Invariant: 1 to 128 printable ASCII characters, none of them `/` (the
/// separator of [`crate::Discrepancy::id`], which must stay unambiguous).
/// The bill's decorations (WeChat's leading backtick, Alipay's trailing tab)
/// are the parser's to strip: a reference that still holds one is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RefNo(String);

impl RefNo {
    pub fn parse(text: &str) -> Result<RefNo, ReconcileError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_REF_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'`');
        if ok {
            Ok(RefNo(text.to_owned()))
        } else {
            Err(ReconcileError::InvalidReference {
                text: text.chars().take(MAX_REF_LEN).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RefNo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RefNo::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// paycode's own order numbers use a subset of the allowed characters, so
/// they always convert.
impl From<&OutTradeNo> for RefNo {
    fn from(number: &OutTradeNo) -> RefNo {
        RefNo(number.as_str().to_owned())
    }
}

impl From<&OutRefundNo> for RefNo {
    fn from(number: &OutRefundNo) -> RefNo {
        RefNo(number.as_str().to_owned())
    }
}

/// What one run reconciles: one provider, one paycode merchant, one calendar
/// day in Beijing time (UTC+8), the day the providers' bills are cut by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub provider: Provider,
    pub merchant: MerchantId,
    pub day: NaiveDate,
}

/// The provider's bill for the scope's day, in neutral form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    pub lines: Vec<BillLine>,
    pub summary: BillSummary,
}

/// Which way money moved on a bill line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The customer paid (WeChat `SUCCESS` row, Alipay 业务类型 `交易`).
    Payment,
    /// Money went back through a refund (WeChat `REFUND` row, Alipay
    /// 业务类型 `退款`, including the refund half of an Alipay cancel).
    Refund,
    /// Money went back through a reversal (WeChat `REVOKED` row).
    Reversal,
}

/// The state a bill line reports. Only refund lines can be anything but
/// `Succeeded`: payment and reversal rows exist once money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Succeeded,
    /// WeChat 退款状态 `PROCESSING`: frozen at bill time, never updated.
    Processing,
    /// WeChat 退款状态 `REFUNDCLOSE` and the like.
    Failed,
    /// WeChat 退款状态 `CHANGE`: the refund could not reach the customer (a
    /// closed or frozen card) and the money went back to the merchant's
    /// account; someone must refund the customer another way.
    Abnormal,
}

/// One detail row of a bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLine {
    /// The row's line number in the file, so a person can find it.
    pub line: u64,
    pub kind: LineKind,
    /// The order number paycode sent for the pay attempt (商户订单号).
    pub out_trade_no: RefNo,
    /// The provider's own trade number (微信订单号, 支付宝交易号).
    pub provider_trade_no: Option<RefNo>,
    /// The refund number (商户退款单号, 退款批次号/请求号), when the row has one.
    pub out_refund_no: Option<RefNo>,
    /// The amount compared with the ledger: the order amount for payments and
    /// reversals, the refund amount for refunds, always positive: `kind`
    /// carries the direction (Alipay prints refunds negative).
    pub amount: Money,
    /// The amount the bill's summary adds up for this line, when it differs
    /// from `amount` (WeChat 应结订单金额 under a coupon, Alipay 商家实收 under
    /// a merchant discount). `None`: the same as `amount`.
    pub settled_amount: Option<Amount>,
    pub time: DateTime<Utc>,
    pub status: LineStatus,
    /// The status as printed, kept for people reading a discrepancy.
    pub raw_status: String,
}

/// The bill's own totals (WeChat summary row, Alipay footer). Every field is
/// optional because the formats print different ones; a missing field is not
/// checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillSummary {
    /// All detail rows (WeChat 总交易单数).
    pub line_count: Option<u64>,
    /// Payment rows (Alipay 交易合计 N笔).
    pub payment_count: Option<u64>,
    /// Refund and reversal rows (Alipay 退款合计 N笔).
    pub refund_count: Option<u64>,
    /// Sum over payment rows (WeChat 应结订单总金额, Alipay 商家实收共X元).
    pub paid_total: Option<Amount>,
    /// Sum over refund and reversal rows, as a positive amount (WeChat
    /// 退款总金额, Alipay 商家实收退款共-X元).
    pub refund_total: Option<Amount>,
}

/// Where one pay attempt stands in paycode's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum LedgerState {
    Paying,
    Failed,
    Paid {
        at: DateTime<Utc>,
    },
    /// Reversed at `at`. `paid_at` is the payment's time when paycode knew the
    /// trade was paid before the reversal (a poll said so, or Alipay's cancel
    /// answered `action=refund`); `None` when it was not or nobody knows
    /// (WeChat's reverse does not say).
    Reversed {
        paid_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
}

/// Where one refund stands in paycode's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Pending,
    Succeeded,
    Failed,
}

/// A refund of a ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRefund {
    pub out_refund_no: RefNo,
    pub amount: Money,
    pub state: RefundState,
    /// The time the provider dates the refund's bill row by: when it was
    /// requested for WeChat (交易时间 is the refund's initiation), when it
    /// completed for Alipay (完成时间). The application picks.
    pub at: DateTime<Utc>,
}

/// One pay attempt of one order, as paycode's events tell it.
///
/// The ledger given to a run holds every entry with a payment, reversal or
/// refund dated on the run's day (an old order refunded today is in it); the
/// entry carries its whole state, and only the parts dated on the day are
/// expected on the bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The merchant's order number; with the scope's merchant it names the
    /// order's stream.
    pub order: OutTradeNo,
    /// The order number sent to the provider for this attempt: the key bills
    /// are matched by.
    pub out_trade_no: RefNo,
    pub provider_trade_no: Option<RefNo>,
    pub amount: Money,
    pub state: LedgerState,
    pub refunds: Vec<LedgerRefund>,
}

/// What of a ledger entry is expected on a bill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "item", content = "out_refund_no")]
pub enum Item {
    Payment,
    Reversal,
    Refund(RefNo),
}

/// A part of a ledger entry that one day's bill did not show, dated just
/// before midnight: the next day's run expects it on its own bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    pub entry: LedgerEntry,
    pub item: Item,
}
