//! The run as a whole: deterministic output whatever the input order, linear
//! matching on a generated day, and clear errors for input that cannot be
//! reconciled.

mod support;

use std::time::Duration;

use paycode_domain::Provider;
use paycode_reconcile::{
    Carried, Config, DiscrepancyKind, Item, MAX_CARRY_MARGIN, ReconcileError, RefNo, RefundState,
    reconcile,
};
use support::scale::{expected, generate};
use support::*;

#[test]
fn running_a_day_twice_or_with_inputs_in_another_order_gives_identical_reports() {
    let (scope, mut bill, mut ledger) = generate(200);
    let config = Config::default();
    let report = reconcile(&scope, &bill, &ledger, &[], &config).unwrap();
    assert_eq!(
        reconcile(&scope, &bill, &ledger, &[], &config).unwrap(),
        report
    );
    bill.lines.reverse();
    ledger.reverse();
    let reordered = reconcile(&scope, &bill, &ledger, &[], &config).unwrap();
    assert_eq!(reordered, report);
    let ids: Vec<&str> = report.discrepancies.iter().map(|d| d.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        ids, sorted,
        "discrepancies are sorted by id and ids are unique"
    );
}

/// Not timed (debug builds differ too much); `examples/million.rs` is the
/// timing. This checks that matching at scale gives exactly the counts the
/// generated proportions imply, so nothing is matched twice or lost.
#[test]
fn a_generated_day_of_twenty_thousand_orders_reconciles_to_its_proportions() {
    let orders = 20_000;
    let (scope, bill, ledger) = generate(orders);
    let report = reconcile(&scope, &bill, &ledger, &[], &Config::default()).unwrap();
    let count = |kind| {
        report
            .discrepancies
            .iter()
            .filter(|d| d.kind == kind)
            .count()
    };
    let found = support::scale::Expected {
        matched_payments: report.matched_payments.len(),
        matched_refunds: report.matched_refunds.len(),
        matched_reversals: report.matched_reversals.len(),
        missing_in_bill: count(DiscrepancyKind::MissingInBill),
        missing_in_ledger: count(DiscrepancyKind::MissingInLedger),
    };
    assert_eq!(found, expected(orders));
    assert_eq!(
        report.discrepancies.len(),
        orders / 5,
        "no other discrepancy"
    );
    assert_eq!(
        report.totals.bill.payment_count + report.totals.bill.refund_count,
        bill.lines.len() as u64
    );
}

#[test]
fn a_refund_just_before_midnight_is_carried_too() {
    let entry = with_refund(
        paid("T1", "10.00", at("09:00:00")),
        "R1",
        "2.00",
        RefundState::Succeeded,
        at("23:57:00"),
    );
    let scope = scope(Provider::Alipay, DAY);
    let report = reconcile(
        &scope,
        &bill(vec![ali_trade(2, "T1", "10.00")]),
        std::slice::from_ref(&entry),
        &[],
        &Config::default(),
    )
    .unwrap();
    assert!(report.discrepancies.is_empty());
    assert_eq!(
        report.carried_over,
        vec![Carried {
            entry,
            item: Item::Refund(no("R1"))
        }]
    );
}

#[test]
fn a_zero_margin_carries_nothing() {
    let config = Config {
        carry_margin: Duration::ZERO,
    };
    let scope = scope(Provider::Wechatpay, DAY);
    let report = reconcile(
        &scope,
        &bill(vec![]),
        &[paid("T1", "1.00", at("23:59:59"))],
        &[],
        &config,
    )
    .unwrap();
    assert!(report.carried_over.is_empty());
    assert_eq!(report.discrepancies[0].kind, DiscrepancyKind::MissingInBill);
}

#[test]
fn a_ledger_with_the_same_order_number_twice_is_refused() {
    let scope = scope(Provider::Wechatpay, DAY);
    let twice = [
        paid("T1", "1.00", at("09:00:00")),
        paid("T1", "2.00", at("10:00:00")),
    ];
    let error = reconcile(&scope, &bill(vec![]), &twice, &[], &Config::default()).unwrap_err();
    assert_eq!(
        error,
        ReconcileError::DuplicateLedgerEntry {
            out_trade_no: no("T1")
        }
    );

    let entry = paid("T2", "5.00", at("09:00:00"));
    let entry = with_refund(entry, "R1", "1.00", RefundState::Succeeded, at("10:00:00"));
    let entry = with_refund(entry, "R1", "1.00", RefundState::Pending, at("11:00:00"));
    let error = reconcile(&scope, &bill(vec![]), &[entry], &[], &Config::default()).unwrap_err();
    assert_eq!(
        error,
        ReconcileError::DuplicateLedgerRefund {
            out_trade_no: no("T2"),
            out_refund_no: no("R1")
        }
    );
}

#[test]
fn a_carry_margin_over_an_hour_is_refused() {
    let config = Config {
        carry_margin: MAX_CARRY_MARGIN + Duration::from_secs(1),
    };
    let error = reconcile(
        &scope(Provider::Alipay, DAY),
        &bill(vec![]),
        &[],
        &[],
        &config,
    )
    .unwrap_err();
    assert_eq!(
        error,
        ReconcileError::CarryMarginTooLarge { max_minutes: 60 }
    );
}

#[test]
fn references_still_decorated_by_the_bill_format_are_refused() {
    for bad in [
        "",
        "`4200001",
        "2019091622001458860515315453\t",
        "a b",
        "a/b",
        "订单",
        &"9".repeat(129),
    ] {
        assert!(
            matches!(
                RefNo::parse(bad),
                Err(ReconcileError::InvalidReference { .. })
            ),
            "{bad:?}"
        );
    }
    for good in [
        "4200000612032130748613220688",
        "re_test_1568602607356",
        "A-1_b|c*d@e",
        &"9".repeat(128),
    ] {
        assert_eq!(RefNo::parse(good).unwrap().as_str(), good);
    }
}

#[test]
fn duplicates_and_unknown_lines_report_the_same_whatever_the_line_order() {
    let mut lines = vec![
        wx_paid(2, "T1", "10.00"),
        wx_paid(9, "T1", "10.00"),
        wx_refund(3, "T1", "R1", "1.00", "SUCCESS"),
        wx_refund(8, "T1", "R1", "1.00", "SUCCESS"),
        ali_refund(4, "T1", "r-x", "2.00"),
        ali_refund(7, "X1", "", "2.00"),
        wx_revoked(5, "T2", "3.00"),
        ali_cancel(6, "T2", "3.00"),
    ];
    let ledger = [
        with_refund(
            paid("T1", "10.00", at("09:00:00")),
            "R1",
            "1.00",
            RefundState::Succeeded,
            at("10:00:00"),
        ),
        reversed("T2", "3.00", Some(at("11:00:00")), at("11:00:30")),
    ];
    let scope = scope(Provider::Wechatpay, DAY);
    let config = Config::default();
    let report = reconcile(&scope, &bill(lines.clone()), &ledger, &[], &config).unwrap();
    lines.reverse();
    let reordered = reconcile(&scope, &bill(lines), &ledger, &[], &config).unwrap();
    assert_eq!(reordered, report);
    let kinds: Vec<&str> = report.discrepancies.iter().map(|d| d.kind.code()).collect();
    assert_eq!(
        kinds,
        [
            "DUPLICATE_IN_BILL",
            "DUPLICATE_IN_BILL",
            "DUPLICATE_IN_BILL",
            "MISSING_IN_LEDGER",
            "MISSING_IN_LEDGER"
        ]
    );
    assert_eq!(report.discrepancies[0].bill_lines, [2, 9]);
    assert_eq!(report.matched_reversals[0].bill_lines, [5]);
}

#[test]
fn a_reversal_days_after_a_payment_we_did_not_know_of_is_not_carried() {
    let entry = reversed("T1", "10.00", None, bj("2026-11-29 10:00:00"));
    let scope = scope(Provider::Wechatpay, DAY);
    let bill = bill(vec![wx_paid(2, "T1", "10.00")]);
    let report = reconcile(&scope, &bill, &[entry], &[], &Config::default()).unwrap();
    assert_eq!(report.matched_payments.len(), 1);
    assert!(report.discrepancies.is_empty() && report.carried_over.is_empty());
}

/// WeChat `CHANGE`: the bill shows a refund that did not reach the customer.
/// Whether the ledger holds it as failed, pending or succeeded, the line is
/// a discrepancy of its own kind, never matched away (issue 12, finding 3).
#[test]
fn a_change_refund_row_is_always_a_refund_abnormal_discrepancy() {
    for state in [
        RefundState::Failed,
        RefundState::Pending,
        RefundState::Succeeded,
    ] {
        let entry = with_refund(
            paid("T1", "10.00", at("09:00:00")),
            "R1",
            "4.00",
            state,
            at("10:00:00"),
        );
        let change = wx_refund(2, "T1", "R1", "4.00", "CHANGE");
        let report = reconcile(
            &scope(Provider::Wechatpay, DAY),
            &bill(vec![wx_paid(1, "T1", "10.00"), change]),
            std::slice::from_ref(&entry),
            &[],
            &Config::default(),
        )
        .unwrap();
        let kinds: Vec<_> = report.discrepancies.iter().map(|d| d.kind).collect();
        assert!(
            kinds.contains(&DiscrepancyKind::RefundAbnormal),
            "{state:?}: {kinds:?}"
        );
        assert!(report.matched_refunds.is_empty(), "{state:?}");
    }
}

/// A refund under a non-recharge coupon: WeChat settles 3.20 of the 4.00
/// asked. It matches on the 4.00 the ledger holds, and the report keeps
/// the settled 3.20 beside it (issue 12, finding 6).
#[test]
fn a_coupon_refund_matches_on_the_amount_asked_and_shows_what_was_settled() {
    let entry = with_refund(
        paid("T1", "10.00", at("09:00:00")),
        "R1",
        "4.00",
        RefundState::Succeeded,
        at("10:00:00"),
    );
    let mut refund = wx_refund(2, "T1", "R1", "4.00", "SUCCESS");
    refund.settled_amount = Some(total("3.20"));
    let report = reconcile(
        &scope(Provider::Wechatpay, DAY),
        &bill(vec![wx_paid(1, "T1", "10.00"), refund]),
        std::slice::from_ref(&entry),
        &[],
        &Config::default(),
    )
    .unwrap();
    let amounts: Vec<_> = report
        .discrepancies
        .iter()
        .filter(|d| d.kind == DiscrepancyKind::AmountMismatch)
        .collect();
    assert!(amounts.is_empty(), "{amounts:?}");
    assert_eq!(report.matched_refunds.len(), 1);
    assert_eq!(
        report.matched_refunds[0].settled_amount,
        Some(total("3.20"))
    );
}
