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

fn requested_history() -> Vec<OrderEvent> {
    [
        paid_wx(),
        vec![refund_requested("R1", "8.00", t0() + secs(60))],
    ]
    .concat()
}

fn not_confirmed(
    source: AnswerSource,
    next_send_at: Option<chrono::DateTime<chrono::Utc>>,
    at: chrono::DateTime<chrono::Utc>,
) -> OrderEvent {
    OrderEvent::RefundNotConfirmed(RefundNotConfirmed {
        out_refund_no: refund_no("R1"),
        source,
        reply: reply("SUCCESS", "OK"),
        next_send_at,
        at,
    })
}

/// WeChat requires `out_refund_no` unique across the merchant account
/// (issue 12, finding 1): the number sent is paycode's own, fresh per
/// refund, whatever the till numbered it.
#[test]
fn a_refund_is_sent_under_a_fresh_provider_number_of_its_own() {
    let order = given(paid_wx())
        .at(t0() + secs(60))
        .with_ids(ids(7))
        .when(refund("1", "2.00"))
        .unwrap_events();
    let OrderEvent::RefundRequested(requested) = &order[0] else {
        panic!("expected RefundRequested, got {order:?}")
    };
    assert_eq!(
        requested
            .provider_refund_no
            .as_ref()
            .map(OutRefundNo::as_str),
        Some(ids(7).provider_order_no.as_str())
    );
    assert_ne!(requested.provider_refund_no, Some(refund_no("1")));
}

/// A refund call that timed out, was dropped or answered 5xx may or may not
/// have been taken (issue 12, finding 4): the refund stays reserved and is
/// sent again with the same number, with backoff, within a budget.
#[test]
fn an_unconfirmed_refund_call_is_sent_again_with_backoff_and_stays_reserved() {
    let at = t0() + secs(61);
    let order = given(requested_history())
        .at(at)
        .when(refund_result("R1", RefundOutcome::NotConfirmed))
        .then([not_confirmed(AnswerSource::Call, Some(at + secs(10)), at)])
        .unwrap();
    let sent = order.refund(&refund_no("R1")).unwrap();
    assert_eq!(sent.state, RefundState::Unknown);
    assert_eq!(sent.sends, 1);
    assert!(!order.needs_attention);
    assert_eq!(order.refund_committed(), cny("8.00").amount());
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((
            at + secs(10),
            Due::Refund {
                out_refund_no: refund_no("R1")
            }
        ))
    );
    // Still reserved: the rest of the order is all that can be refunded.
    given(
        [
            requested_history(),
            vec![not_confirmed(AnswerSource::Call, Some(at + secs(10)), at)],
        ]
        .concat(),
    )
    .at(at + secs(1))
    .when(refund("R2", "4.01"))
    .then_reject(Rejection::RefundExceedsPaidAmount);
}

#[test]
fn an_unconfirmed_refund_whose_budget_is_spent_goes_to_a_person() {
    let policy = Policy {
        refund_max_sends: 2,
        ..Policy::default()
    };
    let first = t0() + secs(61);
    let mut history = requested_history();
    history.push(not_confirmed(
        AnswerSource::Call,
        Some(first + secs(10)),
        first,
    ));
    let at = first + secs(10);
    let order = given(history)
        .at(at)
        .with_policy(policy.clone())
        .when(refund_result("R1", RefundOutcome::NotConfirmed))
        .then([not_confirmed(AnswerSource::Call, None, at)])
        .unwrap();
    assert!(order.needs_attention);
    assert!(!order.payment_needs_attention);
    assert_eq!(order.next_due(&policy), None);
    assert!(order.refund(&refund_no("R1")).unwrap().needs_attention());
}

/// Alipay: a query sent too early finds no refund; only then is it "not
/// refunded", and the retry must use the same number (issue 12, finding 2).
#[test]
fn a_query_that_finds_no_refund_sends_it_again_instead_of_freeing_the_amount() {
    let mut history = requested_history();
    history.push(OrderEvent::RefundProcessingReported(
        RefundProcessingReported {
            out_refund_no: refund_no("R1"),
            source: AnswerSource::Call,
            provider_refund_id: None,
            reply: reply("10000", "fund_change=N"),
            at: t0() + secs(61),
        },
    ));
    let at = t0() + secs(72);
    let order = given(history)
        .at(at)
        .when(OrderCommand::RecordRefundPoll {
            out_refund_no: refund_no("R1"),
            outcome: RefundOutcome::NotConfirmed,
            reply: reply("SUCCESS", "OK"),
        })
        .then([not_confirmed(AnswerSource::Query, Some(at + secs(10)), at)])
        .unwrap();
    let refund = order.refund(&refund_no("R1")).unwrap();
    assert_eq!(refund.state, RefundState::Unknown);
    assert!(refund.is_live(), "the amount stays reserved");
}

/// WeChat `CHANGE`: the bank refused the refund and the money went back to
/// the merchant account (issue 12, finding 3). Reserved, and a person acts.
#[test]
fn an_abnormal_refund_stays_reserved_until_a_person_resolves_it() {
    let at = t0() + secs(90);
    let abnormal = OrderEvent::RefundAbnormal(RefundAbnormal {
        out_refund_no: refund_no("R1"),
        source: AnswerSource::Query,
        provider_refund_id: Some("50300".into()),
        reply: reply("CHANGE", "退款异常"),
        at,
    });
    let order = given(requested_history())
        .at(at)
        .when(OrderCommand::RecordRefundPoll {
            out_refund_no: refund_no("R1"),
            outcome: RefundOutcome::Abnormal {
                provider_refund_id: Some("50300".into()),
            },
            reply: reply("CHANGE", "退款异常"),
        })
        .then([abnormal.clone()])
        .unwrap();
    assert!(order.needs_attention);
    assert_eq!(order.refund_committed(), cny("8.00").amount());
    assert_eq!(order.refunded, Amount::ZERO);
    let history = [requested_history(), vec![abnormal]].concat();
    let resolve = |resolution| OrderCommand::ResolveRefund {
        out_refund_no: refund_no("R1"),
        by: "ops-anna".into(),
        note: "paid back by bank transfer".into(),
        resolution,
    };
    let refunded = given(history.clone())
        .at(at + secs(60))
        .when(resolve(RefundResolution::Refunded))
        .unwrap_order();
    assert!(!refunded.needs_attention);
    assert_eq!(refunded.refunded, cny("8.00").amount());
    let freed = given(history.clone())
        .at(at + secs(60))
        .when(resolve(RefundResolution::NotRefunded))
        .unwrap_order();
    assert_eq!(freed.refund_committed(), Amount::ZERO);
    let resent = given(history)
        .at(at + secs(60))
        .when(resolve(RefundResolution::Resend))
        .unwrap_order();
    assert_eq!(
        resent.refund(&refund_no("R1")).unwrap().state,
        RefundState::Requested
    );
    // A payment resolution cannot clear a refund's attention.
    given([requested_history()].concat())
        .at(at)
        .when(resolve(RefundResolution::Refunded))
        .then_reject(Rejection::OrderNotNeedingAttention);
}

/// A refund the provider refused, then reports paid out after all (a late
/// fact, design.md 4.8): kept as abnormal, reserved again, and a person
/// looks, even when its amount was meanwhile promised to another refund.
#[test]
fn a_refused_refund_reported_paid_later_is_abnormal_and_flagged() {
    let history = [
        paid_wx(),
        vec![
            refund_requested("R1", "10.00", t0() + secs(60)),
            refund_failed("R1", t0() + secs(61)),
            refund_requested("R2", "10.00", t0() + secs(70)),
        ],
    ]
    .concat();
    let at = t0() + secs(90);
    let order = given(history)
        .at(at)
        .when(OrderCommand::RecordRefundPoll {
            out_refund_no: refund_no("R1"),
            outcome: RefundOutcome::Succeeded {
                provider_refund_id: Some("50301".into()),
            },
            reply: reply("SUCCESS", "OK"),
        })
        .then([OrderEvent::RefundAbnormal(RefundAbnormal {
            out_refund_no: refund_no("R1"),
            source: AnswerSource::Query,
            provider_refund_id: Some("50301".into()),
            reply: reply("SUCCESS", "OK"),
            at,
        })])
        .unwrap();
    assert!(order.needs_attention);
    assert_eq!(
        order.refund(&refund_no("R1")).unwrap().state,
        RefundState::Abnormal
    );
    assert_eq!(order.refund_committed(), cny("20.00").amount());
}

/// A refund that went to a person because no answer confirmed it, then a
/// late answer says the provider took it after all: it leaves the queue
/// and is followed again (its place on the queue is derived from its state).
#[test]
fn a_late_answer_takes_an_unconfirmed_refund_off_the_queue() {
    let first = t0() + secs(61);
    let history = [
        requested_history(),
        vec![not_confirmed(AnswerSource::Call, None, first)],
    ]
    .concat();
    assert!(paycode_domain::replay(&history).unwrap().needs_attention);
    let at = first + secs(5);
    let order = given(history)
        .at(at)
        .when(refund_result(
            "R1",
            RefundOutcome::Processing {
                provider_refund_id: Some("50302".into()),
            },
        ))
        .unwrap_order();
    assert!(!order.needs_attention);
    assert_eq!(
        order.refund(&refund_no("R1")).unwrap().state,
        RefundState::Processing
    );
    assert!(order.next_due(&Policy::default()).is_some());
}
