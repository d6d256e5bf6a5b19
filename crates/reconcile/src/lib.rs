//! Reconciliation: the pure matching of one provider's daily bill against
//! paycode's ledger, for one merchant and one Beijing calendar day (UTC+8).
//!
//! [`reconcile`] takes the bill in neutral form ([`Bill`]: lines and summary),
//! the ledger's entries ([`LedgerEntry`]: one per pay attempt, with its
//! refunds) and what the previous day carried over, and returns a [`Report`].
//! It is not the place that parses bill files (the provider client crates do),
//! downloads them, appends events or reads the clock: it does no I/O, and the
//! same inputs always give the same report, sorted, with the same
//! discrepancy ids.
//!
//! # Matching rules
//!
//! Both sides are keyed by the order number paycode sent to the provider
//! (`out_trade_no`), refunds additionally by their refund number.
//!
//! 1. A payment line matches a paid entry of the same amount
//!    (`matched_payments`); a different amount is `AMOUNT_MISMATCH`.
//! 2. A refund line matches the entry's refund with the same refund number
//!    and amount when the states agree (`matched_refunds`). A bill prints a
//!    refund's state as of bill time and never updates it, so `PROCESSING`
//!    agrees with our pending or succeeded refund; any other disagreement is
//!    `STATUS_MISMATCH`.
//! 3. A trade paid and then reversed is one entry on our side and two lines on
//!    theirs: the payment and the reversal ([`LineKind::Reversal`]: a WeChat
//!    `REVOKED` row, or an Alipay 退款 row numbered with no request number of
//!    ours, which the application's parser classifies from the line alone).
//!    Found with the full amount, the pair is one `matched_reversals` entry and
//!    nothing is reported. The line's kind never depends on the ledger: a
//!    reversal line on an entry we hold as paid is `STATUS_MISMATCH` on both
//!    wallets (rule 6).
//! 4. A paid part of the ledger dated on the day and not on the bill is
//!    `MISSING_IN_BILL` (短款): a payment, a reversal of a trade we knew was
//!    paid, or a succeeded refund. Dated within [`Config::carry_margin`] before
//!    midnight, it goes to `carried_over` instead; the next day's run expects
//!    it on its own bill and reports it there if it is still missing.
//! 5. A line whose order number the ledger does not know, or a refund line
//!    whose refund number the entry does not know (and that is not rule 3's
//!    reversal), is `MISSING_IN_LEDGER` (长款).
//! 6. A payment line for an entry we hold as paying or failed, or a reversal
//!    line for an entry we hold as paid, paying or failed, is
//!    `STATUS_MISMATCH`.
//! 7. A payment line for an entry we reversed without knowing it was paid,
//!    with no reversal line, is `PAID_AFTER_REVERSAL`: the customer was charged
//!    after our reversal closed the order. If our reversal happened after
//!    midnight, the payment matches and the reversal is carried to the next
//!    day, whose bill must show it (a reversal later than that is not
//!    carried).
//! 8. The same payment, reversal or refund number twice on the bill is one
//!    `DUPLICATE_IN_BILL` listing every line; the line with the lowest line
//!    number is then matched as usual.
//! 9. Every figure the bill's summary prints is compared with the bill's own
//!    lines (not with the ledger): a difference is `SUMMARY_MISMATCH`, a
//!    discrepancy rather than an error, so that a summary we read differently
//!    from the provider still gives a full report of the lines. Refund and
//!    reversal lines both count as refunds; each line adds its
//!    `settled_amount` (the amount summaries add up) or else its `amount`.
//!
//! Ledger entries whose payment is dated on another day still match a payment
//! line (a provider may book near midnight either way); they are just not
//! expected.
//!
//! # Unconfirmed bill facts and the choices made
//!
//! - Whether a WeChat `REVOKED` row carries the refund numbers and amount:
//!   the reconciler does not need them. A reversal line is recognised by its
//!   kind alone and its refund number is ignored; the parser fills `amount`
//!   from whichever amount column the row has.
//! - Whether WeChat's bill shows the original `SUCCESS` row of a reversed
//!   trade on the same day: both variants match. The reversal line alone
//!   proves the payment, and a payment line alone matches while the reversal
//!   is expected on the bill of the day it happened.
//! - Which request number Alipay prints on a cancel's refund row: the trade
//!   number, the order number or none are taken as the reversal (paycode's
//!   own refunds always carry a 32-hex request number); any other unknown
//!   number is `MISSING_IN_LEDGER`.
//! - Which 业务类型 an Alipay cancel-refund row has: assumed `退款`.
//! - Whether WeChat's refund total in the summary includes `REVOKED` rows:
//!   assumed yes (rule 9). If not, the run reports a `SUMMARY_MISMATCH` and
//!   still reports every line correctly.

mod input;
mod matching;
mod report;

use chrono::NaiveDate;

pub use input::{
    Bill, BillLine, BillSummary, Carried, Item, LedgerEntry, LedgerRefund, LedgerState, LineKind,
    LineStatus, RefNo, RefundState, Scope,
};
pub use matching::{Config, MAX_CARRY_MARGIN, reconcile};
pub use report::{
    Discrepancy, DiscrepancyKind, Figures, Matched, Report, Subject, SummaryField, Totals,
};

/// Why a run could not start: every variant is input the caller must fix
/// (a parser or projection bug, or a configuration error). A disagreement
/// between bill and ledger is never an error; it is a [`Discrepancy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    #[error("not a bill reference (1-128 printable ASCII characters, no '/' or '`'): {text:?}")]
    InvalidReference { text: String },
    #[error("the ledger holds two entries for out_trade_no {out_trade_no}")]
    DuplicateLedgerEntry { out_trade_no: RefNo },
    #[error("ledger entry {out_trade_no} holds two refunds numbered {out_refund_no}")]
    DuplicateLedgerRefund {
        out_trade_no: RefNo,
        out_refund_no: RefNo,
    },
    #[error("the carry margin must be at most {max_minutes} minutes")]
    CarryMarginTooLarge { max_minutes: u64 },
    #[error("day {day} is outside the supported calendar range")]
    DayOutOfRange { day: NaiveDate },
    #[error("a total does not fit in 64 bits of fen")]
    TotalOverflow,
}
