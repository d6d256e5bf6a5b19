//! The `reconcile` section: one day's bill of 1,000,000 lines matched against
//! 1,000,000 ledger entries by `paycode_reconcile::reconcile` (target: at most
//! 10 s on the 2-core machine).
//!
//! The day is generated: every order paid, except that one order in a hundred
//! is missing from the bill and one bill line in a hundred is unknown to the
//! ledger; one order in ten has a refund. Lines and entries are shuffled so
//! the maps are read in no helpful order. Only the matching is timed.
//!
//! A second row times the WeChat bill parser (`paycode_wechatpay::bill`:
//! UTF-8 check, then every row split and read by header name) on an ALL bill
//! of as many payment rows, generated as text beforehand.

use std::time::Instant;

use anyhow::{Context, ensure};
use chrono::{NaiveDate, TimeDelta};
use paycode_domain::{MerchantId, Money, OutTradeNo, Provider};
use paycode_reconcile::{
    Bill, BillLine, BillSummary, Config, DiscrepancyKind, LedgerEntry, LedgerRefund, LedgerState,
    LineKind, LineStatus, RefNo, RefundState, Scope, reconcile,
};

use crate::report::{Measurement, table, thousands};

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Orders in the generated day: as many ledger entries, and as many
    /// payment lines on the bill (plus one refund line per ten orders).
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
}

/// One order in this many is missing from the bill, and as many bill lines
/// are unknown to the ledger.
const MISSING_EVERY: u64 = 100;
/// One order in this many has a refund.
const REFUND_EVERY: u64 = 10;

pub fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let (scope, bill, ledger) = generate(args.orders)?;
    let started = Instant::now();
    let report = reconcile(&scope, &bill, &ledger, &[], &Config::default())?;
    let elapsed = started.elapsed();
    let missing = args.orders.div_ceil(MISSING_EVERY);
    let count = |kind| {
        report
            .discrepancies
            .iter()
            .filter(|d| d.kind == kind)
            .count() as u64
    };
    ensure!(
        count(DiscrepancyKind::MissingInBill) == missing,
        "wrong MISSING_IN_BILL count"
    );
    ensure!(
        count(DiscrepancyKind::MissingInLedger) == missing,
        "wrong MISSING_IN_LEDGER count"
    );
    ensure!(
        report.matched_payments.len() as u64 == args.orders - missing,
        "wrong match count"
    );
    let what = format!(
        "{} bill lines against {} ledger entries",
        thousands(bill.lines.len() as u64),
        thousands(ledger.len() as u64)
    );
    let events = bill.lines.len() as u64;
    let parsing = parse_wechat_bill(args.orders)?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Reconciliation\n");
    println!(
        "`cargo run --release -p paycode-bench -- reconcile`: one day, one thread, {cores} cores."
    );
    println!(
        "Events are bill lines; only the matching (first row) and the parsing (second row) are timed, not generating the day or the file.\n"
    );
    print!(
        "{}",
        table(&[
            Measurement {
                what,
                events,
                elapsed
            },
            parsing
        ])
    );
    let met = elapsed.as_secs() < 10;
    let ms = elapsed.as_millis();
    println!(
        "\nTarget: 1,000,000 lines against 1,000,000 entries in <= 10 s: {} ({}.{:03} s).",
        if met { "met" } else { "NOT met" },
        ms / 1000,
        ms % 1000
    );
    Ok(())
}

fn generate(orders: u64) -> anyhow::Result<(Scope, Bill, Vec<LedgerEntry>)> {
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).context("bench day")?;
    let scope = Scope {
        provider: Provider::Wechatpay,
        merchant: MerchantId::parse("bench")?,
        day,
    };
    // 10:00 Beijing (02:00 UTC); payments spread over the next ten hours.
    let base = day.and_hms_opt(2, 0, 0).context("bench time")?.and_utc();
    let mut lines = Vec::new();
    let mut ledger = Vec::new();
    for i in 0..orders {
        let out_trade_no = RefNo::parse(&format!("P{i:012}"))?;
        let amount = Money::from_fen(100 + i64::try_from(i % 9_000)?)?;
        let paid_at = base + TimeDelta::seconds(i64::try_from(i % 36_000)?);
        let line = |kind, number: &RefNo, out_refund_no, amount| BillLine {
            line: 0,
            kind,
            out_trade_no: number.clone(),
            provider_trade_no: None,
            out_refund_no,
            amount,
            settled_amount: None,
            time: paid_at,
            status: LineStatus::Succeeded,
            raw_status: "SUCCESS".to_owned(),
        };
        let mut entry = LedgerEntry {
            order: OutTradeNo::parse(&format!("O{i:012}"))?,
            out_trade_no: out_trade_no.clone(),
            provider_trade_no: None,
            amount,
            state: LedgerState::Paid { at: paid_at },
            refunds: Vec::new(),
        };
        if i % MISSING_EVERY == 0 {
            lines.push(line(
                LineKind::Payment,
                &RefNo::parse(&format!("X{i:012}"))?,
                None,
                amount,
            ));
        } else {
            lines.push(line(LineKind::Payment, &out_trade_no, None, amount));
        }
        if i % REFUND_EVERY == 1 {
            let refund_no = RefNo::parse(&format!("R{i:012}"))?;
            let refund_amount = Money::from_fen(50)?;
            lines.push(line(
                LineKind::Refund,
                &out_trade_no,
                Some(refund_no.clone()),
                refund_amount,
            ));
            let at = paid_at + TimeDelta::minutes(10);
            let state = RefundState::Succeeded;
            entry.refunds.push(LedgerRefund {
                out_refund_no: refund_no,
                amount: refund_amount,
                state,
                at,
            });
        }
        ledger.push(entry);
    }
    shuffle(&mut lines);
    shuffle(&mut ledger);
    for (number, line) in (2..).zip(lines.iter_mut()) {
        line.line = number;
    }
    Ok((
        scope,
        Bill {
            lines,
            summary: BillSummary::default(),
        },
        ledger,
    ))
}

/// Times decoding and parsing a generated WeChat ALL bill of `rows` rows.
fn parse_wechat_bill(rows: u64) -> anyhow::Result<Measurement> {
    let text = wechat_bill_text(rows);
    let started = Instant::now();
    let decoded = paycode_wechatpay::bill::decode(text.as_bytes(), false)?;
    let bill = paycode_wechatpay::bill::parse(&decoded)?;
    let elapsed = started.elapsed();
    ensure!(bill.rows.len() as u64 == rows, "wrong parsed row count");
    Ok(Measurement {
        what: format!(
            "parse a WeChat ALL bill of {} rows ({} MB)",
            thousands(rows),
            text.len() / 1_000_000
        ),
        events: rows,
        elapsed,
    })
}

/// A WeChat ALL bill (27 columns, backtick before every value, `\r\n`).
fn wechat_bill_text(rows: u64) -> String {
    const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
    let mut text = String::with_capacity(usize::try_from(rows).unwrap_or(0) * 260);
    text.push_str(HEADER);
    text.push_str("\r\n");
    let mut total_fen = 0u64;
    for i in 0..rows {
        let fen = 100 + i % 9_000;
        total_fen += fen;
        let yuan = format!("{}.{:02}", fen / 100, fen % 100);
        let second = i % 36_000;
        let time = format!(
            "2026-11-26 {:02}:{:02}:{:02}",
            10 + second / 3_600,
            second / 60 % 60,
            second % 60
        );
        text.push_str(&format!(
            "`{time},`wx2421b1c4370ec43b,`10000100,`0,`,`42000000{i:020},`P{i:012},`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`{yuan},`0.00,`0,`0,`0.00,`0.00,`,`,`goods,`,`0.01000,`0.60%,`{yuan},`0.00,`\r\n"
        ));
    }
    let total = format!("{}.{:02}", total_fen / 100, total_fen % 100);
    text.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
    text.push_str(&format!(
        "`{rows},`{total},`0.00,`0.00,`0.00000,`{total},`0.00\r\n"
    ));
    text
}

/// A fixed-seed Fisher-Yates shuffle: the same day every run.
fn shuffle<T>(items: &mut [T]) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..items.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from(state >> 33).unwrap_or(0) % (i + 1);
        items.swap(i, j);
    }
}
