//! Golden tests: hand-built bills in WeChat's and Alipay's shapes against
//! hand-built ledgers, one category each, with the rendered report compared
//! by `expect-test` so that any change in matching shows up as a diff.

mod support;

use expect_test::expect;
use paycode_domain::Provider;
use paycode_reconcile::{BillSummary, Carried, RefundState};
use support::*;

#[test]
fn wechat_bill_that_agrees_with_the_ledger_reports_nothing() {
    let mut bill = bill(vec![
        wx_paid(2, "T1", "10.00"),
        wx_paid(3, "T2", "20.00"),
        wx_refund(4, "T0", "R0", "5.00", "SUCCESS"),
    ]);
    bill.summary = BillSummary {
        line_count: Some(3),
        paid_total: Some(total("30.00")),
        refund_total: Some(total("5.00")),
        ..BillSummary::default()
    };
    let ledger = [
        paid("T1", "10.00", at("09:00:00")),
        paid("T2", "20.00", at("10:00:00")),
        with_refund(
            paid("T0", "8.00", bj("2026-11-20 10:00:00")),
            "R0",
            "5.00",
            RefundState::Succeeded,
            at("11:00:00"),
        ),
    ];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 2 payments 30.00, 1 refunds 5.00
        bill summary: lines 3 payments - refunds - paid 30.00 refunded 5.00
        ledger expects: 2 payments 30.00, 1 refunds 5.00
        matched payments: 2
          T1 10.00 (order order-T1) lines 2
          T2 20.00 (order order-T2) lines 3
        matched refunds: 1
          T0 R0 5.00 (order order-T0) lines 4
        matched reversals: 0
        discrepancies: 0
        carried over: 0
    "#]],
    );
}

#[test]
fn wechat_reversed_paid_trade_matches_its_success_and_revoked_rows() {
    let bill = bill(vec![
        wx_paid(2, "T1", "10.00"),
        wx_revoked(3, "T1", "10.00"),
    ]);
    let ledger = [reversed(
        "T1",
        "10.00",
        Some(at("09:00:00")),
        at("09:00:40"),
    )];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 1 payments 10.00, 1 refunds 10.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 1 payments 10.00, 1 refunds 10.00
        matched payments: 0
        matched refunds: 0
        matched reversals: 1
          T1 10.00 (order order-T1) lines 2,3
        discrepancies: 0
        carried over: 0
    "#]],
    );
}

#[test]
fn wechat_reversed_paid_trade_matches_a_revoked_row_without_its_success_row() {
    // The REVOKED row may or may not carry refund numbers: they are ignored.
    let mut revoked = wx_revoked(7, "T1", "10.00");
    revoked.out_refund_no = Some(no("4200T1REVOKE"));
    let bill = bill(vec![revoked]);
    let ledger = [reversed(
        "T1",
        "10.00",
        Some(at("09:00:00")),
        at("09:00:40"),
    )];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 0 payments 0.00, 1 refunds 10.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 1 payments 10.00, 1 refunds 10.00
        matched payments: 0
        matched refunds: 0
        matched reversals: 1
          T1 10.00 (order order-T1) lines 7
        discrepancies: 0
        carried over: 0
    "#]],
    );
}

#[test]
fn wechat_trade_we_reversed_without_knowing_it_was_paid_matches_both_rows() {
    let bill = bill(vec![
        wx_paid(2, "T1", "10.00"),
        wx_revoked(3, "T1", "10.00"),
    ]);
    let ledger = [reversed("T1", "10.00", None, at("09:00:40"))];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 1 payments 10.00, 1 refunds 10.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 0 payments 0.00, 0 refunds 0.00
        matched payments: 0
        matched refunds: 0
        matched reversals: 1
          T1 10.00 (order order-T1) lines 2,3
        discrepancies: 0
        carried over: 0
    "#]],
    );
}

/// The parser classifies a cancel's refund row as a reversal from the line
/// alone; a refund row with a number none of our refunds has stays a refund
/// the ledger does not know, even on a reversed entry.
#[test]
fn alipay_cancelled_paid_trade_matches_its_trade_and_cancel_rows() {
    let mut bill = bill(vec![
        ali_trade(5, "T1", "10.00"),
        ali_cancel(6, "T1", "10.00"),
        ali_trade(7, "T2", "3.00"),
        ali_cancel(8, "T2", "3.00"),
        ali_trade(9, "T3", "4.00"),
        ali_cancel(10, "T3", "4.00"),
        ali_trade(11, "T4", "6.00"),
        ali_refund(12, "T4", "r-unknown", "6.00"),
    ]);
    bill.summary = BillSummary {
        payment_count: Some(4),
        refund_count: Some(4),
        paid_total: Some(total("23.00")),
        refund_total: Some(total("23.00")),
        ..BillSummary::default()
    };
    let ledger = [
        reversed("T1", "10.00", Some(at("09:00:00")), at("09:00:30")),
        reversed("T2", "3.00", Some(at("09:10:00")), at("09:10:30")),
        reversed("T3", "4.00", None, at("09:20:30")),
        reversed("T4", "6.00", Some(at("09:30:00")), at("09:30:30")),
    ];
    check(
        &scope(Provider::Alipay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
            alipay m1 2026-11-26
            bill lines: 4 payments 23.00, 4 refunds 23.00
            bill summary: lines - payments 4 refunds 4 paid 23.00 refunded 23.00
            ledger expects: 3 payments 19.00, 3 refunds 19.00
            matched payments: 1
              T4 6.00 (order order-T4) lines 11
            matched refunds: 0
            matched reversals: 3
              T1 10.00 (order order-T1) lines 5,6
              T2 3.00 (order order-T2) lines 7,8
              T3 4.00 (order order-T3) lines 9,10
            discrepancies: 2
              alipay/m1/2026-11-26/MISSING_IN_BILL/reversal/T4
                order order-T4 trade - bill - ledger 6.00 lines -: dated 2026-11-26 09:30:30 +08:00
              alipay/m1/2026-11-26/MISSING_IN_LEDGER/refund/T4/r-unknown
                order order-T4 trade 2026112622T4 bill 6.00 ledger - lines 12: ledger has no such refund; bill dates it 2026-11-26 12:00:00 +08:00
            carried over: 0
        "#]],
    );
}

#[test]
fn alipay_refund_row_matches_the_refund_with_its_request_number() {
    let mut bill = bill(vec![
        ali_trade(5, "T1", "10.00"),
        ali_refund(6, "T1", "R1", "4.00"),
    ]);
    bill.summary = BillSummary {
        payment_count: Some(1),
        refund_count: Some(1),
        paid_total: Some(total("10.00")),
        refund_total: Some(total("4.00")),
        ..BillSummary::default()
    };
    let ledger = [with_refund(
        paid("T1", "10.00", at("09:00:00")),
        "R1",
        "4.00",
        RefundState::Succeeded,
        at("15:00:00"),
    )];
    check(
        &scope(Provider::Alipay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        alipay m1 2026-11-26
        bill lines: 1 payments 10.00, 1 refunds 4.00
        bill summary: lines - payments 1 refunds 1 paid 10.00 refunded 4.00
        ledger expects: 1 payments 10.00, 1 refunds 4.00
        matched payments: 1
          T1 10.00 (order order-T1) lines 5
        matched refunds: 1
          T1 R1 4.00 (order order-T1) lines 6
        matched reversals: 0
        discrepancies: 0
        carried over: 0
    "#]],
    );
}

#[test]
fn ledger_items_absent_from_the_bill_are_missing_in_bill() {
    let bill = bill(vec![wx_paid(2, "T3", "1.00")]);
    let ledger = [
        paid("T1", "10.00", at("09:00:00")),
        with_refund(
            paid("T2", "8.00", bj("2026-11-20 10:00:00")),
            "R2",
            "5.00",
            RefundState::Succeeded,
            at("11:00:00"),
        ),
        with_refund(
            paid("T3", "1.00", at("12:00:00")),
            "R3",
            "1.00",
            RefundState::Pending,
            at("13:00:00"),
        ),
        reversed("T4", "6.00", Some(at("14:00:00")), at("14:00:30")),
        reversed("T5", "6.00", None, at("15:00:30")),
        failed("T6", "2.00"),
        paying("T7", "2.00"),
    ];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 1 payments 1.00, 0 refunds 0.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 3 payments 17.00, 2 refunds 11.00
        matched payments: 1
          T3 1.00 (order order-T3) lines 2
        matched refunds: 0
        matched reversals: 0
        discrepancies: 4
          wechatpay/m1/2026-11-26/MISSING_IN_BILL/payment/T1
            order order-T1 trade - bill - ledger 10.00 lines -: dated 2026-11-26 09:00:00 +08:00
          wechatpay/m1/2026-11-26/MISSING_IN_BILL/payment/T4
            order order-T4 trade - bill - ledger 6.00 lines -: dated 2026-11-26 14:00:00 +08:00
          wechatpay/m1/2026-11-26/MISSING_IN_BILL/refund/T2/R2
            order order-T2 trade - bill - ledger 5.00 lines -: dated 2026-11-26 11:00:00 +08:00
          wechatpay/m1/2026-11-26/MISSING_IN_BILL/reversal/T4
            order order-T4 trade - bill - ledger 6.00 lines -: dated 2026-11-26 14:00:30 +08:00
        carried over: 0
    "#]],
    );
}

#[test]
fn bill_lines_the_ledger_does_not_know_are_missing_in_ledger() {
    let bill = bill(vec![
        wx_paid(2, "X1", "10.00"),
        wx_refund(3, "X2", "RX", "1.00", "SUCCESS"),
        wx_revoked(4, "X3", "2.00"),
        wx_paid(5, "T1", "10.00"),
        wx_refund(6, "T1", "R-unknown", "3.00", "SUCCESS"),
        ali_refund(7, "T1", "", "2.00"),
    ]);
    let ledger = [paid("T1", "10.00", at("09:00:00"))];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
            wechatpay m1 2026-11-26
            bill lines: 2 payments 20.00, 4 refunds 8.00
            bill summary: lines - payments - refunds - paid - refunded -
            ledger expects: 1 payments 10.00, 0 refunds 0.00
            matched payments: 1
              T1 10.00 (order order-T1) lines 5
            matched refunds: 0
            matched reversals: 0
            discrepancies: 5
              wechatpay/m1/2026-11-26/MISSING_IN_LEDGER/payment/X1
                order - trade 42000X1 bill 10.00 ledger - lines 2: ledger has no such payment; bill dates it 2026-11-26 12:00:00 +08:00
              wechatpay/m1/2026-11-26/MISSING_IN_LEDGER/refund/T1/R-unknown
                order order-T1 trade 42000T1 bill 3.00 ledger - lines 6: ledger has no such refund; bill dates it 2026-11-26 12:00:00 +08:00
              wechatpay/m1/2026-11-26/MISSING_IN_LEDGER/refund/T1/line-7
                order order-T1 trade 2026112622T1 bill 2.00 ledger - lines 7: ledger has no such refund; bill dates it 2026-11-26 12:00:00 +08:00
              wechatpay/m1/2026-11-26/MISSING_IN_LEDGER/refund/X2/RX
                order - trade 42000X2 bill 1.00 ledger - lines 3: ledger has no such refund; bill dates it 2026-11-26 12:00:00 +08:00
              wechatpay/m1/2026-11-26/MISSING_IN_LEDGER/reversal/X3
                order - trade 42000X3 bill 2.00 ledger - lines 4: ledger has no such reversal; bill dates it 2026-11-26 12:00:00 +08:00
            carried over: 0
        "#]],
    );
}

#[test]
fn different_amounts_are_amount_mismatches() {
    let bill = bill(vec![
        wx_paid(2, "T1", "10.01"),
        wx_paid(3, "T2", "5.00"),
        wx_refund(4, "T2", "R2", "2.50", "SUCCESS"),
        wx_paid(5, "T3", "7.00"),
        wx_revoked(6, "T3", "6.00"),
    ]);
    let ledger = [
        paid("T1", "10.00", at("09:00:00")),
        with_refund(
            paid("T2", "5.00", at("09:00:00")),
            "R2",
            "2.00",
            RefundState::Succeeded,
            at("10:00:00"),
        ),
        reversed("T3", "7.00", Some(at("11:00:00")), at("11:00:30")),
    ];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 3 payments 22.01, 2 refunds 8.50
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 3 payments 22.00, 2 refunds 9.00
        matched payments: 1
          T2 5.00 (order order-T2) lines 3
        matched refunds: 0
        matched reversals: 0
        discrepancies: 3
          wechatpay/m1/2026-11-26/AMOUNT_MISMATCH/payment/T1
            order order-T1 trade 42000T1 bill 10.01 ledger 10.00 lines 2: payment amounts differ
          wechatpay/m1/2026-11-26/AMOUNT_MISMATCH/refund/T2/R2
            order order-T2 trade 42000T2 bill 2.50 ledger 2.00 lines 4: refund amounts differ
          wechatpay/m1/2026-11-26/AMOUNT_MISMATCH/reversal/T3
            order order-T3 trade 42000T3 bill 6.00 ledger 7.00 lines 6: reversal amounts differ
        carried over: 0
    "#]],
    );
}

#[test]
fn disagreeing_states_are_status_mismatches_and_a_processing_refund_agrees_with_success() {
    let bill = bill(vec![
        wx_paid(2, "T1", "1.00"),
        wx_paid(3, "T2", "2.00"),
        wx_paid(4, "T3", "3.00"),
        wx_revoked(5, "T3", "3.00"),
        wx_paid(6, "T4", "4.00"),
        wx_refund(7, "T4", "R4a", "1.00", "SUCCESS"),
        wx_refund(8, "T4", "R4b", "1.00", "PROCESSING"),
        wx_refund(9, "T4", "R4c", "1.00", "PROCESSING"),
        wx_refund(10, "T4", "R4d", "1.00", "REFUNDCLOSE"),
    ]);
    let refund_at = at("10:00:00");
    let t4 = paid("T4", "4.00", at("09:00:00"));
    let t4 = with_refund(t4, "R4a", "1.00", RefundState::Pending, refund_at);
    let t4 = with_refund(t4, "R4b", "1.00", RefundState::Succeeded, refund_at);
    let t4 = with_refund(t4, "R4c", "1.00", RefundState::Failed, refund_at);
    let t4 = with_refund(t4, "R4d", "1.00", RefundState::Failed, refund_at);
    let ledger = [
        paying("T1", "1.00"),
        failed("T2", "2.00"),
        paid("T3", "3.00", at("09:00:00")),
        t4,
    ];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 4 payments 10.00, 5 refunds 7.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 2 payments 7.00, 1 refunds 1.00
        matched payments: 2
          T3 3.00 (order order-T3) lines 4
          T4 4.00 (order order-T4) lines 6
        matched refunds: 2
          T4 R4b 1.00 (order order-T4) lines 8
          T4 R4d 1.00 (order order-T4) lines 10
        matched reversals: 0
        discrepancies: 5
          wechatpay/m1/2026-11-26/STATUS_MISMATCH/payment/T1
            order order-T1 trade 42000T1 bill 1.00 ledger 1.00 lines 2: bill shows a payment; ledger says paying
          wechatpay/m1/2026-11-26/STATUS_MISMATCH/payment/T2
            order order-T2 trade 42000T2 bill 2.00 ledger 2.00 lines 3: bill shows a payment; ledger says failed
          wechatpay/m1/2026-11-26/STATUS_MISMATCH/refund/T4/R4a
            order order-T4 trade 42000T4 bill 1.00 ledger 1.00 lines 7: bill says "SUCCESS", ledger says "pending"
          wechatpay/m1/2026-11-26/STATUS_MISMATCH/refund/T4/R4c
            order order-T4 trade 42000T4 bill 1.00 ledger 1.00 lines 9: bill says "PROCESSING", ledger says "failed"
          wechatpay/m1/2026-11-26/STATUS_MISMATCH/reversal/T3
            order order-T3 trade 42000T3 bill 3.00 ledger 3.00 lines 5: bill shows a reversal; ledger says paid
        carried over: 0
    "#]],
    );
}

#[test]
fn the_same_trade_or_refund_twice_on_the_bill_is_a_duplicate() {
    let bill = bill(vec![
        wx_paid(2, "T1", "10.00"),
        wx_paid(3, "T1", "10.00"),
        wx_refund(4, "T1", "R1", "1.00", "SUCCESS"),
        wx_refund(5, "T1", "R1", "1.00", "SUCCESS"),
        wx_paid(6, "X9", "3.00"),
        wx_paid(7, "X9", "3.00"),
    ]);
    let ledger = [with_refund(
        paid("T1", "10.00", at("09:00:00")),
        "R1",
        "1.00",
        RefundState::Succeeded,
        at("10:00:00"),
    )];
    check(
        &scope(Provider::Wechatpay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
            wechatpay m1 2026-11-26
            bill lines: 4 payments 26.00, 2 refunds 2.00
            bill summary: lines - payments - refunds - paid - refunded -
            ledger expects: 1 payments 10.00, 1 refunds 1.00
            matched payments: 1
              T1 10.00 (order order-T1) lines 2
            matched refunds: 1
              T1 R1 1.00 (order order-T1) lines 4
            matched reversals: 0
            discrepancies: 4
              wechatpay/m1/2026-11-26/DUPLICATE_IN_BILL/payment/T1
                order order-T1 trade 42000T1 bill 10.00 ledger 10.00 lines 2,3: the bill lists this payment 2 times
              wechatpay/m1/2026-11-26/DUPLICATE_IN_BILL/payment/X9
                order - trade 42000X9 bill 3.00 ledger - lines 6,7: the bill lists this payment 2 times
              wechatpay/m1/2026-11-26/DUPLICATE_IN_BILL/refund/T1/R1
                order order-T1 trade 42000T1 bill 1.00 ledger 1.00 lines 4,5: the bill lists this refund 2 times
              wechatpay/m1/2026-11-26/MISSING_IN_LEDGER/payment/X9
                order - trade 42000X9 bill 3.00 ledger - lines 6: ledger has no such payment; bill dates it 2026-11-26 12:00:00 +08:00
            carried over: 0
        "#]],
    );
}

#[test]
fn a_payment_after_our_reversal_is_paid_after_reversal() {
    let bill = bill(vec![ali_trade(5, "T1", "10.00")]);
    let ledger = [reversed("T1", "10.00", None, at("09:00:30"))];
    check(
        &scope(Provider::Alipay, DAY),
        &bill,
        &ledger,
        &[],
        expect![[r#"
        alipay m1 2026-11-26
        bill lines: 1 payments 10.00, 0 refunds 0.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 0 payments 0.00, 0 refunds 0.00
        matched payments: 0
        matched refunds: 0
        matched reversals: 0
        discrepancies: 1
          alipay/m1/2026-11-26/PAID_AFTER_REVERSAL/payment/T1
            order order-T1 trade 2026112622T1 bill 10.00 ledger 10.00 lines 5: bill shows a payment and no reversal; ledger reversed it 2026-11-26 09:00:30 +08:00
        carried over: 0
    "#]],
    );
}

#[test]
fn a_summary_that_disagrees_with_the_lines_is_a_summary_mismatch() {
    let mut wechat = bill(vec![
        wx_paid(2, "T1", "10.00"),
        wx_refund(3, "T1", "R1", "1.00", "SUCCESS"),
    ]);
    wechat.summary = BillSummary {
        line_count: Some(3),
        paid_total: Some(total("10.01")),
        refund_total: Some(total("1.00")),
        ..BillSummary::default()
    };
    let ledger = [with_refund(
        paid("T1", "10.00", at("09:00:00")),
        "R1",
        "1.00",
        RefundState::Succeeded,
        at("10:00:00"),
    )];
    check(
        &scope(Provider::Wechatpay, DAY),
        &wechat,
        &ledger,
        &[],
        expect![[r#"
        wechatpay m1 2026-11-26
        bill lines: 1 payments 10.00, 1 refunds 1.00
        bill summary: lines 3 payments - refunds - paid 10.01 refunded 1.00
        ledger expects: 1 payments 10.00, 1 refunds 1.00
        matched payments: 1
          T1 10.00 (order order-T1) lines 2
        matched refunds: 1
          T1 R1 1.00 (order order-T1) lines 3
        matched reversals: 0
        discrepancies: 2
          wechatpay/m1/2026-11-26/SUMMARY_MISMATCH/summary/line_count
            order - trade - bill - ledger - lines -: summary says 3, the lines count 2
          wechatpay/m1/2026-11-26/SUMMARY_MISMATCH/summary/paid_total
            order - trade - bill 10.01 ledger 10.00 lines -: summary says 10.01, the lines add up to 10.00
        carried over: 0
    "#]],
    );

    let mut alipay = bill(vec![
        ali_trade(2, "T1", "10.00"),
        ali_refund(3, "T1", "R1", "1.00"),
    ]);
    alipay.lines[0].settled_amount = Some(total("9.50"));
    alipay.summary = BillSummary {
        payment_count: Some(1),
        refund_count: Some(2),
        paid_total: Some(total("9.50")),
        refund_total: Some(total("0.00")),
        ..BillSummary::default()
    };
    check(
        &scope(Provider::Alipay, DAY),
        &alipay,
        &ledger,
        &[],
        expect![[r#"
        alipay m1 2026-11-26
        bill lines: 1 payments 9.50, 1 refunds 1.00
        bill summary: lines - payments 1 refunds 2 paid 9.50 refunded 0.00
        ledger expects: 1 payments 10.00, 1 refunds 1.00
        matched payments: 1
          T1 10.00 (order order-T1) lines 2
        matched refunds: 1
          T1 R1 1.00 (order order-T1) lines 3
        matched reversals: 0
        discrepancies: 2
          alipay/m1/2026-11-26/SUMMARY_MISMATCH/summary/refund_count
            order - trade - bill - ledger - lines -: summary says 2, the lines count 1
          alipay/m1/2026-11-26/SUMMARY_MISMATCH/summary/refund_total
            order - trade - bill 0.00 ledger 1.00 lines -: summary says 0.00, the lines add up to 1.00
        carried over: 0
    "#]],
    );
}

#[test]
fn a_payment_just_before_midnight_is_carried_to_the_next_day_and_matched_or_reported_there() {
    let late = paid("T1", "10.00", at("23:58:30"));
    let late_missing_twice = paid("T2", "20.00", at("23:59:59"));
    let too_early = paid("T3", "30.00", at("23:50:00"));
    let first = check(
        &scope(Provider::Wechatpay, DAY),
        &bill(vec![]),
        &[late, late_missing_twice, too_early],
        &[],
        expect![[r#"
            wechatpay m1 2026-11-26
            bill lines: 0 payments 0.00, 0 refunds 0.00
            bill summary: lines - payments - refunds - paid - refunded -
            ledger expects: 3 payments 60.00, 0 refunds 0.00
            matched payments: 0
            matched refunds: 0
            matched reversals: 0
            discrepancies: 1
              wechatpay/m1/2026-11-26/MISSING_IN_BILL/payment/T3
                order order-T3 trade - bill - ledger 30.00 lines -: dated 2026-11-26 23:50:00 +08:00
            carried over: 2
              T1 payment (order order-T1)
              T2 payment (order order-T2)
        "#]],
    );
    let next_bill = bill(vec![wx_paid(2, "T1", "10.00"), wx_paid(3, "T9", "1.00")]);
    let next_ledger = [paid("T9", "1.00", bj(&format!("{NEXT_DAY} 08:00:00")))];
    let second = check(
        &scope(Provider::Wechatpay, NEXT_DAY),
        &next_bill,
        &next_ledger,
        &first.carried_over,
        expect![[r#"
            wechatpay m1 2026-11-27
            bill lines: 2 payments 11.00, 0 refunds 0.00
            bill summary: lines - payments - refunds - paid - refunded -
            ledger expects: 3 payments 31.00, 0 refunds 0.00
            matched payments: 2
              T1 10.00 (order order-T1) lines 2
              T9 1.00 (order order-T9) lines 3
            matched refunds: 0
            matched reversals: 0
            discrepancies: 1
              wechatpay/m1/2026-11-27/MISSING_IN_BILL/payment/T2
                order order-T2 trade - bill - ledger 20.00 lines -: dated 2026-11-26 23:59:59 +08:00, carried from the previous day
            carried over: 0
        "#]],
    );
    assert!(
        second.carried_over.is_empty(),
        "an item is carried once, then reported"
    );
}

#[test]
fn a_reversal_after_midnight_of_a_payment_before_it_is_expected_on_the_next_bill() {
    let entry = reversed("T1", "10.00", None, bj(&format!("{NEXT_DAY} 00:00:20")));
    let first = check(
        &scope(Provider::Wechatpay, DAY),
        &bill(vec![wx_paid(2, "T1", "10.00")]),
        std::slice::from_ref(&entry),
        &[],
        expect![[r#"
            wechatpay m1 2026-11-26
            bill lines: 1 payments 10.00, 0 refunds 0.00
            bill summary: lines - payments - refunds - paid - refunded -
            ledger expects: 0 payments 0.00, 0 refunds 0.00
            matched payments: 1
              T1 10.00 (order order-T1) lines 2
            matched refunds: 0
            matched reversals: 0
            discrepancies: 0
            carried over: 1
              T1 reversal (order order-T1)
        "#]],
    );
    check(
        &scope(Provider::Wechatpay, NEXT_DAY),
        &bill(vec![]),
        std::slice::from_ref(&entry),
        &first.carried_over,
        expect![[r#"
        wechatpay m1 2026-11-27
        bill lines: 0 payments 0.00, 0 refunds 0.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 0 payments 0.00, 1 refunds 10.00
        matched payments: 0
        matched refunds: 0
        matched reversals: 0
        discrepancies: 1
          wechatpay/m1/2026-11-27/MISSING_IN_BILL/reversal/T1
            order order-T1 trade - bill - ledger 10.00 lines -: dated 2026-11-27 00:00:20 +08:00, carried from the previous day
        carried over: 0
    "#]],
    );
    check(
        &scope(Provider::Wechatpay, NEXT_DAY),
        &bill(vec![wx_revoked(4, "T1", "10.00")]),
        &[entry],
        &first.carried_over,
        expect![[r#"
            wechatpay m1 2026-11-27
            bill lines: 0 payments 0.00, 1 refunds 10.00
            bill summary: lines - payments - refunds - paid - refunded -
            ledger expects: 0 payments 0.00, 1 refunds 10.00
            matched payments: 0
            matched refunds: 0
            matched reversals: 1
              T1 10.00 (order order-T1) lines 4
            discrepancies: 0
            carried over: 0
        "#]],
    );
}

#[test]
fn a_carried_item_also_in_the_next_days_ledger_is_expected_once() {
    let carried = [Carried {
        entry: paid("T1", "10.00", at("23:59:00")),
        item: paycode_reconcile::Item::Payment,
    }];
    let refunded_next_day = with_refund(
        paid("T1", "10.00", at("23:59:00")),
        "R1",
        "10.00",
        RefundState::Succeeded,
        bj(&format!("{NEXT_DAY} 09:00:00")),
    );
    let next_bill = bill(vec![
        wx_paid(2, "T1", "10.00"),
        wx_refund(3, "T1", "R1", "10.00", "SUCCESS"),
    ]);
    check(
        &scope(Provider::Wechatpay, NEXT_DAY),
        &next_bill,
        &[refunded_next_day],
        &carried,
        expect![[r#"
        wechatpay m1 2026-11-27
        bill lines: 1 payments 10.00, 1 refunds 10.00
        bill summary: lines - payments - refunds - paid - refunded -
        ledger expects: 1 payments 10.00, 1 refunds 10.00
        matched payments: 1
          T1 10.00 (order order-T1) lines 2
        matched refunds: 1
          T1 R1 10.00 (order order-T1) lines 3
        matched reversals: 0
        discrepancies: 0
        carried over: 0
    "#]],
    );
}
