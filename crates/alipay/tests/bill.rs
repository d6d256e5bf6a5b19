//! The Alipay bill parser against hand-built zips of GBK CSV files: payments,
//! refunds with negative amounts, a cancel's refund row, an empty day, and a
//! clear error for every kind of bad file.

use std::fmt::Write as _;
use std::io::Write as _;

use expect_test::{Expect, expect};
use paycode_alipay::bill::{Bill, BillError, parse_detail, parse_file, parse_zip};

const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

/// One row: trade no, order no, kind, created, finished, amount, request no.
fn row(
    trade: &str,
    order: &str,
    kind: &str,
    times: (&str, &str),
    amount: &str,
    request: &str,
) -> String {
    let tab = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("{s}\t")
        }
    };
    [
        tab(trade),
        tab(order),
        tab(kind),
        tab("goods"),
        times.0.to_owned(),
        times.1.to_owned(),
        String::new(),
        String::new(),
        String::new(),
        tab("T1"),
        tab("159****1234"),
        amount.to_owned(),
        amount.to_owned(),
        "0.00".into(),
        "0.00".into(),
        "0.00".into(),
        "0.00".into(),
        "0.00".into(),
        String::new(),
        "0.00".into(),
        "0.00".into(),
        tab(request),
        "0.00".into(),
        "0.00".into(),
        String::new(),
    ]
    .join(",")
}

fn detail(rows: &[String], footer: (&str, &str)) -> String {
    let mut lines = vec![
        "#支付宝业务明细查询".to_owned(),
        "#账号：[20880000000000000156]".to_owned(),
        "#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]".to_owned(),
        "#-----------------------------------------业务明细列表----------------------------------------".to_owned(),
        HEADER.to_owned(),
    ];
    lines.extend(rows.iter().cloned());
    lines.push("#-----------------------------------------业务明细列表结束------------------------------------".to_owned());
    lines.push(format!("#交易合计：{}，商家优惠共0.00元", footer.0));
    lines.push(format!("#退款合计：{}，商家优惠退款共0.00元", footer.1));
    lines.push("#导出时间：[2026年11月21日 09:00:00]".to_owned());
    lines.into_iter().map(|l| l + "\r\n").collect()
}

fn day_rows() -> Vec<String> {
    vec![
        row(
            "2026112022001400001",
            "p1",
            "交易",
            ("2026-11-20 10:00:00", "2026-11-20 10:00:02"),
            "12.00",
            "",
        ),
        row(
            "2026112022001400002",
            "p2",
            "交易",
            ("2026-11-20 10:05:00", "2026-11-20 10:05:01"),
            "8.80",
            "",
        ),
        row(
            "2026112022001400001",
            "p1",
            "退款",
            ("2026-11-20 10:00:00", "2026-11-20 11:00:00"),
            "-2.00",
            "r1",
        ),
        // A cancel of a paid trade: a 退款 row with the trade number as its request number.
        row(
            "2026112022001400002",
            "p2",
            "退款",
            ("2026-11-20 10:05:00", "2026-11-20 12:00:00"),
            "-8.80",
            "2026112022001400002",
        ),
    ]
}

fn day_detail() -> String {
    detail(
        &day_rows(),
        ("2笔，商家实收共20.80元", "2笔，商家实收退款共-10.80元"),
    )
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, text) in files {
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        zip.start_file(*name, options).unwrap();
        zip.write_all(&gbk).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn bill_zip(detail_text: &str) -> Vec<u8> {
    zip_of(&[
        ("20880000000000000156_20261120_业务明细.csv", detail_text),
        (
            "20880000000000000156_20261120_业务明细(汇总).csv",
            "#支付宝业务汇总查询\r\n",
        ),
    ])
}

fn render(bill: &Bill) -> String {
    let mut out = format!("{} ({} rows)\n", bill.file_name, bill.rows.len());
    for r in &bill.rows {
        let _ = writeln!(
            out,
            "line {} {} {} {} created {} finished {} order {} received {} request {:?}",
            r.line,
            r.out_trade_no,
            r.trade_no,
            r.business_type,
            r.created_at,
            r.finished_at,
            r.order_fen,
            r.received_fen,
            r.refund_request_no,
        );
    }
    let _ = writeln!(out, "summary {:?}", bill.summary);
    out
}

fn check(bytes: &[u8], expected: Expect) {
    expected.assert_eq(&render(&parse_zip(bytes).unwrap()));
}

#[test]
fn a_day_of_payments_refunds_and_a_cancel_parses_with_tabs_stripped_and_signs_kept() {
    check(
        &bill_zip(&day_detail()),
        expect![[r#"
            20880000000000000156_20261120_业务明细.csv (4 rows)
            line 6 p1 2026112022001400001 交易 created 2026-11-20 02:00:00 UTC finished 2026-11-20 02:00:02 UTC order 1200 received 1200 request None
            line 7 p2 2026112022001400002 交易 created 2026-11-20 02:05:00 UTC finished 2026-11-20 02:05:01 UTC order 880 received 880 request None
            line 8 p1 2026112022001400001 退款 created 2026-11-20 02:00:00 UTC finished 2026-11-20 03:00:00 UTC order -200 received -200 request Some("r1")
            line 9 p2 2026112022001400002 退款 created 2026-11-20 02:05:00 UTC finished 2026-11-20 04:00:00 UTC order -880 received -880 request Some("2026112022001400002")
            summary BillSummary { payment_count: 2, payment_received_fen: 2080, refund_count: 2, refund_received_fen: -1080 }
        "#]],
    );
}

#[test]
fn the_account_and_the_period_are_read_from_the_header_lines() {
    let bill = parse_detail(&day_detail()).unwrap();
    assert_eq!(bill.account.as_deref(), Some("20880000000000000156"));
    expect!["Some((2026-11-20T00:00:00, 2026-11-21T00:00:00))"]
        .assert_eq(&format!("{:?}", bill.period));
    let torn = day_detail().replacen("终止日期：[2026年11月21日 00:00:00]", "终止日期：[]", 1);
    expect![[r#"line 3: period "起始日期：[2026年11月20日 00:00:00]   终止日期：[]" is not `起始日期：[…]   终止日期：[…]`"#]]
        .assert_eq(&parse_detail(&torn).unwrap_err().to_string());
}

/// An operator may give the CSV taken out of the zip, in GBK as Alipay
/// writes it or resaved as UTF-8; anything else gets a hint.
#[test]
fn the_detail_csv_itself_is_read_and_other_files_get_a_hint() {
    let zipped = parse_zip(&bill_zip(&day_detail())).unwrap();
    let text = day_detail();
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let bare = parse_file(&gbk).unwrap();
    assert_eq!(bare.rows, zipped.rows);
    assert_eq!(bare.summary, zipped.summary);
    assert_eq!(
        parse_file(day_detail().as_bytes()).unwrap().rows,
        zipped.rows
    );
    assert_eq!(
        parse_file(&bill_zip(&day_detail())).unwrap().file_name,
        zipped.file_name
    );
    expect!["the file is neither the downloaded zip nor its 业务明细 CSV (no 支付宝交易号 header): give the `…_业务明细.csv` or the `.csv.zip` as downloaded"]
        .assert_eq(&parse_file(b"date,amount\n").unwrap_err().to_string());
}

#[test]
fn an_empty_day_is_a_bill_without_rows() {
    let text = detail(&[], ("0笔，商家实收共0.00元", "0笔，商家实收退款共0.00元"));
    check(
        &bill_zip(&text),
        expect![[r#"
            20880000000000000156_20261120_业务明细.csv (0 rows)
            summary BillSummary { payment_count: 0, payment_received_fen: 0, refund_count: 0, refund_received_fen: 0 }
        "#]],
    );
}

#[test]
fn bytes_that_are_not_a_zip_or_hold_no_detail_file_are_refused() {
    assert!(matches!(
        parse_zip(b"not a zip"),
        Err(BillError::BadZip { .. })
    ));
    let only_summary = zip_of(&[("x_业务明细(汇总).csv", "#")]);
    expect![[r#"the zip holds no 业务明细 (detail) file; it holds ["x_业务明细(汇总).csv"]"#]]
        .assert_eq(&parse_zip(&only_summary).unwrap_err().to_string());
}

#[test]
fn a_detail_file_in_utf8_is_not_taken_for_gbk() {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("x_业务明细.csv", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(day_detail().as_bytes()).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert_eq!(parse_zip(&bytes), Err(BillError::NotGbk));
}

#[test]
fn a_file_cut_before_its_footer_is_truncated() {
    let text = day_detail();
    let cut = &text[..text.rfind("#-----").unwrap()];
    expect!["the detail file ends before its footer: truncated after line 9"]
        .assert_eq(&parse_detail(cut).unwrap_err().to_string());
    let mid_row = &text[..text.find("p2\t,退款").unwrap()];
    assert!(matches!(
        parse_detail(mid_row),
        Err(BillError::BadLine { line: 9, .. })
    ));
}

#[test]
fn footer_counts_that_differ_from_the_rows_are_refused() {
    let text = detail(
        &day_rows(),
        ("3笔，商家实收共20.80元", "2笔，商家实收退款共-10.80元"),
    );
    expect!["the footer counts 3 payment rows but the file has 2"]
        .assert_eq(&parse_detail(&text).unwrap_err().to_string());
}

#[test]
fn unknown_columns_are_warnings_missing_ones_and_unknown_business_types_are_refused() {
    let added = day_detail().replacen("备注", "备注,新列", 1);
    let added: String = added
        .split("\r\n")
        .map(|l| {
            if l.contains("交易\t") || l.contains("退款\t") {
                format!("{l},x")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let bill = parse_detail(&added).unwrap();
    assert_eq!(bill.rows, parse_detail(&day_detail()).unwrap().rows);
    expect![[r#"["unknown column \"新列\" in the header (line 5) skipped"]"#]]
        .assert_eq(&format!("{:?}", bill.warnings));
    let missing = day_detail().replacen(",退款批次号/请求号", "", 1);
    expect![[r#"the header (line 5) has no column "退款批次号/请求号""#]]
        .assert_eq(&parse_detail(&missing).unwrap_err().to_string());
    let kind = day_detail().replacen("交易\t", "转账\t", 1);
    expect![[r#"line 6: unknown 业务类型 "转账""#]]
        .assert_eq(&parse_detail(&kind).unwrap_err().to_string());
}
