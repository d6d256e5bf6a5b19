//! The WeChat bill parser against hand-built files: every row kind (payment,
//! refund, processing refund, reversal), the legacy column set, gzip, a BOM
//! and `\r\n`, and a clear error for every kind of bad file.

use std::fmt::Write as _;
use std::io::Write as _;

use expect_test::{Expect, expect};
use paycode_wechatpay::bill::{Bill, BillError, decode, parse};

const ALL_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// One ALL row: time, transaction id, order no, state, settled, refund id,
/// refund no, refund amount, refund status, order amount.
#[allow(clippy::too_many_arguments)]
fn row(
    time: &str,
    trade: &str,
    order: &str,
    state: &str,
    settled: &str,
    refund_id: &str,
    refund_no: &str,
    refund: &str,
    refund_status: &str,
    total: &str,
) -> String {
    let refund_type = if refund_status.is_empty() {
        ""
    } else {
        "ORIGINAL"
    };
    [
        time,
        "wx2421b1c4370ec43b",
        "10000100",
        "0",
        "",
        trade,
        order,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "MICROPAY",
        state,
        "OTHERS",
        "CNY",
        settled,
        "0.00",
        refund_id,
        refund_no,
        refund,
        "0.00",
        refund_type,
        refund_status,
        "goods, with a comma",
        "",
        "0.07000",
        "0.60%",
        total,
        refund,
        "",
    ]
    .iter()
    .map(|c| format!("`{c}"))
    .collect::<Vec<_>>()
    .join(",")
}

fn day_bill() -> String {
    let rows = [
        row(
            "2026-11-20 10:00:01",
            "4200000001",
            "p1",
            "SUCCESS",
            "12.00",
            "0",
            "0",
            "0.00",
            "",
            "12.00",
        ),
        row(
            "2026-11-20 10:05:00",
            "4200000002",
            "p2",
            "SUCCESS",
            "8.80",
            "0",
            "0",
            "0.00",
            "",
            "8.80",
        ),
        row(
            "2026-11-20 11:00:00",
            "4200000001",
            "p1",
            "REFUND",
            "0.00",
            "50300001",
            "r1",
            "2.00",
            "SUCCESS",
            "0.00",
        ),
        row(
            "2026-11-20 11:30:00",
            "4200000001",
            "p1",
            "REFUND",
            "0.00",
            "50300002",
            "r2",
            "1.00",
            "PROCESSING",
            "0.00",
        ),
        row(
            "2026-11-20 12:00:00",
            "4200000002",
            "p2",
            "REVOKED",
            "0.00",
            "50300003",
            "p2",
            "8.80",
            "SUCCESS",
            "0.00",
        ),
    ];
    let mut text = format!("{ALL_HEADER}\r\n");
    for r in &rows {
        text.push_str(r);
        text.push_str("\r\n");
    }
    text.push_str(SUMMARY_HEADER);
    text.push_str("\r\n`5,`20.80,`11.80,`0.00,`0.12000,`20.80,`11.80\r\n");
    text
}

fn render(bill: &Bill) -> String {
    let mut out = format!("{:?} layout, {} rows\n", bill.layout, bill.rows.len());
    for r in &bill.rows {
        let _ = writeln!(
            out,
            "line {} {} {} {} mch {} sub {:?} trade {} type {} settled {} total {:?} refund {:?}/{:?} {} of {:?} {:?}",
            r.line,
            r.time,
            r.out_trade_no,
            r.trade_state,
            r.mch_id,
            r.sub_mch_id,
            r.transaction_id,
            r.trade_type,
            r.settlement_fen,
            r.total_fen,
            r.refund_id,
            r.out_refund_no,
            r.refund_fen,
            r.requested_refund_fen,
            r.refund_status,
        );
    }
    let _ = writeln!(out, "summary {:?}", bill.summary);
    out
}

fn check(text: &str, expected: Expect) {
    let bill = parse(&decode(text.as_bytes(), false).unwrap()).unwrap();
    expected.assert_eq(&render(&bill));
}

fn error(text: &str) -> BillError {
    parse(&decode(text.as_bytes(), false).unwrap()).unwrap_err()
}

#[test]
fn an_all_bill_with_payments_refunds_and_a_reversal_parses_by_header_names() {
    check(
        &day_bill(),
        expect![[r#"
            Current layout, 5 rows
            line 2 2026-11-20 02:00:01 UTC p1 SUCCESS mch 10000100 sub None trade 4200000001 type MICROPAY settled 1200 total Some(1200) refund None/None 0 of Some(0) ""
            line 3 2026-11-20 02:05:00 UTC p2 SUCCESS mch 10000100 sub None trade 4200000002 type MICROPAY settled 880 total Some(880) refund None/None 0 of Some(0) ""
            line 4 2026-11-20 03:00:00 UTC p1 REFUND mch 10000100 sub None trade 4200000001 type MICROPAY settled 0 total Some(0) refund Some("50300001")/Some("r1") 200 of Some(200) "SUCCESS"
            line 5 2026-11-20 03:30:00 UTC p1 REFUND mch 10000100 sub None trade 4200000001 type MICROPAY settled 0 total Some(0) refund Some("50300002")/Some("r2") 100 of Some(100) "PROCESSING"
            line 6 2026-11-20 04:00:00 UTC p2 REVOKED mch 10000100 sub None trade 4200000002 type MICROPAY settled 0 total Some(0) refund Some("50300003")/Some("p2") 880 of Some(880) "SUCCESS"
            summary BillSummary { trade_count: 5, settlement_total_fen: Some(2080), refund_total_fen: Some(1180), total_fen: Some(2080) }
        "#]],
    );
}

#[test]
fn a_bom_and_plain_newlines_are_tolerated() {
    let text = format!("\u{feff}{}", day_bill().replace("\r\n", "\n"));
    let bill = parse(&decode(text.as_bytes(), false).unwrap()).unwrap();
    assert_eq!(bill.rows.len(), 5);
    assert_eq!(bill.rows[0].out_trade_no, "p1");
}

#[test]
fn a_gzipped_bill_is_unpacked_and_a_bill_that_is_not_gzip_is_refused() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(day_bill().as_bytes()).unwrap();
    let gz = encoder.finish().unwrap();
    let bill = parse(&decode(&gz, true).unwrap()).unwrap();
    assert_eq!(bill.rows.len(), 5);
    assert!(matches!(
        decode(day_bill().as_bytes(), true),
        Err(BillError::BadGzip { .. })
    ));
}

#[test]
fn the_legacy_column_set_parses() {
    let header = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率";
    let pay = "`2026-11-20 09:00:00,`wx1,`10000100,`1900000109,`,`4200000009,`p9,`o1,`MICROPAY,`SUCCESS,`CMB_DEBIT,`CNY,`3.00,`0.00,`0,`0,`0,`0.00,`,`,`goods,`,`0.02000,`0.60%";
    let refund = "`2026-11-20 09:30:00,`wx1,`10000100,`1900000109,`,`4200000009,`p9,`o1,`MICROPAY,`REFUND,`CMB_DEBIT,`CNY,`0.00,`0.00,`50300009,`r9,`1.00,`0.00,`ORIGINAL,`SUCCESS,`goods,`,`-0.01000,`0.60%";
    let text = format!(
        "{header}\n{pay}\n{refund}\n总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额\n`2,`3.00,`1.00,`0.00,`0.01000\n"
    );
    check(
        &text,
        expect![[r#"
            Legacy layout, 2 rows
            line 2 2026-11-20 01:00:00 UTC p9 SUCCESS mch 10000100 sub Some("1900000109") trade 4200000009 type MICROPAY settled 300 total Some(300) refund None/None 0 of None ""
            line 3 2026-11-20 01:30:00 UTC p9 REFUND mch 10000100 sub Some("1900000109") trade 4200000009 type MICROPAY settled 0 total Some(0) refund Some("50300009")/Some("r9") 100 of None "SUCCESS"
            summary BillSummary { trade_count: 2, settlement_total_fen: Some(300), refund_total_fen: Some(100), total_fen: None }
        "#]],
    );
}

#[test]
fn a_success_bill_with_its_short_summary_parses() {
    let header = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注";
    let pay = "`2026-11-20 09:00:00,`wx1,`10000100,`0,`,`4200000009,`p9,`o1,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`3.00,`0.00,`goods,`,`0.02000,`0.60%,`3.00,`";
    let text = format!(
        "{header}\n{pay}\n总交易单数,应结订单总金额,手续费总金额,订单总金额\n`1,`3.00,`0.02000,`3.00\n"
    );
    let bill = parse(&text).unwrap();
    assert_eq!(bill.rows[0].total_fen, Some(300));
    assert_eq!(bill.summary.refund_total_fen, None);
}

#[test]
fn a_bill_cut_before_its_summary_is_truncated() {
    let text = day_bill();
    let cut = &text[..text.find("总交易单数").unwrap()];
    expect!["the bill ends before its summary: truncated after line 6"]
        .assert_eq(&error(cut).to_string());
    let mid_row = &text[..text.find("`p2,`o").unwrap()];
    assert!(matches!(error(mid_row), BillError::BadLine { line: 3, .. }));
}

#[test]
fn a_summary_that_counts_other_rows_than_the_bill_has_is_refused() {
    let text = day_bill().replace("`5,`20.80", "`6,`20.80");
    expect!["the summary counts 6 trades but the bill has 5 rows"]
        .assert_eq(&error(&text).to_string());
}

/// A column WeChat adds is read past and named in the warnings; the rows
/// read the same (protocols.md 5.1: parse by header names).
#[test]
fn an_unknown_column_is_a_warning_and_a_missing_one_is_refused() {
    let plain = parse(&day_bill()).unwrap();
    let added = day_bill()
        .replacen("设备号", "设备号,新列", 1)
        .replace(",`4200", ",`x,`4200")
        .replacen("总交易单数", "总交易单数,新合计", 1)
        .replacen("`5,", "`5,`0,", 1);
    let bill = parse(&added).unwrap();
    assert_eq!(bill.rows, plain.rows);
    assert_eq!(bill.summary, plain.summary);
    expect![[r#"
        unknown column "新列" in the detail header (line 1) skipped
        unknown column "新合计" in the summary header (line 7) skipped"#]]
    .assert_eq(&bill.warnings.join("\n"));
    assert!(plain.warnings.is_empty());
    let no_appid = day_bill().replacen("公众账号ID,", "", 1);
    expect![[r#"the detail header (line 1) has no column "公众账号ID""#]]
        .assert_eq(&error(&no_appid).to_string());
    let missing = day_bill().replacen("商户订单号,", "", 1);
    expect![[r#"the detail header (line 1) has no column "商户订单号""#]]
        .assert_eq(&error(&missing).to_string());
}

#[test]
fn text_that_is_not_utf8_or_not_a_bill_is_refused() {
    // "交易" in GBK.
    let gbk = [0xbd, 0xbb, 0xd2, 0xd7];
    assert!(matches!(
        decode(&gbk, false),
        Err(BillError::NotUtf8 { .. })
    ));
    assert_eq!(error(""), BillError::Empty);
    let xml = "<xml><return_code><![CDATA[FAIL]]></return_code></xml>";
    assert!(matches!(error(xml), BillError::BadLine { line: 1, .. }));
    let bad_amount = day_bill().replacen("`12.00", "`12.001", 1);
    expect![[r#"line 2: amount "12.001" is not yuan with at most two decimals"#]]
        .assert_eq(&error(&bad_amount).to_string());
}
