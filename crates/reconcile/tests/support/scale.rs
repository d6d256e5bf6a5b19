//! A generated day of `n` orders in fixed proportions, for the linear-shape
//! test and the 1,000,000-line timing example (which includes this file by
//! path, so it depends on nothing else in `tests/support`).
//!
//! Per 10 orders: 6 plain payments, 1 payment with a refund, 1 payment reversed
//! (WeChat `SUCCESS` + `REVOKED`), 1 payment missing from the bill and 1 bill
//! line unknown to the ledger: 11 bill lines and 9 ledger entries.

use chrono::{NaiveDate, TimeDelta};
use paycode_domain::{MerchantId, Money, OutTradeNo, Provider};
use paycode_reconcile::{
    Bill, BillLine, BillSummary, LedgerEntry, LedgerRefund, LedgerState, LineKind, LineStatus,
    RefNo, RefundState, Scope,
};

/// What a generated day must reconcile to.
#[derive(Debug, PartialEq, Eq)]
pub struct Expected {
    pub matched_payments: usize,
    pub matched_refunds: usize,
    pub matched_reversals: usize,
    pub missing_in_bill: usize,
    pub missing_in_ledger: usize,
}

pub fn expected(orders: usize) -> Expected {
    let tenth = orders / 10;
    Expected {
        matched_payments: 7 * tenth,
        matched_refunds: tenth,
        matched_reversals: tenth,
        missing_in_bill: tenth,
        missing_in_ledger: tenth,
    }
}

/// `orders` must be a multiple of 10.
pub fn generate(orders: usize) -> (Scope, Bill, Vec<LedgerEntry>) {
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let scope = Scope {
        provider: Provider::Wechatpay,
        merchant: MerchantId::parse("m1").unwrap(),
        day,
    };
    // 10:00 Beijing is 02:00 UTC; payments spread over the following 10 hours.
    let base = day.and_hms_opt(2, 0, 0).unwrap().and_utc();
    let mut lines = Vec::with_capacity(orders * 11 / 10);
    let mut ledger = Vec::with_capacity(orders * 9 / 10);
    for i in 0..orders {
        let number = RefNo::parse(&format!("P{i:010}")).unwrap();
        let amount = Money::from_fen(100 + (i % 9_000) as i64).unwrap();
        let paid_at = base + TimeDelta::seconds((i % 36_000) as i64);
        let line = |kind, out_refund_no: Option<RefNo>, line_amount: Money| BillLine {
            line: 0,
            kind,
            out_trade_no: number.clone(),
            provider_trade_no: None,
            out_refund_no,
            amount: line_amount,
            settled_amount: None,
            time: paid_at,
            status: LineStatus::Succeeded,
            raw_status: "SUCCESS".to_owned(),
        };
        let mut entry = LedgerEntry {
            order: OutTradeNo::parse(&format!("O{i:010}")).unwrap(),
            out_trade_no: number.clone(),
            provider_trade_no: None,
            amount,
            state: LedgerState::Paid { at: paid_at },
            refunds: Vec::new(),
        };
        match i % 10 {
            0..=5 => lines.push(line(LineKind::Payment, None, amount)),
            6 => {
                let refund_no = RefNo::parse(&format!("R{i:010}")).unwrap();
                let refund_amount = Money::from_fen(50).unwrap();
                lines.push(line(LineKind::Payment, None, amount));
                lines.push(line(
                    LineKind::Refund,
                    Some(refund_no.clone()),
                    refund_amount,
                ));
                let refund_at = paid_at + TimeDelta::minutes(10);
                let refund = LedgerRefund {
                    out_refund_no: refund_no,
                    amount: refund_amount,
                    state: RefundState::Succeeded,
                    at: refund_at,
                };
                entry.refunds.push(refund);
            }
            7 => {
                lines.push(line(LineKind::Payment, None, amount));
                lines.push(line(LineKind::Reversal, None, amount));
                entry.state = LedgerState::Reversed {
                    paid_at: Some(paid_at),
                    at: paid_at + TimeDelta::seconds(30),
                };
            }
            8 => {}
            _ => lines.push(line(LineKind::Payment, None, amount)),
        }
        if i % 10 != 9 {
            ledger.push(entry);
        }
    }
    shuffle(&mut lines);
    shuffle(&mut ledger);
    for (index, line) in lines.iter_mut().enumerate() {
        line.line = index as u64 + 2;
    }
    (
        scope,
        Bill {
            lines,
            summary: BillSummary::default(),
        },
        ledger,
    )
}

/// A fixed-seed Fisher-Yates shuffle, so no test relies on input order.
fn shuffle<T>(items: &mut [T]) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (state >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}
