//! Random walks through an order's life: whatever sequence of commands
//! arrives, at whatever pace, `decide` only produces events that keep the
//! order's invariants (checked by `evolve`'s paired assertions and by
//! `Order::broken_invariants`), every rejection appends nothing, and the
//! stream replays to the same state after a JSON round trip.

mod common;

use common::*;
use paycode_domain::testing::fixtures::*;
use paycode_domain::*;
use proptest::prelude::*;

/// The palette of commands a walk draws from, for order T1001 at 12.00.
fn palette(attempt: u32, now: chrono::DateTime<chrono::Utc>) -> Vec<OrderCommand> {
    let paid = PayOutcome::Paid {
        provider_trade_no: TRADE_NO.to_owned(),
        paid_at: now,
    };
    vec![
        OrderCommand::RequestPayment(request(wechat_code(), "12.00")),
        OrderCommand::RequestPayment(request(alipay_code(), "12.00")),
        pay_answer(attempt, paid.clone()),
        pay_answer(attempt, PayOutcome::Pending),
        pay_answer(attempt, PayOutcome::Failed),
        OrderCommand::RecordPollResult {
            attempt,
            outcome: paid,
            reply: reply("SUCCESS", ""),
        },
        OrderCommand::RecordPollResult {
            attempt,
            outcome: PayOutcome::Unknown,
            reply: reply("SYSTEMERROR", ""),
        },
        OrderCommand::RecordPollResult {
            attempt,
            outcome: PayOutcome::FailedUnclearly,
            reply: reply("PAYERROR", ""),
        },
        OrderCommand::Tick,
        OrderCommand::RequestReversal {
            reason: ManualReversalReason::Operator,
            by: "ops".to_owned(),
        },
        reverse_result(ReversalOutcome::Done { action: None }),
        reverse_result(ReversalOutcome::RetryAsked),
        reverse_result(ReversalOutcome::Unknown),
        reverse_result(ReversalOutcome::Refused),
        OrderCommand::ResolveManually {
            by: "ops".to_owned(),
            note: "".to_owned(),
            outcome: ManualOutcome::Reversed,
        },
        OrderCommand::ResolveManually {
            by: "ops".to_owned(),
            note: "".to_owned(),
            outcome: ManualOutcome::NotCharged,
        },
        refund("R1", "5.00"),
        refund("R2", "7.00"),
        refund("R3", "0.01"),
        refund_result(
            "R1",
            RefundOutcome::Succeeded {
                provider_refund_id: None,
            },
        ),
        refund_result("R2", RefundOutcome::Failed),
        refund_result(
            "R3",
            RefundOutcome::Processing {
                provider_refund_id: None,
            },
        ),
        OrderCommand::RetryPayment {
            auth_code: other_wechat_code(),
        },
        OrderCommand::RetryPayment {
            auth_code: alipay_code(),
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_command_sequence_keeps_the_order_sound(
        steps in prop::collection::vec((0usize..24, prop_oneof![0i64..20, 0i64..200, Just(86_400i64)]), 1..40)
    ) {
        let policy = Policy::default();
        let mut now = t0();
        let mut history: Vec<OrderEvent> = Vec::new();
        for (n, (pick, wait)) in steps.into_iter().enumerate() {
            now += secs(wait);
            let state = replay(&history);
            let attempt = state.as_ref().map_or(1, |o| o.current_attempt().number);
            // Walks start with the order's request, so they spend their steps on its life.
            let pick = if history.is_empty() { pick % 2 } else { pick };
            let command = palette(attempt, now).swap_remove(pick);
            let ids = ids(u128::try_from(n).unwrap() + 1);
            let ctx = Context { now, policy: &policy, ids };
            match decide(state.as_ref(), &command, &ctx) {
                Ok(events) => {
                    for event in &events {
                        let (event_type, version, data) = event.encode();
                        prop_assert_eq!(&OrderEvent::decode(event_type, version, &data).unwrap(), event);
                    }
                    history.extend(events);
                }
                Err(_) => prop_assert_eq!(replay(&history), state),
            }
            if let Some(order) = replay(&history) {
                prop_assert!(order.broken_invariants().is_empty(), "{:?}", order.broken_invariants());
                prop_assert!(order.refund_committed() <= order.amount.amount());
                if order.status == Status::Reversing {
                    prop_assert_eq!(order.refund_committed(), Amount::ZERO);
                }
                if let Some((due_at, _)) = order.next_due(&policy) {
                    prop_assert!(due_at >= order.created_at);
                }
            }
        }
    }
}
