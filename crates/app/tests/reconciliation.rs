//! Reconciliation through the application, golden: hand-built bill files of
//! both providers against a hand-built ledger in a real store, with a line
//! for every discrepancy category, the report rendered as the CLI prints it.
//! Then the run stream itself: what a rerun and a resolution append.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use expect_test::{Expect, expect};
use paycode_app::reconciliation::{BillAccount, BillInput, Reconciler, RunRequest};
use paycode_app::{ManualClock, RandomIds};
use paycode_domain::{
    AnswerSource, MerchantId, Money, OrderEvent, OrderId, OutRefundNo, OutTradeNo, PaymentFailed,
    PaymentRequested, PaymentSucceeded, Provider, ProviderOrderNo, ProviderReply, RefundRequested,
    RefundSucceeded, ResolutionOutcome,
};
use paycode_store::{EventStore, ExpectedVersion, NewEvent, StreamName};
use paycode_store_sqlite::SqliteStore;
use uuid::Uuid;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    // Beijing 2026-11-20 hh:mm is UTC hh-8.
    Utc.with_ymd_and_hms(2026, 11, 20, hour - 8, minute, 0)
        .single()
        .expect("a valid instant")
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).expect("a day")
}

fn shop() -> MerchantId {
    MerchantId::parse("shop").expect("valid")
}

fn reply() -> ProviderReply {
    ProviderReply::new("SUCCESS", "OK")
}

/// One order: requested at 10:00 under provider order number `pno`; paid at
/// `paid` when given, failed otherwise; refunded `refund` (number, amount).
fn order(
    provider: Provider,
    order: &str,
    pno: &str,
    amount: &str,
    paid: Option<DateTime<Utc>>,
    refund: Option<(&str, &str)>,
) -> Vec<OrderEvent> {
    let mut events = vec![OrderEvent::PaymentRequested(PaymentRequested {
        order_id: OrderId(Uuid::new_v4()),
        merchant: shop(),
        out_trade_no: OutTradeNo::parse(order).unwrap(),
        provider,
        amount: Money::parse(amount).unwrap(),
        subject: "goods".into(),
        store_id: None,
        terminal_id: None,
        auth_code_masked: "1300****0001".into(),
        provider_order_no: ProviderOrderNo::parse(pno).unwrap(),
        at: at(10, 0),
    })];
    match paid {
        Some(paid_at) => events.push(OrderEvent::PaymentSucceeded(PaymentSucceeded {
            attempt: 1,
            source: AnswerSource::Call,
            provider_trade_no: format!("T{pno}"),
            paid_at,
            reply: reply(),
            at: paid_at,
        })),
        None => events.push(OrderEvent::PaymentFailed(PaymentFailed {
            attempt: 1,
            source: AnswerSource::Call,
            reply: ProviderReply::new("NOTENOUGH", "余额不足"),
            at: at(10, 0),
        })),
    }
    if let Some((number, refund_amount)) = refund {
        let out_refund_no = OutRefundNo::parse(number).unwrap();
        events.push(OrderEvent::RefundRequested(RefundRequested {
            out_refund_no: out_refund_no.clone(),
            // A log from before paycode numbered refunds itself: the
            // till's number went to the provider and is on the bill.
            provider_refund_no: None,
            amount: Money::parse(refund_amount).unwrap(),
            reason: None,
            by: None,
            at: at(11, 0),
        }));
        events.push(OrderEvent::RefundSucceeded(RefundSucceeded {
            out_refund_no,
            source: AnswerSource::Call,
            provider_refund_id: None,
            reply: reply(),
            at: at(11, 1),
        }));
    }
    events
}

/// The ledger of both providers: paid, paid and refunded, paid but missing
/// from the bill, paid at another amount, failed (and on the bill).
fn ledger(provider: Provider) -> Vec<(String, Vec<OrderEvent>)> {
    let p = match provider {
        Provider::Wechatpay => "w",
        Provider::Alipay => "a",
    };
    let paid = Some(at(10, 1));
    [
        ("ok", "12.00", paid, None),
        ("refunded", "30.00", paid, Some(("rf1", "10.00"))),
        ("missing", "5.00", paid, None),
        ("altered", "7.00", paid, None),
        ("failed", "3.00", None, None),
        ("doubled", "4.00", paid, None),
    ]
    .into_iter()
    .map(|(name, amount, paid, refund)| {
        let order_no = format!("{p}-{name}");
        let pno = format!("{p}pno{name}");
        let events = order(provider, &order_no, &pno, amount, paid, refund);
        let stream = paycode_domain::order_stream(
            &MerchantId::parse("shop").expect("an id"),
            &OutTradeNo::parse(&order_no).expect("a number"),
        );
        (stream, events)
    })
    .collect()
}

async fn store_with(provider: Provider) -> (tempfile::TempDir, Arc<dyn EventStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteStore::open(dir.path().join("recon.db")).unwrap());
    for (stream, events) in ledger(provider) {
        let new = events
            .iter()
            .map(|e| {
                let (event_type, type_version, data) = e.encode();
                NewEvent {
                    id: Uuid::new_v4(),
                    event_type: event_type.into(),
                    type_version,
                    data,
                    metadata: Vec::new(),
                }
            })
            .collect();
        let stream = StreamName::parse(&stream).unwrap();
        store
            .append(&stream, ExpectedVersion::NoStream, new)
            .await
            .unwrap();
    }
    (dir, store)
}

fn wechat_row(pno: &str, state: &str, amount: &str, refund: (&str, &str, &str)) -> String {
    let (refund_no, refund_amount, refund_status) = refund;
    let settled = if state == "SUCCESS" { amount } else { "0.00" };
    let cells = [
        "2026-11-20 10:01:00",
        "wx1",
        "10000100",
        "0",
        "",
        &format!("T{pno}"),
        pno,
        "o1",
        "MICROPAY",
        state,
        "OTHERS",
        "CNY",
        settled,
        "0.00",
        if refund_no == "0" { "0" } else { "5030001" },
        refund_no,
        refund_amount,
        "0.00",
        if refund_no == "0" { "" } else { "ORIGINAL" },
        refund_status,
        "goods",
        "",
        "0.01000",
        "0.60%",
        settled,
        refund_amount,
        "",
    ];
    cells
        .iter()
        .map(|c| format!("`{c}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every category: matched payment and refund, a payment missing from the
/// bill, an altered amount, a payment of a failed order, a line the ledger
/// does not know, a duplicated line, and a summary that disagrees.
fn wechat_bill() -> String {
    let none = ("0", "0.00", "");
    let rows = [
        wechat_row("wpnook", "SUCCESS", "12.00", none),
        wechat_row("wpnorefunded", "SUCCESS", "30.00", none),
        wechat_row(
            "wpnorefunded",
            "REFUND",
            "0.00",
            ("rf1", "10.00", "SUCCESS"),
        ),
        wechat_row("wpnoaltered", "SUCCESS", "7.70", none),
        wechat_row("wpnofailed", "SUCCESS", "3.00", none),
        wechat_row("wpnounknown", "SUCCESS", "1.00", none),
        wechat_row("wpnodoubled", "SUCCESS", "4.00", none),
        wechat_row("wpnodoubled", "SUCCESS", "4.00", none),
    ];
    let header = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
    // The lines add up to 61.70 paid; the summary says 99.99.
    let summary = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n`8,`99.99,`10.00,`0.00,`0.08000,`61.70,`10.00";
    format!("{header}\n{}\n{summary}\n", rows.join("\n"))
}

fn alipay_row(pno: &str, kind: &str, amount: &str, request: &str) -> String {
    let tab = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("{s}\t")
        }
    };
    let z = "0.00".to_owned();
    [
        tab(&format!("T{pno}")),
        tab(pno),
        tab(kind),
        tab("goods"),
        "2026-11-20 10:00:00".into(),
        "2026-11-20 10:01:00".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        tab("159****1234"),
        amount.into(),
        amount.into(),
        z.clone(),
        z.clone(),
        z.clone(),
        z.clone(),
        z.clone(),
        String::new(),
        z.clone(),
        z.clone(),
        tab(request),
        z.clone(),
        z,
        String::new(),
    ]
    .join(",")
}

fn alipay_zip() -> Vec<u8> {
    let rows = [
        alipay_row("apnook", "交易", "12.00", ""),
        alipay_row("apnorefunded", "交易", "30.00", ""),
        alipay_row("apnorefunded", "退款", "-10.00", "rf1"),
        alipay_row("apnoaltered", "交易", "7.70", ""),
        alipay_row("apnofailed", "交易", "3.00", ""),
        alipay_row("apnounknown", "交易", "1.00", ""),
        alipay_row("apnodoubled", "交易", "4.00", ""),
        alipay_row("apnodoubled", "交易", "4.00", ""),
    ];
    // The lines add up to 61.70 paid; the footer says 99.99.
    alipay_file(
        &rows,
        ("7笔，商家实收共99.99元", "1笔，商家实收退款共-10.00元"),
        ALIPAY_ACCOUNT,
        "2026年11月20日 00:00:00",
        "2026年11月21日 00:00:00",
    )
}

/// What the Alipay bill's `#账号` line prints for the test merchant.
const ALIPAY_ACCOUNT: &str = "20880000000000010156";

/// An Alipay detail file with its `#` lines, zipped as downloaded.
fn alipay_file(
    rows: &[String],
    footer: (&str, &str),
    account: &str,
    from: &str,
    to: &str,
) -> Vec<u8> {
    use std::io::Write as _;
    let header = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
    let text = format!(
        "#支付宝业务明细查询\r\n#账号：[{account}]\r\n#起始日期：[{from}]   终止日期：[{to}]\r\n#-----业务明细列表-----\r\n{header}\r\n{}\r\n#-----业务明细列表结束-----\r\n#交易合计：{}，商家优惠共0.00元\r\n#退款合计：{}，商家优惠退款共0.00元\r\n",
        rows.join("\r\n"),
        footer.0,
        footer.1,
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "20880000000000010156_20261120_业务明细.csv",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(&gbk).unwrap();
    zip.finish().unwrap().into_inner()
}

/// The test merchant's account at `provider`.
fn account(provider: Provider) -> BillAccount {
    match provider {
        Provider::Wechatpay => BillAccount::Wechat {
            appid: "wx1".into(),
            mch_id: "10000100".into(),
            sub_mch_id: None,
        },
        Provider::Alipay => BillAccount::Alipay {
            pid: Some("2088000000000001".into()),
        },
    }
}

/// The day after: every run's clock (the day must be over).
fn next_morning() -> DateTime<Utc> {
    at(23, 0) + chrono::Duration::hours(11)
}

fn request(provider: Provider, bytes: Vec<u8>) -> RunRequest {
    RunRequest {
        provider,
        merchant: shop(),
        account: account(provider),
        day: day(),
        bill: BillInput::File {
            name: "bill".into(),
            bytes,
        },
        by: Some("ops".into()),
    }
}

fn reconciler_on(store: &Arc<dyn EventStore>) -> Reconciler {
    Reconciler::new(
        store.clone(),
        Arc::new(ManualClock::new(next_morning())),
        Arc::new(RandomIds),
    )
}

async fn golden(provider: Provider, bytes: Vec<u8>, expected: Expect) {
    let (_dir, store) = store_with(provider).await;
    let reconciler = reconciler_on(&store);
    let request = request(provider, bytes);
    let outcome = reconciler.run_day(request.clone()).await.unwrap();
    let mut report = outcome.report.render_table();
    // The digest changes with any byte of the hand-built file: not golden.
    if let Some(sha) = &outcome.report.bill_sha256 {
        report = report.replace(sha, "<sha256>");
    }
    expected.assert_eq(&report);

    let head = store.head().await.unwrap();
    let again = reconciler.run_day(request).await.unwrap();
    assert!(!again.appended);
    assert_eq!(store.head().await.unwrap(), head, "a rerun appends nothing");
    let id = &outcome.report.discrepancies[0].found.id;
    reconciler
        .resolve_discrepancy(
            provider,
            &shop(),
            day(),
            id,
            ResolutionOutcome::BillCorrect,
            "ops",
            "booked by hand",
        )
        .await
        .unwrap();
    let stored = reconciler
        .report(provider, &shop(), day())
        .await
        .unwrap()
        .unwrap();
    let resolved = stored
        .discrepancies
        .iter()
        .find(|d| d.found.id == *id)
        .and_then(|d| d.resolution.as_ref())
        .unwrap();
    assert_eq!(
        (resolved.by.as_str(), resolved.note.as_str()),
        ("ops", "booked by hand")
    );
    assert_eq!(store.head().await.unwrap(), head + 1);
}

#[tokio::test]
async fn a_wechat_bill_with_every_category_gives_the_golden_report() {
    golden(
        Provider::Wechatpay,
        wechat_bill().into_bytes(),
        expect![[r#"
            wechatpay shop 2026-11-20 (run 1, bill sha256 <sha256>)
                       payments           paid  refunds       refunded
            bill              7          61.70        1          10.00
            ledger            5          58.00        1          10.00
            matched: 3 payments, 1 refunds, 0 reversals; carried to the next day: 0
            open discrepancies: 6 of 6 recorded; 短款 (ledger only) 1 totalling 5.00, 长款 (bill only) 1 totalling 1.00, other 4; net (bill - ledger) -3.30
              kind                 subject   order                    provider no.                           bill       ledger  status
              AMOUNT_MISMATCH      payment   w-altered                Twpnoaltered                           7.70         7.00  open
              DUPLICATE_IN_BILL    payment   w-doubled                Twpnodoubled                           4.00         4.00  open
              MISSING_IN_BILL      payment   w-missing                Twpnomissing                              -         5.00  open
              MISSING_IN_LEDGER    payment   -                        Twpnounknown                           1.00            -  open
              STATUS_MISMATCH      payment   w-failed                 Twpnofailed                            3.00         3.00  open
              SUMMARY_MISMATCH     summary 应结订单总金额 (paid_total): summary says 99.99, the lines add up to 61.70  open
        "#]],
    )
    .await;
}

#[tokio::test]
async fn an_alipay_bill_with_every_category_gives_the_golden_report() {
    golden(Provider::Alipay, alipay_zip(), expect![[r#"
        alipay shop 2026-11-20 (run 1, bill sha256 <sha256>)
                   payments           paid  refunds       refunded
        bill              7          61.70        1          10.00
        ledger            5          58.00        1          10.00
        matched: 3 payments, 1 refunds, 0 reversals; carried to the next day: 0
        open discrepancies: 6 of 6 recorded; 短款 (ledger only) 1 totalling 5.00, 长款 (bill only) 1 totalling 1.00, other 4; net (bill - ledger) -3.30
          kind                 subject   order                    provider no.                           bill       ledger  status
          AMOUNT_MISMATCH      payment   a-altered                Tapnoaltered                           7.70         7.00  open
          DUPLICATE_IN_BILL    payment   a-doubled                Tapnodoubled                           4.00         4.00  open
          MISSING_IN_BILL      payment   a-missing                Tapnomissing                              -         5.00  open
          MISSING_IN_LEDGER    payment   -                        Tapnounknown                           1.00            -  open
          STATUS_MISMATCH      payment   a-failed                 Tapnofailed                            3.00         3.00  open
          SUMMARY_MISMATCH     summary #交易合计 商家实收 (paid_total): summary says 99.99, the lines add up to 61.70  open
    "#]]).await;
}

const WECHAT_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";

/// A WeChat bill of `rows` whose summary states `count` lines, `paid` and
/// `refunded`.
fn wechat_text(rows: &[String], count: usize, paid: &str, refunded: &str) -> String {
    format!(
        "{WECHAT_HEADER}\n{}\n总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n`{count},`{paid},`{refunded},`0.00,`0.00000,`{paid},`{refunded}\n",
        rows.join("\n")
    )
}

/// Exactly the ledger, on WeChat: every paid order once and the refund,
/// plus `extra` rows.
fn wechat_exact(extra: &[String], refunded: &str) -> String {
    let none = ("0", "0.00", "");
    let mut rows = vec![
        wechat_row("wpnook", "SUCCESS", "12.00", none),
        wechat_row("wpnorefunded", "SUCCESS", "30.00", none),
        wechat_row(
            "wpnorefunded",
            "REFUND",
            "0.00",
            ("rf1", "10.00", "SUCCESS"),
        ),
        wechat_row("wpnomissing", "SUCCESS", "5.00", none),
        wechat_row("wpnoaltered", "SUCCESS", "7.00", none),
        wechat_row("wpnodoubled", "SUCCESS", "4.00", none),
    ];
    rows.extend(extra.iter().cloned());
    wechat_text(&rows, rows.len(), "58.00", refunded)
}

/// Exactly the ledger, on Alipay, plus `extra` rows.
fn alipay_exact(extra: &[String], refunds: &str) -> Vec<u8> {
    let mut rows = vec![
        alipay_row("apnook", "交易", "12.00", ""),
        alipay_row("apnorefunded", "交易", "30.00", ""),
        alipay_row("apnorefunded", "退款", "-10.00", "rf1"),
        alipay_row("apnomissing", "交易", "5.00", ""),
        alipay_row("apnoaltered", "交易", "7.00", ""),
        alipay_row("apnodoubled", "交易", "4.00", ""),
    ];
    rows.extend(extra.iter().cloned());
    alipay_file(
        &rows,
        ("5笔，商家实收共58.00元", refunds),
        ALIPAY_ACCOUNT,
        "2026年11月20日 00:00:00",
        "2026年11月21日 00:00:00",
    )
}

fn exact(provider: Provider) -> Vec<u8> {
    match provider {
        Provider::Wechatpay => wechat_exact(&[], "10.00").into_bytes(),
        Provider::Alipay => alipay_exact(&[], "1笔，商家实收退款共-10.00元"),
    }
}

fn every_category(provider: Provider) -> Vec<u8> {
    match provider {
        Provider::Wechatpay => wechat_bill().into_bytes(),
        Provider::Alipay => alipay_zip(),
    }
}

/// `KIND subject order status` per recorded discrepancy of the day.
fn statuses(report: &paycode_app::reconciliation::DayReport) -> Vec<String> {
    let mut rows: Vec<String> = report
        .discrepancies
        .iter()
        .map(|d| {
            let order = d
                .found
                .order
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string);
            format!(
                "{} {} {order} {}",
                d.found.kind,
                d.found.subject,
                d.status.as_str()
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Finding 1 and 2 of issue 17: the right bill under the wrong day, another
/// account's bill, a day not over: refused with a clear message, nothing
/// recorded.
#[tokio::test]
async fn a_bill_of_another_day_or_account_or_a_day_not_over_is_refused_and_records_nothing() {
    for provider in [Provider::Wechatpay, Provider::Alipay] {
        let (_dir, store) = store_with(provider).await;
        let reconciler = reconciler_on(&store);
        let head = store.head().await.unwrap();
        let mut refused = Vec::new();
        let earlier = RunRequest {
            day: NaiveDate::from_ymd_opt(2026, 11, 19).unwrap(),
            ..request(provider, every_category(provider))
        };
        refused.push(reconciler.run_day(earlier).await.unwrap_err().to_string());
        let foreign = match provider {
            Provider::Wechatpay => vec![
                wechat_bill().replace("`10000100", "`10000999").into_bytes(),
                wechat_bill().replace("`wx1,", "`wx9,").into_bytes(),
                wechat_bill()
                    .replacen("`0,`,", "`1900000109,`,", 1)
                    .into_bytes(),
            ],
            Provider::Alipay => {
                let rows = [alipay_row("apnook", "交易", "12.00", "")];
                let footer = ("1笔，商家实收共12.00元", "0笔，商家实收退款共0.00元");
                let day = ("2026年11月20日 00:00:00", "2026年11月21日 00:00:00");
                vec![
                    alipay_file(&rows, footer, "20889999999999990156", day.0, day.1),
                    alipay_file(
                        &rows,
                        footer,
                        ALIPAY_ACCOUNT,
                        "2026年11月19日 00:00:00",
                        "2026年11月20日 00:00:00",
                    ),
                ]
            }
        };
        for bytes in foreign {
            let error = reconciler.run_day(request(provider, bytes)).await;
            refused.push(error.unwrap_err().to_string());
        }
        let too_early = Reconciler::new(
            store.clone(),
            Arc::new(ManualClock::new(at(23, 59))),
            Arc::new(RandomIds),
        );
        let error = too_early
            .run_day(request(provider, every_category(provider)))
            .await;
        refused.push(error.unwrap_err().to_string());
        let expected = match provider {
            Provider::Wechatpay => expect![[r#"
                the bill is not the bill of 2026-11-19: line 2 is dated 2026-11-20 10:01:00 (Beijing time); nothing was recorded
                the bill belongs to another account: 商户号 is "10000999" (line 2), this merchant's is "10000100"; nothing was recorded
                the bill belongs to another account: 公众账号ID is "wx9" (line 2), this merchant's is "wx1"; nothing was recorded
                the bill belongs to another account: 特约商户号 is "1900000109" (line 2), this merchant's is "(none)"; nothing was recorded
                2026-11-20 has not ended in Beijing time; its bill exists from the next day"#]],
            Provider::Alipay => expect![[r#"
                the bill is not the bill of 2026-11-19: the bill's #起始日期/#终止日期 are 2026-11-20 00:00:00 to 2026-11-21 00:00:00; nothing was recorded
                the bill belongs to another account: #账号 is "20889999999999990156" (line 0), this merchant's is "20880000000000010156"; nothing was recorded
                the bill is not the bill of 2026-11-20: the bill's #起始日期/#终止日期 are 2026-11-19 00:00:00 to 2026-11-20 00:00:00; nothing was recorded
                2026-11-20 has not ended in Beijing time; its bill exists from the next day"#]],
        };
        expected.assert_eq(&refused.join("\n"));
        assert_eq!(
            store.head().await.unwrap(),
            head,
            "{provider}: nothing recorded"
        );
        let no_pid = RunRequest {
            account: BillAccount::Alipay { pid: None },
            ..request(Provider::Alipay, alipay_zip())
        };
        if provider == Provider::Alipay {
            let error = reconciler.run_day(no_pid).await.unwrap_err();
            assert!(error.to_string().contains("no `pid`"), "{error}");
        }
    }
}

/// Finding 3: a discrepancy stays open until a person resolves it or a later
/// run no longer finds it (superseded, with the run and the bill digest);
/// found again, it is open again. The report lists every one of the day.
#[tokio::test]
async fn open_discrepancies_stay_open_until_resolved_or_no_longer_found() {
    for provider in [Provider::Wechatpay, Provider::Alipay] {
        let (_dir, store) = store_with(provider).await;
        let reconciler = reconciler_on(&store);
        let first = reconciler
            .run_day(request(provider, every_category(provider)))
            .await
            .unwrap();
        assert_eq!(first.report.open, 6);
        let resolved_id = first.report.discrepancies[0].found.id.clone();
        reconciler
            .resolve_discrepancy(
                provider,
                &shop(),
                day(),
                &resolved_id,
                ResolutionOutcome::WrittenOff,
                "ops",
                "accepted",
            )
            .await
            .unwrap();
        let second = reconciler
            .run_day(request(provider, exact(provider)))
            .await
            .unwrap();
        assert_eq!(second.new_discrepancies, 0);
        assert_eq!(second.report.open, 0, "{provider}: a clean day");
        assert_eq!(second.report.discrepancies.len(), 6, "all six are listed");
        let superseded: Vec<_> = second
            .report
            .discrepancies
            .iter()
            .filter_map(|d| d.superseded.as_ref())
            .collect();
        assert_eq!(superseded.len(), 5);
        assert!(superseded.iter().all(|s| s.run == 2
            && s.bill_sha256 == second.report.bill_sha256
            && s.bill_sha256.is_some()));
        let refused = reconciler
            .resolve_discrepancy(
                provider,
                &shop(),
                day(),
                &second.report.discrepancies[1].found.id,
                ResolutionOutcome::NoIssue,
                "ops",
                "late",
            )
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("run 2 no longer found it"),
            "{refused}"
        );
        let third = reconciler
            .run_day(request(provider, every_category(provider)))
            .await
            .unwrap();
        assert_eq!(third.new_discrepancies, 5, "the five are found again");
        assert_eq!(third.report.open, 5);
        let p = match provider {
            Provider::Wechatpay => "w",
            Provider::Alipay => "a",
        };
        let expected = [
            format!("AMOUNT_MISMATCH payment {p}-altered resolved"),
            format!("DUPLICATE_IN_BILL payment {p}-doubled open"),
            format!("MISSING_IN_BILL payment {p}-missing open"),
            "MISSING_IN_LEDGER payment - open".to_owned(),
            format!("STATUS_MISMATCH payment {p}-failed open"),
            "SUMMARY_MISMATCH summary:paid_total - open".to_owned(),
        ];
        assert_eq!(statuses(&third.report), expected, "{provider}");
        let money = &third.report.open_money;
        assert_eq!(
            (
                money.short_count,
                money.short_total.as_str(),
                money.long_count,
                money.long_total.as_str()
            ),
            (1, "5.00", 1, "1.00"),
            "{provider}"
        );
    }
}

/// Finding 4: a provider-side reversal of an order we hold as paid is a
/// reversal on both wallets (WeChat REVOKED; Alipay 退款 numbered with the
/// trade number), decided from the line, not from our log.
#[tokio::test]
async fn a_provider_side_reversal_of_a_paid_order_is_one_kind_on_both_wallets() {
    let mut found = Vec::new();
    for provider in [Provider::Wechatpay, Provider::Alipay] {
        let (_dir, store) = store_with(provider).await;
        let bytes = match provider {
            Provider::Wechatpay => {
                let revoked = wechat_row("wpnook", "REVOKED", "0.00", ("0", "12.00", "SUCCESS"));
                wechat_exact(&[revoked], "22.00").into_bytes()
            }
            Provider::Alipay => {
                let cancel = alipay_row("apnook", "退款", "-12.00", "Tapnook");
                alipay_exact(&[cancel], "2笔，商家实收退款共-22.00元")
            }
        };
        let outcome = reconciler_on(&store)
            .run_day(request(provider, bytes))
            .await
            .unwrap();
        found.push(statuses(&outcome.report).join("; "));
    }
    expect![[r#"
        STATUS_MISMATCH reversal w-ok open
        STATUS_MISMATCH reversal a-ok open"#]]
    .assert_eq(&found.join("\n"));
}

/// Finding 5: a column the provider adds is read past, and the run says so.
#[tokio::test]
async fn an_added_column_is_a_recorded_warning_not_a_refusal() {
    let (_dir, store) = store_with(Provider::Wechatpay).await;
    let text = wechat_exact(&[], "10.00")
        .replacen("费率备注", "费率备注,新列", 1)
        .replace(",`\n", ",`,`x\n");
    let reconciler = reconciler_on(&store);
    let outcome = reconciler
        .run_day(request(Provider::Wechatpay, text.into_bytes()))
        .await
        .unwrap();
    assert_eq!(outcome.report.open, 0);
    assert_eq!(outcome.matched.matched_payments.len(), 5);
    let stored = reconciler
        .report(Provider::Wechatpay, &shop(), day())
        .await
        .unwrap()
        .unwrap();
    expect![[r#"["unknown column \"新列\" in the detail header (line 1) skipped"]"#]]
        .assert_eq(&format!("{:?}", stored.warnings));
}
