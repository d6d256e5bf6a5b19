//! What paycode asks of a provider, in neutral terms: ids and `Money` from
//! the domain, no wire names. The clients translate these into their fields.

use paycode_domain::{AuthCode, Money, OutRefundNo, OutTradeNo};

/// Charge a payment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    pub out_trade_no: OutTradeNo,
    /// The customer's payment code; revealed only inside the request body.
    pub auth_code: AuthCode,
    pub amount: Money,
    /// What is sold (WeChat `body`, Alipay `subject`): shown to the customer.
    pub subject: String,
    /// The till or terminal (WeChat `device_info`, Alipay `terminal_id`), if known.
    pub terminal_id: Option<String>,
}

/// Which trade a query or reversal is about: our number, and the provider's
/// number when we have it (both providers prefer theirs when both are sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRef {
    pub out_trade_no: OutTradeNo,
    pub provider_trade_no: Option<String>,
}

impl TradeRef {
    pub fn by_out_trade_no(out_trade_no: OutTradeNo) -> TradeRef {
        TradeRef {
            out_trade_no,
            provider_trade_no: None,
        }
    }
}

/// Refund part or all of a paid trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub trade: TradeRef,
    /// The idempotency key: the same number is the same refund (WeChat
    /// `out_refund_no`, Alipay `out_request_no`).
    pub out_refund_no: OutRefundNo,
    pub refund_amount: Money,
    /// The trade's total (WeChat requires it as `total_fee`).
    pub trade_total: Money,
    pub reason: Option<String>,
}

/// Ask for the state of one refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundQueryRequest {
    pub trade: TradeRef,
    pub out_refund_no: OutRefundNo,
    /// The provider's own id of the refund, once an answer named it (WeChat
    /// `refund_id`; Alipay has none): asked by when known.
    pub provider_refund_id: Option<String>,
}
