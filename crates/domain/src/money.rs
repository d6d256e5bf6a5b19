//! `Money`: an amount of Chinese yuan (CNY), exact to the fen.
//!
//! Every amount in paycode is a `Money`: a whole number of fen inside, from
//! 0.01 to 100,000,000.00 yuan (the range both providers accept for one
//! trade), parsed from and printed as a decimal with at most two places
//! through `rust_decimal::Decimal`. It is never a float. JSON carries it as a
//! string (`"88.80"`), so no JSON reader can round it.
//!
//! Conversions to the wire happen at the adapter edge only: WeChat Pay wants
//! integer fen (`to_fen`), Alipay a yuan string with two decimals (`to_yuan_string`).
//! Both are exact, and both have an exact inverse.
//!
//! Sums (refunded totals) use [`Amount`], which may be zero; a `Money` is never zero.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One trade may not exceed 100,000,000.00 yuan (WeChat `total_fee` and Alipay
/// `total_amount` both stop there); expressed in fen to keep it an integer.
const MAX_FEN: i64 = 10_000_000_000;

/// Why a text is not a `Money`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is not a plain decimal number of yuan, such as \"88.80\"")]
    NotADecimal,
    #[error("amount has more than two decimal places; the smallest unit is 0.01 yuan")]
    TooPrecise,
    #[error("amount must be at least 0.01 yuan")]
    NotPositive,
    #[error("amount must be at most 100000000.00 yuan")]
    TooLarge,
}

/// A positive amount of CNY, 0.01 to 100,000,000.00, exact to the fen.
///
/// Invariant: the inner value is the number of fen, in `1..=MAX_FEN`. Keeping
/// fen as an integer makes equality, ordering and sums exact and cheap;
/// `Decimal` is used to parse and print.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    /// Parses a yuan amount as a merchant or the POS sends it: digits with an
    /// optional point and at most two decimals. Exponents, signs, `NaN`,
    /// whitespace and thousands separators are refused.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let plain = !text.is_empty()
            && text.len() <= 20
            && text.chars().all(|c| c.is_ascii_digit() || c == '.')
            && text.chars().filter(|&c| c == '.').count() <= 1
            && !text.starts_with('.')
            && !text.ends_with('.');
        if !plain {
            return Err(MoneyError::NotADecimal);
        }
        let value = Decimal::from_str(text).map_err(|_| MoneyError::NotADecimal)?;
        Money::from_decimal(value)
    }

    /// Takes a decimal with at most two significant decimal places.
    pub fn from_decimal(value: Decimal) -> Result<Money, MoneyError> {
        let normalized = value.normalize();
        if normalized.scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        if normalized <= Decimal::ZERO {
            return Err(MoneyError::NotPositive);
        }
        let fen = (normalized * Decimal::ONE_HUNDRED).trunc();
        let fen = i64::try_from(fen).map_err(|_| MoneyError::TooLarge)?;
        Money::from_fen(fen)
    }

    /// Takes an integer number of fen (WeChat's `total_fee`).
    pub fn from_fen(fen: i64) -> Result<Money, MoneyError> {
        match fen {
            ..=0 => Err(MoneyError::NotPositive),
            1..=MAX_FEN => Ok(Money(fen)),
            _ => Err(MoneyError::TooLarge),
        }
    }

    /// The amount in fen, as WeChat Pay's `total_fee` / `refund_fee` want it.
    pub fn to_fen(self) -> i64 {
        self.0
    }

    /// The amount as a yuan string with exactly two decimals (`"88.80"`), as
    /// Alipay's `total_amount` wants it and as paycode's JSON carries it.
    pub fn to_yuan_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// The amount as a decimal of yuan with scale 2.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// The amount as an [`Amount`], for sums.
    pub fn amount(self) -> Amount {
        Amount(self.0)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yuan_string())
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({})", self.to_yuan_string())
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_yuan_string())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Money::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Money {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Money".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "CNY yuan with at most two decimals, 0.01 to 100000000.00",
            "pattern": "^[0-9]{1,9}(\\.[0-9]{1,2})?$"
        })
    }
}

/// A non-negative sum of CNY (a refunded total), exact to the fen. Zero is allowed.
///
/// Invariant: the inner value is fen, `>= 0`. Arithmetic is checked: a sum
/// that would overflow or go negative is a bug, reported by `None`.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn from_fen(fen: i64) -> Option<Amount> {
        (fen >= 0).then_some(Amount(fen))
    }

    pub fn to_fen(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Amount> {
        self.0.checked_add(other.to_fen()).map(Amount)
    }

    pub fn checked_sub(self, other: Money) -> Option<Amount> {
        let fen = self.0.checked_sub(other.to_fen())?;
        Amount::from_fen(fen)
    }

    pub fn to_yuan_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yuan_string())
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.to_yuan_string())
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_yuan_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "0" || text == "0.00" || text == "0.0" {
            return Ok(Amount::ZERO);
        }
        Money::parse(&text)
            .map(Money::amount)
            .map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Amount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "CNY yuan with two decimals, zero or more",
            "pattern": "^[0-9]{1,9}\\.[0-9]{2}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_plain_amounts_and_prints_two_decimals() {
        for (text, fen, printed) in [
            ("0.01", 1, "0.01"),
            ("1", 100, "1.00"),
            ("88.8", 8880, "88.80"),
            ("88.80", 8880, "88.80"),
            ("1.000", 100, "1.00"),
            ("100000000.00", MAX_FEN, "100000000.00"),
        ] {
            let money = Money::parse(text).unwrap();
            assert_eq!(money.to_fen(), fen, "{text}");
            assert_eq!(money.to_yuan_string(), printed, "{text}");
        }
    }

    #[test]
    fn refuses_everything_that_is_not_an_exact_positive_amount() {
        for (text, error) in [
            ("0", MoneyError::NotPositive),
            ("0.00", MoneyError::NotPositive),
            ("-1", MoneyError::NotADecimal),
            ("1.001", MoneyError::TooPrecise),
            ("1e3", MoneyError::NotADecimal),
            ("NaN", MoneyError::NotADecimal),
            ("", MoneyError::NotADecimal),
            (" 1", MoneyError::NotADecimal),
            ("1,000", MoneyError::NotADecimal),
            ("1.", MoneyError::NotADecimal),
            (".5", MoneyError::NotADecimal),
            ("99999999999", MoneyError::TooLarge),
            ("100000000.01", MoneyError::TooLarge),
        ] {
            assert_eq!(Money::parse(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn json_carries_money_as_a_string() {
        let money = Money::parse("12.5").unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "\"12.50\"");
        assert_eq!(serde_json::from_str::<Money>("\"12.50\"").unwrap(), money);
        assert!(serde_json::from_str::<Money>("12.5").is_err());
    }

    proptest! {
        #[test]
        fn fen_and_yuan_strings_round_trip_exactly(fen in 1i64..=MAX_FEN) {
            let money = Money::from_fen(fen).unwrap();
            prop_assert_eq!(Money::parse(&money.to_yuan_string()).unwrap(), money);
            prop_assert_eq!(Money::from_decimal(money.to_decimal()).unwrap(), money);
            prop_assert_eq!(money.to_fen(), fen);
        }
    }
}
