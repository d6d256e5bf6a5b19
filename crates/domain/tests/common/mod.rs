//! Event and command builders shared by the given/when/then test files, on
//! top of `paycode_domain::testing::fixtures`. The standard order is 12.00
//! CNY, requested at `t0()` with `ids(1)`.

#![allow(dead_code)] // Each test file uses its own subset.

use chrono::{DateTime, Utc};
use paycode_domain::testing::fixtures::*;
use paycode_domain::*;

pub fn wx_requested() -> OrderEvent {
    requested(wechat_code(), "12.00", t0())
}

pub fn ali_requested() -> OrderEvent {
    requested(alipay_code(), "8.80", t0())
}

pub fn pay_answer(attempt: u32, outcome: PayOutcome) -> OrderCommand {
    OrderCommand::RecordPayAnswer {
        attempt,
        outcome,
        reply: reply("USERPAYING", "需要用户输入支付密码"),
    }
}

pub fn poll(outcome: PayOutcome) -> OrderCommand {
    OrderCommand::RecordPollResult {
        attempt: 1,
        outcome,
        reply: reply("USERPAYING", "需要用户输入支付密码"),
    }
}

pub fn pending(attempt: u32, source: AnswerSource, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::PaymentPendingReported(PaymentPendingReported {
        attempt,
        source,
        reply: reply("USERPAYING", "需要用户输入支付密码"),
        at,
    })
}

pub fn unknown(attempt: u32, source: AnswerSource, code: &str, at: DateTime<Utc>) -> OrderEvent {
    let message = if code == "SYSTEMERROR" {
        "system error"
    } else {
        "需要用户输入支付密码"
    };
    unknown_from(attempt, source, reply(code, message), at)
}

pub fn unknown_from(
    attempt: u32,
    source: AnswerSource,
    reply: ProviderReply,
    at: DateTime<Utc>,
) -> OrderEvent {
    OrderEvent::PaymentUnknownReported(PaymentUnknownReported {
        attempt,
        source,
        reply,
        at,
    })
}

pub fn failed(attempt: u32, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::PaymentFailed(PaymentFailed {
        attempt,
        source: AnswerSource::Call,
        reply: reply("AUTHCODEEXPIRE", "付款码已过期"),
        at,
    })
}

pub fn retried_with(attempt: u32, code: AuthCode, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::PaymentRetried(PaymentRetried {
        attempt,
        provider: code.provider(),
        auth_code_masked: code.masked(),
        provider_order_no: ids(attempt.into()).provider_order_no,
        at,
    })
}

pub fn retried(attempt: u32, at: DateTime<Utc>) -> OrderEvent {
    retried_with(attempt, other_wechat_code(), at)
}

/// A WeChat order whose first attempt failed and whose second is paying.
pub fn retried_history() -> Vec<OrderEvent> {
    vec![
        wx_requested(),
        failed(1, t0() + secs(1)),
        retried(2, t0() + secs(10)),
    ]
}

pub fn reversal_requested(
    reason: ReversalReason,
    by: Option<&str>,
    first_attempt_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> OrderEvent {
    OrderEvent::ReversalRequested(ReversalRequested {
        reason,
        by: by.map(str::to_owned),
        first_attempt_at,
        at,
    })
}

pub fn deadline_reversal(at: DateTime<Utc>) -> OrderEvent {
    reversal_requested(ReversalReason::DeadlinePassed, None, at, at)
}

pub fn recall() -> ProviderReply {
    reply("SUCCESS", "recall=Y")
}

pub fn reversal_retried(
    attempt: u32,
    next: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> OrderEvent {
    OrderEvent::ReversalRetried(ReversalRetried {
        attempt,
        reply: recall(),
        next_attempt_at: next,
        at,
    })
}

pub fn reverse_result(outcome: ReversalOutcome) -> OrderCommand {
    let reply = match outcome {
        ReversalOutcome::Done { .. } => reply("SUCCESS", "recall=N"),
        ReversalOutcome::RetryAsked => recall(),
        ReversalOutcome::Unknown => reply("TIMEOUT", "no answer within 10 s"),
        ReversalOutcome::Refused => reply("ACQ.TRADE_CANCEL_TIME_OUT", "超过撤销时间范围"),
    };
    OrderCommand::RecordReversalResult { outcome, reply }
}

pub fn abandoned(reason: AbandonReason, attempts: u32, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::ReversalAbandoned(ReversalAbandoned {
        reason,
        attempts,
        at,
    })
}

pub fn revoked(attempt: u32, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::OrderRevoked(OrderRevoked {
        attempt,
        action: None,
        reply: reply("SUCCESS", "recall=N"),
        at,
    })
}

pub fn refund(no: &str, amount: &str) -> OrderCommand {
    OrderCommand::RequestRefund(paycode_domain::RequestRefund {
        out_refund_no: refund_no(no),
        amount: cny(amount),
        reason: Some("returned goods".to_owned()),
        by: Some("cashier-1".to_owned()),
    })
}

/// The provider refund number a decision with `ids(1)` makes.
pub fn provider_refund_no() -> OutRefundNo {
    refund_no(ids(1).provider_order_no.as_str())
}

pub fn refund_requested(no: &str, amount: &str, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::RefundRequested(RefundRequested {
        out_refund_no: refund_no(no),
        provider_refund_no: Some(provider_refund_no()),
        amount: cny(amount),
        reason: Some("returned goods".to_owned()),
        by: Some("cashier-1".to_owned()),
        at,
    })
}

pub fn refund_succeeded(no: &str, source: AnswerSource, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::RefundSucceeded(RefundSucceeded {
        out_refund_no: refund_no(no),
        source,
        provider_refund_id: Some(format!("5030{no}")),
        reply: reply("SUCCESS", "OK"),
        at,
    })
}

pub fn refund_failed(no: &str, at: DateTime<Utc>) -> OrderEvent {
    OrderEvent::RefundFailed(RefundFailed {
        out_refund_no: refund_no(no),
        source: AnswerSource::Call,
        reply: reply("NOTENOUGH", "商户余额不足"),
        at,
    })
}

pub fn refund_result(no: &str, outcome: RefundOutcome) -> OrderCommand {
    OrderCommand::RecordRefundResult {
        out_refund_no: refund_no(no),
        outcome,
        reply: reply("SUCCESS", "OK"),
    }
}

/// A WeChat order paid one second after its request.
pub fn paid_wx() -> Vec<OrderEvent> {
    vec![wx_requested(), paid(1, AnswerSource::Call, t0() + secs(1))]
}
