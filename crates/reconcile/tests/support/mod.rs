//! Builders for hand-made bills and ledgers in the shapes the two providers
//! print, so that each golden test reads as the bill and the ledger it checks.

#![allow(dead_code)]

pub mod scale;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use expect_test::Expect;
use paycode_domain::{Amount, MerchantId, Money, OutTradeNo, Provider};
use paycode_reconcile::{
    Bill, BillLine, BillSummary, Carried, Config, LedgerEntry, LedgerRefund, LedgerState, LineKind,
    LineStatus, RefNo, RefundState, Report, Scope, reconcile,
};

pub const DAY: &str = "2026-11-26";
pub const NEXT_DAY: &str = "2026-11-27";

pub fn scope(provider: Provider, day: &str) -> Scope {
    Scope {
        provider,
        merchant: MerchantId::parse("m1").unwrap(),
        day: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
    }
}

/// A Beijing wall-clock time (`"2026-11-26 23:58:00"`) as an instant.
pub fn bj(text: &str) -> DateTime<Utc> {
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap();
    (local - TimeDelta::hours(8)).and_utc()
}

/// A Beijing time on [`DAY`].
pub fn at(hms: &str) -> DateTime<Utc> {
    bj(&format!("{DAY} {hms}"))
}

pub fn cny(text: &str) -> Money {
    Money::parse(text).unwrap()
}

pub fn total(text: &str) -> Amount {
    if text == "0.00" {
        Amount::ZERO
    } else {
        cny(text).amount()
    }
}

pub fn no(text: &str) -> RefNo {
    RefNo::parse(text).unwrap()
}

fn line(
    number: u64,
    kind: LineKind,
    out_trade_no: &str,
    amount: &str,
    raw_status: &str,
) -> BillLine {
    BillLine {
        line: number,
        kind,
        out_trade_no: no(out_trade_no),
        provider_trade_no: Some(no(&format!("42000{out_trade_no}"))),
        out_refund_no: None,
        amount: cny(amount),
        settled_amount: None,
        time: at("12:00:00"),
        status: LineStatus::Succeeded,
        raw_status: raw_status.to_owned(),
    }
}

/// WeChat `SUCCESS` row.
pub fn wx_paid(number: u64, out_trade_no: &str, amount: &str) -> BillLine {
    line(number, LineKind::Payment, out_trade_no, amount, "SUCCESS")
}

/// WeChat `REFUND` row with its 退款状态.
pub fn wx_refund(
    number: u64,
    out_trade_no: &str,
    out_refund_no: &str,
    amount: &str,
    status: &str,
) -> BillLine {
    let mut line = line(number, LineKind::Refund, out_trade_no, amount, status);
    line.out_refund_no = Some(no(out_refund_no));
    line.status = match status {
        "SUCCESS" => LineStatus::Succeeded,
        "PROCESSING" => LineStatus::Processing,
        "CHANGE" => LineStatus::Abnormal,
        _ => LineStatus::Failed,
    };
    line
}

/// WeChat `REVOKED` row, without refund numbers.
pub fn wx_revoked(number: u64, out_trade_no: &str, amount: &str) -> BillLine {
    line(number, LineKind::Reversal, out_trade_no, amount, "REVOKED")
}

/// Alipay 业务类型 `交易` row.
pub fn ali_trade(number: u64, out_trade_no: &str, amount: &str) -> BillLine {
    let mut line = line(number, LineKind::Payment, out_trade_no, amount, "交易");
    line.provider_trade_no = Some(no(&format!("2026112622{out_trade_no}")));
    line
}

/// Alipay 业务类型 `退款` row; `request_no` is 退款批次号/请求号 (may be empty).
pub fn ali_refund(number: u64, out_trade_no: &str, request_no: &str, amount: &str) -> BillLine {
    let mut line = line(number, LineKind::Refund, out_trade_no, amount, "退款");
    line.provider_trade_no = Some(no(&format!("2026112622{out_trade_no}")));
    line.out_refund_no = (!request_no.is_empty()).then(|| no(request_no));
    line
}

/// The refund half of an Alipay cancel, as the application's parser
/// classifies it (a 退款 row without a request number of ours).
pub fn ali_cancel(number: u64, out_trade_no: &str, amount: &str) -> BillLine {
    let mut line = line(number, LineKind::Reversal, out_trade_no, amount, "退款");
    line.provider_trade_no = Some(no(&format!("2026112622{out_trade_no}")));
    line
}

fn entry(out_trade_no: &str, amount: &str, state: LedgerState) -> LedgerEntry {
    LedgerEntry {
        order: OutTradeNo::parse(&format!("order-{out_trade_no}")).unwrap(),
        out_trade_no: no(out_trade_no),
        provider_trade_no: None,
        amount: cny(amount),
        state,
        refunds: Vec::new(),
    }
}

pub fn paid(out_trade_no: &str, amount: &str, paid_at: DateTime<Utc>) -> LedgerEntry {
    entry(out_trade_no, amount, LedgerState::Paid { at: paid_at })
}

pub fn paying(out_trade_no: &str, amount: &str) -> LedgerEntry {
    entry(out_trade_no, amount, LedgerState::Paying)
}

pub fn failed(out_trade_no: &str, amount: &str) -> LedgerEntry {
    entry(out_trade_no, amount, LedgerState::Failed)
}

pub fn reversed(
    out_trade_no: &str,
    amount: &str,
    paid_at: Option<DateTime<Utc>>,
    reversed_at: DateTime<Utc>,
) -> LedgerEntry {
    entry(
        out_trade_no,
        amount,
        LedgerState::Reversed {
            paid_at,
            at: reversed_at,
        },
    )
}

pub fn with_refund(
    mut entry: LedgerEntry,
    out_refund_no: &str,
    amount: &str,
    state: RefundState,
    refund_at: DateTime<Utc>,
) -> LedgerEntry {
    entry.refunds.push(LedgerRefund {
        out_refund_no: no(out_refund_no),
        amount: cny(amount),
        state,
        at: refund_at,
    });
    entry
}

pub fn bill(lines: Vec<BillLine>) -> Bill {
    Bill {
        lines,
        summary: BillSummary::default(),
    }
}

/// Runs the reconciliation twice and checks both reports are identical and
/// survive a JSON round trip, then compares the rendering with `expected`.
#[track_caller]
pub fn check(
    scope: &Scope,
    bill: &Bill,
    ledger: &[LedgerEntry],
    carried: &[Carried],
    expected: Expect,
) -> Report {
    let config = Config::default();
    let report = reconcile(scope, bill, ledger, carried, &config).unwrap();
    let again = reconcile(scope, bill, ledger, carried, &config).unwrap();
    assert_eq!(report, again, "the same inputs must give the same report");
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(
        serde_json::from_str::<Report>(&json).unwrap(),
        report,
        "report must round-trip through JSON"
    );
    let mut ids: Vec<&str> = report.discrepancies.iter().map(|d| d.id.as_str()).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        report.discrepancies.len(),
        "discrepancy ids must be unique"
    );
    expected.assert_eq(&report.render());
    report
}
