//! The payment part of an order's life, as given/when/then specifications:
//! requesting, the pay call's answer, polling, the deadline, retries with a
//! new payment code, and idempotent repeats.

mod common;

use common::*;
use paycode_domain::testing::fixtures::*;
use paycode_domain::testing::given;
use paycode_domain::*;

#[test]
fn payment_request_opens_the_order_with_a_masked_code_and_a_fresh_provider_order_number() {
    let order = given([])
        .at(t0())
        .when(OrderCommand::RequestPayment(request(
            wechat_code(),
            "12.00",
        )))
        .then([OrderEvent::PaymentRequested(PaymentRequested {
            order_id: OrderId(uuid::Uuid::from_u128(0x1001)),
            merchant: MerchantId::parse("m1").unwrap(),
            out_trade_no: OutTradeNo::parse("T1001").unwrap(),
            provider: Provider::Wechatpay,
            amount: cny("12.00"),
            subject: "Coffee".to_owned(),
            store_id: Some("S1".to_owned()),
            terminal_id: Some("POS-7".to_owned()),
            auth_code_masked: "1345**********6789".to_owned(),
            provider_order_no: ProviderOrderNo::parse("0000000000000000000000000000a001").unwrap(),
            at: t0(),
        })])
        .unwrap();
    assert_eq!(order.status, Status::Paying);
    assert_eq!(order.created_at, t0());
    assert_eq!(order.refunded, Amount::ZERO);
    assert!(!order.needs_attention);
}

#[test]
fn alipay_codes_route_the_order_to_alipay() {
    let order = given([])
        .when(OrderCommand::RequestPayment(request(alipay_code(), "8.80")))
        .then([ali_requested()]);
    assert_eq!(order.unwrap().provider(), Provider::Alipay);
}

#[test]
fn identical_payment_request_returns_the_original_outcome() {
    given([wx_requested(), paid(1, AnswerSource::Call, t0() + secs(1))])
        .at(t0() + secs(2))
        .when(OrderCommand::RequestPayment(request(
            wechat_code(),
            "12.00",
        )))
        .then([]);
}

#[test]
fn same_order_number_with_a_different_amount_is_rejected() {
    given([wx_requested()])
        .when(OrderCommand::RequestPayment(request(
            wechat_code(),
            "12.01",
        )))
        .then_reject(Rejection::ExistsWithDifferentAmount);
}

#[test]
fn same_order_number_with_a_different_payment_code_is_rejected() {
    given([wx_requested()])
        .when(OrderCommand::RequestPayment(request(
            other_wechat_code(),
            "12.00",
        )))
        .then_reject(Rejection::ExistsWithDifferentAuthCode);
}

#[test]
fn commands_on_an_order_that_does_not_exist_are_rejected() {
    for command in [
        OrderCommand::Tick,
        pay_answer(1, PayOutcome::Pending),
        OrderCommand::RetryPayment {
            auth_code: wechat_code(),
        },
        refund("R1", "1.00"),
    ] {
        given([])
            .when(command)
            .then_reject(Rejection::OrderNotFound);
    }
}

#[test]
fn paid_answer_makes_the_order_successful() {
    let order = given([wx_requested()])
        .at(t0() + secs(1))
        .when(OrderCommand::RecordPayAnswer {
            attempt: 1,
            outcome: PayOutcome::Paid {
                provider_trade_no: TRADE_NO.to_owned(),
                paid_at: t0() + secs(1),
            },
            reply: reply("SUCCESS", "OK"),
        })
        .then([paid(1, AnswerSource::Call, t0() + secs(1))])
        .unwrap();
    assert_eq!(order.status, Status::Success);
    assert_eq!(order.provider_trade_no.as_deref(), Some(TRADE_NO));
    assert_eq!(order.paid_at, Some(t0() + secs(1)));
    assert_eq!(order.next_due(&Policy::default()), None);
}

#[test]
fn user_paying_answer_keeps_the_order_paying_and_schedules_a_poll() {
    let order = given([wx_requested()])
        .at(t0() + secs(1))
        .when(pay_answer(1, PayOutcome::Pending))
        .then([pending(1, AnswerSource::Call, t0() + secs(1))])
        .unwrap();
    assert_eq!(order.status, Status::Paying);
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((t0() + secs(6), Due::Poll { attempt: 1 }))
    );
}

#[test]
fn unknown_answer_keeps_the_order_paying_until_a_query_tells() {
    let order = given([wx_requested()])
        .at(t0() + secs(2))
        .when(OrderCommand::RecordPayAnswer {
            attempt: 1,
            outcome: PayOutcome::Unknown,
            reply: reply("SYSTEMERROR", "system error"),
        })
        .then([unknown(
            1,
            AnswerSource::Call,
            "SYSTEMERROR",
            t0() + secs(2),
        )])
        .unwrap();
    assert_eq!(order.status, Status::Paying);
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((t0() + secs(7), Due::Poll { attempt: 1 }))
    );
}

#[test]
fn definite_failure_makes_the_order_failed_with_code_and_message() {
    let order = given([wx_requested()])
        .at(t0() + secs(1))
        .when(OrderCommand::RecordPayAnswer {
            attempt: 1,
            outcome: PayOutcome::Failed,
            reply: reply("AUTHCODEEXPIRE", "付款码已过期"),
        })
        .then([failed(1, t0() + secs(1))])
        .unwrap();
    assert_eq!(order.status, Status::Failed);
    assert_eq!(order.failure, Some(reply("AUTHCODEEXPIRE", "付款码已过期")));
    assert_eq!(order.next_due(&Policy::default()), None);
}

#[test]
fn every_poll_result_is_recorded() {
    let order = given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(t0() + secs(6))
    .when(poll(PayOutcome::Pending))
    .then([pending(1, AnswerSource::Query, t0() + secs(6))])
    .unwrap();
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((t0() + secs(11), Due::Poll { attempt: 1 }))
    );
}

#[test]
fn poll_that_finds_the_payment_paid_settles_it() {
    let paid_at = t0() + secs(9);
    let order = given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(paid_at)
    .when(OrderCommand::RecordPollResult {
        attempt: 1,
        outcome: PayOutcome::Paid {
            provider_trade_no: TRADE_NO.to_owned(),
            paid_at,
        },
        reply: reply("SUCCESS", "OK"),
    })
    .then([paid(1, AnswerSource::Query, paid_at)])
    .unwrap();
    assert_eq!(order.status, Status::Success);
}

#[test]
fn unclear_failure_requests_a_reversal_that_waits_for_the_wechat_minimum() {
    given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(t0() + secs(6))
    .when(OrderCommand::RecordPollResult {
        attempt: 1,
        outcome: PayOutcome::FailedUnclearly,
        reply: reply("PAYERROR", "支付失败,请撤销订单"),
    })
    .then([
        unknown_from(
            1,
            AnswerSource::Query,
            reply("PAYERROR", "支付失败,请撤销订单"),
            t0() + secs(6),
        ),
        reversal_requested(
            ReversalReason::UnclearFailure,
            None,
            t0() + secs(15),
            t0() + secs(6),
        ),
    ]);
}

#[test]
fn tick_before_the_deadline_changes_nothing() {
    given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(t0() + secs(29))
    .when(OrderCommand::Tick)
    .then([]);
}

#[test]
fn tick_at_the_deadline_requests_a_reversal() {
    let order = given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(t0() + secs(30))
    .when(OrderCommand::Tick)
    .then([reversal_requested(
        ReversalReason::DeadlinePassed,
        None,
        t0() + secs(30),
        t0() + secs(30),
    )])
    .unwrap();
    assert_eq!(order.status, Status::Reversing);
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((t0() + secs(30), Due::Reverse { call: 1 }))
    );
}

#[test]
fn pay_deadline_is_a_policy_value() {
    let policy = Policy {
        pay_deadline_secs: 45,
        ..Policy::default()
    };
    given([wx_requested()])
        .at(t0() + secs(44))
        .with_policy(policy.clone())
        .when(OrderCommand::Tick)
        .then([]);
    given([wx_requested()])
        .at(t0() + secs(45))
        .with_policy(policy)
        .when(OrderCommand::Tick)
        .then([reversal_requested(
            ReversalReason::DeadlinePassed,
            None,
            t0() + secs(45),
            t0() + secs(45),
        )]);
}

#[test]
fn pending_poll_after_the_deadline_also_requests_the_reversal() {
    let at = t0() + secs(31);
    given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(at)
    .when(poll(PayOutcome::Pending))
    .then([
        pending(1, AnswerSource::Query, at),
        reversal_requested(ReversalReason::DeadlinePassed, None, at, at),
    ]);
}

#[test]
fn order_whose_pay_answer_never_reached_the_log_is_polled_then_reversed() {
    // A crash between PaymentRequested and the answer: the log holds only the request.
    let order = given([])
        .at(t0())
        .when(OrderCommand::RequestPayment(request(
            wechat_code(),
            "12.00",
        )))
        .then([wx_requested()]);
    let order = order.unwrap();
    let policy = Policy::default();
    assert_eq!(
        order.next_due(&policy),
        Some((t0() + secs(5), Due::Poll { attempt: 1 }))
    );
    let polled = given([
        wx_requested(),
        unknown(1, AnswerSource::Query, "ORDERNOTEXIST", t0() + secs(27)),
    ]);
    let state = polled.clone().when(OrderCommand::Tick).then([]).unwrap();
    assert_eq!(state.next_due(&policy), Some((t0() + secs(30), Due::Tick)));
    polled
        .at(t0() + secs(30))
        .when(OrderCommand::Tick)
        .then([reversal_requested(
            ReversalReason::DeadlinePassed,
            None,
            t0() + secs(30),
            t0() + secs(30),
        )]);
}

#[test]
fn answer_for_an_attempt_that_is_not_current_is_rejected() {
    given(retried_history())
        .at(t0() + secs(12))
        .when(pay_answer(1, PayOutcome::Pending))
        .then_reject(Rejection::AttemptNotCurrent);
}

#[test]
fn answers_after_the_payment_settled_are_rejected_unless_they_repeat_it() {
    let settled =
        given([wx_requested(), paid(1, AnswerSource::Call, t0() + secs(1))]).at(t0() + secs(6));
    settled
        .clone()
        .when(poll(PayOutcome::Pending))
        .then_reject(Rejection::PaymentNotPending);
    settled
        .when(OrderCommand::RecordPollResult {
            attempt: 1,
            outcome: PayOutcome::Paid {
                provider_trade_no: TRADE_NO.to_owned(),
                paid_at: t0() + secs(1),
            },
            reply: reply("SUCCESS", "OK"),
        })
        .then([]);
    let failed_order = given([wx_requested(), failed(1, t0() + secs(1))]).at(t0() + secs(6));
    failed_order
        .clone()
        .when(pay_answer(1, PayOutcome::Failed))
        .then([]);
    failed_order
        .when(pay_answer(1, PayOutcome::Unknown))
        .then_reject(Rejection::PaymentNotPending);
}

#[test]
fn late_payment_answer_during_reversal_is_kept_as_history() {
    let at = t0() + secs(35);
    let order = given([wx_requested(), deadline_reversal(t0() + secs(30))])
        .at(at)
        .when(OrderCommand::RecordPayAnswer {
            attempt: 1,
            outcome: PayOutcome::Paid {
                provider_trade_no: TRADE_NO.to_owned(),
                paid_at: at,
            },
            reply: reply("SUCCESS", "OK"),
        })
        .then([paid(1, AnswerSource::Call, at)])
        .unwrap();
    assert_eq!(
        order.status,
        Status::Reversing,
        "the reversal will return the money"
    );
    assert_eq!(order.provider_trade_no.as_deref(), Some(TRADE_NO));
}

#[test]
fn a_failed_payment_can_be_retried_with_a_new_code_and_a_new_provider_order_number() {
    let at = t0() + secs(10);
    let order = given([wx_requested(), failed(1, t0() + secs(1))])
        .at(at)
        .with_ids(ids(2))
        .when(OrderCommand::RetryPayment {
            auth_code: other_wechat_code(),
        })
        .then([retried(2, at)])
        .unwrap();
    assert_eq!(order.status, Status::Paying);
    assert_eq!(order.attempts.len(), 2, "the history keeps both attempts");
    assert_ne!(
        order.attempts[0].provider_order_no,
        order.attempts[1].provider_order_no
    );
    assert_eq!(order.attempts[0].auth_code_masked, "1345**********6789");
    assert_eq!(order.auth_code_masked(), "1011**********2222");
    assert_eq!(order.failure, None);
    // The new attempt has its own deadline and polls.
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((at + secs(5), Due::Poll { attempt: 2 }))
    );
}

#[test]
fn identical_retry_request_adds_nothing() {
    given(retried_history())
        .at(t0() + secs(11))
        .when(OrderCommand::RetryPayment {
            auth_code: other_wechat_code(),
        })
        .then([]);
}

#[test]
fn retrying_a_payment_that_did_not_fail_is_rejected() {
    given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .when(OrderCommand::RetryPayment {
        auth_code: other_wechat_code(),
    })
    .then_reject(Rejection::PaymentNotFailed);
}

#[test]
fn retries_stop_at_the_policy_bound() {
    let mut history = retried_history();
    history.push(failed(2, t0() + secs(12)));
    given(history)
        .with_policy(Policy {
            max_pay_attempts: 2,
            ..Policy::default()
        })
        .when(OrderCommand::RetryPayment {
            auth_code: alipay_code(),
        })
        .then_reject(Rejection::TooManyPayAttempts);
}

#[test]
fn a_retry_may_switch_to_the_other_wallet() {
    let order = given([wx_requested(), failed(1, t0() + secs(1))])
        .with_ids(ids(2))
        .at(t0() + secs(2))
        .when(OrderCommand::RetryPayment {
            auth_code: alipay_code(),
        })
        .then([retried_with(2, alipay_code(), t0() + secs(2))])
        .unwrap();
    assert_eq!(order.provider(), Provider::Alipay);
    assert_eq!(order.attempts[0].provider, Provider::Wechatpay);
}

#[test]
fn repeated_request_matches_the_code_of_any_attempt() {
    given(retried_history())
        .when(OrderCommand::RequestPayment(request(
            wechat_code(),
            "12.00",
        )))
        .then([]);
    given(retried_history())
        .when(OrderCommand::RequestPayment(request(
            other_wechat_code(),
            "12.00",
        )))
        .then([]);
}

#[test]
fn poll_interval_is_a_policy_value() {
    let policy = Policy {
        poll_interval_secs: 3,
        ..Policy::default()
    };
    let order = given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .with_policy(policy.clone())
    .when(OrderCommand::Tick)
    .then([])
    .unwrap();
    assert_eq!(
        order.next_due(&policy),
        Some((t0() + secs(4), Due::Poll { attempt: 1 }))
    );
}
