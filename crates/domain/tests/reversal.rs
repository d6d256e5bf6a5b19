//! Reversal (撤销) as given/when/then specifications: who may ask and when,
//! the provider windows, retries with backoff, abandonment to the
//! manual-intervention queue, and manual resolution.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use paycode_domain::testing::fixtures::*;
use paycode_domain::testing::given;
use paycode_domain::*;

fn cashier_cancel() -> OrderCommand {
    OrderCommand::RequestReversal {
        reason: ManualReversalReason::CashierCancelled,
        by: "cashier-1".to_owned(),
    }
}

fn operator_reverse() -> OrderCommand {
    OrderCommand::RequestReversal {
        reason: ManualReversalReason::Operator,
        by: "ops-anna".to_owned(),
    }
}

fn reversing_wx() -> Vec<OrderEvent> {
    vec![wx_requested(), deadline_reversal(t0() + secs(30))]
}

/// An Alipay order requested `at`, with its reversal requested at the deadline.
fn reversing_ali(at: DateTime<Utc>) -> Vec<OrderEvent> {
    vec![
        requested(alipay_code(), "8.80", at),
        deadline_reversal(at + secs(30)),
    ]
}

fn abandoned_wx() -> Vec<OrderEvent> {
    let mut history = reversing_wx();
    history.push(OrderEvent::ReversalAttemptFailed(ReversalAttemptFailed {
        attempt: 1,
        reply: reply("ACQ.CANCEL_NOT_ALLOWED", "refused"),
        next_attempt_at: None,
        at: t0() + secs(31),
    }));
    history.push(abandoned(AbandonReason::Refused, 1, t0() + secs(31)));
    history
}

#[test]
fn wechat_reversal_waits_15_seconds_after_pay() {
    given(paid_wx())
        .at(t0() + secs(14))
        .when(cashier_cancel())
        .then_reject(Rejection::ReversalTooEarly);
    given(paid_wx())
        .at(t0() + secs(15))
        .when(cashier_cancel())
        .then([reversal_requested(
            ReversalReason::CashierCancelled,
            Some("cashier-1"),
            t0() + secs(15),
            t0() + secs(15),
        )]);
}

#[test]
fn alipay_reversal_may_follow_the_pay_call_at_once() {
    given([ali_requested()])
        .at(t0() + secs(1))
        .when(cashier_cancel())
        .then([reversal_requested(
            ReversalReason::CashierCancelled,
            Some("cashier-1"),
            t0() + secs(1),
            t0() + secs(1),
        )]);
}

#[test]
fn wechat_first_reverse_call_is_scheduled_15_seconds_after_pay() {
    let history = vec![
        wx_requested(),
        reversal_requested(
            ReversalReason::UnclearFailure,
            None,
            t0() + secs(15),
            t0() + secs(6),
        ),
    ];
    let order = given(history)
        .at(t0() + secs(10))
        .when(OrderCommand::Tick)
        .then([])
        .unwrap();
    let due = order.next_due(&Policy::default());
    assert_eq!(due, Some((t0() + secs(15), Due::Reverse { call: 1 })));
}

#[test]
fn confirmed_wechat_reversal_revokes_the_order() {
    let order = given(reversing_wx())
        .at(t0() + secs(31))
        .when(reverse_result(ReversalOutcome::Done { action: None }))
        .then([revoked(1, t0() + secs(31))])
        .unwrap();
    assert_eq!(order.status, Status::Revoked);
    assert_eq!(order.reversal_attempts(), 1);
    assert_eq!(order.next_due(&Policy::default()), None);
}

#[test]
fn confirmed_alipay_reversal_closes_the_trade() {
    let at = t0() + secs(31);
    let order = given(reversing_ali(t0()))
        .at(at)
        .when(reverse_result(ReversalOutcome::Done {
            action: Some(ReverseAction::Closed),
        }))
        .then([OrderEvent::TradeClosed(TradeClosed {
            attempt: 1,
            action: Some(ReverseAction::Closed),
            reply: reply("SUCCESS", "recall=N"),
            at,
        })])
        .unwrap();
    assert_eq!(order.status, Status::TradeClosed);
    assert_eq!(order.reverse_action, Some(ReverseAction::Closed));
}

#[test]
fn reversal_is_retried_while_provider_asks_for_recall() {
    let order = given(reversing_wx())
        .at(t0() + secs(31))
        .when(reverse_result(ReversalOutcome::RetryAsked))
        .then([reversal_retried(1, Some(t0() + secs(33)), t0() + secs(31))])
        .unwrap();
    assert_eq!(order.status, Status::Reversing);
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((t0() + secs(33), Due::Reverse { call: 2 }))
    );
}

#[test]
fn reversal_backoff_doubles_between_failed_calls() {
    let mut history = reversing_wx();
    let mut now = t0() + secs(30);
    let mut waits = Vec::new();
    for call in 1..=5 {
        let order = given(history.clone())
            .at(now)
            .when(reverse_result(ReversalOutcome::Unknown));
        let events = order.result().clone().unwrap();
        let OrderEvent::ReversalAttemptFailed(failed) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(failed.attempt, call);
        let next = failed.next_attempt_at.unwrap();
        waits.push((next - now).num_seconds());
        history.extend(events);
        now = next;
    }
    assert_eq!(waits, vec![2, 4, 8, 16, 32]);
}

#[test]
fn reversal_is_abandoned_after_the_last_allowed_attempt() {
    let policy = Policy {
        reversal_max_attempts: 2,
        ..Policy::default()
    };
    let history = [
        reversing_wx(),
        vec![reversal_retried(1, Some(t0() + secs(33)), t0() + secs(31))],
    ]
    .concat();
    let order = given(history)
        .at(t0() + secs(33))
        .with_policy(policy.clone())
        .when(reverse_result(ReversalOutcome::RetryAsked))
        .then([
            reversal_retried(2, None, t0() + secs(33)),
            abandoned(AbandonReason::AttemptsExhausted, 2, t0() + secs(33)),
        ])
        .unwrap();
    assert!(order.needs_attention);
    assert_eq!(order.status, Status::Reversing);
    assert_eq!(order.next_due(&policy), None, "a person decides now");
}

#[test]
fn refused_reversal_goes_straight_to_the_manual_queue() {
    let at = t0() + secs(31);
    let order = given(reversing_wx())
        .at(at)
        .when(reverse_result(ReversalOutcome::Refused))
        .then([
            OrderEvent::ReversalAttemptFailed(ReversalAttemptFailed {
                attempt: 1,
                reply: reply("ACQ.TRADE_CANCEL_TIME_OUT", "超过撤销时间范围"),
                next_attempt_at: None,
                at,
            }),
            abandoned(AbandonReason::Refused, 1, at),
        ])
        .unwrap();
    assert!(order.needs_attention);
}

/// Alipay's domestic cancel window is undocumented (protocols.md 4.8), so
/// paycode sets none: after Beijing midnight a cancel is still asked for,
/// and Alipay's own `ACQ.TRADE_CANCEL_TIME_OUT` (a definite refusal) is
/// what sends the order to a person.
#[test]
fn alipay_reversal_after_beijing_midnight_is_still_tried() {
    // 15:59:00 UTC is 23:59 in Beijing; one minute later it is the next Beijing day.
    let before_midnight: DateTime<Utc> = "2026-01-05T15:59:00Z".parse().unwrap();
    let history = vec![
        requested(alipay_code(), "8.80", before_midnight),
        paid(1, AnswerSource::Call, before_midnight),
    ];
    let at = before_midnight + secs(120);
    given(history)
        .at(at)
        .when(cashier_cancel())
        .then([reversal_requested(
            ReversalReason::CashierCancelled,
            Some("cashier-1"),
            at,
            at,
        )]);
}

#[test]
fn wechat_reversal_after_seven_days_is_rejected() {
    given(paid_wx())
        .at(t0() + days(7))
        .when(operator_reverse())
        .then_reject(Rejection::ReversalWindowExpired);
    let at = t0() + days(7) - secs(1);
    given(paid_wx())
        .at(at)
        .when(operator_reverse())
        .then([reversal_requested(
            ReversalReason::Operator,
            Some("ops-anna"),
            at,
            at,
        )]);
}

#[test]
fn deadline_passing_after_beijing_midnight_still_calls_alipay_cancel() {
    let requested_at: DateTime<Utc> = "2026-01-05T15:59:50Z".parse().unwrap();
    // No pay answer was recorded: the call ends at the latest after
    // `pay_call_timeout_secs` (10 s), and the 30 s deadline counts from there.
    let at = requested_at + secs(40);
    let order = given([requested(alipay_code(), "8.80", requested_at)])
        .at(at)
        .when(OrderCommand::Tick)
        .then([deadline_reversal(at)])
        .unwrap();
    assert!(!order.needs_attention);
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((at, Due::Reverse { call: 1 }))
    );
}

#[test]
fn alipay_reversal_retries_past_midnight_until_its_budget_is_spent() {
    let requested_at: DateTime<Utc> = "2026-01-05T15:59:00Z".parse().unwrap();
    let mut history = reversing_ali(requested_at);
    history.push(reversal_retried(
        1,
        Some(requested_at + secs(58)),
        requested_at + secs(50),
    ));
    // The next backoff (4 s) lands after midnight: Alipay is asked anyway.
    let at = requested_at + secs(58);
    given(history)
        .at(at)
        .when(reverse_result(ReversalOutcome::RetryAsked))
        .then([reversal_retried(2, Some(at + secs(4)), at)]);
}

/// WeChat documents its 7-day window (`REVERSE_EXPIRE`), so paycode stops
/// before it instead of calling into a certain refusal.
#[test]
fn wechat_reversal_whose_window_closes_while_retrying_is_abandoned() {
    let mut history = reversing_wx();
    let last = t0() + days(7) - secs(3);
    history.push(reversal_retried(1, Some(last), t0() + secs(31)));
    given(history.clone())
        .at(last)
        .when(reverse_result(ReversalOutcome::RetryAsked))
        .then([
            reversal_retried(2, None, last),
            abandoned(AbandonReason::WindowExpired, 2, last),
        ]);
    given(history)
        .at(t0() + days(7))
        .when(OrderCommand::Tick)
        .then([abandoned(AbandonReason::WindowExpired, 1, t0() + days(7))]);
}

#[test]
fn reversal_requests_are_idempotent() {
    given(reversing_wx())
        .at(t0() + secs(40))
        .when(cashier_cancel())
        .then([]);
    let mut history = reversing_wx();
    history.push(revoked(1, t0() + secs(31)));
    given(history.clone())
        .at(t0() + secs(40))
        .when(operator_reverse())
        .then([]);
    given(history)
        .at(t0() + secs(40))
        .when(reverse_result(ReversalOutcome::Done { action: None }))
        .then([]);
}

#[test]
fn failed_payment_has_nothing_to_reverse() {
    given([wx_requested(), failed(1, t0() + secs(1))])
        .at(t0() + secs(20))
        .when(cashier_cancel())
        .then_reject(Rejection::NothingToReverse);
}

#[test]
fn reversal_of_a_refunded_order_is_rejected() {
    let history = [
        paid_wx(),
        vec![refund_requested("R1", "1.00", t0() + secs(10))],
    ]
    .concat();
    given(history)
        .at(t0() + secs(20))
        .when(operator_reverse())
        .then_reject(Rejection::ReversalBlockedByRefunds);
}

#[test]
fn reversal_results_without_a_reversal_in_progress_are_rejected() {
    given(paid_wx())
        .at(t0() + secs(20))
        .when(reverse_result(ReversalOutcome::RetryAsked))
        .then_reject(Rejection::ReversalNotInProgress);
    given(abandoned_wx())
        .at(t0() + secs(40))
        .when(reverse_result(ReversalOutcome::Unknown))
        .then_reject(Rejection::ReversalNotInProgress);
}

#[test]
fn reversal_confirmed_after_it_was_abandoned_still_counts() {
    let order = given(abandoned_wx())
        .at(t0() + secs(40))
        .when(reverse_result(ReversalOutcome::Done {
            action: Some(ReverseAction::Refunded),
        }))
        .then([OrderEvent::OrderRevoked(OrderRevoked {
            attempt: 2,
            action: Some(ReverseAction::Refunded),
            reply: reply("SUCCESS", "recall=N"),
            at: t0() + secs(40),
        })])
        .unwrap();
    assert_eq!(order.status, Status::Revoked);
    assert!(!order.needs_attention);
}

#[test]
fn operator_can_restart_an_abandoned_reversal() {
    let at = t0() + secs(120);
    let order = given(abandoned_wx())
        .at(at)
        .when(operator_reverse())
        .then([reversal_requested(
            ReversalReason::Operator,
            Some("ops-anna"),
            at,
            at,
        )])
        .unwrap();
    assert!(!order.needs_attention);
    assert_eq!(order.reversal_attempts(), 0);
    assert_eq!(
        order.next_due(&Policy::default()),
        Some((at, Due::Reverse { call: 1 }))
    );
}

#[test]
fn manual_resolution_takes_the_order_off_the_queue() {
    let at = t0() + secs(600);
    let outcomes = [
        (ManualOutcome::Reversed, Status::Revoked),
        (
            ManualOutcome::Paid {
                provider_trade_no: Some(TRADE_NO.to_owned()),
            },
            Status::Success,
        ),
        (ManualOutcome::NotCharged, Status::Failed),
    ];
    for (outcome, status) in outcomes {
        let command = OrderCommand::ResolveManually {
            by: "ops-anna".to_owned(),
            note: "checked in the merchant portal".to_owned(),
            outcome: outcome.clone(),
        };
        let order = given(abandoned_wx())
            .at(at)
            .when(command)
            .then([OrderEvent::ManuallyResolved(ManuallyResolved {
                by: "ops-anna".to_owned(),
                note: "checked in the merchant portal".to_owned(),
                outcome,
                at,
            })])
            .unwrap();
        assert_eq!(order.status, status);
        assert!(!order.needs_attention);
        assert_eq!(order.next_due(&Policy::default()), None);
    }
}

#[test]
fn resolving_an_order_that_needs_no_attention_is_rejected() {
    let command = OrderCommand::ResolveManually {
        by: "ops-anna".to_owned(),
        note: "n/a".to_owned(),
        outcome: ManualOutcome::NotCharged,
    };
    given(reversing_wx())
        .when(command)
        .then_reject(Rejection::OrderNotNeedingAttention);
}
