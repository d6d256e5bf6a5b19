//! The Alipay trade bill (`bill_type=trade`, protocols.md 5.2), parsed into
//! plain rows and the footer's totals, as this crate's own types.
//!
//! The download is a zip of GBK CSV files; the detail file (`…_业务明细.csv`)
//! holds `#` header lines, a column header, rows whose identifiers end with a
//! tab, an end marker and the footer (`#交易合计：N笔，商家实收共X元…`,
//! `#退款合计：N笔，商家实收退款共-X元…`). Refund rows print negative amounts.
//! Columns are found by header name. A day without trades is a file without
//! rows: an empty bill, not an error.
//!
//! The `#` header lines name the account (`#账号：[{PID}0156]`) and the
//! period (`#起始日期：[…]   终止日期：[…]`); both are kept so that the
//! reconciliation can refuse another account's or another day's bill.
//!
//! What it is not: the reconciliation. This module only refuses what is not a
//! whole, well-formed bill: not a zip (nor the detail CSV itself, see
//! [`parse_file`]), no detail file, not GBK, a required column missing, a row
//! cut short, no footer, footer counts that differ from the rows. A column it
//! does not know is skipped and named in [`Bill::warnings`].

use std::io::Read as _;

use chrono::{DateTime, NaiveDateTime, Utc};
use paycode_provider::text::{parse_beijing_time, parse_signed_fen};

/// The largest detail file accepted once unpacked: about a million rows; a
/// zip bomb stops here.
const MAX_BILL_BYTES: u64 = 1 << 30;

/// A column name every detail header has, to tell GBK from UTF-8.
const HEADER_PROBE: &str = "支付宝交易号";

/// The marker that ends the detail rows.
const END_MARKER: &str = "业务明细列表结束";

/// Why bytes are not an Alipay bill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    #[error("the bill is not a readable zip: {reason}")]
    BadZip { reason: String },
    #[error(
        "the file is neither the downloaded zip nor its 业务明细 CSV (no 支付宝交易号 header): \
         give the `…_业务明细.csv` or the `.csv.zip` as downloaded"
    )]
    NotABill,
    #[error("the zip holds no 业务明细 (detail) file; it holds {names:?}")]
    NoDetailFile { names: Vec<String> },
    #[error("the detail file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the detail file is not GBK text")]
    NotGbk,
    #[error("the detail file has no column header")]
    NoHeader,
    #[error("line {line}: {reason}")]
    BadLine { line: u64, reason: String },
    #[error("the header (line {line}) has no column {name:?}")]
    MissingColumn { name: &'static str, line: u64 },
    #[error("the detail file ends before its footer: truncated after line {line}")]
    Truncated { line: u64 },
    #[error("the footer counts {summary} {what} rows but the file has {rows}")]
    CountMismatch {
        what: &'static str,
        summary: u64,
        rows: u64,
    },
}

/// One detail row. Amounts are signed fen, as printed (refunds negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// 1-based line number in the detail file.
    pub line: u64,
    /// 支付宝交易号.
    pub trade_no: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 业务类型: `交易` or `退款`.
    pub business_type: String,
    pub created_at: DateTime<Utc>,
    /// 完成时间: the payment's or the refund's completion.
    pub finished_at: DateTime<Utc>,
    /// 订单金额（元）.
    pub order_fen: i64,
    /// 商家实收（元）.
    pub received_fen: i64,
    /// 退款批次号/请求号; `None` when empty.
    pub refund_request_no: Option<String>,
}

/// The footer's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillSummary {
    /// 交易合计 N笔.
    pub payment_count: u64,
    /// 商家实收共X元.
    pub payment_received_fen: i64,
    /// 退款合计 N笔.
    pub refund_count: u64,
    /// 商家实收退款共-X元 (negative or zero).
    pub refund_received_fen: i64,
}

/// A parsed bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// The name of the detail file in the zip (empty for a bare CSV).
    pub file_name: String,
    /// The account of `#账号：[…]`, as printed (the PID followed by `0156`).
    pub account: Option<String>,
    /// The period of `#起始日期：[…]   终止日期：[…]`, Beijing wall-clock
    /// times.
    pub period: Option<(NaiveDateTime, NaiveDateTime)>,
    /// What was read past: columns this parser does not know.
    pub warnings: Vec<String>,
    pub rows: Vec<BillRow>,
    pub summary: BillSummary,
}

/// The local file header's signature: every zip starts with it.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Reads a bill file as an operator may give it: the zip as downloaded, or
/// the 业务明细 CSV taken out of it (GBK, or UTF-8 if resaved).
pub fn parse_file(bytes: &[u8]) -> Result<Bill, BillError> {
    if bytes.starts_with(ZIP_MAGIC) {
        return parse_zip(bytes);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains(HEADER_PROBE) => std::borrow::Cow::Borrowed(text),
        Ok(_) | Err(_) => encoding_rs::GBK
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or(BillError::NotABill)?,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if !text.contains(HEADER_PROBE) {
        return Err(BillError::NotABill);
    }
    parse_detail(text)
}

/// Reads the zip as downloaded: finds the detail file, decodes it from GBK
/// and parses it.
pub fn parse_zip(bytes: &[u8]) -> Result<Bill, BillError> {
    let bad = |e: zip::result::ZipError| BillError::BadZip {
        reason: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let mut names = Vec::new();
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(bad)?;
        names.push(entry_name(entry.name_raw()));
    }
    let Some(index) = names
        .iter()
        .position(|n| n.ends_with("业务明细.csv") && !n.contains("汇总"))
    else {
        return Err(BillError::NoDetailFile { names });
    };
    let mut raw = Vec::new();
    archive
        .by_index(index)
        .map_err(bad)?
        .take(MAX_BILL_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| BillError::BadZip {
            reason: e.to_string(),
        })?;
    if u64::try_from(raw.len()).unwrap_or(u64::MAX) > MAX_BILL_BYTES {
        return Err(BillError::TooLarge {
            limit: MAX_BILL_BYTES,
        });
    }
    let text = encoding_rs::GBK
        .decode_without_bom_handling_and_without_replacement(&raw)
        .ok_or(BillError::NotGbk)?;
    // Most UTF-8 CJK text is also valid GBK (as mojibake): recognise a
    // UTF-8 file by its header, which only reads right in UTF-8.
    let utf8_header = std::str::from_utf8(&raw).is_ok_and(|t| t.contains(HEADER_PROBE));
    if utf8_header && !text.contains(HEADER_PROBE) {
        return Err(BillError::NotGbk);
    }
    let mut bill = parse_detail(&text)?;
    bill.file_name = names.swap_remove(index);
    Ok(bill)
}

/// Zip entry names are UTF-8 when flagged, GBK in files made on Chinese
/// Windows; either way the name is read as text.
fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(name) => name.to_owned(),
        Err(_) => encoding_rs::GBK.decode(raw).0.into_owned(),
    }
}

/// Parses the detail file's decoded text.
pub fn parse_detail(text: &str) -> Result<Bill, BillError> {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .zip(1u64..)
        .filter(|(l, _)| !l.trim().is_empty());
    let mut account = None;
    let mut period = None;
    let (header, header_line) = loop {
        let (text, number) = lines.next().ok_or(BillError::NoHeader)?;
        let Some(comment) = text.strip_prefix('#') else {
            break (text, number);
        };
        if let Some(rest) = comment.strip_prefix("账号：") {
            account = Some(bracketed(rest, number)?.to_owned());
        } else if comment.starts_with("起始日期：") {
            period = Some(read_period(comment, number)?);
        }
    };
    let mut warnings = Vec::new();
    let columns = Columns::find(header, header_line, &mut warnings)?;
    let mut rows = Vec::new();
    let mut last = header_line;
    loop {
        let Some((text, number)) = lines.next() else {
            return Err(BillError::Truncated { line: last });
        };
        last = number;
        if text.starts_with('#') {
            if text.contains(END_MARKER) {
                break;
            }
            return Err(BillError::BadLine {
                line: number,
                reason: "a comment line among the rows".to_owned(),
            });
        }
        rows.push(columns.row(text, number)?);
    }
    let summary = footer(&mut lines, last)?;
    check_counts(&rows, &summary)?;
    Ok(Bill {
        file_name: String::new(),
        account,
        period,
        warnings,
        rows,
        summary,
    })
}

/// `[x]…` → `x`.
fn bracketed(text: &str, line: u64) -> Result<&str, BillError> {
    text.trim()
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .map(|(inside, _)| inside.trim())
        .ok_or_else(|| BillError::BadLine {
            line,
            reason: format!("{text:?} is not `[…]`"),
        })
}

/// `起始日期：[2019年09月16日 00:00:00]   终止日期：[2019年09月17日 00:00:00]`.
fn read_period(text: &str, line: u64) -> Result<(NaiveDateTime, NaiveDateTime), BillError> {
    let bad = || BillError::BadLine {
        line,
        reason: format!("period {text:?} is not `起始日期：[…]   终止日期：[…]`"),
    };
    let rest = text.strip_prefix("起始日期：").ok_or_else(bad)?;
    let start = bracketed(rest, line)?;
    let (_, after) = rest.split_once("终止日期：").ok_or_else(bad)?;
    let end = bracketed(after, line)?;
    let time =
        |t: &str| NaiveDateTime::parse_from_str(t, "%Y年%m月%d日 %H:%M:%S").map_err(|_| bad());
    Ok((time(start)?, time(end)?))
}

fn footer<'a>(
    lines: &mut impl Iterator<Item = (&'a str, u64)>,
    end_line: u64,
) -> Result<BillSummary, BillError> {
    let mut payments = None;
    let mut refunds = None;
    for (text, number) in lines {
        if let Some(rest) = text.strip_prefix("#交易合计：") {
            payments = Some(footer_figures(rest, "商家实收共", number)?);
        } else if let Some(rest) = text.strip_prefix("#退款合计：") {
            refunds = Some(footer_figures(rest, "商家实收退款共", number)?);
        }
    }
    let (Some((payment_count, payment_received_fen)), Some((refund_count, refund_received_fen))) =
        (payments, refunds)
    else {
        return Err(BillError::Truncated { line: end_line });
    };
    Ok(BillSummary {
        payment_count,
        payment_received_fen,
        refund_count,
        refund_received_fen,
    })
}

/// `6笔，商家实收共0.06元，…` → (6, 6 fen).
fn footer_figures(rest: &str, label: &str, line: u64) -> Result<(u64, i64), BillError> {
    let bad = || BillError::BadLine {
        line,
        reason: format!("footer {rest:?} is not `N笔，{label}X元`"),
    };
    let (count, after) = rest.split_once('笔').ok_or_else(bad)?;
    let count: u64 = count.trim().parse().map_err(|_| bad())?;
    let start = after.find(label).ok_or_else(bad)? + label.len();
    let amount = after[start..].split('元').next().ok_or_else(bad)?;
    Ok((count, parse_fen(amount.trim(), line)?))
}

fn check_counts(rows: &[BillRow], summary: &BillSummary) -> Result<(), BillError> {
    let count = |kind: &str| {
        u64::try_from(rows.iter().filter(|r| r.business_type == kind).count()).unwrap_or(u64::MAX)
    };
    for (what, summary, rows) in [
        ("payment", summary.payment_count, count("交易")),
        ("refund", summary.refund_count, count("退款")),
    ] {
        if summary != rows {
            return Err(BillError::CountMismatch {
                what,
                summary,
                rows,
            });
        }
    }
    Ok(())
}

/// Every column of the 业务明细 file (25, with full-width parentheses).
const KNOWN: &[&str] = &[
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

#[derive(Debug)]
struct Columns {
    width: usize,
    trade_no: usize,
    out_trade_no: usize,
    business_type: usize,
    created: usize,
    finished: usize,
    order: usize,
    received: usize,
    request_no: usize,
}

impl Columns {
    fn find(header: &str, line: u64, warnings: &mut Vec<String>) -> Result<Columns, BillError> {
        let names: Vec<&str> = header.split(',').map(|n| n.trim()).collect();
        warnings.extend(
            names
                .iter()
                .filter(|n| !KNOWN.contains(n))
                .map(|n| format!("unknown column {n:?} in the header (line {line}) skipped")),
        );
        let need = |name: &'static str| {
            names
                .iter()
                .position(|n| *n == name)
                .ok_or(BillError::MissingColumn { name, line })
        };
        Ok(Columns {
            width: names.len(),
            trade_no: need("支付宝交易号")?,
            out_trade_no: need("商户订单号")?,
            business_type: need("业务类型")?,
            created: need("创建时间")?,
            finished: need("完成时间")?,
            order: need("订单金额（元）")?,
            received: need("商家实收（元）")?,
            request_no: need("退款批次号/请求号")?,
        })
    }

    fn row(&self, text: &str, line: u64) -> Result<BillRow, BillError> {
        // Identifiers carry a trailing tab (Alipay's guard against
        // spreadsheets); it is decoration, not data.
        let cells: Vec<&str> = text.split(',').map(|c| c.trim()).collect();
        if cells.len() != self.width {
            return Err(BillError::BadLine {
                line,
                reason: format!("{} values for {} columns", cells.len(), self.width),
            });
        }
        let get = |i: usize| cells[i];
        let business_type = get(self.business_type);
        if business_type != "交易" && business_type != "退款" {
            return Err(BillError::BadLine {
                line,
                reason: format!("unknown 业务类型 {business_type:?}"),
            });
        }
        let request_no = get(self.request_no);
        Ok(BillRow {
            line,
            trade_no: get(self.trade_no).to_owned(),
            out_trade_no: get(self.out_trade_no).to_owned(),
            business_type: business_type.to_owned(),
            created_at: beijing_time(get(self.created), line)?,
            finished_at: beijing_time(get(self.finished), line)?,
            order_fen: parse_fen(get(self.order), line)?,
            received_fen: parse_fen(get(self.received), line)?,
            refund_request_no: (!request_no.is_empty()).then(|| request_no.to_owned()),
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
