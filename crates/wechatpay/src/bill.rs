//! The WeChat Pay trade bill (`/pay/downloadbill`, protocols.md 5.1), parsed
//! into plain rows and the summary, as this crate's own types.
//!
//! The layout: a header line, detail rows whose every value carries a leading
//! backtick, a summary header and a summary row. Columns are found by their
//! header names, never by position, so the ALL, SUCCESS and REFUND bills and
//! the legacy (pre-免充值券) 24-column set all parse. The text may be gzipped
//! (`tar_type=GZIP`), may start with a UTF-8 BOM and may end its lines with
//! `\r\n` (both unconfirmed, so tolerated).
//!
//! What it is not: the reconciliation. The application turns these rows into
//! the neutral lines of `paycode-reconcile`; this module only refuses a file
//! that is not a whole, well-formed bill: truncated, not UTF-8, a required
//! column missing, a row count that differs from the summary's. A column it
//! does not know (WeChat adds columns now and then) is skipped and named in
//! [`Bill::warnings`].

use std::io::Read as _;

use chrono::{DateTime, Utc};
use paycode_provider::text::{parse_beijing_time, parse_signed_fen};

/// The largest bill text accepted after decompression: a million rows of
/// about 300 bytes each is 300 MB; a gzip bomb stops here.
const MAX_BILL_BYTES: u64 = 1 << 30;

/// Why bytes are not a WeChat bill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    #[error("the bill is not gzip as its encoding says: {reason}")]
    BadGzip { reason: String },
    #[error("the bill is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the bill is not UTF-8 text (at byte {offset})")]
    NotUtf8 { offset: usize },
    #[error("the bill is empty")]
    Empty,
    #[error("line {line}: {reason}")]
    BadLine { line: u64, reason: String },
    #[error("the {table} header (line {line}) has no column {name:?}")]
    MissingColumn {
        table: &'static str,
        name: &'static str,
        line: u64,
    },
    #[error("the bill ends before its summary: truncated after line {line}")]
    Truncated { line: u64 },
    #[error("the summary counts {summary} trades but the bill has {rows} rows")]
    CountMismatch { summary: u64, rows: u64 },
}

/// Which column set the bill uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The current sets (ALL, SUCCESS, REFUND) with 应结订单金额.
    Current,
    /// The legacy set with 总金额 and 子商户号.
    Legacy,
}

/// One detail row. Amounts are fen, as printed (never negative here: WeChat
/// prints outflows in the refund columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// 1-based line number in the file.
    pub line: u64,
    /// 交易时间: the payment time, or the refund's initiation time.
    pub time: DateTime<Utc>,
    /// 公众账号ID: the appid the trade was made under.
    pub appid: String,
    pub mch_id: String,
    /// 特约商户号 / 子商户号; `None` when empty or `0` (an ordinary merchant).
    pub sub_mch_id: Option<String>,
    /// 微信订单号.
    pub transaction_id: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 交易类型: `MICROPAY`, `JSAPI`, ...
    pub trade_type: String,
    /// 交易状态: `SUCCESS`, `REFUND` or `REVOKED`.
    pub trade_state: String,
    /// 应结订单金额 (legacy: 总金额).
    pub settlement_fen: i64,
    /// 订单金额 (legacy: 总金额); `None` when the set has no such column.
    pub total_fen: Option<i64>,
    /// 微信退款单号; `None` when empty or `0`.
    pub refund_id: Option<String>,
    /// 商户退款单号; `None` when empty or `0`.
    pub out_refund_no: Option<String>,
    /// 退款金额: what was settled, the requested amount less non-recharge
    /// coupons; 0 when the set has no such column.
    pub refund_fen: i64,
    /// 申请退款金额: what the merchant asked to refund; `None` when the set
    /// has no such column.
    pub requested_refund_fen: Option<i64>,
    /// 退款状态: `SUCCESS`, `PROCESSING`, ...; empty on payment rows.
    pub refund_status: String,
}

/// The summary row. Fields a layout does not print are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillSummary {
    /// 总交易单数.
    pub trade_count: u64,
    /// 应结订单总金额 (legacy: 总交易额).
    pub settlement_total_fen: Option<i64>,
    /// 退款总金额 (legacy: 总退款金额).
    pub refund_total_fen: Option<i64>,
    /// 订单总金额.
    pub total_fen: Option<i64>,
}

/// A parsed bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    pub layout: Layout,
    pub rows: Vec<BillRow>,
    pub summary: BillSummary,
    /// What was read past: columns this parser does not know.
    pub warnings: Vec<String>,
}

/// Unpacks gzip (when `gzip`), checks UTF-8 and drops a BOM.
pub fn decode(bytes: &[u8], gzip: bool) -> Result<String, BillError> {
    let raw = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_BILL_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| BillError::BadGzip {
                reason: e.to_string(),
            })?;
        out
    } else {
        bytes.to_vec()
    };
    if u64::try_from(raw.len()).unwrap_or(u64::MAX) > MAX_BILL_BYTES {
        return Err(BillError::TooLarge {
            limit: MAX_BILL_BYTES,
        });
    }
    let text = String::from_utf8(raw).map_err(|e| BillError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Parses a decoded bill text.
pub fn parse(text: &str) -> Result<Bill, BillError> {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .zip(1u64..)
        .filter(|(l, _)| !l.trim().is_empty());
    let (header, header_line) = lines.next().ok_or(BillError::Empty)?;
    let mut warnings = Vec::new();
    let columns = DetailColumns::find(header, header_line, &mut warnings)?;
    let mut rows = Vec::new();
    let mut last = header_line;
    let summary = loop {
        let Some((text, number)) = lines.next() else {
            return Err(BillError::Truncated { line: last });
        };
        last = number;
        if text.starts_with('`') {
            rows.push(columns.row(&cells(text), number)?);
            continue;
        }
        let summary_columns = SummaryColumns::find(text, number, &mut warnings)?;
        let Some((values, value_line)) = lines.next() else {
            return Err(BillError::Truncated { line: number });
        };
        break summary_columns.read(&cells(values), value_line)?;
    };
    if let Some((_, extra)) = lines.next() {
        return Err(BillError::BadLine {
            line: extra,
            reason: "text after the summary row".to_owned(),
        });
    }
    let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
    if summary.trade_count != count {
        return Err(BillError::CountMismatch {
            summary: summary.trade_count,
            rows: count,
        });
    }
    Ok(Bill {
        layout: columns.layout,
        rows,
        summary,
        warnings,
    })
}

/// A backtick row's values: the row is `` `a,`b,`c ``, so splitting on
/// `` ,` `` keeps a comma inside a free-text value in its value.
fn cells(text: &str) -> Vec<&str> {
    text.strip_prefix('`').unwrap_or(text).split(",`").collect()
}

/// Every detail column name WeChat prints in any of its sets.
const KNOWN_DETAIL: &[&str] = &[
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "子商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "总金额",
    "代金券金额",
    "代金券或立减优惠金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "代金券或立减优惠退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
    "退款申请时间",
    "退款成功时间",
];

const KNOWN_SUMMARY: &[&str] = &[
    "总交易单数",
    "应结订单总金额",
    "总交易额",
    "退款总金额",
    "总退款金额",
    "充值券退款总金额",
    "总代金券或立减优惠退款金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
];

/// The header's column names; a name not in `known` is noted in `warnings`
/// and its values are skipped.
fn header_names<'a>(
    text: &'a str,
    line: u64,
    table: &'static str,
    known: &[&str],
    warnings: &mut Vec<String>,
) -> Vec<&'a str> {
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    warnings.extend(
        names
            .iter()
            .filter(|n| !known.contains(n))
            .map(|n| format!("unknown column {n:?} in the {table} header (line {line}) skipped")),
    );
    names
}

fn position(names: &[&str], wanted: &[&str]) -> Option<usize> {
    names.iter().position(|n| wanted.contains(n))
}

fn required(
    names: &[&str],
    wanted: &'static [&'static str],
    table: &'static str,
    line: u64,
) -> Result<usize, BillError> {
    position(names, wanted).ok_or(BillError::MissingColumn {
        table,
        name: wanted[0],
        line,
    })
}

/// Where each column the rows need sits.
#[derive(Debug)]
struct DetailColumns {
    layout: Layout,
    width: usize,
    time: usize,
    appid: usize,
    mch_id: usize,
    sub_mch_id: Option<usize>,
    transaction_id: usize,
    out_trade_no: usize,
    trade_type: usize,
    trade_state: usize,
    settlement: usize,
    total: Option<usize>,
    refund_id: Option<usize>,
    out_refund_no: Option<usize>,
    refund: Option<usize>,
    requested_refund: Option<usize>,
    refund_status: Option<usize>,
}

impl DetailColumns {
    fn find(
        header: &str,
        line: u64,
        warnings: &mut Vec<String>,
    ) -> Result<DetailColumns, BillError> {
        let header = header.strip_prefix('\u{feff}').unwrap_or(header);
        if header.starts_with('<') {
            return Err(BillError::BadLine {
                line,
                reason: "an XML answer, not a bill (the download failed or there is no bill)"
                    .to_owned(),
            });
        }
        let table = "detail";
        let names = header_names(header, line, table, KNOWN_DETAIL, warnings);
        let need = |wanted| required(&names, wanted, table, line);
        let layout = if position(&names, &["应结订单金额"]).is_some() {
            Layout::Current
        } else {
            Layout::Legacy
        };
        Ok(DetailColumns {
            layout,
            width: names.len(),
            time: need(&["交易时间"])?,
            appid: need(&["公众账号ID"])?,
            mch_id: need(&["商户号"])?,
            sub_mch_id: position(&names, &["特约商户号", "子商户号"]),
            transaction_id: need(&["微信订单号"])?,
            out_trade_no: need(&["商户订单号"])?,
            trade_type: need(&["交易类型"])?,
            trade_state: need(&["交易状态"])?,
            settlement: need(&["应结订单金额", "总金额"])?,
            total: position(&names, &["订单金额", "总金额"]),
            refund_id: position(&names, &["微信退款单号"]),
            out_refund_no: position(&names, &["商户退款单号"]),
            refund: position(&names, &["退款金额"]),
            requested_refund: position(&names, &["申请退款金额"]),
            refund_status: position(&names, &["退款状态"]),
        })
    }

    fn row(&self, cells: &[&str], line: u64) -> Result<BillRow, BillError> {
        // A trailing empty value (费率备注) may lose its backtick.
        if cells.len() != self.width && cells.len() + 1 != self.width {
            return Err(BillError::BadLine {
                line,
                reason: format!("{} values for {} columns", cells.len(), self.width),
            });
        }
        let get = |i: usize| cells.get(i).map_or("", |c| c.trim());
        let opt = |i: Option<usize>| i.map(get).unwrap_or_default();
        let fen = |i: usize| parse_fen(get(i), line);
        let id = |text: &str| (!text.is_empty() && text != "0").then(|| text.to_owned());
        Ok(BillRow {
            line,
            time: beijing_time(get(self.time), line)?,
            appid: get(self.appid).to_owned(),
            mch_id: get(self.mch_id).to_owned(),
            sub_mch_id: id(opt(self.sub_mch_id)),
            transaction_id: get(self.transaction_id).to_owned(),
            out_trade_no: get(self.out_trade_no).to_owned(),
            trade_type: get(self.trade_type).to_owned(),
            trade_state: get(self.trade_state).to_owned(),
            settlement_fen: fen(self.settlement)?,
            total_fen: self.total.map(fen).transpose()?,
            refund_id: id(opt(self.refund_id)),
            out_refund_no: id(opt(self.out_refund_no)),
            refund_fen: self.refund.map(fen).transpose()?.unwrap_or(0),
            requested_refund_fen: self.requested_refund.map(fen).transpose()?,
            refund_status: opt(self.refund_status).to_owned(),
        })
    }
}

#[derive(Debug)]
struct SummaryColumns {
    width: usize,
    count: usize,
    settlement: Option<usize>,
    refund: Option<usize>,
    total: Option<usize>,
}

impl SummaryColumns {
    fn find(
        header: &str,
        line: u64,
        warnings: &mut Vec<String>,
    ) -> Result<SummaryColumns, BillError> {
        let table = "summary";
        if !header.starts_with("总交易单数") {
            return Err(BillError::BadLine {
                line,
                reason: "neither a detail row (leading backtick) nor the summary header".to_owned(),
            });
        }
        let names = header_names(header, line, table, KNOWN_SUMMARY, warnings);
        Ok(SummaryColumns {
            width: names.len(),
            count: required(&names, &["总交易单数"], table, line)?,
            settlement: position(&names, &["应结订单总金额", "总交易额"]),
            refund: position(&names, &["退款总金额", "总退款金额"]),
            total: position(&names, &["订单总金额"]),
        })
    }

    fn read(&self, cells: &[&str], line: u64) -> Result<BillSummary, BillError> {
        if cells.len() != self.width {
            return Err(BillError::BadLine {
                line,
                reason: format!("{} summary values for {} columns", cells.len(), self.width),
            });
        }
        let get = |i: usize| cells.get(i).map_or("", |c| c.trim());
        let fen = |i: Option<usize>| i.map(|i| parse_fen(get(i), line)).transpose();
        let count = get(self.count);
        Ok(BillSummary {
            trade_count: count.parse().map_err(|_| BillError::BadLine {
                line,
                reason: format!("trade count {count:?} is not a number"),
            })?,
            settlement_total_fen: fen(self.settlement)?,
            refund_total_fen: fen(self.refund)?,
            total_fen: fen(self.total)?,
        })
    }
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time.
fn beijing_time(text: &str, line: u64) -> Result<DateTime<Utc>, BillError> {
    parse_beijing_time(text).ok_or_else(|| BillError::BadLine {
        line,
        reason: format!("time {text:?} is not yyyy-MM-dd HH:mm:ss"),
    })
}

/// A yuan amount (`12.30`, `-0.01`, `0`) as signed fen; at most two decimals.
fn parse_fen(text: &str, line: u64) -> Result<i64, BillError> {
    parse_signed_fen(text).ok_or_else(|| BillError::BadLine {
        line,
        reason: format!("amount {text:?} is not yuan with at most two decimals"),
    })
}
