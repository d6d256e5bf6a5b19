//! Reconciliation through the application, golden: hand-built bill files of
//! both providers against a hand-built ledger in a real store, with a line
//! for every discrepancy category, the report rendered as the CLI prints it.
//! Then the run stream itself: what a rerun and a resolution append.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use expect_test::{Expect, expect};
use paycode_app::reconciliation::{BillInput, Reconciler, RunRequest};
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
        (format!("order-shop-{order_no}"), events)
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
    use std::io::Write as _;
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
    let header = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
    // The lines add up to 61.70 paid; the footer says 99.99.
    let text = format!(
        "#支付宝业务明细查询\r\n#-----业务明细列表-----\r\n{header}\r\n{}\r\n#-----业务明细列表结束-----\r\n#交易合计：7笔，商家实收共99.99元，商家优惠共0.00元\r\n#退款合计：1笔，商家实收退款共-10.00元，商家优惠退款共0.00元\r\n",
        rows.join("\r\n")
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "2088_20261120_业务明细.csv",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(&gbk).unwrap();
    zip.finish().unwrap().into_inner()
}

async fn golden(provider: Provider, bytes: Vec<u8>, expected: Expect) {
    let (_dir, store) = store_with(provider).await;
    let reconciler = Reconciler::new(
        store.clone(),
        Arc::new(ManualClock::new(at(23, 0) + chrono::Duration::hours(11))),
        Arc::new(RandomIds),
    );
    let request = RunRequest {
        provider,
        merchant: shop(),
        day: day(),
        bill: BillInput::File {
            name: "bill".into(),
            bytes,
        },
        by: Some("ops".into()),
    };
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
    let resolved = stored.discrepancies[0].resolution.as_ref().unwrap();
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
            discrepancies: 6
              AMOUNT_MISMATCH      payment            wpnoaltered                        bill       7.70 ledger       7.00  open
              DUPLICATE_IN_BILL    payment            wpnodoubled                        bill       4.00 ledger       4.00  open
              MISSING_IN_BILL      payment            wpnomissing                        bill          - ledger       5.00  open
              MISSING_IN_LEDGER    payment            wpnounknown                        bill       1.00 ledger          -  open
              STATUS_MISMATCH      payment            wpnofailed                         bill       3.00 ledger       3.00  open
              SUMMARY_MISMATCH     summary:paid_total -                                  bill      99.99 ledger      61.70  open
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
        discrepancies: 6
          AMOUNT_MISMATCH      payment            apnoaltered                        bill       7.70 ledger       7.00  open
          DUPLICATE_IN_BILL    payment            apnodoubled                        bill       4.00 ledger       4.00  open
          MISSING_IN_BILL      payment            apnomissing                        bill          - ledger       5.00  open
          MISSING_IN_LEDGER    payment            apnounknown                        bill       1.00 ledger          -  open
          STATUS_MISMATCH      payment            apnofailed                         bill       3.00 ledger       3.00  open
          SUMMARY_MISMATCH     summary:paid_total -                                  bill      99.99 ledger      61.70  open
    "#]]).await;
}
