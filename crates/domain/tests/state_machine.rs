//! The order's state machine as one golden table: every reachable state
//! against every kind of command, with the event types produced or the
//! rejection code. It is reviewed as a diff in `golden/state_machine.txt`;
//! `UPDATE_EXPECT=1 cargo test -p paycode-domain --test state_machine`
//! rewrites it after an intended change.
//!
//! Every decision is taken `AT` 40 s after the request: past the pay deadline
//! (30 s) and the WeChat minimum before a reversal (15 s), well inside every
//! window, so the table shows the rules of state, not of time (the
//! given/when/then files cover time).

mod common;

use std::fmt::Write;

use common::*;
use expect_test::expect_file;
use paycode_domain::testing::fixtures::*;
use paycode_domain::*;

const AT_SECS: i64 = 40;

struct Row {
    label: &'static str,
    history: Vec<OrderEvent>,
    code: AuthCode,
}

fn states() -> Vec<Row> {
    let wx = wechat_code;
    let refunding = [
        paid_wx(),
        vec![refund_requested("R1", "5.00", t0() + secs(20))],
    ]
    .concat();
    let reversing = vec![wx_requested(), deadline_reversal(t0() + secs(30))];
    let mut needs_attention = reversing.clone();
    needs_attention.push(OrderEvent::ReversalAttemptFailed(ReversalAttemptFailed {
        attempt: 1,
        reply: reply("ACQ.CANCEL_NOT_ALLOWED", "refused"),
        next_attempt_at: None,
        at: t0() + secs(31),
    }));
    needs_attention.push(abandoned(AbandonReason::Refused, 1, t0() + secs(31)));
    let alipay = requested(alipay_code(), "12.00", t0());
    let trade_closed = vec![
        alipay,
        deadline_reversal(t0() + secs(30)),
        OrderEvent::TradeClosed(TradeClosed {
            attempt: 1,
            action: Some(ReverseAction::Closed),
            reply: reply("10000", "Success"),
            at: t0() + secs(31),
        }),
    ];
    vec![
        Row {
            label: "NEW",
            history: vec![],
            code: wx(),
        },
        Row {
            label: "PAYING",
            history: vec![
                wx_requested(),
                pending(1, AnswerSource::Call, t0() + secs(1)),
            ],
            code: wx(),
        },
        Row {
            label: "SUCCESS",
            history: paid_wx(),
            code: wx(),
        },
        Row {
            label: "SUCCESS with refund R1 requested",
            history: refunding,
            code: wx(),
        },
        Row {
            label: "FAILED",
            history: vec![wx_requested(), failed(1, t0() + secs(1))],
            code: wx(),
        },
        Row {
            label: "REVERSING",
            history: reversing.clone(),
            code: wx(),
        },
        Row {
            label: "REVERSING needs attention",
            history: needs_attention,
            code: wx(),
        },
        Row {
            label: "REVOKED",
            history: [reversing, vec![revoked(1, t0() + secs(31))]].concat(),
            code: wx(),
        },
        Row {
            label: "TRADE_CLOSED",
            history: trade_closed,
            code: alipay_code(),
        },
    ]
}

fn commands(code: &AuthCode) -> Vec<(&'static str, OrderCommand)> {
    let paid = PayOutcome::Paid {
        provider_trade_no: TRADE_NO.to_owned(),
        paid_at: t0() + secs(AT_SECS),
    };
    vec![
        (
            "RequestPayment same",
            OrderCommand::RequestPayment(request(code.clone(), "12.00")),
        ),
        (
            "RequestPayment other amount",
            OrderCommand::RequestPayment(request(code.clone(), "13.00")),
        ),
        (
            "RequestPayment other code",
            OrderCommand::RequestPayment(request(other_wechat_code(), "12.00")),
        ),
        ("RecordPayAnswer Paid", pay_answer(1, paid.clone())),
        (
            "RecordPayAnswer Pending",
            pay_answer(1, PayOutcome::Pending),
        ),
        ("RecordPayAnswer Failed", pay_answer(1, PayOutcome::Failed)),
        ("RecordPollResult Paid", poll(paid)),
        ("RecordPollResult Unknown", poll(PayOutcome::Unknown)),
        (
            "RecordPollResult FailedUnclearly",
            poll(PayOutcome::FailedUnclearly),
        ),
        (
            "RecordPollResult attempt 2",
            OrderCommand::RecordPollResult {
                attempt: 2,
                outcome: PayOutcome::Pending,
                reply: reply("USERPAYING", ""),
            },
        ),
        ("Tick", OrderCommand::Tick),
        (
            "RequestReversal cashier",
            OrderCommand::RequestReversal {
                reason: ManualReversalReason::CashierCancelled,
                by: "cashier-1".to_owned(),
            },
        ),
        (
            "RecordReversalResult Done",
            reverse_result(ReversalOutcome::Done { action: None }),
        ),
        (
            "RecordReversalResult RetryAsked",
            reverse_result(ReversalOutcome::RetryAsked),
        ),
        (
            "RecordReversalResult Failed",
            reverse_result(ReversalOutcome::Unknown),
        ),
        (
            "RecordReversalResult Refused",
            reverse_result(ReversalOutcome::Refused),
        ),
        (
            "ResolveManually Reversed",
            OrderCommand::ResolveManually {
                by: "ops".to_owned(),
                note: "checked".to_owned(),
                outcome: ManualOutcome::Reversed,
            },
        ),
        ("RequestRefund R1 5.00", refund("R1", "5.00")),
        ("RequestRefund R1 6.00", refund("R1", "6.00")),
        ("RequestRefund R2 7.00", refund("R2", "7.00")),
        ("RequestRefund R2 12.00", refund("R2", "12.00")),
        (
            "RecordRefundResult R1 Succeeded",
            refund_result(
                "R1",
                RefundOutcome::Succeeded {
                    provider_refund_id: None,
                },
            ),
        ),
        (
            "RecordRefundPoll R1 Processing",
            OrderCommand::RecordRefundPoll {
                out_refund_no: refund_no("R1"),
                outcome: RefundOutcome::Processing {
                    provider_refund_id: None,
                },
                reply: reply("PROCESSING", ""),
            },
        ),
        (
            "RetryPayment new code",
            OrderCommand::RetryPayment {
                auth_code: other_wechat_code(),
            },
        ),
    ]
}

fn outcome(result: &Result<Vec<OrderEvent>, Rejection>) -> String {
    match result {
        Ok(events) if events.is_empty() => "(no new events)".to_owned(),
        Ok(events) => events
            .iter()
            .map(OrderEvent::event_type)
            .collect::<Vec<_>>()
            .join(", "),
        Err(rejection) => format!("rejected {}", rejection.code()),
    }
}

#[test]
fn state_machine_matches_the_golden_table() {
    let mut table = String::new();
    for row in states() {
        let status =
            replay(&row.history).map_or("none".to_owned(), |o| o.status.as_str().to_owned());
        writeln!(table, "## {} (status {status})", row.label).unwrap();
        for (label, command) in commands(&row.code) {
            let decided = paycode_domain::testing::given(row.history.clone())
                .at(t0() + secs(AT_SECS))
                .when(command);
            writeln!(table, "{label:<34} -> {}", outcome(decided.result())).unwrap();
        }
        table.push('\n');
    }
    expect_file!["golden/state_machine.txt"].assert_eq(&table);
}
