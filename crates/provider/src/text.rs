//! Text formats both providers share: wall-clock times in Beijing time
//! (`yyyy-MM-dd HH:mm:ss`, in Alipay's answers and requests and in both
//! bills) and signed yuan amounts as the bills print them. Field names stay
//! in the client crates; each turns a `None` here into its own error.

use chrono::{DateTime, NaiveDateTime, Utc};
use paycode_domain::beijing;

const WALL_CLOCK: &str = "%Y-%m-%d %H:%M:%S";

/// Reads `yyyy-MM-dd HH:mm:ss` as Beijing time.
pub fn parse_beijing_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, WALL_CLOCK)
        .ok()?
        .and_local_timezone(beijing::offset())
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// An instant as `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub fn format_beijing_time(at: DateTime<Utc>) -> String {
    beijing::wall_clock(at).format(WALL_CLOCK).to_string()
}

/// A yuan amount (`12.30`, `-0.01`, `0`) as signed fen. More than two
/// decimals, a sign other than a leading `-`, or more than 12 digits before
/// the point are refused: bill amounts are exact to the fen.
pub fn parse_signed_fen(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || fraction.len() > 2 || !plain(whole) {
        return None;
    }
    if !plain(fraction) || (digits.contains('.') && fraction.is_empty()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    let fen = whole * 100 + cents;
    Some(if negative { -fen } else { fen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_times_read_and_print_back() {
        let at = parse_beijing_time("2026-11-27 08:00:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-27T00:00:00+00:00");
        assert_eq!(format_beijing_time(at), "2026-11-27 08:00:00");
        assert_eq!(parse_beijing_time("2026-11-27T08:00:00"), None);
    }

    #[test]
    fn amounts_are_exact_to_the_fen() {
        assert_eq!(parse_signed_fen("12.30"), Some(1_230));
        assert_eq!(parse_signed_fen("-0.01"), Some(-1));
        assert_eq!(parse_signed_fen("0"), Some(0));
        assert_eq!(parse_signed_fen("7.5"), Some(750));
        for bad in [
            "",
            "1.234",
            "1.",
            ".5",
            "+1",
            "1e3",
            "--1",
            "1 000",
            "1234567890123",
        ] {
            assert_eq!(parse_signed_fen(bad), None, "{bad:?}");
        }
    }
}
