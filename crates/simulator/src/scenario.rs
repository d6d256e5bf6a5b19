//! Scenarios: how the simulated customer and provider behave for one trade.
//!
//! A scenario is chosen by markers in the payment code (two digits after the wallet prefix select the scenario,
//! the next two digits are its parameter), or set for an `out_trade_no` through the control API, which wins.
//! The table in `MARKERS` is the one `--help` and the README print.

use serde::{Deserialize, Serialize};

/// What happens to a trade. `secs` and `times` come from the parameter digits (`NN`) of the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scenario {
    /// Paid at once (amounts above the password threshold wait for the password first).
    PayNow,
    /// Pending (USERPAYING / 10003), then paid `secs` seconds of simulator clock later.
    PaidAfter { secs: u64 },
    /// Pending for ever: the customer never confirms (WeChat revokes the
    /// order by itself `wechat_auto_revoke_secs` after creation).
    NeverConfirmed,
    /// Refused: NOTENOUGH / ACQ.BUYER_BALANCE_NOT_ENOUGH.
    InsufficientBalance,
    /// Refused: AUTHCODEEXPIRE / ACQ.PAYMENT_AUTH_CODE_INVALID.
    CodeExpired,
    /// Refused: AUTH_CODE_INVALID (code already used) / ACQ.PAYMENT_AUTH_CODE_INVALID.
    CodeInvalid,
    /// Answers SYSTEMERROR / 20000, but the trade was in fact paid.
    UnknownErrorPaid,
    /// Answers SYSTEMERROR / 20000, and the trade was not paid.
    UnknownErrorNotPaid,
    /// Pending for ever; the first `times` reversals answer "retry" (recall=Y / retry_flag=Y), then it reverses.
    ReverseRetry { times: u32 },
    /// Pending for ever; every reversal answers "retry".
    ReverseAlwaysFails,
    /// Paid at once; each refund stays PROCESSING for `secs` seconds of
    /// simulator clock, then ends as `end` says.
    RefundProcessing {
        secs: u64,
        #[serde(default)]
        end: RefundEnd,
    },
}

/// How a WeChat refund ends once it stops PROCESSING (WeChat `refund_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundEnd {
    /// `SUCCESS`: the money reached the customer.
    #[default]
    Success,
    /// `CHANGE`: the bank refused (card closed or frozen); the money went
    /// back to the merchant account and must be refunded by hand.
    Change,
    /// `REFUNDCLOSE`: the refund was closed without refunding.
    Close,
}

/// Defaults for a parameter of `00`, so that a marker without a parameter still means something.
const DEFAULT_PAID_AFTER_SECS: u64 = 10;
const DEFAULT_REVERSE_RETRIES: u32 = 2;
const DEFAULT_REFUND_PROCESSING_SECS: u64 = 60;

/// One row of the marker table: scenario digits, what the parameter means, description.
#[derive(Debug, Clone, Copy)]
pub struct Marker {
    pub digits: &'static str,
    pub parameter: &'static str,
    pub meaning: &'static str,
}

pub const MARKERS: &[Marker] = &[
    Marker {
        digits: "00",
        parameter: "-",
        meaning: "pay at once (default; any code whose scenario digits are not listed also pays at once)",
    },
    Marker {
        digits: "01",
        parameter: "seconds (00 = 10)",
        meaning: "pending, then paid after NN seconds (WeChat: revoked at 45 s instead if NN >= 45)",
    },
    Marker {
        digits: "02",
        parameter: "-",
        meaning: "pending for ever (customer never confirms); WeChat revokes it at 45 s",
    },
    Marker {
        digits: "03",
        parameter: "-",
        meaning: "insufficient balance (NOTENOUGH / ACQ.BUYER_BALANCE_NOT_ENOUGH)",
    },
    Marker {
        digits: "04",
        parameter: "-",
        meaning: "expired code (AUTHCODEEXPIRE / ACQ.PAYMENT_AUTH_CODE_INVALID)",
    },
    Marker {
        digits: "05",
        parameter: "-",
        meaning: "invalid or used code (AUTH_CODE_INVALID / ACQ.PAYMENT_AUTH_CODE_INVALID)",
    },
    Marker {
        digits: "06",
        parameter: "-",
        meaning: "unknown error (SYSTEMERROR / 20000), trade actually paid",
    },
    Marker {
        digits: "07",
        parameter: "-",
        meaning: "unknown error (SYSTEMERROR / 20000), trade not paid; WeChat revokes it at 45 s",
    },
    Marker {
        digits: "08",
        parameter: "retries (00 = 2)",
        meaning: "pending for ever (WeChat: until its 45 s revoke); reverse asks for retry NN times, then succeeds",
    },
    Marker {
        digits: "09",
        parameter: "-",
        meaning: "pending for ever (WeChat: until its 45 s revoke); reverse always asks for retry",
    },
    Marker {
        digits: "10",
        parameter: "seconds (00 = 60)",
        meaning: "paid at once; refunds stay PROCESSING for NN seconds",
    },
    Marker {
        digits: "11",
        parameter: "seconds (00 = 60)",
        meaning: "paid at once; WeChat refunds stay PROCESSING for NN seconds, then CHANGE",
    },
    Marker {
        digits: "12",
        parameter: "seconds (00 = 60)",
        meaning: "paid at once; WeChat refunds stay PROCESSING for NN seconds, then REFUNDCLOSE",
    },
];

impl Scenario {
    /// Reads the markers: `PP SS NN ...` where PP is the wallet prefix, SS the scenario and NN its parameter.
    /// Codes too short to carry markers, and unlisted scenario digits, pay at once.
    pub fn from_auth_code(code: &str) -> Scenario {
        let two = |at: usize| code.get(at..at + 2).and_then(|d| d.parse::<u32>().ok());
        let (Some(scenario), Some(param)) = (two(2), two(4)) else {
            return Scenario::PayNow;
        };
        let secs_or = |default: u64| {
            if param == 0 {
                default
            } else {
                u64::from(param)
            }
        };
        match scenario {
            1 => Scenario::PaidAfter {
                secs: secs_or(DEFAULT_PAID_AFTER_SECS),
            },
            2 => Scenario::NeverConfirmed,
            3 => Scenario::InsufficientBalance,
            4 => Scenario::CodeExpired,
            5 => Scenario::CodeInvalid,
            6 => Scenario::UnknownErrorPaid,
            7 => Scenario::UnknownErrorNotPaid,
            8 => Scenario::ReverseRetry {
                times: if param == 0 {
                    DEFAULT_REVERSE_RETRIES
                } else {
                    param
                },
            },
            9 => Scenario::ReverseAlwaysFails,
            10 => Scenario::RefundProcessing {
                secs: secs_or(DEFAULT_REFUND_PROCESSING_SECS),
                end: RefundEnd::Success,
            },
            11 => Scenario::RefundProcessing {
                secs: secs_or(DEFAULT_REFUND_PROCESSING_SECS),
                end: RefundEnd::Change,
            },
            12 => Scenario::RefundProcessing {
                secs: secs_or(DEFAULT_REFUND_PROCESSING_SECS),
                end: RefundEnd::Close,
            },
            _ => Scenario::PayNow,
        }
    }
}

/// The marker table as plain text, for `--help`.
pub fn marker_table() -> String {
    let mut out = String::from(
        "Payment-code markers: WeChat `13` + SS + NN + 12 digits (18 digits); Alipay `28` + SS + NN + 10..18 digits (16..24 in all).\n\
         A code pays once: a code that created a trade is refused under any other order number (AUTH_CODE_INVALID / ACQ.PAYMENT_AUTH_CODE_INVALID).\n\
         WeChat revokes an unpaid order `wechat_auto_revoke_secs` (default 45) after creation.\n  SS  NN                  behaviour\n",
    );
    for marker in MARKERS {
        out.push_str(&format!(
            "  {}  {:<19} {}\n",
            marker.digits, marker.parameter, marker.meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_after_the_prefix_select_the_scenario_and_its_parameter() {
        assert_eq!(
            Scenario::from_auth_code("130000123456789012"),
            Scenario::PayNow
        );
        assert_eq!(
            Scenario::from_auth_code("130105123456789012"),
            Scenario::PaidAfter { secs: 5 }
        );
        assert_eq!(
            Scenario::from_auth_code("280100123456789012"),
            Scenario::PaidAfter { secs: 10 }
        );
        assert_eq!(
            Scenario::from_auth_code("280803123456789012"),
            Scenario::ReverseRetry { times: 3 }
        );
        assert_eq!(
            Scenario::from_auth_code("131030123456789012"),
            Scenario::RefundProcessing {
                secs: 30,
                end: RefundEnd::Success
            }
        );
        assert_eq!(
            Scenario::from_auth_code("139900123456789012"),
            Scenario::PayNow
        );
        assert_eq!(Scenario::from_auth_code("13"), Scenario::PayNow);
    }

    #[test]
    fn the_marker_table_lists_every_scenario_number() {
        let table = marker_table();
        for n in 0..=12 {
            assert!(table.contains(&format!("  {n:02}  ")), "{n:02} missing");
        }
    }
}
