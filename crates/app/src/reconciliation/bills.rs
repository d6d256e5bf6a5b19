//! A provider's bill, downloaded or given as a file, parsed by its client
//! crate and converted into the neutral lines of `paycode-reconcile`.
//!
//! The client crates know the file formats and produce their own rows; this
//! module knows what each row means for matching (which amount is compared,
//! which is summed, what a state says) and nothing about layouts.
//!
//! Before a bill is matched it must prove it is the run's: every row names
//! the merchant's account (WeChat 商户号, 公众账号ID and, for a service
//! provider's sub-merchant, 特约商户号; Alipay's `#账号` line) and falls
//! within the run's Beijing day, widened on both sides by the carry margin
//! (a provider may book a trade a few minutes either side of midnight);
//! Alipay's `#起始日期`/`#终止日期` must be exactly the day. WeChat dates a
//! refund row by its initiation and prints its state "as of bill time", so
//! a refund row is listed on the day it was asked for: the same window holds
//! (protocols.md 5.1). A bill that fails a check is refused whole.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use paycode_alipay::bill as alipay;
use paycode_domain::{Amount, BillSource, Money, Provider, beijing};
use paycode_provider::{BillAnswer, BillEncoding};
use paycode_reconcile::{Bill, BillLine, BillSummary, LineKind, LineStatus, RefNo};
use paycode_wechatpay::bill as wechat;

use super::ReconciliationError;

/// The bill a run reconciles, as it reached paycode.
#[derive(Debug, Clone)]
pub enum BillInput {
    /// What the provider's download answered (a file or "no bill").
    Downloaded(BillAnswer),
    /// A file an operator gives (`paycode reconcile --file`): a WeChat text
    /// (or gzip, or the XML "No Bill Exist" answer) or an Alipay zip.
    File { name: String, bytes: Vec<u8> },
}

/// The provider account a merchant's bill must belong to, from the
/// merchant's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillAccount {
    Wechat {
        appid: String,
        mch_id: String,
        /// Set in service-provider mode: the rows' 特约商户号.
        sub_mch_id: Option<String>,
    },
    Alipay {
        /// The 2088… partner id; the bill prints `#账号：[{pid}0156]`. A run
        /// is refused without it: the bill's account could not be checked.
        pid: Option<String>,
    },
}

impl BillAccount {
    pub fn provider(&self) -> Provider {
        match self {
            BillAccount::Wechat { .. } => Provider::Wechatpay,
            BillAccount::Alipay { .. } => Provider::Alipay,
        }
    }
}

/// What a bill must show to be this run's.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub account: BillAccount,
    pub day: NaiveDate,
    /// How far either side of the day a line's time may fall.
    pub margin: Duration,
}

impl Expected {
    /// The day's Beijing midnight, as a wall-clock time.
    fn day_start(&self) -> NaiveDateTime {
        self.day.and_time(NaiveTime::MIN)
    }

    fn check_time(&self, line: u64, time: DateTime<Utc>) -> Result<(), ReconciliationError> {
        let local = beijing::wall_clock(time);
        let start = self.day_start();
        if local >= start - self.margin && local < start + Duration::days(1) + self.margin {
            return Ok(());
        }
        Err(ReconciliationError::WrongDay {
            day: self.day,
            reason: format!(
                "line {line} is dated {} (Beijing time)",
                local.format("%Y-%m-%d %H:%M:%S")
            ),
        })
    }
}

fn wrong_account(
    line: u64,
    field: &'static str,
    found: &str,
    expected: &str,
) -> ReconciliationError {
    ReconciliationError::WrongAccount {
        line,
        field,
        found: found.to_owned(),
        expected: expected.to_owned(),
    }
}

/// A bill ready for matching, with what the run records about it.
#[derive(Debug, Clone)]
pub(crate) struct ParsedBill {
    pub bill: Bill,
    /// SHA-256 (hex) of the bytes; `None` for "no bill".
    pub sha256: Option<String>,
    pub source: BillSource,
    /// What the parser read past (columns it does not know).
    pub warnings: Vec<String>,
}

/// Parses `input` as the bill of `expected.account`'s provider and checks
/// that it is that account's and day's.
/// An empty day (WeChat "No Bill Exist", an Alipay file without rows) is an
/// empty bill, not an error.
pub(crate) fn parse(
    input: BillInput,
    expected: &Expected,
) -> Result<ParsedBill, ReconciliationError> {
    let provider = expected.account.provider();
    let (answer, source) = match input {
        BillInput::Downloaded(answer) => (answer, BillSource::Download),
        BillInput::File { name, bytes } => {
            (file_answer(provider, bytes)?, BillSource::File { name })
        }
    };
    let file = match answer {
        BillAnswer::NoBill(_) => {
            return Ok(ParsedBill {
                bill: Bill::default(),
                sha256: None,
                source,
                warnings: Vec::new(),
            });
        }
        BillAnswer::File(file) => file,
    };
    let sha256 = Some(hex(ring::digest::digest(
        &ring::digest::SHA256,
        &file.bytes,
    )
    .as_ref()));
    let (bill, warnings) = match (&expected.account, file.encoding) {
        (
            BillAccount::Wechat {
                appid,
                mch_id,
                sub_mch_id,
            },
            BillEncoding::Text | BillEncoding::Gzip,
        ) => {
            let gzip = file.encoding == BillEncoding::Gzip;
            let parsed = wechat::parse(&wechat::decode(&file.bytes, gzip)?)?;
            let ids = [
                ("商户号", Some(mch_id.as_str())),
                ("公众账号ID", Some(appid.as_str())),
                ("特约商户号", sub_mch_id.as_deref()),
            ];
            check_wechat(&parsed, ids, expected)?;
            (wechat_bill(&parsed)?, parsed.warnings)
        }
        (BillAccount::Alipay { pid }, BillEncoding::Zip) => {
            let parsed = alipay::parse_file(&file.bytes)?;
            check_alipay(&parsed, pid.as_deref(), expected)?;
            (alipay_bill(&parsed)?, parsed.warnings)
        }
        (BillAccount::Wechat { .. }, BillEncoding::Zip)
        | (BillAccount::Alipay { .. }, BillEncoding::Text | BillEncoding::Gzip) => {
            return Err(ReconciliationError::WrongBillEncoding { provider });
        }
    };
    Ok(ParsedBill {
        bill,
        sha256,
        source,
        warnings,
    })
}

/// Every row names the account (`ids`: 商户号, 公众账号ID, 特约商户号 as
/// configured, `None` for no sub-merchant) and falls within the day.
fn check_wechat(
    parsed: &wechat::Bill,
    ids: [(&'static str, Option<&str>); 3],
    expected: &Expected,
) -> Result<(), ReconciliationError> {
    let none = "(none)";
    for row in &parsed.rows {
        let on_row = [
            Some(row.mch_id.as_str()),
            Some(row.appid.as_str()),
            row.sub_mch_id.as_deref(),
        ];
        for ((field, wanted), found) in ids.iter().zip(on_row) {
            if found != *wanted {
                let show = |v: Option<&str>| v.unwrap_or(none).to_owned();
                return Err(wrong_account(row.line, field, &show(found), &show(*wanted)));
            }
        }
        expected.check_time(row.line, row.time)?;
    }
    Ok(())
}

/// The `#账号` line is the account's, the period is the day, and every row
/// was completed within it.
fn check_alipay(
    parsed: &alipay::Bill,
    pid: Option<&str>,
    expected: &Expected,
) -> Result<(), ReconciliationError> {
    let pid = pid.ok_or(ReconciliationError::AccountNotConfigured)?;
    // The PID followed by the currency code 0156 (protocols.md 5.2).
    let wanted = format!("{pid}0156");
    let account = parsed.account.as_deref().unwrap_or("(no #账号 line)");
    if account != wanted && account != pid {
        return Err(wrong_account(0, "#账号", account, &wanted));
    }
    let day_start = expected.day_start();
    let wanted = (day_start, day_start + Duration::days(1));
    match parsed.period {
        Some(period) if period == wanted => {}
        Some((from, to)) => {
            return Err(ReconciliationError::WrongDay {
                day: expected.day,
                reason: format!("the bill's #起始日期/#终止日期 are {from} to {to}"),
            });
        }
        None => {
            return Err(ReconciliationError::WrongDay {
                day: expected.day,
                reason: "the bill has no `#起始日期` line".to_owned(),
            });
        }
    }
    parsed
        .rows
        .iter()
        .try_for_each(|row| expected.check_time(row.line, row.finished_at))
}

/// A file read from disk, classified as the download would have been.
fn file_answer(provider: Provider, bytes: Vec<u8>) -> Result<BillAnswer, ReconciliationError> {
    match provider {
        Provider::Wechatpay => paycode_wechatpay::response::map_bill(bytes).map_err(|e| {
            ReconciliationError::Download {
                provider,
                source: e,
            }
        }),
        Provider::Alipay => Ok(BillAnswer::File(paycode_provider::BillFile {
            bytes,
            encoding: BillEncoding::Zip,
        })),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bad(line: u64, reason: impl Into<String>) -> ReconciliationError {
    ReconciliationError::BadBillLine {
        line,
        reason: reason.into(),
    }
}

fn money(fen: i64, line: u64, what: &str) -> Result<Money, ReconciliationError> {
    Money::from_fen(fen).map_err(|e| bad(line, format!("{what}: {e}")))
}

fn amount(fen: i64, line: u64, what: &str) -> Result<Amount, ReconciliationError> {
    Amount::from_fen(fen).ok_or_else(|| bad(line, format!("{what} is negative")))
}

fn reference(text: &str, line: u64) -> Result<RefNo, ReconciliationError> {
    RefNo::parse(text).map_err(|e| bad(line, e.to_string()))
}

fn optional_reference(text: &str, line: u64) -> Result<Option<RefNo>, ReconciliationError> {
    if text.is_empty() {
        return Ok(None);
    }
    reference(text, line).map(Some)
}

/// The amount summed by the summary, when it differs from the compared one.
fn settled(
    settled_fen: i64,
    compared: Money,
    line: u64,
) -> Result<Option<Amount>, ReconciliationError> {
    if settled_fen == compared.to_fen() {
        return Ok(None);
    }
    amount(settled_fen, line, "the settled amount").map(Some)
}

fn wechat_bill(parsed: &wechat::Bill) -> Result<Bill, ReconciliationError> {
    let lines = parsed
        .rows
        .iter()
        .map(wechat_line)
        .collect::<Result<Vec<_>, _>>()?;
    let s = &parsed.summary;
    let total = |fen: Option<i64>, what| fen.map(|f| amount(f, 0, what)).transpose();
    Ok(Bill {
        lines,
        summary: BillSummary {
            line_count: Some(s.trade_count),
            payment_count: None,
            refund_count: None,
            paid_total: total(s.settlement_total_fen, "应结订单总金额")?,
            refund_total: total(s.refund_total_fen, "退款总金额")?,
        },
    })
}

fn wechat_line(row: &wechat::BillRow) -> Result<BillLine, ReconciliationError> {
    let line = row.line;
    let (kind, amount_fen, out_refund_no, status) = match row.trade_state.as_str() {
        "SUCCESS" => (
            LineKind::Payment,
            row.total_fen
                .filter(|f| *f > 0)
                .unwrap_or(row.settlement_fen),
            None,
            LineStatus::Succeeded,
        ),
        "REFUND" => {
            let number = row
                .out_refund_no
                .as_deref()
                .ok_or_else(|| bad(line, "a REFUND row without 商户退款单号"))?;
            let status = match row.refund_status.as_str() {
                "SUCCESS" => LineStatus::Succeeded,
                "PROCESSING" => LineStatus::Processing,
                "CHANGE" => LineStatus::Abnormal,
                _ => LineStatus::Failed,
            };
            // Compared on what was asked (申请退款金额), which is what paycode
            // recorded; 退款金额 is less under non-recharge coupons and is
            // what the summary adds up.
            (
                LineKind::Refund,
                row.requested_refund_fen
                    .filter(|f| *f > 0)
                    .unwrap_or(row.refund_fen),
                Some(reference(number, line)?),
                status,
            )
        }
        // Whether a REVOKED row fills the refund columns is unconfirmed: take
        // whichever amount it has.
        "REVOKED" => (
            LineKind::Reversal,
            [
                row.refund_fen,
                row.total_fen.unwrap_or(0),
                row.settlement_fen,
            ]
            .into_iter()
            .find(|f| *f > 0)
            .unwrap_or(0),
            row.out_refund_no
                .as_deref()
                .map(|n| reference(n, line))
                .transpose()?,
            LineStatus::Succeeded,
        ),
        other => return Err(bad(line, format!("unknown 交易状态 {other:?}"))),
    };
    let compared = money(amount_fen, line, "the amount")?;
    let settled_amount = match kind {
        LineKind::Payment => settled(row.settlement_fen, compared, line)?,
        LineKind::Refund => settled(row.refund_fen, compared, line)?,
        LineKind::Reversal => None,
    };
    let raw_status = match kind {
        LineKind::Payment => row.trade_state.clone(),
        LineKind::Refund | LineKind::Reversal => {
            format!("{} {}", row.trade_state, row.refund_status)
        }
    };
    Ok(BillLine {
        line,
        kind,
        out_trade_no: reference(&row.out_trade_no, line)?,
        provider_trade_no: optional_reference(&row.transaction_id, line)?,
        out_refund_no,
        amount: compared,
        settled_amount,
        time: row.time,
        status,
        raw_status: raw_status.trim().to_owned(),
    })
}

fn alipay_bill(parsed: &alipay::Bill) -> Result<Bill, ReconciliationError> {
    let lines = parsed
        .rows
        .iter()
        .map(alipay_line)
        .collect::<Result<Vec<_>, _>>()?;
    let s = &parsed.summary;
    Ok(Bill {
        lines,
        summary: BillSummary {
            line_count: None,
            payment_count: Some(s.payment_count),
            refund_count: Some(s.refund_count),
            paid_total: Some(amount(s.payment_received_fen, 0, "交易合计")?),
            refund_total: Some(amount(-s.refund_received_fen, 0, "退款合计 (as a refund)")?),
        },
    })
}

/// Whether a 退款 row is the refund half of a cancel (撤销) rather than a
/// refund paycode asked for. paycode sends every refund with its own
/// `out_request_no` (32 hex digits, never a trade or order number), so a
/// refund row without a request number, or numbered with the trade's
/// 支付宝交易号 or 商户订单号 (what Alipay uses when none was given,
/// protocols.md 4.9), is the provider's reversal: the same kind as WeChat's
/// REVOKED row, decided from the line alone.
fn is_cancel_refund(row: &alipay::BillRow) -> bool {
    match row.refund_request_no.as_deref() {
        None => true,
        Some(number) => number == row.trade_no || number == row.out_trade_no,
    }
}

fn alipay_line(row: &alipay::BillRow) -> Result<BillLine, ReconciliationError> {
    let line = row.line;
    // Refund rows print negative amounts; the line's kind carries the direction.
    let (kind, sign) = match row.business_type.as_str() {
        "交易" => (LineKind::Payment, 1),
        "退款" if is_cancel_refund(row) => (LineKind::Reversal, -1),
        "退款" => (LineKind::Refund, -1),
        other => return Err(bad(line, format!("unknown 业务类型 {other:?}"))),
    };
    let compared = money(sign * row.order_fen, line, "订单金额")?;
    let out_refund_no = match kind {
        LineKind::Refund => row
            .refund_request_no
            .as_deref()
            .map(|n| reference(n, line))
            .transpose()?,
        LineKind::Payment | LineKind::Reversal => None,
    };
    let settled_amount = settled(sign * row.received_fen, compared, line)?;
    Ok(BillLine {
        line,
        kind,
        out_trade_no: reference(&row.out_trade_no, line)?,
        provider_trade_no: optional_reference(&row.trade_no, line)?,
        out_refund_no,
        amount: compared,
        settled_amount,
        time: row.finished_at,
        status: LineStatus::Succeeded,
        raw_status: row.business_type.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refund of 10.00 on an order paid partly with a non-recharge coupon:
    /// WeChat settles 8.00 (退款金额) of the 10.00 asked (申请退款金额). The
    /// line compares the 10.00 paycode recorded and keeps 8.00 for the
    /// summary (issue 12, finding 6).
    #[test]
    fn a_wechat_refund_row_is_compared_on_the_requested_amount() {
        let row = wechat::BillRow {
            line: 4,
            time: chrono::DateTime::parse_from_rfc3339("2026-11-20T03:00:00Z")
                .unwrap()
                .to_utc(),
            appid: "wx1".into(),
            mch_id: "10000100".into(),
            sub_mch_id: None,
            transaction_id: "4200000001".into(),
            out_trade_no: "p1".into(),
            trade_type: "MICROPAY".into(),
            trade_state: "REFUND".into(),
            settlement_fen: 0,
            total_fen: Some(0),
            refund_id: Some("50300001".into()),
            out_refund_no: Some("r1".into()),
            refund_fen: 800,
            requested_refund_fen: Some(1000),
            refund_status: "SUCCESS".into(),
        };
        let line = wechat_line(&row).unwrap();
        assert_eq!(line.amount, Money::parse("10.00").unwrap());
        assert_eq!(line.settled_amount, Amount::from_fen(800));
        let without_column = wechat::BillRow {
            requested_refund_fen: None,
            ..row
        };
        let line = wechat_line(&without_column).unwrap();
        assert_eq!(line.amount, Money::parse("8.00").unwrap());
        assert_eq!(line.settled_amount, None);
    }
}
