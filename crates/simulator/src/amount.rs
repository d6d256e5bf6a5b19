//! Exact conversions between the wire forms of an amount and `Decimal` yuan.
//!
//! WeChat sends integer fen (`total_fee=1234`), Alipay a yuan string (`"12.34"`).
//! The simulator parses both itself, rather than through `paycode-domain`, so that it stays an independent reading of the protocols.

use rust_decimal::Decimal;

/// The largest amount either provider accepts for one trade: Alipay's documented upper bound of 100,000,000.00 yuan.
const MAX_YUAN: i64 = 100_000_000;

/// Parses a WeChat fen integer (`"1234"`) into yuan; `None` unless it is a plain positive integer within bounds.
pub fn parse_fen(text: &str) -> Option<Decimal> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 12 {
        return None;
    }
    let fen: i64 = text.parse().ok()?;
    let yuan = Decimal::new(fen, 2);
    (fen > 0 && yuan <= Decimal::from(MAX_YUAN)).then_some(yuan)
}

/// Parses an Alipay yuan string (`"12.34"`, `"12.3"`, `"12"`): digits with at most two decimals, from 0.01 up to the bound.
pub fn parse_yuan(text: &str) -> Option<Decimal> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits_ok = !int.is_empty()
        && int.len() <= 9
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(text.contains('.') && frac.is_empty());
    if !digits_ok {
        return None;
    }
    let mut yuan: Decimal = text.parse().ok()?;
    yuan.rescale(2);
    (yuan > Decimal::ZERO && yuan <= Decimal::from(MAX_YUAN)).then_some(yuan)
}

/// Yuan as integer fen; exact because every amount in the ledger has two decimals.
pub fn to_fen(yuan: Decimal) -> i64 {
    let mut scaled = yuan;
    scaled.rescale(2);
    i64::try_from(scaled.mantissa()).unwrap_or(i64::MAX)
}

/// Yuan as a two-decimal string, as Alipay and both bill formats print it.
pub fn to_yuan_string(yuan: Decimal) -> String {
    let mut scaled = yuan;
    scaled.rescale(2);
    scaled.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_and_yuan_round_trip_exactly() {
        let yuan = parse_fen("1234").unwrap();
        assert_eq!(to_yuan_string(yuan), "12.34");
        assert_eq!(to_fen(parse_yuan("12.3").unwrap()), 1230);
        assert_eq!(to_fen(parse_yuan("0.01").unwrap()), 1);
    }

    proptest::proptest! {
        #[test]
        fn every_fen_amount_survives_both_wire_forms(fen in 1i64..=10_000_000_000) {
            let yuan = parse_fen(&fen.to_string()).unwrap();
            proptest::prop_assert_eq!(to_fen(yuan), fen);
            proptest::prop_assert_eq!(parse_yuan(&to_yuan_string(yuan)), Some(yuan));
        }
    }

    #[test]
    fn malformed_or_non_positive_amounts_are_refused() {
        for bad in ["", "0", "-1", "1.5", "+3", "12a"] {
            assert_eq!(parse_fen(bad), None, "fen {bad}");
        }
        for bad in [
            "",
            "0",
            "0.00",
            "1.234",
            "-1.00",
            "1.",
            ".5",
            "1e3",
            "100000000.01",
        ] {
            assert_eq!(parse_yuan(bad), None, "yuan {bad}");
        }
    }
}
