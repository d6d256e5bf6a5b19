//! Bill files made from the simulator's ledger, parsed back as a reconciliation job would.

mod support;

use std::io::Read as _;

use axum::body::Body;
use axum::http::Request;
use paycode_sim::{BillTamper, Provider};
use rust_decimal::Decimal;
use serde_json::json;
use support::*;

fn beijing_day(sim: &paycode_sim::Simulator) -> chrono::NaiveDate {
    paycode_sim::clock::beijing_day(sim.now())
}

/// Bills are T+1: moves the simulator clock a day on, so the day just played has a bill.
fn next_day(sim: &paycode_sim::Simulator) {
    sim.advance_clock(24 * 3600);
}

async fn wx_bill(router: &axum::Router, date: &str, bill_type: &str) -> String {
    let fields = wx_fields(&[("bill_date", date), ("bill_type", bill_type)]);
    let raw = send(
        router,
        post(
            "/pay/downloadbill",
            "text/xml",
            wx_signed_xml(fields, paycode_sim::crypto::WxSignType::Md5),
        ),
    )
    .await;
    String::from_utf8(raw.body).unwrap()
}

/// Splits a WeChat bill into (detail header, rows, summary header, summary) with backticks removed.
fn parse_wx_bill(text: &str) -> (Vec<String>, Vec<Vec<String>>, Vec<String>, Vec<String>) {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    let cells = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|c| {
                assert!(
                    c.starts_with('`'),
                    "every value is prefixed with a backtick: {line}"
                );
                c[1..].to_owned()
            })
            .collect()
    };
    let header: Vec<String> = lines[0].split(',').map(str::to_owned).collect();
    let n = lines.len();
    let rows = lines[1..n - 2].iter().map(|l| cells(l)).collect();
    let summary_header = lines[n - 2].split(',').map(str::to_owned).collect();
    (header, rows, summary_header, cells(lines[n - 1]))
}

fn column<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let index = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    &row[index]
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn the_wechat_all_bill_shows_payments_refunds_and_reversals_with_matching_totals() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "b-paid", "1234", &wx_code(0, 0)).await;
    wx_pay(&router, "b-refunded", "1000", &wx_code(0, 0)).await;
    let fields = wx_fields(&[
        ("out_trade_no", "b-refunded"),
        ("out_refund_no", "br-1"),
        ("total_fee", "1000"),
        ("refund_fee", "250"),
    ]);
    wx_call(&router, "/secapi/pay/refund", fields).await;
    wx_pay(&router, "b-reversed", "500", &wx_code(0, 0)).await;
    wx_call(
        &router,
        "/secapi/pay/reverse",
        wx_fields(&[("out_trade_no", "b-reversed")]),
    )
    .await;
    wx_pay(&router, "b-unpaid", "700", &wx_code(2, 0)).await;
    wx_call(
        &router,
        "/secapi/pay/reverse",
        wx_fields(&[("out_trade_no", "b-unpaid")]),
    )
    .await;

    let date = beijing_day(&sim).format("%Y%m%d").to_string();
    next_day(&sim);
    let text = wx_bill(&router, &date, "ALL").await;
    assert!(text.contains("\r\n"));
    let (header, rows, summary_header, summary) = parse_wx_bill(&text);
    assert_eq!(header.len(), 27);
    assert!(rows.iter().all(|r| r.len() == 27));
    let states: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                column(&header, r, "商户订单号"),
                column(&header, r, "交易状态"),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("b-paid", "SUCCESS"),
            ("b-refunded", "SUCCESS"),
            ("b-refunded", "REFUND"),
            ("b-reversed", "SUCCESS"),
            ("b-reversed", "REVOKED")
        ]
    );
    let sum = |name: &str| {
        rows.iter()
            .map(|r| dec(column(&header, r, name)))
            .sum::<Decimal>()
    };
    assert_eq!(column(&summary_header, &summary, "总交易单数"), "5");
    assert_eq!(
        dec(column(&summary_header, &summary, "应结订单总金额")),
        sum("应结订单金额")
    );
    assert_eq!(
        dec(column(&summary_header, &summary, "应结订单总金额")),
        dec("27.34")
    );
    assert_eq!(
        dec(column(&summary_header, &summary, "退款总金额")),
        dec("7.50")
    );
    assert_eq!(
        dec(column(&summary_header, &summary, "手续费总金额")),
        sum("手续费")
    );
    let refund_row = &rows[2];
    assert_eq!(column(&header, refund_row, "商户退款单号"), "br-1");
    assert_eq!(column(&header, refund_row, "退款状态"), "SUCCESS");
    assert_eq!(column(&header, &rows[0], "微信退款单号"), "0");
    assert_eq!(column(&header, &rows[0], "特约商户号"), "0");
}

#[tokio::test]
async fn the_wechat_success_and_refund_bills_split_the_rows() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "s-1", "100", &wx_code(0, 0)).await;
    wx_pay(&router, "s-2", "200", &wx_code(0, 0)).await;
    wx_call(
        &router,
        "/secapi/pay/reverse",
        wx_fields(&[("out_trade_no", "s-2")]),
    )
    .await;
    let date = beijing_day(&sim).format("%Y%m%d").to_string();
    next_day(&sim);
    let (header, rows, summary_header, summary) =
        parse_wx_bill(&wx_bill(&router, &date, "SUCCESS").await);
    assert_eq!((header.len(), rows.len()), (20, 2));
    assert_eq!(summary_header.len(), 4);
    assert_eq!(
        dec(column(&summary_header, &summary, "订单总金额")),
        dec("3.00")
    );
    let (header, rows, _, _) = parse_wx_bill(&wx_bill(&router, &date, "REFUND").await);
    assert_eq!((header.len(), rows.len()), (29, 1));
    assert_eq!(column(&header, &rows[0], "交易状态"), "REVOKED");
    assert_eq!(column(&header, &rows[0], "申请退款金额"), "2.00");
}

#[tokio::test]
async fn an_empty_wechat_day_answers_no_bill_exist() {
    let sim = simulator();
    let router = sim.router();
    let text = wx_bill(&router, "20200101", "ALL").await;
    let answer = paycode_sim::xml::parse(&text).unwrap();
    assert_eq!(
        (
            answer["return_code"].as_str(),
            answer["return_msg"].as_str()
        ),
        ("FAIL", "No Bill Exist")
    );
    assert_eq!(answer["error_code"], "20002");
}

#[tokio::test]
async fn a_gzip_bill_decompresses_to_the_plain_one() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "gz-1", "100", &wx_code(0, 0)).await;
    let date = beijing_day(&sim).format("%Y%m%d").to_string();
    next_day(&sim);
    let plain = wx_bill(&router, &date, "ALL").await;
    let fields = wx_fields(&[("bill_date", &date), ("tar_type", "GZIP")]);
    let raw = send(
        &router,
        post(
            "/pay/downloadbill",
            "text/xml",
            wx_signed_xml(fields, paycode_sim::crypto::WxSignType::Md5),
        ),
    )
    .await;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&raw.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, plain);
}

#[tokio::test]
async fn bill_tampers_drop_alter_and_inject_rows() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "t-keep", "100", &wx_code(0, 0)).await;
    wx_pay(&router, "t-drop", "100", &wx_code(0, 0)).await;
    wx_pay(&router, "t-alter", "100", &wx_code(0, 0)).await;
    sim.tamper_bill(BillTamper::DropTrade {
        out_trade_no: "t-drop".into(),
    })
    .unwrap();
    sim.tamper_bill(BillTamper::AlterAmount {
        out_trade_no: "t-alter".into(),
        amount: "0.99".into(),
    })
    .unwrap();
    let late = BillTamper::InjectSuccess {
        provider: Provider::Wechat,
        merchant: "10000100".into(),
        out_trade_no: "t-late".into(),
        amount: "5.00".into(),
        at: None,
    };
    sim.tamper_bill(late).unwrap();
    assert!(
        sim.tamper_bill(BillTamper::AlterAmount {
            out_trade_no: "x".into(),
            amount: "abc".into()
        })
        .is_err()
    );
    let date = beijing_day(&sim).format("%Y%m%d").to_string();
    next_day(&sim);
    let (header, rows, _, _) = parse_wx_bill(&wx_bill(&router, &date, "ALL").await);
    let shown: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                column(&header, r, "商户订单号"),
                column(&header, r, "订单金额"),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [("t-keep", "1.00"), ("t-alter", "0.99"), ("t-late", "5.00")]
    );
    assert_eq!(
        sim.trades().len(),
        3,
        "tampers change the bill, not the ledger"
    );
}

/// Downloads the Alipay bill for a day: the URL from the API, then the zip, decoded from GBK.
async fn alipay_bill(
    router: &axum::Router,
    date: &str,
) -> (serde_json::Value, Vec<(String, String)>) {
    let answer = ali_call(
        router,
        "alipay.data.dataservice.bill.downloadurl.query",
        json!({"bill_type": "trade", "bill_date": date}),
    )
    .await;
    let url = answer["bill_download_url"]
        .as_str()
        .expect("download url")
        .to_owned();
    let path = url
        .strip_prefix("http://sim.test")
        .expect("url on the request's host");
    let raw = send(router, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(raw.body)).unwrap();
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        // Entry names are GBK bytes without the zip UTF-8 flag (bit 11), as Alipay writes them.
        assert_eq!(file.flags().as_u16() & (1 << 11), 0, "UTF-8 flag clear");
        let (name, had_errors) = encoding_rs::GBK.decode_without_bom_handling(file.name_raw());
        assert!(!had_errors, "GBK name");
        let name = name.into_owned();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        let (text, _, had_errors) = encoding_rs::GBK.decode(&bytes);
        assert!(!had_errors, "GBK");
        files.push((name, text.into_owned()));
    }
    (answer, files)
}

#[tokio::test]
async fn the_alipay_bill_is_a_zip_of_gbk_csv_with_tab_suffixed_identifiers() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ab-paid", "12.34", &ali_code(0, 0)).await;
    ali_pay(&router, "ab-refund", "10.00", &ali_code(0, 0)).await;
    ali_call(
        &router,
        "alipay.trade.refund",
        json!({"out_trade_no": "ab-refund", "refund_amount": "3.00", "out_request_no": "rq-1"}),
    )
    .await;
    ali_pay(&router, "ab-cancel", "2.00", &ali_code(0, 0)).await;
    ali_call(
        &router,
        "alipay.trade.cancel",
        json!({"out_trade_no": "ab-cancel"}),
    )
    .await;
    let date = beijing_day(&sim).format("%Y-%m-%d").to_string();
    next_day(&sim);
    let (answer, files) = alipay_bill(&router, &date).await;
    assert!(answer.get("bill_file_code").is_none());
    let compact = date.replace('-', "");
    assert_eq!(
        files[0].0,
        format!("20881021778468800156_{compact}_业务明细.csv")
    );
    assert_eq!(
        files[1].0,
        format!("20881021778468800156_{compact}_业务明细(汇总).csv")
    );
    let detail = &files[0].1;
    let lines: Vec<&str> = detail.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "#支付宝业务明细查询");
    let start = lines
        .iter()
        .position(|l| l.contains("业务明细列表---"))
        .unwrap();
    let end = lines
        .iter()
        .position(|l| l.contains("业务明细列表结束"))
        .unwrap();
    let header: Vec<&str> = lines[start + 1].split(',').collect();
    assert_eq!(header.len(), 25);
    let rows: Vec<Vec<&str>> = lines[start + 2..end]
        .iter()
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter()
            .all(|r| r.len() == 25 && r[0].ends_with('\t') && r[1].ends_with('\t'))
    );
    let kinds: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[1].trim(), r[2].trim(), r[11]))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ab-paid", "交易", "12.34"),
            ("ab-refund", "交易", "10.00"),
            ("ab-refund", "退款", "-3.00"),
            ("ab-cancel", "交易", "2.00"),
            ("ab-cancel", "退款", "-2.00"),
        ]
    );
    assert_eq!(rows[2][21].trim(), "rq-1");
    assert_eq!(
        lines[end + 1],
        "#交易合计：3笔，商家实收共24.34元，商家优惠共0.00元"
    );
    assert_eq!(
        lines[end + 2],
        "#退款合计：2笔，商家实收退款共-5.00元，商家优惠退款共0.00元"
    );
    assert!(lines[end + 3].starts_with("#导出时间：["));
    assert!(files[1].1.contains("合计,,3,2,19.34,19.34"));
}

#[tokio::test]
async fn the_alipay_bill_names_are_gbk_bytes_without_the_utf8_flag() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "gbk-1", "1.00", &ali_code(0, 0)).await;
    let day = beijing_day(&sim);
    next_day(&sim);
    let answer = ali_call(
        &router,
        "alipay.data.dataservice.bill.downloadurl.query",
        json!({"bill_type": "trade", "bill_date": day.format("%Y-%m-%d").to_string()}),
    )
    .await;
    let path = answer["bill_download_url"]
        .as_str()
        .unwrap()
        .replace("http://sim.test", "");
    let raw = send(&router, Request::get(path).body(Body::empty()).unwrap()).await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(raw.body)).unwrap();
    let stem = format!("20881021778468800156_{}", day.format("%Y%m%d"));
    for (i, suffix) in ["_业务明细.csv", "_业务明细(汇总).csv"].iter().enumerate() {
        let file = archive.by_index(i).unwrap();
        let name = format!("{stem}{suffix}");
        let (gbk, _, _) = encoding_rs::GBK.encode(&name);
        assert_eq!(file.name_raw(), &gbk[..]);
        assert_eq!(file.flags().as_u16() & (1 << 11), 0);
    }
}

/// Bills are T+1: both wallets refuse today's bill and issue yesterday's.
#[tokio::test]
async fn todays_bill_is_refused_and_yesterdays_is_issued_on_both_wallets() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "t1-wx", "100", &wx_code(0, 0)).await;
    ali_pay(&router, "t1-ali", "1.00", &ali_code(0, 0)).await;
    let today = beijing_day(&sim);

    let text = wx_bill(&router, &today.format("%Y%m%d").to_string(), "ALL").await;
    let answer = paycode_sim::xml::parse(&text).unwrap();
    assert_eq!(
        (answer["return_msg"].as_str(), answer["error_code"].as_str()),
        ("No Bill Exist", "20002"),
        "today's WeChat bill"
    );
    let answer = ali_call(
        &router,
        "alipay.data.dataservice.bill.downloadurl.query",
        json!({"bill_type": "trade", "bill_date": today.format("%Y-%m-%d").to_string()}),
    )
    .await;
    assert_eq!(
        (
            answer["code"].as_str(),
            answer["sub_code"].as_str(),
            answer["sub_msg"].as_str()
        ),
        (
            Some("40004"),
            Some("isv.invalid_arguments"),
            Some("入参不合法")
        ),
        "today's Alipay bill"
    );

    next_day(&sim);
    let yesterday = today;
    let (_, rows, _, _) =
        parse_wx_bill(&wx_bill(&router, &yesterday.format("%Y%m%d").to_string(), "ALL").await);
    assert_eq!(rows.len(), 1);
    let (answer, files) = alipay_bill(&router, &yesterday.format("%Y-%m-%d").to_string()).await;
    assert_eq!(answer["code"], "10000");
    assert!(files[0].1.contains("t1-ali\t"), "{}", files[0].1);
    // The new today is refused in turn.
    let text = wx_bill(
        &router,
        &beijing_day(&sim).format("%Y%m%d").to_string(),
        "ALL",
    )
    .await;
    assert!(text.contains("No Bill Exist"));
}

#[tokio::test]
async fn a_future_or_malformed_date_is_an_invalid_argument_and_a_bill_past_retention_does_not_exist()
 {
    let sim = simulator();
    let router = sim.router();
    let ask = |date: String| {
        let router = router.clone();
        async move {
            ali_call(
                &router,
                "alipay.data.dataservice.bill.downloadurl.query",
                json!({"bill_type": "trade", "bill_date": date}),
            )
            .await
        }
    };
    let future = (beijing_day(&sim) + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    for date in [future, "2026-13-01".to_owned(), "202601".to_owned()] {
        let answer = ask(date.clone()).await;
        assert_eq!(
            (answer["code"].as_str(), answer["sub_code"].as_str()),
            (Some("40004"), Some("isv.invalid_arguments")),
            "{date}: {answer}"
        );
        assert_eq!(answer["sub_msg"], "入参不合法");
    }
    // A day without trades still has its (empty) file.
    let empty = (beijing_day(&sim) - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let answer = ask(empty).await;
    assert_eq!(answer["code"], "10000", "{answer}");
    assert_eq!(
        answer["bill_file_code"], "EMPTY_DATA_WITH_BILL_FILE",
        "{answer}"
    );
    let long_ago = (beijing_day(&sim) - chrono::Duration::days(400))
        .format("%Y-%m-%d")
        .to_string();
    let answer = ask(long_ago).await;
    assert_eq!(
        (
            answer["code"].as_str(),
            answer["sub_code"].as_str(),
            answer["sub_msg"].as_str()
        ),
        (
            Some("40004"),
            Some("isp.bill_not_exist"),
            Some("账单不存在")
        )
    );
    assert!(answer.get("bill_download_url").is_none());
    let answer = ali_call(
        &router,
        "alipay.data.dataservice.bill.downloadurl.query",
        json!({"bill_type": "signcustomer", "bill_date": "2020-01-01"}),
    )
    .await;
    assert_eq!(answer["sub_code"], "TYPE_NOT_SUPPORTED");
}

#[tokio::test]
async fn alipay_download_urls_expire() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "exp-1", "1.00", &ali_code(0, 0)).await;
    let date = beijing_day(&sim).format("%Y-%m-%d").to_string();
    next_day(&sim);
    let answer = ali_call(
        &router,
        "alipay.data.dataservice.bill.downloadurl.query",
        json!({"bill_type": "trade", "bill_date": date}),
    )
    .await;
    let url = answer["bill_download_url"]
        .as_str()
        .unwrap()
        .replace("http://sim.test", "");
    sim.advance_clock(31);
    let raw = send(&router, Request::get(url).body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, 404);
}
