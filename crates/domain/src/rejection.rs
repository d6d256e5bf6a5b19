//! `Rejection`: why `decide` refused a command, one variant per broken rule.
//!
//! The enum is closed and its codes are part of the API: a POS or the back
//! office branches on them, so a code is never renamed or reused (a test pins
//! every one). A rejection appends nothing. It is not for infrastructure
//! failures (the store, a provider call): those belong to the crates that do I/O.

/// A rule of the order that a command would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Rejection {
    #[error("no order with this merchant order number")]
    OrderNotFound,
    #[error("an order with this merchant order number exists with a different amount")]
    ExistsWithDifferentAmount,
    #[error(
        "an order with this merchant order number exists with a different payment code; retry a failed payment with RetryPayment"
    )]
    ExistsWithDifferentAuthCode,
    /// No longer produced: a late provider answer is recorded or ignored, never
    /// refused (issue 13). Kept so the code is never reused.
    #[error("the payment is already settled; a provider answer for it is no longer expected")]
    PaymentNotPending,
    #[error("the answer is not for the current pay attempt of this order")]
    AttemptNotCurrent,
    #[error("only a payment that definitely failed can be tried again with a new payment code")]
    PaymentNotFailed,
    #[error(
        "this order has had the most pay attempts the policy allows; use a new merchant order number"
    )]
    TooManyPayAttempts,
    #[error("the order is not paid, so nothing can be refunded")]
    OrderNotPaid,
    #[error(
        "the order was reversed or is being reversed; a reversal already returns the whole amount"
    )]
    OrderReversed,
    #[error("the refunds of this order would exceed the paid amount")]
    RefundExceedsPaidAmount,
    #[error("the provider's refund window for this order has passed")]
    RefundWindowExpired,
    #[error("a refund with this refund number exists with a different amount")]
    RefundExistsWithDifferentAmount,
    #[error("this order has had the most refunds the policy allows")]
    TooManyRefunds,
    #[error("no refund with this refund number on this order")]
    RefundNotFound,
    #[error("the refund is already settled with a different result")]
    RefundAlreadySettled,
    #[error(
        "WeChat Pay forbids reversing a trade this soon after the pay call; try again a little later"
    )]
    ReversalTooEarly,
    #[error("the provider's reversal window for this trade has passed; refund it instead")]
    ReversalWindowExpired,
    #[error(
        "the payment definitely failed and nothing was charged, so there is nothing to reverse"
    )]
    NothingToReverse,
    #[error("the order has refunds; a reversal would refund the whole amount again")]
    ReversalBlockedByRefunds,
    #[error("no reversal of this order is in progress")]
    ReversalNotInProgress,
    #[error("the order is not on the manual-intervention queue")]
    OrderNotNeedingAttention,
    #[error(
        "the order is on the manual-intervention queue (a payment was reported after it was settled); a person must resolve it first"
    )]
    OrderNeedsAttention,
}

impl Rejection {
    /// Every rejection, for tables and tests that must cover them all.
    pub const ALL: [Rejection; 22] = [
        Rejection::OrderNotFound,
        Rejection::ExistsWithDifferentAmount,
        Rejection::ExistsWithDifferentAuthCode,
        Rejection::PaymentNotPending,
        Rejection::AttemptNotCurrent,
        Rejection::PaymentNotFailed,
        Rejection::TooManyPayAttempts,
        Rejection::OrderNotPaid,
        Rejection::OrderReversed,
        Rejection::RefundExceedsPaidAmount,
        Rejection::RefundWindowExpired,
        Rejection::RefundExistsWithDifferentAmount,
        Rejection::TooManyRefunds,
        Rejection::RefundNotFound,
        Rejection::RefundAlreadySettled,
        Rejection::ReversalTooEarly,
        Rejection::ReversalWindowExpired,
        Rejection::NothingToReverse,
        Rejection::ReversalBlockedByRefunds,
        Rejection::ReversalNotInProgress,
        Rejection::OrderNotNeedingAttention,
        Rejection::OrderNeedsAttention,
    ];

    /// The stable code an API returns. Never renamed, never reused.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::OrderNotFound => "ORDER_NOT_FOUND",
            Rejection::ExistsWithDifferentAmount => "EXISTS_WITH_DIFFERENT_AMOUNT",
            Rejection::ExistsWithDifferentAuthCode => "EXISTS_WITH_DIFFERENT_AUTH_CODE",
            Rejection::PaymentNotPending => "PAYMENT_NOT_PENDING",
            Rejection::AttemptNotCurrent => "ATTEMPT_NOT_CURRENT",
            Rejection::PaymentNotFailed => "PAYMENT_NOT_FAILED",
            Rejection::TooManyPayAttempts => "TOO_MANY_PAY_ATTEMPTS",
            Rejection::OrderNotPaid => "ORDER_NOT_PAID",
            Rejection::OrderReversed => "ORDER_REVERSED",
            Rejection::RefundExceedsPaidAmount => "REFUND_EXCEEDS_PAID_AMOUNT",
            Rejection::RefundWindowExpired => "REFUND_WINDOW_EXPIRED",
            Rejection::RefundExistsWithDifferentAmount => "REFUND_EXISTS_WITH_DIFFERENT_AMOUNT",
            Rejection::TooManyRefunds => "TOO_MANY_REFUNDS",
            Rejection::RefundNotFound => "REFUND_NOT_FOUND",
            Rejection::RefundAlreadySettled => "REFUND_ALREADY_SETTLED",
            Rejection::ReversalTooEarly => "REVERSAL_TOO_EARLY",
            Rejection::ReversalWindowExpired => "REVERSAL_WINDOW_EXPIRED",
            Rejection::NothingToReverse => "NOTHING_TO_REVERSE",
            Rejection::ReversalBlockedByRefunds => "REVERSAL_BLOCKED_BY_REFUNDS",
            Rejection::ReversalNotInProgress => "REVERSAL_NOT_IN_PROGRESS",
            Rejection::OrderNotNeedingAttention => "ORDER_NOT_NEEDING_ATTENTION",
            Rejection::OrderNeedsAttention => "ORDER_NEEDS_ATTENTION",
        }
    }
}
