//! Pins the names other systems depend on: rejection codes (returned by the
//! API), event type names and versions (stored forever), and the codec's
//! answers to bytes it does not know. A failure here means a rename that
//! would break a client or an existing event log: add, never rename.

use paycode_domain::testing::fixtures::*;
use paycode_domain::*;

#[test]
fn rejection_codes_are_never_renamed() {
    let codes: Vec<(&str, String)> = Rejection::ALL
        .iter()
        .map(|r| (r.code(), r.to_string()))
        .collect();
    let pinned = [
        "ORDER_NOT_FOUND",
        "EXISTS_WITH_DIFFERENT_AMOUNT",
        "EXISTS_WITH_DIFFERENT_AUTH_CODE",
        "PAYMENT_NOT_PENDING",
        "ATTEMPT_NOT_CURRENT",
        "PAYMENT_NOT_FAILED",
        "TOO_MANY_PAY_ATTEMPTS",
        "ORDER_NOT_PAID",
        "ORDER_REVERSED",
        "REFUND_EXCEEDS_PAID_AMOUNT",
        "REFUND_WINDOW_EXPIRED",
        "REFUND_EXISTS_WITH_DIFFERENT_AMOUNT",
        "TOO_MANY_REFUNDS",
        "REFUND_NOT_FOUND",
        "REFUND_ALREADY_SETTLED",
        "REVERSAL_TOO_EARLY",
        "REVERSAL_WINDOW_EXPIRED",
        "NOTHING_TO_REVERSE",
        "REVERSAL_BLOCKED_BY_REFUNDS",
        "REVERSAL_NOT_IN_PROGRESS",
        "ORDER_NOT_NEEDING_ATTENTION",
        "ORDER_NEEDS_ATTENTION",
    ];
    assert_eq!(
        codes.iter().map(|(code, _)| *code).collect::<Vec<_>>(),
        pinned
    );
    for (code, message) in codes {
        assert!(
            !message.is_empty() && message != code,
            "{code} needs a human message"
        );
    }
}

#[test]
fn rejection_list_is_complete() {
    // A new variant must join `Rejection::ALL` (and so the pinned list):
    // this match has no wildcard, so it stops compiling until it does.
    for rejection in Rejection::ALL {
        let listed = match rejection {
            Rejection::OrderNotFound
            | Rejection::ExistsWithDifferentAmount
            | Rejection::ExistsWithDifferentAuthCode
            | Rejection::PaymentNotPending
            | Rejection::AttemptNotCurrent
            | Rejection::PaymentNotFailed
            | Rejection::TooManyPayAttempts
            | Rejection::OrderNotPaid
            | Rejection::OrderReversed
            | Rejection::RefundExceedsPaidAmount
            | Rejection::RefundWindowExpired
            | Rejection::RefundExistsWithDifferentAmount
            | Rejection::TooManyRefunds
            | Rejection::RefundNotFound
            | Rejection::RefundAlreadySettled
            | Rejection::ReversalTooEarly
            | Rejection::ReversalWindowExpired
            | Rejection::NothingToReverse
            | Rejection::ReversalBlockedByRefunds
            | Rejection::ReversalNotInProgress
            | Rejection::OrderNotNeedingAttention
            | Rejection::OrderNeedsAttention => rejection,
        };
        assert_eq!(Rejection::ALL.iter().filter(|r| **r == listed).count(), 1);
    }
}

#[test]
fn event_type_names_and_versions_are_never_renamed() {
    let pinned = [
        ("PaymentRequested", 1),
        ("PaymentRetried", 1),
        ("PaymentSucceeded", 1),
        ("PaymentPendingReported", 1),
        ("PaymentUnknownReported", 1),
        ("PaymentFailed", 1),
        ("PaymentClosedByProvider", 1),
        ("PaidAfterSettlement", 1),
        ("ReversalRequested", 1),
        ("ReversalRetried", 1),
        ("ReversalAttemptFailed", 1),
        ("ReversalAbandoned", 1),
        ("OrderRevoked", 1),
        ("TradeClosed", 1),
        ("ManuallyResolved", 1),
        ("RefundRequested", 1),
        ("RefundSucceeded", 1),
        ("RefundProcessingReported", 1),
        ("RefundFailed", 1),
        ("RefundRetried", 1),
        ("RefundNotConfirmed", 1),
        ("RefundAbnormal", 1),
        ("RefundResolved", 1),
    ];
    assert_eq!(OrderEvent::TYPES, pinned);
}

#[test]
fn stored_json_of_a_payment_request_keeps_its_shape() {
    let event = requested(wechat_code(), "12.00", t0());
    let (event_type, version, data) = event.encode();
    assert_eq!((event_type, version), ("PaymentRequested", 1));
    let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "order_id": "00000000-0000-0000-0000-000000001001",
            "merchant": "m1",
            "out_trade_no": "T1001",
            "provider": "wechatpay",
            "amount": "12.00",
            "subject": "Coffee",
            "store_id": "S1",
            "terminal_id": "POS-7",
            "auth_code_masked": "1345**********6789",
            "provider_order_no": "0000000000000000000000000000a001",
            "at": "2026-01-05T02:00:00Z"
        })
    );
    assert_eq!(
        OrderEvent::decode(event_type, version, &data).unwrap(),
        event
    );
}

#[test]
fn unknown_event_types_and_versions_are_clear_errors() {
    let (_, _, data) = requested(wechat_code(), "12.00", t0()).encode();
    let error = OrderEvent::decode("OrderUpdated", 1, &data).unwrap_err();
    assert!(
        matches!(&error, DecodeError::UnknownType { event_type } if event_type == "OrderUpdated")
    );
    assert_eq!(
        error.to_string(),
        "unknown order event type \"OrderUpdated\""
    );
    let error = OrderEvent::decode("PaymentRequested", 2, &data).unwrap_err();
    assert!(matches!(
        error,
        DecodeError::UnknownVersion { version: 2, .. }
    ));
    let error = OrderEvent::decode("PaymentRequested", 1, br#"{"amount": 12.0}"#).unwrap_err();
    assert!(matches!(error, DecodeError::InvalidPayload { .. }));
}

#[test]
fn stored_payment_codes_are_masked() {
    let (_, _, data) = requested(wechat_code(), "12.00", t0()).encode();
    let text = String::from_utf8(data).unwrap();
    assert!(!text.contains(wechat_code().reveal()));
}
