//! Identifiers that parse instead of validate: holding one means it is valid.
//!
//! The rules come from the providers (protocols.md section 1.4 and 3): an
//! `out_trade_no` is what WeChat Pay accepts (the stricter of the two), a
//! payment code's digits say which wallet issued it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Why a text is not a valid identifier. Each variant's `code` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("merchant id must be 1-32 characters of letters, digits, '_' or '-'")]
    InvalidMerchantId,
    #[error("out_trade_no must be 1-32 characters of letters, digits and _-|*@")]
    InvalidOutTradeNo,
    #[error("out_refund_no must be 1-64 characters of letters, digits and _-|*@")]
    InvalidOutRefundNo,
    #[error("provider order number must be 1-32 characters of letters, digits and _-|*@")]
    InvalidProviderOrderNo,
    #[error(
        "payment code not recognised: WeChat Pay codes are 18 digits starting 10-15, \
         Alipay codes are 16-24 digits starting 25-30"
    )]
    UnknownAuthCode,
}

impl IdError {
    /// The stable code an API returns for this error.
    pub fn code(&self) -> &'static str {
        match self {
            IdError::InvalidMerchantId => "INVALID_MERCHANT_ID",
            IdError::InvalidOutTradeNo => "INVALID_OUT_TRADE_NO",
            IdError::InvalidOutRefundNo => "INVALID_OUT_REFUND_NO",
            IdError::InvalidProviderOrderNo => "INVALID_PROVIDER_ORDER_NO",
            IdError::UnknownAuthCode => "UNKNOWN_AUTH_CODE",
        }
    }
}

fn is_order_no_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '|' | '*' | '@')
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, chars = $chars:expr, error = $error:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<$name, IdError> {
                let ok = !text.is_empty() && text.len() <= $max && text.chars().all($chars);
                if ok { Ok($name(text.to_owned())) } else { Err($error) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_id!(
    /// A merchant of paycode (not the provider's `mch_id`): the tenant that owns orders.
    MerchantId, max = 32, chars = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-',
    error = IdError::InvalidMerchantId
);
text_id!(
    /// The merchant's own order number (`out_trade_no`), unique per merchant.
    OutTradeNo, max = 32, chars = is_order_no_char, error = IdError::InvalidOutTradeNo
);
text_id!(
    /// The merchant's refund number (`out_refund_no` / Alipay `out_request_no`),
    /// unique per order: the same number is the same refund.
    OutRefundNo, max = 64, chars = is_order_no_char, error = IdError::InvalidOutRefundNo
);

text_id!(
    /// The order number paycode sends to the provider for one pay attempt
    /// (WeChat `out_trade_no`, Alipay `out_trade_no`): at most 32 characters of
    /// the WeChat alphabet. paycode makes it from a fresh UUID per attempt
    /// ([`ProviderOrderNo::from_uuid`]), so a retried payment never reuses the
    /// number of a failed one; the events map it back to the merchant's order.
    ProviderOrderNo, max = 32, chars = is_order_no_char, error = IdError::InvalidProviderOrderNo
);

impl ProviderOrderNo {
    /// The 32 lowercase hex digits of `id` (its "simple" form).
    pub fn from_uuid(id: Uuid) -> ProviderOrderNo {
        ProviderOrderNo(id.simple().to_string())
    }
}

/// Which wallet issued a payment code, and so which provider charges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Wechatpay,
    Alipay,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechatpay => "wechatpay",
            Provider::Alipay => "alipay",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A customer's payment code (付款码, `auth_code`): a one-time credential.
///
/// It never prints in full: `Debug` and `Display` show the masked form, and
/// events keep only [`AuthCode::masked`]. The full digits are exposed by
/// [`AuthCode::reveal`], for the one provider call that needs them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthCode {
    digits: String,
    provider: Provider,
}

impl AuthCode {
    /// WeChat: 18 digits starting 10-15. Alipay: 16-24 digits starting 25-30.
    pub fn parse(text: &str) -> Result<AuthCode, IdError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::UnknownAuthCode);
        }
        let prefix: u8 = text
            .get(..2)
            .and_then(|p| p.parse().ok())
            .ok_or(IdError::UnknownAuthCode)?;
        let provider = match (prefix, text.len()) {
            (10..=15, 18) => Provider::Wechatpay,
            (25..=30, 16..=24) => Provider::Alipay,
            _ => return Err(IdError::UnknownAuthCode),
        };
        Ok(AuthCode {
            digits: text.to_owned(),
            provider,
        })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The full code, for the provider request only. Never log or store it.
    pub fn reveal(&self) -> &str {
        &self.digits
    }

    /// The first 4 and last 4 digits with the middle masked: `1345********1234`.
    pub fn masked(&self) -> String {
        let n = self.digits.len();
        format!(
            "{}{}{}",
            &self.digits[..4],
            "*".repeat(n - 8),
            &self.digits[n - 4..]
        )
    }
}

impl fmt::Debug for AuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthCode({})", self.masked())
    }
}

impl fmt::Display for AuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// paycode's own id of an order, stable for the order's life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_codes_route_by_prefix_and_length() {
        assert_eq!(
            AuthCode::parse("134567890123456789").unwrap().provider(),
            Provider::Wechatpay
        );
        assert_eq!(
            AuthCode::parse("101234567890123456").unwrap().provider(),
            Provider::Wechatpay
        );
        assert_eq!(
            AuthCode::parse("2812345678901234").unwrap().provider(),
            Provider::Alipay
        );
        assert_eq!(
            AuthCode::parse("301234567890123456789012")
                .unwrap()
                .provider(),
            Provider::Alipay
        );
        for bad in [
            "",
            "16456789012345678",
            "164567890123456789",
            "13456789012345678",
            "1345678901234567890",
            "241234567890123456",
            "311234567890123456",
            "281234567890123",
            "2812345678901234567890123",
            "13456789012345678a",
            "１34567890123456789",
        ] {
            assert_eq!(
                AuthCode::parse(bad),
                Err(IdError::UnknownAuthCode),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn payment_codes_never_print_in_full() {
        let code = AuthCode::parse("134567890123456789").unwrap();
        assert_eq!(code.masked(), "1345**********6789");
        assert_eq!(
            format!("{code} {code:?}"),
            "1345**********6789 AuthCode(1345**********6789)"
        );
    }

    #[test]
    fn order_numbers_accept_the_wechat_alphabet_only() {
        assert!(OutTradeNo::parse("A-1_b|c*d@e").is_ok());
        assert!(OutTradeNo::parse(&"x".repeat(32)).is_ok());
        assert!(OutTradeNo::parse(&"x".repeat(33)).is_err());
        assert!(OutTradeNo::parse("").is_err());
        assert!(OutTradeNo::parse("a b").is_err());
        assert!(OutTradeNo::parse("订单").is_err());
        assert!(OutRefundNo::parse(&"r".repeat(64)).is_ok());
        assert!(MerchantId::parse("m|1").is_err());
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let number = ProviderOrderNo::from_uuid(id);
        assert_eq!(number.as_str(), "0123456789abcdef0123456789abcdef");
        assert_eq!(ProviderOrderNo::parse(number.as_str()), Ok(number));
    }
}
