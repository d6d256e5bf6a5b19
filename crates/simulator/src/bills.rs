//! Bill files for a Beijing calendar day, made from the simulator's ledger in the providers' formats (protocols.md 5).
//!
//! WeChat: comma-separated text with a backtick before every value, a summary header and a summary line; ALL, SUCCESS and REFUND.
//! Alipay: a zip (GBK entry names, no UTF-8 flag) of two GBK CSV files (业务明细 and 业务明细(汇总)) with `#` header and footer lines and tab-suffixed identifiers,
//! fetched from the URL that `alipay.data.dataservice.bill.downloadurl.query` returns.
//! A trade paid then reversed shows as its payment row plus a reversal row (WeChat REVOKED, Alipay 退款), as the providers show it.
//! Tampers (for reconciliation tests) are applied here, to the bill only, never to the ledger.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Shared;
use crate::amount::{parse_yuan, to_yuan_string};
use crate::clock::{beijing, beijing_dashed, beijing_day};
use crate::config::AlipayApp;
use crate::gbk_zip::gbk_zip;
use crate::ledger::{Provider, Trade, TradeState};
use crate::scenario::Scenario;

/// A change to what the bills show, not to the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BillTamper {
    /// Leave every row of this out_trade_no out of the bills.
    DropTrade { out_trade_no: String },
    /// Show this amount (yuan, `"12.34"`) on the payment rows of this out_trade_no.
    AlterAmount {
        out_trade_no: String,
        amount: String,
    },
    /// Show a successful payment the merchant never saw succeed (a "late success"); `merchant` is the WeChat `mch_id`
    /// or the Alipay `app_id`; `at` defaults to the simulator's now when the tamper is set.
    InjectSuccess {
        provider: Provider,
        merchant: String,
        out_trade_no: String,
        amount: String,
        at: Option<DateTime<Utc>>,
    },
}

impl BillTamper {
    /// Checks the amount; fills `at` in.
    pub fn resolved(self, now: DateTime<Utc>) -> Result<BillTamper, String> {
        match self {
            BillTamper::DropTrade { .. } => Ok(self),
            BillTamper::AlterAmount { ref amount, .. } => parse_yuan(amount)
                .map(|_| self.clone())
                .ok_or(format!("bad amount `{amount}`")),
            BillTamper::InjectSuccess {
                provider,
                merchant,
                out_trade_no,
                amount,
                at,
            } => match parse_yuan(&amount) {
                Some(_) => Ok(BillTamper::InjectSuccess {
                    provider,
                    merchant,
                    out_trade_no,
                    amount,
                    at: Some(at.unwrap_or(now)),
                }),
                None => Err(format!("bad amount `{amount}`")),
            },
        }
    }
}

/// How long an Alipay download URL stays valid (protocols.md 4.11: 30 s), on the simulator clock.
const DOWNLOAD_URL_LIFETIME_SECS: i64 = 30;

#[derive(Debug, Default)]
pub struct BillState {
    pub tampers: Vec<BillTamper>,
    tokens: HashMap<String, DownloadToken>,
}

#[derive(Debug, Clone)]
struct DownloadToken {
    app_id: String,
    day: NaiveDate,
    issued_at: DateTime<Utc>,
}

impl BillState {
    pub fn issue_token(
        &mut self,
        token: String,
        app_id: String,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) {
        self.tokens
            .retain(|_, t| now - t.issued_at <= Duration::seconds(DOWNLOAD_URL_LIFETIME_SECS));
        self.tokens.insert(
            token,
            DownloadToken {
                app_id,
                day,
                issued_at: now,
            },
        );
    }
}

#[derive(Debug, Clone)]
enum EntryKind {
    Payment,
    Refund {
        out_refund_no: String,
        refund_id: String,
        succeeded_at: Option<DateTime<Utc>>,
        /// WeChat 退款状态 at bill time.
        status: &'static str,
    },
    Reversal {
        reversal_id: String,
    },
}

/// One bill row before formatting.
#[derive(Debug, Clone)]
struct Entry {
    kind: EntryKind,
    at: DateTime<Utc>,
    amount: Decimal,
    trade: Trade,
}

/// The rows of one merchant's day, tampers applied, in time order.
fn entries(
    sim: &Shared,
    provider: Provider,
    belongs: &dyn Fn(&str) -> bool,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<Entry> {
    let trades: Vec<Trade> = sim
        .lock_ledger()
        .trades(now)
        .iter()
        .filter(|t| t.provider == provider && belongs(&t.merchant))
        .cloned()
        .collect();
    let tampers = sim.lock_bills().tampers.clone();
    let on_day = |at: DateTime<Utc>| beijing_day(at) == day && at <= now;
    let mut rows: Vec<Entry> = trades
        .iter()
        .flat_map(|t| trade_entries(t, provider, &on_day, now))
        .collect();
    for tamper in &tampers {
        apply_tamper(tamper, &mut rows, &trades, provider, belongs, &on_day);
    }
    rows.sort_by_key(|entry| entry.at);
    rows
}

/// The rows one trade contributes to the day `on_day` accepts.
fn trade_entries(
    trade: &Trade,
    provider: Provider,
    on_day: &dyn Fn(DateTime<Utc>) -> bool,
    now: DateTime<Utc>,
) -> Vec<Entry> {
    let entry = |kind, at, amount| Entry {
        kind,
        at,
        amount,
        trade: trade.clone(),
    };
    let mut rows = Vec::new();
    match &trade.state {
        TradeState::Paid { paid_at } | TradeState::Reversed { paid_at, .. } if on_day(*paid_at) => {
            rows.push(entry(EntryKind::Payment, *paid_at, trade.amount));
        }
        TradeState::Paid { .. }
        | TradeState::Reversed { .. }
        | TradeState::Paying { .. }
        | TradeState::Failed { .. }
        | TradeState::Closed { .. } => {}
    }
    for refund in &trade.refunds {
        // WeChat shows a refund on the day it was requested, Alipay on the day it completed.
        let at = match provider {
            Provider::Wechat => refund.created_at,
            Provider::Alipay if refund.succeeded(now) => refund.settles_at,
            Provider::Alipay => continue,
        };
        if on_day(at) {
            let succeeded_at = refund.succeeded(now).then_some(refund.settles_at);
            let (out_refund_no, refund_id) =
                (refund.out_refund_no.clone(), refund.refund_id.clone());
            rows.push(entry(
                EntryKind::Refund {
                    out_refund_no,
                    refund_id,
                    succeeded_at,
                    status: refund.wechat_status(now),
                },
                at,
                refund.amount,
            ));
        }
    }
    if let TradeState::Reversed {
        reversed_at,
        reversal_id,
        ..
    } = &trade.state
        && on_day(*reversed_at)
    {
        rows.push(entry(
            EntryKind::Reversal {
                reversal_id: reversal_id.clone(),
            },
            *reversed_at,
            trade.amount,
        ));
    }
    rows
}

fn apply_tamper(
    tamper: &BillTamper,
    rows: &mut Vec<Entry>,
    trades: &[Trade],
    provider: Provider,
    belongs: &dyn Fn(&str) -> bool,
    on_day: &dyn Fn(DateTime<Utc>) -> bool,
) {
    match tamper {
        BillTamper::DropTrade { out_trade_no } => {
            rows.retain(|r| r.trade.out_trade_no != *out_trade_no)
        }
        BillTamper::AlterAmount {
            out_trade_no,
            amount,
        } => {
            let Some(amount) = parse_yuan(amount) else {
                return;
            };
            rows.iter_mut()
                .filter(|r| {
                    r.trade.out_trade_no == *out_trade_no && matches!(r.kind, EntryKind::Payment)
                })
                .for_each(|r| r.amount = amount);
        }
        BillTamper::InjectSuccess {
            provider: p,
            merchant,
            out_trade_no,
            amount,
            at,
        } => {
            let (Some(amount), Some(at)) = (parse_yuan(amount), *at) else {
                return;
            };
            if *p != provider || !belongs(merchant) || !on_day(at) {
                return;
            }
            let trade = trades
                .iter()
                .find(|t| t.out_trade_no == *out_trade_no)
                .cloned()
                .unwrap_or_else(|| {
                    // The bill prints the account's appid on every row: take
                    // it from a trade of the same merchant.
                    let appid = trades
                        .iter()
                        .find(|t| t.merchant == *merchant)
                        .map(|t| t.appid.clone())
                        .unwrap_or_default();
                    injected_trade(provider, merchant, &appid, out_trade_no, amount, at)
                });
            rows.push(Entry {
                kind: EntryKind::Payment,
                at,
                amount,
                trade,
            });
        }
    }
}

/// A trade the ledger never had, with ids shaped like real ones and derived from the out_trade_no.
fn injected_trade(
    provider: Provider,
    merchant: &str,
    appid: &str,
    out_trade_no: &str,
    amount: Decimal,
    at: DateTime<Utc>,
) -> Trade {
    let hash = out_trade_no.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let day = at.with_timezone(&beijing()).format("%Y%m%d").to_string();
    let trade_no = match provider {
        Provider::Wechat => format!("4200000000{day}{:010}", hash % 10_000_000_000),
        Provider::Alipay => format!("{day}22001{:015}", hash % 1_000_000_000_000_000),
    };
    Trade {
        provider,
        merchant: merchant.to_owned(),
        appid: appid.to_owned(),
        out_trade_no: out_trade_no.to_owned(),
        trade_no,
        amount,
        auth_code: String::new(),
        subject: String::new(),
        attach: String::new(),
        device_info: String::new(),
        buyer_id: String::new(),
        scenario: Scenario::PayNow,
        created_at: at,
        state: TradeState::Paid { paid_at: at },
        refunds: Vec::new(),
        reverse_attempts: 0,
        auto_revoke_at: None,
    }
}

/// The fee rate the simulator charges: 0.60 %, WeChat's common rate, printed as `0.60%`.
fn fee(amount: Decimal) -> Decimal {
    (amount * Decimal::new(6, 3)).round_dp(2)
}

fn five_decimals(value: Decimal) -> String {
    let mut scaled = value;
    scaled.rescale(5);
    scaled.to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WxBillType {
    All,
    Success,
    Refund,
}

/// Which merchant's bill: WeChat bills are per mch_id; a 服务商 may narrow to one sub-merchant.
#[derive(Debug, Clone)]
pub struct WxBillFilter {
    pub mch_id: String,
    pub sub_mch_id: Option<String>,
}

const WX_ALL_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const WX_SUCCESS_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注";
const WX_REFUND_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const WX_SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";
const WX_SUCCESS_SUMMARY_HEADER: &str = "总交易单数,应结订单总金额,手续费总金额,订单总金额";
/// Line terminator of bill files: protocols.md leaves it unconfirmed; CRLF makes parsers prove their tolerance.
const CRLF: &str = "\r\n";

/// A WeChat bill, or `None` when the day has no rows ("No Bill Exist").
pub(crate) fn wechat_bill(
    sim: &Shared,
    filter: &WxBillFilter,
    day: NaiveDate,
    kind: WxBillType,
    now: DateTime<Utc>,
) -> Option<String> {
    let belongs = |merchant: &str| {
        let (mch, sub) = merchant
            .split_once('/')
            .map_or((merchant, None), |(m, s)| (m, Some(s)));
        mch == filter.mch_id && (filter.sub_mch_id.is_none() || filter.sub_mch_id.as_deref() == sub)
    };
    let rows: Vec<Entry> = entries(sim, Provider::Wechat, &belongs, day, now)
        .into_iter()
        .filter(|e| match (&e.kind, kind) {
            (_, WxBillType::All) | (EntryKind::Payment, WxBillType::Success) => true,
            (EntryKind::Refund { .. } | EntryKind::Reversal { .. }, WxBillType::Refund) => true,
            (EntryKind::Payment, WxBillType::Refund)
            | (EntryKind::Refund { .. } | EntryKind::Reversal { .. }, WxBillType::Success) => false,
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let header = match kind {
        WxBillType::All => WX_ALL_HEADER,
        WxBillType::Success => WX_SUCCESS_HEADER,
        WxBillType::Refund => WX_REFUND_HEADER,
    };
    let mut out = format!("{header}{CRLF}");
    let mut totals = WxTotals::default();
    for row in &rows {
        let line = wx_line(row);
        totals.add(&line);
        let cells = wx_cells(&line, kind);
        out.push_str(
            &cells
                .iter()
                .map(|c| format!("`{c}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str(CRLF);
    }
    out.push_str(&totals.render(kind, rows.len()));
    Some(out)
}

#[derive(Debug, Default)]
struct WxTotals {
    settled: Decimal,
    refunded: Decimal,
    fees: Decimal,
    ordered: Decimal,
    requested_refunds: Decimal,
}

impl WxTotals {
    fn render(&self, kind: WxBillType, count: usize) -> String {
        let y = |d: Decimal| to_yuan_string(d);
        let (header, cells) = match kind {
            WxBillType::Success => (
                WX_SUCCESS_SUMMARY_HEADER,
                vec![
                    count.to_string(),
                    y(self.settled),
                    five_decimals(self.fees),
                    y(self.ordered),
                ],
            ),
            WxBillType::All | WxBillType::Refund => (
                WX_SUMMARY_HEADER,
                vec![
                    count.to_string(),
                    y(self.settled),
                    y(self.refunded),
                    "0.00".to_owned(),
                    five_decimals(self.fees),
                    y(self.ordered),
                    y(self.requested_refunds),
                ],
            ),
        };
        let line = cells
            .iter()
            .map(|c| format!("`{c}"))
            .collect::<Vec<_>>()
            .join(",");
        format!("{header}{CRLF}{line}{CRLF}")
    }
}

/// Free text must not break the comma-separated layout: commas become full-width (the providers' own escaping is unknown).
fn free_text(value: &str) -> String {
    value.replace(',', "，").replace(['\r', '\n'], " ")
}

/// The values of one WeChat bill row, before they are laid out for a bill type.
#[derive(Debug)]
struct WxLine {
    /// 交易时间 .. 代金券金额 except 交易状态 and 应结订单金额, which follow from the kind.
    trade: Vec<String>,
    payment_time: DateTime<Utc>,
    at: DateTime<Utc>,
    state: &'static str,
    settled: Decimal,
    refund_id: String,
    out_refund_no: String,
    refunded: Decimal,
    refund_status: &'static str,
    refund_succeeded: String,
    fee: Decimal,
    ordered: Decimal,
    requested: Decimal,
    goods: [String; 2],
}

fn wx_line(row: &Entry) -> WxLine {
    let t = &row.trade;
    let (mch_id, sub_mch_id) = t
        .merchant
        .split_once('/')
        .unwrap_or((t.merchant.as_str(), "0"));
    let payment_time = match &t.state {
        TradeState::Paid { paid_at } | TradeState::Reversed { paid_at, .. } => *paid_at,
        TradeState::Paying { .. } | TradeState::Failed { .. } | TradeState::Closed { .. } => row.at,
    };
    let trade = vec![
        t.appid.clone(),
        mch_id.to_owned(),
        sub_mch_id.to_owned(),
        t.device_info.clone(),
        t.trade_no.clone(),
        t.out_trade_no.clone(),
        t.buyer_id.clone(),
        "MICROPAY".to_owned(),
    ];
    let mut line = WxLine {
        trade,
        payment_time,
        at: row.at,
        state: "SUCCESS",
        settled: row.amount,
        refund_id: "0".to_owned(),
        out_refund_no: "0".to_owned(),
        refunded: Decimal::ZERO,
        refund_status: "",
        refund_succeeded: String::new(),
        fee: fee(row.amount),
        ordered: row.amount,
        requested: Decimal::ZERO,
        goods: [free_text(&t.subject), free_text(&t.attach)],
    };
    let refund = |line: &mut WxLine, state, id: &str, no: &str, status, succeeded: String| {
        (
            line.state,
            line.refund_id,
            line.out_refund_no,
            line.refund_status,
        ) = (state, id.to_owned(), no.to_owned(), status);
        (line.settled, line.ordered, line.refunded, line.requested) =
            (Decimal::ZERO, Decimal::ZERO, row.amount, row.amount);
        line.fee = -fee(row.amount);
        line.refund_succeeded = succeeded;
    };
    match &row.kind {
        EntryKind::Payment => {}
        EntryKind::Refund {
            out_refund_no,
            refund_id,
            succeeded_at,
            status,
        } => {
            refund(
                &mut line,
                "REFUND",
                refund_id,
                out_refund_no,
                *status,
                succeeded_at.map(beijing_dashed).unwrap_or_default(),
            );
        }
        // Chosen (protocols.md 5.1 leaves it open): the reversal row carries the reversal's id and the out_trade_no as refund numbers.
        EntryKind::Reversal { reversal_id } => {
            refund(
                &mut line,
                "REVOKED",
                reversal_id,
                &t.out_trade_no,
                "SUCCESS",
                beijing_dashed(row.at),
            );
        }
    }
    line
}

impl WxTotals {
    fn add(&mut self, line: &WxLine) {
        self.settled += line.settled;
        self.refunded += line.refunded;
        self.fees += line.fee;
        self.ordered += line.ordered;
        self.requested_refunds += line.requested;
    }
}

/// Lays a line out in the columns of the bill type (see the `WX_*_HEADER` constants).
fn wx_cells(line: &WxLine, kind: WxBillType) -> Vec<String> {
    let y = |d: Decimal| to_yuan_string(d);
    let is_refund = line.state != "SUCCESS";
    let refund_type = if is_refund { "ORIGINAL" } else { "" }.to_owned();
    let time = if kind == WxBillType::Refund {
        line.payment_time
    } else {
        line.at
    };
    let mut cells = vec![beijing_dashed(time)];
    cells.extend(line.trade.iter().cloned());
    cells.extend([
        line.state.to_owned(),
        "OTHERS".to_owned(),
        "CNY".to_owned(),
        y(line.settled),
        "0.00".to_owned(),
    ]);
    let refund_block = [
        line.refund_id.clone(),
        line.out_refund_no.clone(),
        y(line.refunded),
        "0.00".to_owned(),
        refund_type,
        line.refund_status.to_owned(),
    ];
    let goods = [
        line.goods[0].clone(),
        line.goods[1].clone(),
        five_decimals(line.fee),
        "0.60%".to_owned(),
    ];
    match kind {
        WxBillType::All => {
            cells.extend(refund_block);
            cells.extend(goods);
            cells.extend([y(line.ordered), y(line.requested), String::new()]);
        }
        WxBillType::Success => {
            cells.extend(goods);
            cells.extend([y(line.ordered), String::new()]);
        }
        WxBillType::Refund => {
            cells.extend([beijing_dashed(line.at), line.refund_succeeded.clone()]);
            cells.extend(refund_block);
            cells.extend(goods);
            cells.extend([y(line.ordered), y(line.requested), String::new()]);
        }
    }
    cells
}

/// Gzip for `tar_type=GZIP`.
pub fn gzip_response(bytes: Vec<u8>) -> Response {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let gz = encoder.write_all(&bytes).and_then(|()| encoder.finish());
    match gz {
        Ok(gz) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-gzip"),
            )],
            gz,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("gzip failed: {e}"),
        )
            .into_response(),
    }
}

const ALI_DETAIL_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
const ALI_SUMMARY_HEADER: &str = "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）";

/// Whether an Alipay day has rows (for `bill_file_code`).
pub(crate) fn alipay_day_is_empty(
    sim: &Shared,
    app_id: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> bool {
    entries(sim, Provider::Alipay, &|m: &str| m == app_id, day, now).is_empty()
}

/// The Alipay bill zip: file name and bytes.
pub(crate) fn alipay_bill_zip(
    sim: &Shared,
    app: &AlipayApp,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(String, Vec<u8>), String> {
    let rows = entries(sim, Provider::Alipay, &|m: &str| m == app.app_id, day, now);
    let stem = format!("{}0156_{}", app.pid, day.format("%Y%m%d"));
    let (detail, summary) = alipay_csvs(app, &rows, day, now);
    let (detail, _, _) = encoding_rs::GBK.encode(&detail);
    let (summary, _, _) = encoding_rs::GBK.encode(&summary);
    // Entry names as GBK bytes without the UTF-8 flag, as Alipay writes them (protocols.md 5.2).
    let detail_name = format!("{stem}_业务明细.csv");
    let summary_name = format!("{stem}_业务明细(汇总).csv");
    let zip = gbk_zip(
        &[
            (detail_name.as_str(), &detail),
            (summary_name.as_str(), &summary),
        ],
        now,
    )?;
    Ok((format!("{stem}.csv.zip"), zip))
}

fn chinese_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y年%m月%d日 %H:%M:%S")
        .to_string()
}

/// Masks the buyer as Alipay does in 对账方账户, e.g. `159****5620`.
pub fn masked_buyer(buyer_id: &str) -> String {
    let tail = buyer_id
        .get(buyer_id.len().saturating_sub(4)..)
        .unwrap_or_default();
    format!("159****{tail}")
}

/// Sums over the detail rows, for the footer and the summary file.
#[derive(Debug, Default)]
struct AliTotals {
    paid_count: u32,
    paid_sum: Decimal,
    refund_count: u32,
    refund_sum: Decimal,
    fees: Decimal,
}

/// One 业务明细 row (25 columns, see `ALI_DETAIL_HEADER`); also adds to the totals.
fn ali_detail_row(row: &Entry, totals: &mut AliTotals) -> String {
    let t = &row.trade;
    let tab = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("{s}\t")
        }
    };
    let (kind, signed, request_no) = match &row.kind {
        EntryKind::Payment => ("交易", row.amount, String::new()),
        EntryKind::Refund { out_refund_no, .. } => ("退款", -row.amount, out_refund_no.clone()),
        // Chosen (protocols.md 5.2 leaves it open): a cancel's refund row carries the 支付宝交易号 as its request number.
        EntryKind::Reversal { .. } => ("退款", -row.amount, t.trade_no.clone()),
    };
    let service_fee = -fee(signed);
    if signed > Decimal::ZERO {
        totals.paid_count += 1;
        totals.paid_sum += signed;
    } else {
        totals.refund_count += 1;
        totals.refund_sum += signed;
    }
    totals.fees += service_fee;
    let z = || "0.00".to_owned();
    let cells = [
        tab(&t.trade_no),
        tab(&t.out_trade_no),
        tab(kind),
        tab(&free_text(&t.subject)),
        beijing_dashed(t.created_at),
        beijing_dashed(row.at),
        String::new(),
        String::new(),
        String::new(),
        tab(&t.device_info),
        tab(&masked_buyer(&t.buyer_id)),
        to_yuan_string(signed),
        to_yuan_string(signed),
        z(),
        z(),
        z(),
        z(),
        z(),
        String::new(),
        z(),
        z(),
        tab(&request_no),
        to_yuan_string(service_fee),
        z(),
        String::new(),
    ];
    cells.join(",")
}

/// The three `#` lines both Alipay files start with.
fn ali_preamble(title: &str, app: &AlipayApp, day: NaiveDate) -> Vec<String> {
    let start = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let format = "%Y年%m月%d日 %H:%M:%S";
    vec![
        title.to_owned(),
        format!("#账号：[{}0156]", app.pid),
        format!(
            "#起始日期：[{}]   终止日期：[{}]",
            start.format(format),
            (start + Duration::days(1)).format(format)
        ),
    ]
}

fn alipay_csvs(
    app: &AlipayApp,
    rows: &[Entry],
    day: NaiveDate,
    now: DateTime<Utc>,
) -> (String, String) {
    let exported = format!("#导出时间：[{}]", chinese_time(now));
    let mut detail = ali_preamble("#支付宝业务明细查询", app, day);
    detail.push("#-----------------------------------------业务明细列表----------------------------------------".to_owned());
    detail.push(ALI_DETAIL_HEADER.to_owned());
    let mut totals = AliTotals::default();
    detail.extend(rows.iter().map(|row| ali_detail_row(row, &mut totals)));
    let AliTotals {
        paid_count,
        paid_sum,
        refund_count,
        refund_sum,
        fees,
    } = totals;
    let y = to_yuan_string;
    detail.push("#-----------------------------------------业务明细列表结束------------------------------------".to_owned());
    detail.push(format!(
        "#交易合计：{paid_count}笔，商家实收共{}元，商家优惠共0.00元",
        y(paid_sum)
    ));
    detail.push(format!(
        "#退款合计：{refund_count}笔，商家实收退款共{}元，商家优惠退款共0.00元",
        y(refund_sum)
    ));
    detail.push(exported.clone());
    let net = paid_sum + refund_sum;
    let mut summary = ali_preamble("#支付宝业务汇总查询", app, day);
    summary.push("#-----------------------------------------业务汇总列表----------------------------------------".to_owned());
    summary.push(ALI_SUMMARY_HEADER.to_owned());
    summary.push(format!(
        "合计,,{paid_count},{refund_count},{},{},0.00,0.00,0.00,{},0.00,{}",
        y(net),
        y(net),
        y(fees),
        y(net + fees)
    ));
    summary.push("#----------------------------------------业务汇总列表结束-------------------------------------".to_owned());
    summary.push(exported);
    let join = |lines: Vec<String>| lines.into_iter().map(|l| l + CRLF).collect::<String>();
    (join(detail), join(summary))
}

/// `GET /_bill/alipay/{token}`: the zip behind a download URL, while the URL is valid.
pub(crate) async fn alipay_download(
    State(sim): State<Arc<Shared>>,
    Path(token): Path<String>,
) -> Response {
    let now = sim.now();
    let found = sim.lock_bills().tokens.get(&token).cloned();
    let Some(found) =
        found.filter(|t| now - t.issued_at <= Duration::seconds(DOWNLOAD_URL_LIFETIME_SECS))
    else {
        return (
            StatusCode::NOT_FOUND,
            "bill download URL unknown or expired",
        )
            .into_response();
    };
    let Some(app) = sim.config.alipay.iter().find(|a| a.app_id == found.app_id) else {
        return (StatusCode::NOT_FOUND, "unknown app").into_response();
    };
    match alipay_bill_zip(&sim, app, found.day, now) {
        Ok((name, bytes)) => {
            let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/zip"),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot build the bill: {e}"),
        )
            .into_response(),
    }
}
