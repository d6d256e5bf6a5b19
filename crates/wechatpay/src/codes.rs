//! What each WeChat Pay `err_code` and `trade_state` means for the payment
//! process (protocols.md 1.6, 1.7, 1.8, 1.9 and the table of 2.1).
//!
//! A code that is in no table is treated as "unknown": the process then
//! queries, which settles it, instead of trusting a guess that nothing was
//! charged.

/// The class of a micropay `err_code` (protocols.md 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayErrorClass {
    /// 支付结果未知: query now.
    Unknown,
    /// The customer is entering a password: poll.
    Pending,
    /// `ORDERPAID`: this order number is already paid; query, never charge again.
    AlreadyPaid,
    /// 支付确认失败: nothing was charged.
    Failed,
    /// Our request or account is wrong: nothing was charged, fix the setup.
    Config,
}

/// Codes that say our request or account is wrong, whatever the call.
const CONFIG_CODES: &[&str] = &[
    "PARAM_ERROR",
    "NOAUTH",
    "XML_FORMAT_ERROR",
    "REQUIRE_POST_METHOD",
    "SIGNERROR",
    "LACK_PARAMS",
    "NOT_UTF8",
    "APPID_NOT_EXIST",
    "MCHID_NOT_EXIST",
    "APPID_MCHID_NOT_MATCH",
];

/// Micropay codes that definitely charged nothing.
const PAY_FAILED_CODES: &[&str] = &[
    "AUTHCODEEXPIRE",
    "NOTENOUGH",
    "NOTSUPORTCARD",
    "ORDERCLOSED",
    "ORDERREVERSED",
    "AUTH_CODE_ERROR",
    "AUTH_CODE_INVALID",
    "BUYER_MISMATCH",
    "OUT_TRADE_NO_USED",
    "INVALID_REQUEST",
    "TRADE_ERROR",
];

/// Codes where the provider does not know the outcome yet.
const UNKNOWN_CODES: &[&str] = &["SYSTEMERROR", "BANKERROR"];

pub fn is_config_code(err_code: &str) -> bool {
    CONFIG_CODES.contains(&err_code)
}

/// Classifies a micropay `err_code`.
pub fn classify_pay_error(err_code: &str) -> PayErrorClass {
    match err_code {
        "USERPAYING" => PayErrorClass::Pending,
        "ORDERPAID" => PayErrorClass::AlreadyPaid,
        code if UNKNOWN_CODES.contains(&code) => PayErrorClass::Unknown,
        code if PAY_FAILED_CODES.contains(&code) => PayErrorClass::Failed,
        code if is_config_code(code) => PayErrorClass::Config,
        _ => PayErrorClass::Unknown,
    }
}

/// The class of an `orderquery` `trade_state` (protocols.md 1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStateClass {
    Paid,
    Pending,
    PaymentFailed,
    Closed,
    Revoked,
    Unrecognised,
}

pub fn classify_trade_state(trade_state: &str) -> TradeStateClass {
    match trade_state {
        "SUCCESS" | "REFUND" => TradeStateClass::Paid,
        "NOTPAY" | "USERPAYING" | "ACCEPT" => TradeStateClass::Pending,
        "PAYERROR" => TradeStateClass::PaymentFailed,
        "CLOSED" => TradeStateClass::Closed,
        "REVOKED" => TradeStateClass::Revoked,
        _ => TradeStateClass::Unrecognised,
    }
}

/// The class of a reverse or refund `err_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// The outcome is unknown; the same call may be repeated as is.
    RetrySame,
    /// A definite refusal.
    Refused,
}

/// Refund codes that ask for a retry with the same parameters (protocols.md 1.8).
const REFUND_RETRY_CODES: &[&str] = &["SYSTEMERROR", "BIZERR_NEED_RETRY"];

/// Refund codes that are definite refusals (protocols.md 1.8; `NOTENOUGH`
/// is the merchant's balance here).
const REFUND_REFUSED_CODES: &[&str] = &[
    "TRADE_OVERDUE",
    "ERROR",
    "USER_ACCOUNT_ABNORMAL",
    "NOTENOUGH",
    "INVALID_REQUEST",
];

pub fn classify_refund_error(err_code: &str) -> RetryClass {
    if REFUND_RETRY_CODES.contains(&err_code) {
        RetryClass::RetrySame
    } else if REFUND_REFUSED_CODES.contains(&err_code) || is_config_code(err_code) {
        RetryClass::Refused
    } else {
        RetryClass::RetrySame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_micropay_err_code_of_the_official_table_has_its_class() {
        let table = [
            ("SYSTEMERROR", PayErrorClass::Unknown),
            ("BANKERROR", PayErrorClass::Unknown),
            ("USERPAYING", PayErrorClass::Pending),
            ("PARAM_ERROR", PayErrorClass::Config),
            ("ORDERPAID", PayErrorClass::AlreadyPaid),
            ("NOAUTH", PayErrorClass::Config),
            ("AUTHCODEEXPIRE", PayErrorClass::Failed),
            ("NOTENOUGH", PayErrorClass::Failed),
            ("NOTSUPORTCARD", PayErrorClass::Failed),
            ("ORDERCLOSED", PayErrorClass::Failed),
            ("ORDERREVERSED", PayErrorClass::Failed),
            ("AUTH_CODE_ERROR", PayErrorClass::Failed),
            ("AUTH_CODE_INVALID", PayErrorClass::Failed),
            ("XML_FORMAT_ERROR", PayErrorClass::Config),
            ("REQUIRE_POST_METHOD", PayErrorClass::Config),
            ("SIGNERROR", PayErrorClass::Config),
            ("LACK_PARAMS", PayErrorClass::Config),
            ("NOT_UTF8", PayErrorClass::Config),
            ("BUYER_MISMATCH", PayErrorClass::Failed),
            ("APPID_NOT_EXIST", PayErrorClass::Config),
            ("MCHID_NOT_EXIST", PayErrorClass::Config),
            ("APPID_MCHID_NOT_MATCH", PayErrorClass::Config),
            ("OUT_TRADE_NO_USED", PayErrorClass::Failed),
            ("INVALID_REQUEST", PayErrorClass::Failed),
            ("TRADE_ERROR", PayErrorClass::Failed),
        ];
        for (code, class) in table {
            assert_eq!(classify_pay_error(code), class, "{code}");
        }
    }

    #[test]
    fn an_unlisted_err_code_is_unknown_so_the_order_is_queried() {
        assert_eq!(classify_pay_error("SOMETHING_NEW"), PayErrorClass::Unknown);
        assert_eq!(classify_pay_error(""), PayErrorClass::Unknown);
        assert_eq!(classify_pay_error("systemerror"), PayErrorClass::Unknown);
    }

    #[test]
    fn every_trade_state_has_its_class() {
        let table = [
            ("SUCCESS", TradeStateClass::Paid),
            ("REFUND", TradeStateClass::Paid),
            ("NOTPAY", TradeStateClass::Pending),
            ("USERPAYING", TradeStateClass::Pending),
            ("ACCEPT", TradeStateClass::Pending),
            ("PAYERROR", TradeStateClass::PaymentFailed),
            ("CLOSED", TradeStateClass::Closed),
            ("REVOKED", TradeStateClass::Revoked),
            ("PAID?", TradeStateClass::Unrecognised),
        ];
        for (state, class) in table {
            assert_eq!(classify_trade_state(state), class, "{state}");
        }
    }

    #[test]
    fn refund_codes_retry_or_refuse_as_documented() {
        for code in ["SYSTEMERROR", "BIZERR_NEED_RETRY", "UNLISTED"] {
            assert_eq!(classify_refund_error(code), RetryClass::RetrySame, "{code}");
        }
        for code in [
            "TRADE_OVERDUE",
            "ERROR",
            "USER_ACCOUNT_ABNORMAL",
            "NOTENOUGH",
            "SIGNERROR",
            "PARAM_ERROR",
        ] {
            assert_eq!(classify_refund_error(code), RetryClass::Refused, "{code}");
        }
    }
}
