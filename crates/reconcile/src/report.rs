//! The outcome of a reconciliation run: what matched, what did not, what is
//! carried to the next day, and the totals on both sides.
//!
//! Everything here is sorted and derived from the inputs only, so the same
//! inputs give an identical report, and each discrepancy's `id` can key an
//! idempotent event.

use std::fmt::Write as _;

use chrono::NaiveDate;
use paycode_domain::{Amount, MerchantId, Money, OutTradeNo, Provider};
use serde::{Deserialize, Serialize};

use crate::input::{BillSummary, Carried, Item, RefNo};

/// What kind of disagreement a discrepancy is. Each has a stable code that is
/// never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscrepancyKind {
    /// We hold money the bill does not show (短款): paid, refunded or
    /// reversed on our books, absent from the bill.
    MissingInBill,
    /// The bill shows money we do not know (长款): a trade, refund or
    /// reversal paycode has no record of.
    MissingInLedger,
    AmountMismatch,
    /// Both sides know the trade or refund but disagree on where it stands
    /// (we say paying or failed, the bill says paid; the bill shows a refund
    /// we hold as pending).
    StatusMismatch,
    /// The same trade, refund or reversal is on the bill more than once.
    DuplicateInBill,
    /// The bill shows a payment for a trade we reversed, and no reversal: the
    /// customer was charged after our reversal closed the order.
    PaidAfterReversal,
    /// The bill's summary disagrees with its own lines.
    SummaryMismatch,
    /// The bill shows a refund that did not reach the customer (WeChat
    /// `CHANGE`): whatever the ledger says, a person must refund by hand and
    /// resolve this discrepancy.
    RefundAbnormal,
}

impl DiscrepancyKind {
    pub fn code(self) -> &'static str {
        match self {
            DiscrepancyKind::MissingInBill => "MISSING_IN_BILL",
            DiscrepancyKind::MissingInLedger => "MISSING_IN_LEDGER",
            DiscrepancyKind::AmountMismatch => "AMOUNT_MISMATCH",
            DiscrepancyKind::StatusMismatch => "STATUS_MISMATCH",
            DiscrepancyKind::DuplicateInBill => "DUPLICATE_IN_BILL",
            DiscrepancyKind::PaidAfterReversal => "PAID_AFTER_REVERSAL",
            DiscrepancyKind::SummaryMismatch => "SUMMARY_MISMATCH",
            DiscrepancyKind::RefundAbnormal => "REFUND_ABNORMAL",
        }
    }
}

/// A figure of the bill's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryField {
    LineCount,
    PaymentCount,
    RefundCount,
    PaidTotal,
    RefundTotal,
}

impl SummaryField {
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryField::LineCount => "line_count",
            SummaryField::PaymentCount => "payment_count",
            SummaryField::RefundCount => "refund_count",
            SummaryField::PaidTotal => "paid_total",
            SummaryField::RefundTotal => "refund_total",
        }
    }
}

/// What a discrepancy is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "subject", content = "field")]
pub enum Subject {
    Payment,
    Reversal,
    Refund,
    Summary(SummaryField),
}

/// One disagreement between the bill and the ledger, or within the bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discrepancy {
    /// `{provider}/{merchant}/{day}/{CODE}/{subject}/{keys}`, for example
    /// `wechatpay/m1/2026-11-26/MISSING_IN_BILL/payment/T1`: the same
    /// disagreement on the same day always gets the same id, and no two
    /// discrepancies of one report share one.
    pub id: String,
    pub kind: DiscrepancyKind,
    pub subject: Subject,
    /// The merchant's order number, when the ledger knows the trade.
    pub order: Option<OutTradeNo>,
    pub out_trade_no: Option<RefNo>,
    pub out_refund_no: Option<RefNo>,
    pub provider_trade_no: Option<RefNo>,
    /// The bill's amount; for a summary mismatch, the summary's figure.
    pub bill_amount: Option<Amount>,
    /// The ledger's amount; for a summary mismatch, the sum of the bill's lines.
    pub ledger_amount: Option<Amount>,
    /// The bill lines concerned, by line number.
    pub bill_lines: Vec<u64>,
    /// A sentence for the person who resolves it.
    pub detail: String,
}

/// A trade, refund or reversal both sides agree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    pub order: OutTradeNo,
    pub out_trade_no: RefNo,
    pub out_refund_no: Option<RefNo>,
    pub amount: Money,
    /// What the provider settled, when it differs from `amount`: a payment
    /// or refund under a non-recharge coupon (WeChat 应结订单金额, 退款金额).
    /// Matched on `amount`; the difference is the coupon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_amount: Option<Amount>,
    /// The bill lines matched: for a reversal, its payment line (when the bill
    /// has one) and its reversal line.
    pub bill_lines: Vec<u64>,
}

/// Counts and sums of one side, in the bill summary's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub payment_count: u64,
    pub refund_count: u64,
    pub paid_total: Amount,
    pub refund_total: Amount,
}

/// The run's totals: the bill's lines added up, the bill's summary as
/// printed, and what the ledger expected on this bill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub bill: Figures,
    pub summary: BillSummary,
    pub ledger: Figures,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub provider: Provider,
    pub merchant: MerchantId,
    pub day: NaiveDate,
    pub matched_payments: Vec<Matched>,
    pub matched_refunds: Vec<Matched>,
    pub matched_reversals: Vec<Matched>,
    pub discrepancies: Vec<Discrepancy>,
    /// Feed these to the next day's run as `carried_in`.
    pub carried_over: Vec<Carried>,
    pub totals: Totals,
}

impl Report {
    /// A plain-text rendering, one fact a line, for golden tests and the CLI.
    pub fn render(&self) -> String {
        let mut out = format!("{} {} {}\n", self.provider, self.merchant, self.day);
        render_totals(&mut out, &self.totals);
        render_matched(&mut out, "matched payments", &self.matched_payments);
        render_matched(&mut out, "matched refunds", &self.matched_refunds);
        render_matched(&mut out, "matched reversals", &self.matched_reversals);
        let _ = writeln!(out, "discrepancies: {}", self.discrepancies.len());
        for d in &self.discrepancies {
            let _ = writeln!(out, "  {}", d.id);
            let _ = writeln!(
                out,
                "    order {} trade {} bill {} ledger {} lines {}: {}",
                opt(d.order.as_ref()),
                opt(d.provider_trade_no.as_ref()),
                opt(d.bill_amount.as_ref()),
                opt(d.ledger_amount.as_ref()),
                lines(&d.bill_lines),
                d.detail
            );
        }
        let _ = writeln!(out, "carried over: {}", self.carried_over.len());
        for c in &self.carried_over {
            let _ = writeln!(
                out,
                "  {} {} (order {})",
                c.entry.out_trade_no,
                item_text(&c.item),
                c.entry.order
            );
        }
        out
    }
}

fn render_totals(out: &mut String, totals: &Totals) {
    let figures = |f: &Figures| {
        format!(
            "{} payments {}, {} refunds {}",
            f.payment_count, f.paid_total, f.refund_count, f.refund_total
        )
    };
    let s = &totals.summary;
    let _ = writeln!(out, "bill lines: {}", figures(&totals.bill));
    let _ = writeln!(
        out,
        "bill summary: lines {} payments {} refunds {} paid {} refunded {}",
        opt(s.line_count.as_ref()),
        opt(s.payment_count.as_ref()),
        opt(s.refund_count.as_ref()),
        opt(s.paid_total.as_ref()),
        opt(s.refund_total.as_ref())
    );
    let _ = writeln!(out, "ledger expects: {}", figures(&totals.ledger));
}

fn render_matched(out: &mut String, title: &str, matched: &[Matched]) {
    let _ = writeln!(out, "{title}: {}", matched.len());
    for m in matched {
        let refund = m
            .out_refund_no
            .as_ref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}{refund} {} (order {}) lines {}",
            m.out_trade_no,
            m.amount,
            m.order,
            lines(&m.bill_lines)
        );
    }
}

fn opt<T: std::fmt::Display>(value: Option<&T>) -> String {
    value.map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn lines(numbers: &[u64]) -> String {
    if numbers.is_empty() {
        return "-".to_owned();
    }
    numbers
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn item_text(item: &Item) -> String {
    match item {
        Item::Payment => "payment".to_owned(),
        Item::Reversal => "reversal".to_owned(),
        Item::Refund(number) => format!("refund {number}"),
    }
}
