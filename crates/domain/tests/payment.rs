//! The payment part of an order's life, as given/when/then specifications:
//! requesting, the pay call's answer, polling, the deadline, retries with a
//! new payment code, and idempotent repeats.

mod common;

use chrono::{DateTime, Utc};
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
    // The pay call answered at t0 + 1 s: the 30 s deadline counts from there.
    given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(t0() + secs(30))
    .when(OrderCommand::Tick)
    .then([]);
}

#[test]
fn tick_at_the_deadline_requests_a_reversal() {
    let deadline = t0() + secs(31);
    let order = given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(deadline)
    .when(OrderCommand::Tick)
    .then([reversal_requested(
        ReversalReason::DeadlinePassed,
        None,
        deadline,
        deadline,
    )])
    .unwrap();
    assert_eq!(order.status, Status::Reversing);
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((deadline, Due::Reverse { call: 1 }))
    );
}

/// A pay call held for 9 s by the provider: the customer's 30 s start when
/// the call answers, not when it was sent (issue 13, finding 3).
#[test]
fn the_deadline_counts_from_when_the_pay_call_ended() {
    let order = given([
        wx_requested(),
        pending(1, AnswerSource::Query, t0() + secs(5)),
        pending(1, AnswerSource::Call, t0() + secs(9)),
        pending(1, AnswerSource::Query, t0() + secs(10)),
    ])
    .at(t0() + secs(38))
    .when(OrderCommand::Tick)
    .then([])
    .unwrap();
    assert_eq!(
        order.current_attempt().call_answered_at,
        Some(t0() + secs(9))
    );
    assert_eq!(
        order.current_attempt().pay_deadline_at(&Policy::default()),
        t0() + secs(39)
    );
}

#[test]
fn pay_deadline_is_a_policy_value() {
    let policy = Policy {
        pay_deadline_secs: 45,
        ..Policy::default()
    };
    let history = [wx_requested(), pending(1, AnswerSource::Call, t0())];
    given(history.clone())
        .at(t0() + secs(44))
        .with_policy(policy.clone())
        .when(OrderCommand::Tick)
        .then([]);
    given(history)
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
    // The call may have run for `pay_call_timeout_secs` (10 s): the deadline
    // is 30 s after that, so no reverse can overtake a call still in flight.
    let polled = given([
        wx_requested(),
        unknown(1, AnswerSource::Query, "ORDERNOTEXIST", t0() + secs(37)),
    ]);
    let state = polled.clone().when(OrderCommand::Tick).then([]).unwrap();
    assert_eq!(state.next_due(&policy), Some((t0() + secs(40), Due::Tick)));
    polled
        .at(t0() + secs(40))
        .when(OrderCommand::Tick)
        .then([reversal_requested(
            ReversalReason::DeadlinePassed,
            None,
            t0() + secs(40),
            t0() + secs(40),
        )]);
}

#[test]
fn answers_for_an_unknown_attempt_are_rejected_and_stale_ones_ignored() {
    given(retried_history())
        .at(t0() + secs(12))
        .when(pay_answer(3, PayOutcome::Pending))
        .then_reject(Rejection::AttemptNotCurrent);
    given(retried_history())
        .at(t0() + secs(12))
        .when(pay_answer(0, PayOutcome::Pending))
        .then_reject(Rejection::AttemptNotCurrent);
    // Attempt 1 failed before attempt 2 began: a late non-paid answer is old news.
    given(retried_history())
        .at(t0() + secs(12))
        .when(pay_answer(1, PayOutcome::Pending))
        .then([]);
}

/// A pay call held past paycode's timeout answers after a query settled
/// the order: the answer is old news, never a refusal that the till would
/// read as "not charged" (issue 13, finding 1).
#[test]
fn late_answers_on_a_settled_order_are_ignored_unless_they_tell_of_a_payment() {
    let settled =
        given([wx_requested(), paid(1, AnswerSource::Query, t0() + secs(5))]).at(t0() + secs(11));
    for outcome in [
        PayOutcome::Pending,
        PayOutcome::Unknown,
        PayOutcome::Failed,
        PayOutcome::FailedUnclearly,
        PayOutcome::ClosedByProvider,
    ] {
        settled.clone().when(pay_answer(1, outcome)).then([]);
    }
    settled
        .clone()
        .when(OrderCommand::RecordPayAnswer {
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
        .then([]);
}

fn paid_outcome(trade_no: &str) -> PayOutcome {
    PayOutcome::Paid {
        provider_trade_no: trade_no.to_owned(),
        paid_at: t0() + secs(29),
    }
}

fn paid_after(status_then: Status, attempt: u32, trade_no: &str, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::PaidAfterSettlement(PaidAfterSettlement {
        attempt,
        source: AnswerSource::Query,
        provider_trade_no: trade_no.to_owned(),
        paid_at: t0() + secs(29),
        status_then,
        reply: reply("SUCCESS", "OK"),
        at,
    })
}

/// WeChat's guide: a customer may pay between the last query and the
/// reverse. A paid answer that arrives after the reversal was confirmed is
/// a fact: kept, and the order goes to a person (issue 13, finding 2).
#[test]
fn a_paid_answer_after_the_reversal_was_confirmed_is_kept_and_flagged() {
    let mut history = vec![wx_requested(), deadline_reversal(t0() + secs(30))];
    history.push(revoked(1, t0() + secs(31)));
    let at = t0() + secs(33);
    let order = given(history.clone())
        .at(at)
        .when(OrderCommand::RecordPollResult {
            attempt: 1,
            outcome: paid_outcome(TRADE_NO),
            reply: reply("SUCCESS", "OK"),
        })
        .then([paid_after(Status::Revoked, 1, TRADE_NO, at)])
        .unwrap();
    assert_eq!(order.status, Status::Revoked, "the state stays");
    assert!(order.needs_attention);
    assert_eq!(order.provider_trade_no.as_deref(), Some(TRADE_NO));
    assert_eq!(order.paid_at, Some(t0() + secs(29)));
    assert_eq!(order.next_due(&Policy::default()), None);
    // The same answer again adds nothing.
    history.push(paid_after(Status::Revoked, 1, TRADE_NO, at));
    given(history)
        .at(at + secs(1))
        .when(OrderCommand::RecordPollResult {
            attempt: 1,
            outcome: paid_outcome(TRADE_NO),
            reply: reply("SUCCESS", "OK"),
        })
        .then([]);
}

#[test]
fn a_paid_answer_on_a_failed_order_blocks_a_retry_until_a_person_resolves_it() {
    let at = t0() + secs(8);
    let history = vec![
        wx_requested(),
        failed(1, t0() + secs(1)),
        paid_after(Status::Failed, 1, TRADE_NO, at),
    ];
    let order = paycode_domain::replay(&history).unwrap();
    assert_eq!(order.status, Status::Failed);
    assert!(order.needs_attention);
    assert!(order.broken_invariants().is_empty());
    given(history)
        .at(at + secs(1))
        .with_ids(ids(2))
        .when(OrderCommand::RetryPayment {
            auth_code: other_wechat_code(),
        })
        .then_reject(Rejection::OrderNeedsAttention);
}

#[test]
fn a_paid_answer_for_an_earlier_attempt_is_kept_and_flagged() {
    let at = t0() + secs(12);
    let order = given(retried_history())
        .at(at)
        .when(pay_answer(1, paid_outcome("4200000000000000000000000001")))
        .then([OrderEvent::PaidAfterSettlement(PaidAfterSettlement {
            attempt: 1,
            source: AnswerSource::Call,
            provider_trade_no: "4200000000000000000000000001".to_owned(),
            paid_at: t0() + secs(29),
            status_then: Status::Paying,
            reply: reply("USERPAYING", "需要用户输入支付密码"),
            at,
        })])
        .unwrap();
    assert!(order.needs_attention);
    assert_eq!(order.status, Status::Paying, "attempt 2 goes on");
    assert_eq!(
        order.attempts[0].provider_trade_no.as_deref(),
        Some("4200000000000000000000000001")
    );
    assert_eq!(order.provider_trade_no, None, "attempt 2 has no trade yet");
}

/// WeChat revokes an unpaid payment-code order by itself after 45 s; a
/// query then answers REVOKED for a trade paycode never reversed.
#[test]
fn a_trade_closed_by_the_provider_is_its_own_fact_and_ends_the_attempt() {
    let at = t0() + secs(46);
    let order = given([
        wx_requested(),
        pending(1, AnswerSource::Call, t0() + secs(1)),
    ])
    .at(at)
    .when(OrderCommand::RecordPollResult {
        attempt: 1,
        outcome: PayOutcome::ClosedByProvider,
        reply: reply("REVOKED", "已撤销"),
    })
    .then([OrderEvent::PaymentClosedByProvider(
        PaymentClosedByProvider {
            attempt: 1,
            source: AnswerSource::Query,
            reply: reply("REVOKED", "已撤销"),
            at,
        },
    )])
    .unwrap();
    assert_eq!(order.status, Status::Failed);
    assert_eq!(order.failure, Some(reply("REVOKED", "已撤销")));
    assert!(!order.needs_attention);
}

#[test]
fn a_retry_forgets_the_previous_attempts_trade() {
    let history = vec![
        wx_requested(),
        failed(1, t0() + secs(1)),
        paid_after(Status::Failed, 1, TRADE_NO, t0() + secs(2)),
        OrderEvent::ManuallyResolved(ManuallyResolved {
            by: "ops-anna".into(),
            note: "checked: refunded at the provider".into(),
            outcome: ManualOutcome::NotCharged,
            at: t0() + secs(3),
        }),
        retried(2, t0() + secs(4)),
    ];
    let order = paycode_domain::replay(&history).unwrap();
    assert_eq!(order.status, Status::Paying);
    assert_eq!(order.provider_trade_no, None);
    assert_eq!(order.paid_at, None);
    assert_eq!(
        order.attempts[0].provider_trade_no.as_deref(),
        Some(TRADE_NO)
    );
    assert_eq!(order.attempts[1].provider_trade_no, None);
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
