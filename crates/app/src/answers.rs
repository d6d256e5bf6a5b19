//! Provider answers, translated into the domain's outcomes.
//!
//! The provider crate's answers say what the process must do next; the
//! domain's outcomes say what the order records. The translation is the one
//! place where "what did the provider mean" is decided, so it is all here,
//! one function per call, each match exhaustive.

use chrono::{DateTime, Utc};
use paycode_domain::{
    Money, PayOutcome, ProviderReply, RefundOutcome, ReversalOutcome, ReverseAction,
};
use paycode_provider::{
    PaidTrade, PayAnswer, QueryAnswer, RawOutcome, RefundAnswer, RefundInfo, RefundQueryAnswer,
    ReverseAnswer, ReverseEffect,
};

fn reply(raw: &RawOutcome) -> ProviderReply {
    ProviderReply::new(raw.code.clone(), raw.message.clone())
}

fn paid(trade: &PaidTrade, now: DateTime<Utc>) -> (PayOutcome, ProviderReply) {
    let outcome = PayOutcome::Paid {
        provider_trade_no: trade.provider_trade_no.clone(),
        // A paid answer without a time is still paid; the answer's arrival is
        // the best bound we have.
        paid_at: trade.paid_at.unwrap_or(now),
    };
    (outcome, reply(&trade.raw))
}

/// The answer to the pay call.
pub fn pay(answer: &PayAnswer, now: DateTime<Utc>) -> (PayOutcome, ProviderReply) {
    match answer {
        PayAnswer::Paid(trade) => paid(trade, now),
        PayAnswer::Pending(raw) => (PayOutcome::Pending, reply(raw)),
        PayAnswer::Unknown(unclear) => (PayOutcome::Unknown, reply(&unclear.raw())),
        PayAnswer::Failed(raw) => (PayOutcome::Failed, reply(raw)),
        // Refused for configuration (a wrong key, a missing permission, a
        // gateway error such as Alipay 40001/40002/40006, often unsigned):
        // no proof that nothing was charged, so the payment is unknown and
        // is queried first (issue 13). The start-up self-check reports a
        // wrong key once, before any payment.
        PayAnswer::Refused(raw) => (PayOutcome::Unknown, reply(raw)),
    }
}

/// The answer to a payment query.
pub fn query(answer: &QueryAnswer, now: DateTime<Utc>) -> (PayOutcome, ProviderReply) {
    match answer {
        QueryAnswer::Paid(trade) => paid(trade, now),
        QueryAnswer::Pending(raw) => (PayOutcome::Pending, reply(raw)),
        QueryAnswer::PaymentFailed(raw) => (PayOutcome::FailedUnclearly, reply(raw)),
        // Closed or revoked without our asking (WeChat revokes an unpaid
        // payment-code order itself after 45 s): no money is held, and the
        // event says who closed it.
        QueryAnswer::Closed(raw) | QueryAnswer::Revoked(raw) => {
            (PayOutcome::ClosedByProvider, reply(raw))
        }
        // Not (yet) known to the provider: the pay request may still arrive,
        // so this is no proof of anything; poll on, and reverse at the deadline.
        QueryAnswer::NotFound(raw) | QueryAnswer::Refused(raw) => (PayOutcome::Unknown, reply(raw)),
        QueryAnswer::Unknown(unclear) => (PayOutcome::Unknown, reply(&unclear.raw())),
    }
}

/// The answer to a reverse call.
pub fn reverse(answer: &ReverseAnswer) -> (ReversalOutcome, ProviderReply) {
    match answer {
        ReverseAnswer::Done(done) => {
            let action = match done.effect {
                ReverseEffect::Closed => Some(ReverseAction::Closed),
                ReverseEffect::Refunded => Some(ReverseAction::Refunded),
                // Nothing was charged: the reply's code (ORDERNOTEXIST,
                // ACQ.TRADE_NOT_EXIST) stays in the event for people to see.
                ReverseEffect::NotStated | ReverseEffect::NotFound => None,
            };
            (ReversalOutcome::Done { action }, reply(&done.raw))
        }
        ReverseAnswer::RetryAsked(raw) => (ReversalOutcome::RetryAsked, reply(raw)),
        ReverseAnswer::Refused(raw) => (ReversalOutcome::Refused, reply(raw)),
        ReverseAnswer::Unknown(unclear) => (ReversalOutcome::Unknown, reply(&unclear.raw())),
    }
}

/// An answer about a refund that names another amount than the one asked
/// (WeChat `refund_fee`, Alipay `refund_amount`: both the requested amount)
/// is about another refund, or something is badly wrong: never a fact about
/// this one. A person must look, so it is recorded as abnormal.
fn amount_mismatch(info: &RefundInfo, expected: Money) -> Option<(RefundOutcome, ProviderReply)> {
    let reported = info.amount?;
    if reported == expected {
        return None;
    }
    Some((
        RefundOutcome::Abnormal {
            provider_refund_id: None,
        },
        ProviderReply::new(
            "REFUND_AMOUNT_MISMATCH",
            format!(
                "the provider reports {} for a refund of {} ({})",
                reported.to_yuan_string(),
                expected.to_yuan_string(),
                info.raw.code
            ),
        ),
    ))
}

/// The answer to a refund call. Only a definite refusal frees the amount;
/// an answer that does not confirm the refund was taken (timeout, dropped
/// connection, 5xx, WeChat `SYSTEMERROR` / `BIZERR_NEED_RETRY`, a signature
/// that did not verify) sends it again with the same number, which the
/// providers refund once (WeChat: "retry with the same out_refund_no";
/// Alipay: "重试时请务必保证退款请求号一致").
pub fn refund(answer: &RefundAnswer, expected: Money) -> (RefundOutcome, ProviderReply) {
    if let RefundAnswer::Succeeded(info) | RefundAnswer::Processing(info) = answer
        && let Some(mismatch) = amount_mismatch(info, expected)
    {
        return mismatch;
    }
    match answer {
        RefundAnswer::Succeeded(info) => (
            RefundOutcome::Succeeded {
                provider_refund_id: info.provider_refund_id.clone(),
            },
            reply(&info.raw),
        ),
        RefundAnswer::Processing(info) => (
            RefundOutcome::Processing {
                provider_refund_id: info.provider_refund_id.clone(),
            },
            reply(&info.raw),
        ),
        RefundAnswer::Failed(raw) => (RefundOutcome::Failed, reply(raw)),
        RefundAnswer::Unknown(unclear) => (RefundOutcome::NotConfirmed, reply(&unclear.raw())),
    }
}

/// The answer to a refund query.
pub fn refund_query(answer: &RefundQueryAnswer, expected: Money) -> (RefundOutcome, ProviderReply) {
    if let RefundQueryAnswer::Succeeded(info) | RefundQueryAnswer::Processing(info) = answer
        && let Some(mismatch) = amount_mismatch(info, expected)
    {
        return mismatch;
    }
    match answer {
        RefundQueryAnswer::Succeeded(info) => (
            RefundOutcome::Succeeded {
                provider_refund_id: info.provider_refund_id.clone(),
            },
            reply(&info.raw),
        ),
        RefundQueryAnswer::Processing(info) => (
            RefundOutcome::Processing {
                provider_refund_id: info.provider_refund_id.clone(),
            },
            reply(&info.raw),
        ),
        // Closed (WeChat `REFUNDCLOSE`) or refused: definitely not refunded.
        RefundQueryAnswer::Failed(raw) => (RefundOutcome::Failed, reply(raw)),
        // WeChat `CHANGE`: the money went back to the merchant account.
        RefundQueryAnswer::Abnormal(raw) => (
            RefundOutcome::Abnormal {
                provider_refund_id: None,
            },
            reply(raw),
        ),
        // The provider has no refund by this number (yet): not refunded, and
        // not refused either; it is sent again under the same number.
        RefundQueryAnswer::NotFound(raw) => (RefundOutcome::NotConfirmed, reply(raw)),
        // The query could not tell: the refund is still where it was; ask again.
        RefundQueryAnswer::Unknown(unclear) => (
            RefundOutcome::Processing {
                provider_refund_id: None,
            },
            reply(&unclear.raw()),
        ),
    }
}
