//! Refunds as given/when/then specifications: partial amounts that never
//! exceed the paid amount, idempotent refund numbers, provider windows, and
//! the answers of refund calls and queries.

mod common;

use common::*;
use paycode_domain::testing::fixtures::*;
use paycode_domain::testing::given;
use paycode_domain::*;

#[test]
fn partial_refunds_are_accepted_up_to_the_paid_amount() {
    let history = [
        paid_wx(),
        vec![refund_requested("R1", "5.00", t0() + secs(60))],
    ]
    .concat();
    let order = given(history)
        .at(t0() + secs(120))
        .when(refund("R2", "7.00"))
        .then([refund_requested("R2", "7.00", t0() + secs(120))])
        .unwrap();
    assert_eq!(order.refund_committed(), cny("12.00").amount());
    assert_eq!(
        order.refunded,
        Amount::ZERO,
        "nothing is refunded before the provider confirms"
    );
    assert_eq!(order.status, Status::Success);
}

#[test]
fn refund_over_paid_amount_is_rejected() {
    given(paid_wx())
        .at(t0() + secs(60))
        .when(refund("R1", "12.01"))
        .then_reject(Rejection::RefundExceedsPaidAmount);
    let history = [
        paid_wx(),
        vec![refund_requested("R1", "5.00", t0() + secs(60))],
    ]
    .concat();
    given(history)
        .at(t0() + secs(120))
        .when(refund("R2", "7.01"))
        .then_reject(Rejection::RefundExceedsPaidAmount);
}

#[test]
fn same_refund_number_and_amount_returns_the_original_outcome() {
    let history = [
        paid_wx(),
        vec![refund_requested("R1", "5.00", t0() + secs(60))],
    ]
    .concat();
    given(history.clone())
        .at(t0() + secs(61))
        .when(refund("R1", "5.00"))
        .then([]);
    given(history)
        .at(t0() + secs(61))
        .when(refund("R1", "6.00"))
        .then_reject(Rejection::RefundExistsWithDifferentAmount);
}

#[test]
fn failed_refund_frees_its_amount_for_a_new_refund_number() {
    let history = [
        paid_wx(),
        vec![
            refund_requested("R1", "12.00", t0() + secs(60)),
            refund_failed("R1", t0() + secs(61)),
        ],
    ]
    .concat();
    given(history)
        .at(t0() + secs(70))
        .when(refund("R2", "12.00"))
        .then([refund_requested("R2", "12.00", t0() + secs(70))]);
}

#[test]
fn nothing_is_refundable_before_the_payment_succeeded() {
    given([wx_requested()])
        .when(refund("R1", "1.00"))
        .then_reject(Rejection::OrderNotPaid);
    given([wx_requested(), failed(1, t0() + secs(1))])
        .when(refund("R1", "1.00"))
        .then_reject(Rejection::OrderNotPaid);
}

#[test]
fn nothing_is_refundable_after_a_reversal() {
    let reversing = vec![wx_requested(), deadline_reversal(t0() + secs(30))];
    given(reversing.clone())
        .when(refund("R1", "1.00"))
        .then_reject(Rejection::OrderReversed);
    let revoked = [reversing, vec![revoked(1, t0() + secs(31))]].concat();
    given(revoked)
        .when(refund("R1", "1.00"))
        .then_reject(Rejection::OrderReversed);
}

#[test]
fn wechat_refund_window_is_one_year_after_payment() {
    let paid_at = t0() + secs(1);
    given(paid_wx())
        .at(paid_at + days(365))
        .when(refund("R1", "1.00"))
        .then_reject(Rejection::RefundWindowExpired);
    given(paid_wx())
        .at(paid_at + days(364))
        .when(refund("R1", "1.00"))
        .then([refund_requested("R1", "1.00", paid_at + days(364))]);
}

#[test]
fn alipay_refund_window_is_three_months_by_default_and_configurable() {
    let history = vec![ali_requested(), paid(1, AnswerSource::Call, t0())];
    given(history.clone())
        .at(t0() + days(90))
        .when(refund("R1", "1.00"))
        .then_reject(Rejection::RefundWindowExpired);
    given(history)
        .at(t0() + days(90))
        .with_policy(Policy {
            alipay_refund_window_days: 365,
            ..Policy::default()
        })
        .when(refund("R1", "1.00"))
        .then([refund_requested("R1", "1.00", t0() + days(90))]);
}

#[test]
fn refunds_stop_at_the_policy_bound() {
    let history = [
        paid_wx(),
        vec![refund_requested("R1", "1.00", t0() + secs(60))],
    ]
    .concat();
    given(history)
        .at(t0() + secs(120))
        .with_policy(Policy {
            max_refunds_per_order: 1,
            ..Policy::default()
        })
        .when(refund("R2", "1.00"))
        .then_reject(Rejection::TooManyRefunds);
}

#[test]
fn refund_is_polled_while_processing_until_it_succeeds() {
    let history = [
        paid_wx(),
        vec![refund_requested("R1", "5.00", t0() + secs(60))],
    ]
    .concat();
    let at = t0() + secs(61);
    let order = given(history.clone())
        .at(at)
        .when(refund_result(
            "R1",
            RefundOutcome::Processing {
                provider_refund_id: Some("5030R1".to_owned()),
            },
        ))
        .then([OrderEvent::RefundProcessingReported(
            RefundProcessingReported {
                out_refund_no: refund_no("R1"),
                source: AnswerSource::Call,
                provider_refund_id: Some("5030R1".to_owned()),
                reply: reply("SUCCESS", "OK"),
                at,
            },
        )])
        .unwrap();
    let policy = Policy::default();
    assert_eq!(
        order.next_due(&policy),
        Some((
            at + secs(10),
            Due::PollRefund {
                out_refund_no: refund_no("R1")
            }
        ))
    );

    let mut history = history;
    history.push(OrderEvent::RefundProcessingReported(
        RefundProcessingReported {
            out_refund_no: refund_no("R1"),
            source: AnswerSource::Call,
            provider_refund_id: Some("5030R1".to_owned()),
            reply: reply("SUCCESS", "OK"),
            at,
        },
    ));
    let polled_at = at + secs(10);
    let order = given(history)
        .at(polled_at)
        .when(OrderCommand::RecordRefundPoll {
            out_refund_no: refund_no("R1"),
            outcome: RefundOutcome::Succeeded {
                provider_refund_id: None,
            },
            reply: reply("SUCCESS", "OK"),
        })
        .then([refund_succeeded("R1", AnswerSource::Query, polled_at)])
        .unwrap();
    assert_eq!(order.refunded, cny("5.00").amount());
    assert_eq!(
        order.refund(&refund_no("R1")).unwrap().state,
        RefundState::Succeeded
    );
    assert_eq!(order.next_due(&policy), None);
}

#[test]
fn refund_queries_back_off_while_the_refund_keeps_processing() {
    let mut history = [
        paid_wx(),
        vec![refund_requested("R1", "5.00", t0() + secs(60))],
    ]
    .concat();
    let mut now = t0() + secs(61);
    let mut waits = Vec::new();
    for _ in 0..4 {
        let command = OrderCommand::RecordRefundPoll {
            out_refund_no: refund_no("R1"),
            outcome: RefundOutcome::Processing {
                provider_refund_id: None,
            },
            reply: reply("PROCESSING", "退款处理中"),
        };
        let decided = given(history.clone()).at(now).when(command);
        history.extend(decided.result().clone().unwrap());
        let (due_at, due) = paycode_domain::replay(&history)
            .unwrap()
            .next_due(&Policy::default())
            .unwrap();
        assert_eq!(
            due,
            Due::PollRefund {
                out_refund_no: refund_no("R1")
            }
        );
        waits.push((due_at - now).num_seconds());
        now = due_at;
    }
    assert_eq!(waits, vec![20, 40, 80, 160]);
}

#[test]
fn refund_without_a_recorded_answer_is_sent_again_with_the_same_number() {
    let history = [
        paid_wx(),
        vec![refund_requested("R1", "5.00", t0() + secs(60))],
    ]
    .concat();
    let order = given(history).when(OrderCommand::Tick).then([]).unwrap();
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((
            t0() + secs(90),
            Due::Refund {
                out_refund_no: refund_no("R1")
            }
        ))
    );
}

#[test]
fn settled_refunds_accept_only_repeats_of_their_outcome() {
    let history = [
        paid_wx(),
        vec![
            refund_requested("R1", "5.00", t0() + secs(60)),
            refund_succeeded("R1", AnswerSource::Call, t0() + secs(61)),
        ],
    ]
    .concat();
    let repeat = RefundOutcome::Succeeded {
        provider_refund_id: Some("5030R1".to_owned()),
    };
    given(history.clone())
        .when(refund_result("R1", repeat))
        .then([]);
    given(history)
        .when(refund_result("R1", RefundOutcome::Failed))
        .then_reject(Rejection::RefundAlreadySettled);
}

#[test]
fn answers_for_an_unknown_refund_number_are_rejected() {
    given(paid_wx())
        .when(refund_result("R9", RefundOutcome::Failed))
        .then_reject(Rejection::RefundNotFound);
}

#[test]
fn refunded_total_counts_only_succeeded_refunds() {
    let history = [
        paid_wx(),
        vec![
            refund_requested("R1", "5.00", t0() + secs(60)),
            refund_succeeded("R1", AnswerSource::Call, t0() + secs(61)),
            refund_requested("R2", "3.00", t0() + secs(70)),
            refund_failed("R2", t0() + secs(71)),
            refund_requested("R3", "2.00", t0() + secs(80)),
        ],
    ]
    .concat();
    let order = paycode_domain::replay(&history).unwrap();
    assert_eq!(order.refunded, cny("5.00").amount());
    assert_eq!(order.refund_committed(), cny("7.00").amount());
    assert_eq!(order.refunds.len(), 3);
}

#[test]
fn a_failed_refund_is_retried_under_its_own_number() {
    let history = [
        paid_wx(),
        vec![
            refund_requested("R1", "5.00", t0() + secs(60)),
            refund_failed("R1", t0() + secs(61)),
        ],
    ]
    .concat();
    let order = given(history)
        .at(t0() + secs(120))
        .when(refund("R1", "5.00"))
        .then([OrderEvent::RefundRetried(RefundRetried {
            out_refund_no: refund_no("R1"),
            by: Some("cashier-1".to_owned()),
            at: t0() + secs(120),
        })])
        .unwrap();
    let retried = order.refund(&refund_no("R1")).expect("the refund is there");
    assert_eq!(retried.state, RefundState::Requested);
    assert_eq!(order.refund_committed(), cny("5.00").amount());
}

#[test]
fn a_failed_refund_retry_still_respects_the_paid_amount_and_its_own_amount() {
    let history = [
        paid_wx(),
        vec![
            refund_requested("R1", "5.00", t0() + secs(60)),
            refund_failed("R1", t0() + secs(61)),
            refund_requested("R2", "8.00", t0() + secs(62)),
        ],
    ]
    .concat();
    given(history.clone())
        .at(t0() + secs(120))
        .when(refund("R1", "5.00"))
        .then_reject(Rejection::RefundExceedsPaidAmount);
    given(history)
        .at(t0() + secs(120))
        .when(refund("R1", "4.00"))
        .then_reject(Rejection::RefundExistsWithDifferentAmount);
}
