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
//!
//! The third row is the run as `paycode reconcile --file` does it, end to
//! end: the same day written as order events into a fresh SQLite store (not
//! timed), the bill as a WeChat ALL file in memory; timed is
//! `Reconciler::run_day`: the account and day checks, parsing, the ledger
//! folded from the store, matching, and the run recorded (one batch with
//! every discrepancy). Its peak memory is the process's peak resident set
//! during the run (`VmHWM` after resetting it through `/proc/self/clear_refs`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use paycode_app::reconciliation::{BillAccount, BillInput, Reconciler, RunRequest};
use paycode_app::{ManualClock, RandomIds};
use paycode_domain::{
    AnswerSource, MerchantId, Money, OrderEvent, OrderId, OutRefundNo, OutTradeNo,
    PaymentRequested, PaymentSucceeded, Provider, ProviderOrderNo, ProviderReply, RefundRequested,
    RefundSucceeded,
};
use paycode_reconcile::{
    Bill, BillLine, BillSummary, Config, DiscrepancyKind, LedgerEntry, LedgerRefund, LedgerState,
    LineKind, LineStatus, RefNo, RefundState, Scope, reconcile,
};
use paycode_store::{NewEvent, StreamName};
use paycode_store_sqlite::SqliteStore;

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

pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
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
    drop((bill, ledger));
    let parsing = parse_wechat_bill(args.orders)?;
    let (whole, peak_mb) = end_to_end(args.orders).await?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Reconciliation\n");
    println!(
        "`cargo run --release -p paycode-bench -- reconcile`: one day, one thread, {cores} cores."
    );
    println!(
        "Events are bill lines. Timed: the matching alone (first row), the parsing alone (second row), and the whole run as `paycode reconcile --file` does it (third row: checks, parsing, the ledger folded from a SQLite store of the day's order events, matching, the run recorded); not generating the day, the file or the store.\n"
    );
    print!(
        "{}",
        table(&[
            Measurement {
                what,
                events,
                elapsed
            },
            parsing,
            whole.clone(),
        ])
    );
    let met = whole.elapsed.as_millis() <= 10_000;
    let ms = whole.elapsed.as_millis();
    println!(
        "\nTarget: 1,000,000 lines reconciled end to end in <= 10 s: {} ({}.{:03} s end to end, {}.{:03} s matching alone; peak resident memory during the run {peak_mb} MB).",
        if met { "met" } else { "NOT met" },
        ms / 1000,
        ms % 1000,
        elapsed.as_millis() / 1000,
        elapsed.as_millis() % 1000,
    );
    Ok(())
}

/// The run as the CLI does it; returns its measurement and the peak
/// resident memory during it, in MB.
async fn end_to_end(orders: u64) -> anyhow::Result<(Measurement, u64)> {
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).context("bench day")?;
    let merchant = MerchantId::parse("bench")?;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(dir.path().join("reconcile.db"))?);
    crate::replay::fill(&store, order_streams(&merchant, orders)?, 128).await?;
    let text = wechat_bill_text(orders);
    let lines = orders + orders.div_ceil(REFUND_EVERY) - u64::from(orders % REFUND_EVERY == 1);
    let next_morning: DateTime<Utc> = day
        .succ_opt()
        .context("bench day")?
        .and_hms_opt(2, 0, 0)
        .context("bench time")?
        .and_utc();
    let reconciler = Reconciler::new(
        store.clone(),
        Arc::new(ManualClock::new(next_morning)),
        Arc::new(RandomIds),
    );
    let request = RunRequest {
        provider: Provider::Wechatpay,
        merchant,
        account: BillAccount::Wechat {
            appid: BENCH_APPID.to_owned(),
            mch_id: BENCH_MCH_ID.to_owned(),
            sub_mch_id: None,
        },
        day,
        bill: BillInput::File {
            name: "bench.csv".to_owned(),
            bytes: text.into_bytes(),
        },
        by: None,
    };
    reset_peak_memory();
    let started = Instant::now();
    let outcome = reconciler.run_day(request).await?;
    let elapsed = started.elapsed();
    let peak_mb = peak_memory_kb().map_or(0, |kb| kb / 1024);
    let missing = orders.div_ceil(MISSING_EVERY);
    ensure!(
        outcome.report.open == 2 * missing,
        "expected {} open discrepancies, got {}",
        2 * missing,
        outcome.report.open
    );
    ensure!(
        outcome.matched.matched_payments.len() as u64 == orders - missing,
        "wrong end-to-end match count"
    );
    Ok((
        Measurement {
            what: format!(
                "end to end: a {} line bill file against {} orders in SQLite, run recorded",
                thousands(lines),
                thousands(orders)
            ),
            events: lines,
            elapsed,
        },
        peak_mb,
    ))
}

/// Resets the kernel's peak-RSS mark (Linux: `5` into `clear_refs`).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `VmHWM` (peak resident set) in kB.
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const BENCH_APPID: &str = "wx2421b1c4370ec43b";
const BENCH_MCH_ID: &str = "10000100";

/// The day's orders as the store holds them, matching [`wechat_bill_text`]:
/// order `i` is `O{i}`, sent as `P{i}`, paid at the row's time; one in ten
/// refunded 0.50 under `R{i}`; one in a hundred missing from the bill.
fn order_streams(
    merchant: &MerchantId,
    orders: u64,
) -> anyhow::Result<Vec<(StreamName, Vec<NewEvent>)>> {
    let day_start = NaiveDate::from_ymd_opt(2026, 11, 26)
        .and_then(|d| d.and_hms_opt(2, 0, 0))
        .context("bench time")?
        .and_utc();
    let mut streams = Vec::with_capacity(usize::try_from(orders)?);
    for i in 0..orders {
        let order = OutTradeNo::parse(&format!("O{i:012}"))?;
        let paid_at = day_start + TimeDelta::seconds(i64::try_from(i % 36_000)?);
        let mut events = vec![
            OrderEvent::PaymentRequested(PaymentRequested {
                order_id: OrderId(uuid::Uuid::new_v4()),
                merchant: merchant.clone(),
                out_trade_no: order.clone(),
                provider: Provider::Wechatpay,
                amount: Money::from_fen(100 + i64::try_from(i % 9_000)?)?,
                subject: "goods".into(),
                store_id: None,
                terminal_id: None,
                auth_code_masked: "1300****0001".into(),
                provider_order_no: ProviderOrderNo::parse(&format!("P{i:012}"))?,
                at: paid_at,
            }),
            OrderEvent::PaymentSucceeded(PaymentSucceeded {
                attempt: 1,
                source: AnswerSource::Call,
                provider_trade_no: format!("42000000{i:020}"),
                paid_at,
                reply: ProviderReply::new("SUCCESS", "OK"),
                at: paid_at,
            }),
        ];
        if i % REFUND_EVERY == 1 {
            let out_refund_no = OutRefundNo::parse(&format!("R{i:012}"))?;
            events.push(OrderEvent::RefundRequested(RefundRequested {
                out_refund_no: out_refund_no.clone(),
                provider_refund_no: None,
                amount: Money::from_fen(50)?,
                reason: None,
                by: None,
                at: paid_at + TimeDelta::minutes(10),
            }));
            events.push(OrderEvent::RefundSucceeded(RefundSucceeded {
                out_refund_no,
                source: AnswerSource::Call,
                provider_refund_id: None,
                reply: ProviderReply::new("SUCCESS", "OK"),
                at: paid_at + TimeDelta::minutes(11),
            }));
        }
        let new = events
            .iter()
            .map(|e| {
                let (event_type, type_version, data) = e.encode();
                NewEvent {
                    id: uuid::Uuid::new_v4(),
                    event_type: event_type.to_owned(),
                    type_version,
                    data,
                    metadata: Vec::new(),
                }
            })
            .collect();
        let stream = StreamName::parse(&paycode_domain::order_stream(merchant, &order))?;
        streams.push((stream, new));
    }
    Ok(streams)
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
    let expected = rows + rows.div_ceil(REFUND_EVERY) - u64::from(rows % REFUND_EVERY == 1);
    ensure!(bill.rows.len() as u64 == expected, "wrong parsed row count");
    Ok(Measurement {
        what: format!(
            "parse a WeChat ALL bill of {} rows ({} MB)",
            thousands(expected),
            text.len() / 1_000_000
        ),
        events: expected,
        elapsed,
    })
}

/// A WeChat ALL bill (27 columns, backtick before every value, `\r\n`) of
/// the generated day: `rows` payment rows and one refund row in ten.
fn wechat_bill_text(rows: u64) -> String {
    const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
    let mut text = String::with_capacity(usize::try_from(rows).unwrap_or(0) * 260);
    text.push_str(HEADER);
    text.push_str("\r\n");
    let mut total_fen = 0u64;
    let mut refund_fen = 0u64;
    let mut count = 0u64;
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
        // As the generated day: one order in a hundred is missing and an
        // unknown trade stands in its place.
        let number = if i % MISSING_EVERY == 0 { 'X' } else { 'P' };
        text.push_str(&format!(
            "`{time},`{BENCH_APPID},`{BENCH_MCH_ID},`0,`,`42000000{i:020},`{number}{i:012},`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`{yuan},`0.00,`0,`0,`0.00,`0.00,`,`,`goods,`,`0.01000,`0.60%,`{yuan},`0.00,`\r\n"
        ));
        count += 1;
        if i % REFUND_EVERY == 1 {
            refund_fen += 50;
            count += 1;
            text.push_str(&format!(
                "`{time},`{BENCH_APPID},`{BENCH_MCH_ID},`0,`,`42000000{i:020},`P{i:012},`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`MICROPAY,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000{i:020},`R{i:012},`0.50,`0.00,`ORIGINAL,`SUCCESS,`goods,`,`0.00000,`0.60%,`0.00,`0.50,`\r\n"
            ));
        }
    }
    let total = format!("{}.{:02}", total_fen / 100, total_fen % 100);
    text.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
    let refunded = format!("{}.{:02}", refund_fen / 100, refund_fen % 100);
    text.push_str(&format!(
        "`{count},`{total},`{refunded},`0.00,`0.00000,`{total},`{refunded}\r\n"
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
