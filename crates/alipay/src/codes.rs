//! What Alipay's `code` / `sub_code` pairs mean for the payment process
//! (protocols.md 4.5 to 4.11).
//!
//! `code` is the gateway level: 10000 success, 10003 waiting for the buyer
//! (pay only), 20000 unknown, 40004 business failure detailed by `sub_code`,
//! the others configuration or permission problems. A `sub_code` that is in
//! no table is treated as unknown wherever "unknown" is safe (pay, query,
//! refund): the process asks again instead of trusting a guess.

/// The class of an answer, for any method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    /// 10003: the buyer is confirming (pay only).
    Pending,
    /// 20000, `ACQ.SYSTEM_ERROR`: query / retry with the same parameters.
    Unknown,
    /// `ACQ.TRADE_HAS_SUCCESS`: already paid; query, never charge again.
    AlreadyPaid,
    /// A definite business refusal: nothing happened.
    Failed,
    /// Our configuration, key or permission is wrong.
    Config,
}

/// Gateway codes that mean our setup is wrong (protocols.md 4.5).
const CONFIG_CODES: &[&str] = &["20001", "40001", "40002", "40006"];

/// Sub-codes of every method that mean "unknown, retry the same" (the
/// `AQC.` spelling is Alipay's own typo, seen in the cancel table).
const SYSTEM_ERRORS: &[&str] = &["ACQ.SYSTEM_ERROR", "AQC.SYSTEM_ERROR"];

/// `alipay.trade.pay` sub-codes that are our configuration (protocols.md 4.6).
const PAY_CONFIG_SUB_CODES: &[&str] = &[
    "ACQ.INVALID_PARAMETER",
    "ACQ.ACCESS_FORBIDDEN",
    "ACQ.PARTNER_ERROR",
];

/// `alipay.trade.pay` sub-codes that definitely charged nothing (protocols.md 4.6).
const PAY_FAILED_SUB_CODES: &[&str] = &[
    "ACQ.EXIST_FORBIDDEN_WORD",
    "ACQ.TOTAL_FEE_EXCEED",
    "ACQ.PAYMENT_AUTH_CODE_INVALID",
    "ACQ.CONTEXT_INCONSISTENT",
    "ACQ.TRADE_HAS_CLOSE",
    "ACQ.BUYER_BALANCE_NOT_ENOUGH",
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH",
    "ACQ.ERROR_BALANCE_PAYMENT_DISABLE",
    "ACQ.BUYER_SELLER_EQUAL",
    "ACQ.TRADE_BUYER_NOT_MATCH",
    "ACQ.BUYER_ENABLE_STATUS_FORBID",
    "ACQ.PULL_MOBILE_CASHIER_FAIL",
    "ACQ.MOBILE_PAYMENT_SWITCH_OFF",
    "ACQ.PAYMENT_FAIL",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR",
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR",
    "ACQ.BEYOND_PAY_RESTRICTION",
    "ACQ.BEYOND_PER_RECEIPT_RESTRICTION",
    "ACQ.SELLER_BEEN_BLOCKED",
    "ACQ.ERROR_BUYER_CERTIFY_LEVEL_LIMIT",
    "ACQ.PAYMENT_REQUEST_HAS_RISK",
    "ACQ.NO_PAYMENT_INSTRUMENTS_AVAILABLE",
    "ACQ.USER_FACE_PAYMENT_SWITCH_OFF",
    "ACQ.INVALID_STORE_ID",
    "ACQ.SUB_MERCHANT_CREATE_FAIL",
    "ACQ.SUB_MERCHANT_TYPE_INVALID",
    "ACQ.MERCHANT_STATUS_NOT_NORMAL",
    "ACQ.AMOUNT_OR_CURRENCY_ERROR",
    "ACQ.CURRENCY_NOT_SUPPORT",
];

/// Families of `alipay.trade.pay` sub-codes listed as `ACQ.AGREEMENT_*` and
/// `ACQ.MERCHANT_AGREEMENT_*` (protocols.md 4.6): all definite failures.
const PAY_FAILED_PREFIXES: &[&str] = &["ACQ.AGREEMENT_", "ACQ.MERCHANT_AGREEMENT_"];

/// `alipay.trade.cancel` sub-codes (protocols.md 4.8): refusals a person must resolve.
const CANCEL_FAILED_SUB_CODES: &[&str] = &[
    "ACQ.TRADE_CANCEL_TIME_OUT",
    "ACQ.CANCEL_NOT_ALLOWED",
    "ACQ.TRADE_HAS_FINISHED",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    "ACQ.REASON_TRADE_BEEN_FREEZEN",
    "ACQ.REASON_TRADE_REFUND_FEE_ERR",
    "ACQ.INVALID_PARAMETER",
];

/// `alipay.trade.refund` sub-codes (protocols.md 4.9): definite refusals.
const REFUND_FAILED_SUB_CODES: &[&str] = &[
    "ACQ.INVALID_PARAMETER",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
    "ACQ.REASON_TRADE_BEEN_FREEZEN",
    "ACQ.TRADE_NOT_EXIST",
    "ACQ.TRADE_HAS_FINISHED",
    "ACQ.TRADE_STATUS_ERROR",
    "ACQ.DISCORDANT_REPEAT_REQUEST",
    "ACQ.REASON_TRADE_REFUND_FEE_ERR",
    "ACQ.TRADE_NOT_ALLOW_REFUND",
];

/// The gateway-level class, before any sub-code: `None` for 40004.
fn gateway_class(code: &str) -> Option<Class> {
    match code {
        "10000" => Some(Class::Success),
        "10003" => Some(Class::Pending),
        "20000" => Some(Class::Unknown),
        "40004" => None,
        // Call limit. The answer is a gateway error, unsigned like the
        // configuration codes, so it proves nothing: ask again (issue 13).
        "40005" => Some(Class::Unknown),
        code if CONFIG_CODES.contains(&code) => Some(Class::Config),
        _ => Some(Class::Unknown),
    }
}

/// Classifies an `alipay.trade.pay` answer.
pub fn classify_pay(code: &str, sub_code: &str) -> Class {
    if let Some(class) = gateway_class(code) {
        return class;
    }
    match sub_code {
        "ACQ.TRADE_HAS_SUCCESS" => Class::AlreadyPaid,
        sub if SYSTEM_ERRORS.contains(&sub) => Class::Unknown,
        sub if PAY_CONFIG_SUB_CODES.contains(&sub) => Class::Config,
        sub if PAY_FAILED_SUB_CODES.contains(&sub) => Class::Failed,
        sub if PAY_FAILED_PREFIXES.iter().any(|p| sub.starts_with(p)) => Class::Failed,
        _ => Class::Unknown,
    }
}

/// Classifies an `alipay.trade.cancel` answer. Only the refusals listed in
/// Alipay's cancel table are definite (`Failed`: a person must decide).
/// Everything else, an unlisted sub-code or a gateway error such as the call
/// limit or a key problem, is `Unknown`: cancel is idempotent, so it is
/// called again with backoff, and the process's bounded budget
/// (`reversal_max_attempts`) hands the order to a person if it never works.
pub fn classify_cancel(code: &str, sub_code: &str) -> Class {
    match gateway_class(code) {
        Some(Class::Config) => return Class::Unknown,
        Some(class) => return class,
        None => {}
    }
    match sub_code {
        sub if CANCEL_FAILED_SUB_CODES.contains(&sub) => Class::Failed,
        _ => Class::Unknown,
    }
}

/// Classifies an `alipay.trade.refund` answer.
pub fn classify_refund(code: &str, sub_code: &str) -> Class {
    if let Some(class) = gateway_class(code) {
        return class;
    }
    match sub_code {
        sub if SYSTEM_ERRORS.contains(&sub) => Class::Unknown,
        sub if REFUND_FAILED_SUB_CODES.contains(&sub) => Class::Failed,
        _ => Class::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_codes_have_their_class() {
        for (code, class) in [
            ("10000", Class::Success),
            ("10003", Class::Pending),
            ("20000", Class::Unknown),
            ("20001", Class::Config),
            ("40001", Class::Config),
            ("40002", Class::Config),
            ("40005", Class::Unknown),
            ("40006", Class::Config),
            ("99999", Class::Unknown),
        ] {
            assert_eq!(classify_pay(code, ""), class, "{code}");
        }
    }

    #[test]
    fn every_trade_pay_sub_code_of_the_table_has_its_class() {
        let mut table = vec![
            ("ACQ.SYSTEM_ERROR", Class::Unknown),
            ("ACQ.INVALID_PARAMETER", Class::Config),
            ("ACQ.ACCESS_FORBIDDEN", Class::Config),
            ("ACQ.PARTNER_ERROR", Class::Config),
            ("ACQ.TRADE_HAS_SUCCESS", Class::AlreadyPaid),
            ("ACQ.AGREEMENT_NOT_EXIST", Class::Failed),
            ("ACQ.MERCHANT_AGREEMENT_INVALID", Class::Failed),
            ("ACQ.SOMETHING_NEW", Class::Unknown),
        ];
        // Written out again, not taken from the constant, so that dropping
        // a code from the mapping breaks this test.
        let failures = "ACQ.EXIST_FORBIDDEN_WORD ACQ.TOTAL_FEE_EXCEED ACQ.PAYMENT_AUTH_CODE_INVALID \
            ACQ.CONTEXT_INCONSISTENT ACQ.TRADE_HAS_CLOSE ACQ.BUYER_BALANCE_NOT_ENOUGH \
            ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH ACQ.ERROR_BALANCE_PAYMENT_DISABLE ACQ.BUYER_SELLER_EQUAL \
            ACQ.TRADE_BUYER_NOT_MATCH ACQ.BUYER_ENABLE_STATUS_FORBID ACQ.PULL_MOBILE_CASHIER_FAIL \
            ACQ.MOBILE_PAYMENT_SWITCH_OFF ACQ.PAYMENT_FAIL ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR \
            ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR ACQ.BEYOND_PAY_RESTRICTION \
            ACQ.BEYOND_PER_RECEIPT_RESTRICTION ACQ.SELLER_BEEN_BLOCKED ACQ.ERROR_BUYER_CERTIFY_LEVEL_LIMIT \
            ACQ.PAYMENT_REQUEST_HAS_RISK ACQ.NO_PAYMENT_INSTRUMENTS_AVAILABLE ACQ.USER_FACE_PAYMENT_SWITCH_OFF \
            ACQ.INVALID_STORE_ID ACQ.SUB_MERCHANT_CREATE_FAIL ACQ.SUB_MERCHANT_TYPE_INVALID \
            ACQ.MERCHANT_STATUS_NOT_NORMAL ACQ.AMOUNT_OR_CURRENCY_ERROR ACQ.CURRENCY_NOT_SUPPORT";
        table.extend(failures.split_whitespace().map(|sub| (sub, Class::Failed)));
        assert_eq!(table.len(), 8 + 29);
        for (sub, class) in table {
            assert_eq!(classify_pay("40004", sub), class, "{sub}");
        }
    }

    #[test]
    fn cancel_fails_only_on_the_listed_refusals_and_retries_the_rest() {
        assert_eq!(classify_cancel("40004", "ACQ.SYSTEM_ERROR"), Class::Unknown);
        assert_eq!(classify_cancel("40004", "AQC.SYSTEM_ERROR"), Class::Unknown);
        for sub in CANCEL_FAILED_SUB_CODES {
            assert_eq!(classify_cancel("40004", sub), Class::Failed, "{sub}");
        }
        assert_eq!(classify_cancel("20000", ""), Class::Unknown);
        // Issue 13: an unlisted sub-code, the call limit and gateway key
        // errors are asked again within the budget, not sent to a person at once.
        assert_eq!(classify_cancel("40004", "ACQ.UNLISTED"), Class::Unknown);
        for gateway in ["40005", "20001", "40001", "40002", "40006"] {
            assert_eq!(classify_cancel(gateway, ""), Class::Unknown, "{gateway}");
        }
    }

    #[test]
    fn refund_refusals_fail_and_system_errors_are_unknown() {
        assert_eq!(classify_refund("40004", "ACQ.SYSTEM_ERROR"), Class::Unknown);
        for sub in REFUND_FAILED_SUB_CODES {
            assert_eq!(classify_refund("40004", sub), Class::Failed, "{sub}");
        }
        assert_eq!(classify_refund("40004", "ACQ.UNLISTED"), Class::Unknown);
    }
}
