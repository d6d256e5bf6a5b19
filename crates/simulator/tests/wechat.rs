//! WeChat Pay v2 side of the simulator, driven through its router with requests signed as the docs say.

mod support;

use paycode_sim::Scenario;
use paycode_sim::crypto::WxSignType;
use support::*;

#[tokio::test]
async fn a_well_formed_code_pays_at_once_with_a_signed_answer() {
    let sim = simulator();
    let router = sim.router();
    let answer = wx_pay(&router, "wx-paid-1", "888", &wx_code(0, 0)).await;
    assert_eq!(answer["return_code"], "SUCCESS");
    assert_eq!(answer["result_code"], "SUCCESS");
    assert_eq!(answer["total_fee"], "888");
    assert_eq!(answer["trade_type"], "MICROPAY");
    let id = &answer["transaction_id"];
    assert_eq!(id.len(), 28);
    assert!(id.bytes().all(|b| b.is_ascii_digit()));
    let query = wx_query(&router, "wx-paid-1").await;
    assert_eq!(query["trade_state"], "SUCCESS");
    assert_eq!(query["transaction_id"], *id);
}

#[tokio::test]
async fn integers_travel_bare_and_strings_in_cdata() {
    let sim = simulator();
    let router = sim.router();
    let fields = wx_fields(&[
        ("body", "x"),
        ("out_trade_no", "wx-xml-1"),
        ("total_fee", "1"),
        ("spbill_create_ip", "127.0.0.1"),
        ("auth_code", &wx_code(0, 0)),
    ]);
    let raw = send(
        &router,
        post(
            "/pay/micropay",
            "text/xml",
            wx_signed_xml(fields, WxSignType::Md5),
        ),
    )
    .await;
    let text = String::from_utf8(raw.body).unwrap();
    assert!(text.contains("<total_fee>1</total_fee>"), "{text}");
    assert!(
        text.contains("<return_code><![CDATA[SUCCESS]]></return_code>"),
        "{text}"
    );
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_return_code_fail() {
    let sim = simulator();
    let router = sim.router();
    let body = wx_signed_xml(wx_fields(&[("out_trade_no", "x")]), WxSignType::Md5)
        .replace("x]]></out_trade_no>", "y]]></out_trade_no>");
    let raw = send(&router, post("/pay/orderquery", "text/xml", body)).await;
    let answer = paycode_sim::xml::parse(std::str::from_utf8(&raw.body).unwrap()).unwrap();
    assert_eq!(answer["return_code"], "FAIL");
    assert_eq!(answer["return_msg"], "签名错误");
    assert!(!answer.contains_key("result_code"));
}

#[tokio::test]
async fn hmac_sha256_requests_get_hmac_sha256_answers() {
    let sim = simulator();
    let router = sim.router();
    let fields = wx_fields(&[("out_trade_no", "nope"), ("sign_type", "HMAC-SHA256")]);
    // wx_call verifies the answer with the request's sign type; an MD5-signed answer would fail there.
    let answer = wx_call(&router, "/pay/orderquery", fields).await;
    assert_eq!(answer["result_code"], "FAIL");
    assert_eq!(answer["err_code"], "ORDERNOTEXIST");
    assert_eq!(answer["sign"].len(), 64);
}

#[tokio::test]
async fn an_unknown_sign_type_and_garbage_xml_are_refused() {
    let sim = simulator();
    let router = sim.router();
    let fields = wx_fields(&[("out_trade_no", "a"), ("sign_type", "SHA1")]);
    let body = wx_signed_xml(fields, WxSignType::Md5);
    let raw = send(&router, post("/pay/orderquery", "text/xml", body)).await;
    assert!(String::from_utf8(raw.body).unwrap().contains("sign_type"));
    let raw = send(&router, post("/pay/orderquery", "text/xml", "not xml")).await;
    assert!(String::from_utf8(raw.body).unwrap().contains("XML格式错误"));
}

#[tokio::test]
async fn a_paid_order_resubmitted_answers_orderpaid_and_is_charged_once() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "wx-dup", "100", &wx_code(0, 0)).await;
    let again = wx_pay(&router, "wx-dup", "100", &wx_code(0, 0)).await;
    assert_eq!(again["err_code"], "ORDERPAID");
    let other_amount = wx_pay(&router, "wx-dup", "200", &wx_code(0, 0)).await;
    assert_eq!(other_amount["err_code"], "ORDERPAID");
    assert_eq!(sim.trades().len(), 1);
}

#[tokio::test]
async fn a_pending_order_resubmitted_with_other_parameters_is_out_trade_no_used() {
    let sim = simulator();
    let router = sim.router();
    let code = wx_code(2, 0);
    let first = wx_pay(&router, "wx-used", "100", &code).await;
    assert_eq!(first["err_code"], "USERPAYING");
    let same = wx_pay(&router, "wx-used", "100", &code).await;
    assert_eq!(same["err_code"], "USERPAYING");
    let different = wx_pay(&router, "wx-used", "101", &code).await;
    assert_eq!(different["err_code"], "OUT_TRADE_NO_USED");
}

#[tokio::test]
async fn amounts_above_one_thousand_wait_for_the_password_on_the_simulator_clock() {
    let sim = simulator();
    let router = sim.router();
    let answer = wx_pay(&router, "wx-big", "100001", &wx_code(0, 0)).await;
    assert_eq!(answer["err_code"], "USERPAYING");
    assert_eq!(
        wx_query(&router, "wx-big").await["trade_state"],
        "USERPAYING"
    );
    sim.advance_clock(9);
    assert_eq!(
        wx_query(&router, "wx-big").await["trade_state"],
        "USERPAYING"
    );
    sim.advance_clock(1);
    let paid = wx_query(&router, "wx-big").await;
    assert_eq!(paid["trade_state"], "SUCCESS");
    assert_eq!(paid["total_fee"], "100001");
    // Exactly 1000.00 needs no password.
    assert_eq!(
        wx_pay(&router, "wx-limit", "100000", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn paid_after_n_seconds_follows_the_marker_parameter() {
    let sim = simulator();
    let router = sim.router();
    assert_eq!(
        wx_pay(&router, "wx-later", "100", &wx_code(1, 5)).await["err_code"],
        "USERPAYING"
    );
    sim.advance_clock(4);
    assert_eq!(
        wx_query(&router, "wx-later").await["trade_state"],
        "USERPAYING"
    );
    sim.advance_clock(1);
    assert_eq!(
        wx_query(&router, "wx-later").await["trade_state"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn definite_refusals_carry_their_codes_and_query_as_payerror() {
    let sim = simulator();
    let router = sim.router();
    let cases = [
        (3, "NOTENOUGH"),
        (4, "AUTHCODEEXPIRE"),
        (5, "AUTH_CODE_INVALID"),
    ];
    for (scenario, code) in cases {
        let order = format!("wx-refused-{scenario}");
        let answer = wx_pay(&router, &order, "100", &wx_code(scenario, 0)).await;
        assert_eq!(answer["err_code"], code);
        assert_eq!(wx_query(&router, &order).await["trade_state"], "PAYERROR");
    }
    let not_wechat = wx_pay(&router, "wx-alipay-code", "100", "281234567890123456").await;
    assert_eq!(not_wechat["err_code"], "AUTH_CODE_INVALID");
}

#[tokio::test]
async fn a_refused_order_may_be_retried_with_a_fresh_code() {
    let sim = simulator();
    let router = sim.router();
    assert_eq!(
        wx_pay(&router, "wx-retry", "100", &wx_code(4, 0)).await["err_code"],
        "AUTHCODEEXPIRE"
    );
    let retried = wx_pay(&router, "wx-retry", "100", &wx_code(0, 0)).await;
    assert_eq!(retried["result_code"], "SUCCESS");
    assert_eq!(sim.trades().len(), 1);
}

#[tokio::test]
async fn an_unknown_error_may_hide_a_payment_or_not() {
    let sim = simulator();
    let router = sim.router();
    assert_eq!(
        wx_pay(&router, "wx-unknown-paid", "100", &wx_code(6, 0)).await["err_code"],
        "SYSTEMERROR"
    );
    assert_eq!(
        wx_query(&router, "wx-unknown-paid").await["trade_state"],
        "SUCCESS"
    );
    assert_eq!(
        wx_pay(&router, "wx-unknown-unpaid", "100", &wx_code(7, 0)).await["err_code"],
        "SYSTEMERROR"
    );
    assert_eq!(
        wx_query(&router, "wx-unknown-unpaid").await["trade_state"],
        "NOTPAY"
    );
}

async fn reverse(
    router: &axum::Router,
    out_trade_no: &str,
) -> std::collections::BTreeMap<String, String> {
    wx_call(
        router,
        "/secapi/pay/reverse",
        wx_fields(&[("out_trade_no", out_trade_no)]),
    )
    .await
}

#[tokio::test]
async fn reverse_closes_an_unpaid_order_and_refunds_a_paid_one() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "wx-rev-unpaid", "100", &wx_code(2, 0)).await;
    let answer = reverse(&router, "wx-rev-unpaid").await;
    assert_eq!(
        (answer["result_code"].as_str(), answer["recall"].as_str()),
        ("SUCCESS", "N")
    );
    assert_eq!(
        wx_query(&router, "wx-rev-unpaid").await["trade_state"],
        "REVOKED"
    );
    assert_eq!(
        wx_pay(&router, "wx-rev-unpaid", "100", &wx_code(2, 0)).await["err_code"],
        "ORDERREVERSED"
    );

    wx_pay(&router, "wx-rev-paid", "100", &wx_code(0, 0)).await;
    assert_eq!(
        reverse(&router, "wx-rev-paid").await["result_code"],
        "SUCCESS"
    );
    assert_eq!(
        reverse(&router, "wx-rev-paid").await["result_code"],
        "SUCCESS",
        "reverse is idempotent"
    );
    let trade = sim
        .trades()
        .into_iter()
        .find(|t| t.out_trade_no == "wx-rev-paid")
        .unwrap();
    assert_eq!(trade.phase, "reversed");
    assert_eq!(
        reverse(&router, "wx-never-seen").await["err_code"],
        "ORDERNOTEXIST"
    );
}

#[tokio::test]
async fn reverse_asks_for_recall_as_often_as_the_scenario_says() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "wx-recall", "100", &wx_code(8, 3)).await;
    for _ in 0..3 {
        let answer = reverse(&router, "wx-recall").await;
        assert_eq!(
            (answer["err_code"].as_str(), answer["recall"].as_str()),
            ("SYSTEMERROR", "Y")
        );
        assert_eq!(
            wx_query(&router, "wx-recall").await["trade_state"],
            "USERPAYING"
        );
    }
    assert_eq!(reverse(&router, "wx-recall").await["recall"], "N");
    assert_eq!(
        wx_query(&router, "wx-recall").await["trade_state"],
        "REVOKED"
    );

    wx_pay(&router, "wx-stuck", "100", &wx_code(9, 0)).await;
    for _ in 0..10 {
        assert_eq!(reverse(&router, "wx-stuck").await["recall"], "Y");
    }
}

#[tokio::test]
async fn reverse_is_refused_after_seven_days_and_after_a_refund() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "wx-old", "100", &wx_code(0, 0)).await;
    sim.advance_clock(7 * 86_400 + 1);
    assert_eq!(
        reverse(&router, "wx-old").await["err_code"],
        "REVERSE_EXPIRE"
    );

    wx_pay(&router, "wx-refunded", "100", &wx_code(0, 0)).await;
    refund(&router, "wx-refunded", "r1", "100", "10").await;
    assert_eq!(
        reverse(&router, "wx-refunded").await["err_code"],
        "TRADE_STATE_ERROR"
    );
}

async fn refund(
    router: &axum::Router,
    out_trade_no: &str,
    out_refund_no: &str,
    total: &str,
    amount: &str,
) -> std::collections::BTreeMap<String, String> {
    let fields = wx_fields(&[
        ("out_trade_no", out_trade_no),
        ("out_refund_no", out_refund_no),
        ("total_fee", total),
        ("refund_fee", amount),
    ]);
    wx_call(router, "/secapi/pay/refund", fields).await
}

#[tokio::test]
async fn refunds_respect_the_paid_amount_and_are_idempotent_per_refund_number() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "wx-refund", "1000", &wx_code(0, 0)).await;
    let first = refund(&router, "wx-refund", "r-1", "1000", "300").await;
    assert_eq!(first["result_code"], "SUCCESS");
    assert_eq!(first["refund_fee"], "300");
    let repeat = refund(&router, "wx-refund", "r-1", "1000", "300").await;
    assert_eq!(
        repeat["refund_id"], first["refund_id"],
        "same out_refund_no, same refund"
    );
    assert_eq!(
        refund(&router, "wx-refund", "r-1", "1000", "400").await["err_code"],
        "INVALID_REQUEST"
    );
    assert_eq!(
        refund(&router, "wx-refund", "r-2", "999", "100").await["err_code"],
        "PARAM_ERROR"
    );
    assert_eq!(
        refund(&router, "wx-refund", "r-2", "1000", "701").await["err_code"],
        "INVALID_REQUEST"
    );
    assert_eq!(
        refund(&router, "wx-refund", "r-2", "1000", "700").await["result_code"],
        "SUCCESS"
    );
    assert_eq!(
        wx_query(&router, "wx-refund").await["trade_state"],
        "REFUND"
    );
    assert_eq!(sim.trades()[0].refunded, "10.00");

    let all = wx_call(
        &router,
        "/pay/refundquery",
        wx_fields(&[("out_trade_no", "wx-refund")]),
    )
    .await;
    assert_eq!(all["refund_count"], "2");
    assert_eq!(all["refund_fee"], "1000");
    assert_eq!(all["out_refund_no_1"], "r-2");
    assert_eq!(all["refund_status_0"], "SUCCESS");

    wx_pay(&router, "wx-unpaid", "100", &wx_code(2, 0)).await;
    assert_eq!(
        refund(&router, "wx-unpaid", "r-x", "100", "100").await["err_code"],
        "TRADE_STATE_ERROR"
    );
}

#[tokio::test]
async fn a_refund_can_stay_processing_for_a_while() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "wx-slow-refund", "500", &wx_code(10, 30)).await;
    assert_eq!(
        refund(&router, "wx-slow-refund", "rs-1", "500", "500").await["result_code"],
        "SUCCESS"
    );
    let query = || {
        wx_call(
            &router,
            "/pay/refundquery",
            wx_fields(&[("out_refund_no", "rs-1")]),
        )
    };
    assert_eq!(query().await["refund_status_0"], "PROCESSING");
    sim.advance_clock(30);
    let done = query().await;
    assert_eq!(done["refund_status_0"], "SUCCESS");
    assert!(done.contains_key("refund_success_time_0"));
    let missing = wx_call(
        &router,
        "/pay/refundquery",
        wx_fields(&[("out_refund_no", "nope")]),
    )
    .await;
    assert_eq!(missing["err_code"], "REFUNDNOTEXIST");
}

#[tokio::test]
async fn a_scenario_set_through_the_library_wins_over_the_code() {
    let sim = simulator();
    let router = sim.router();
    sim.set_scenario("wx-forced", Scenario::InsufficientBalance);
    assert_eq!(
        wx_pay(&router, "wx-forced", "100", &wx_code(0, 0)).await["err_code"],
        "NOTENOUGH"
    );
}

#[tokio::test]
async fn unknown_merchants_and_mismatched_appids_are_refused() {
    let sim = simulator();
    let router = sim.router();
    let mut fields = wx_fields(&[("out_trade_no", "a")]);
    fields.insert("mch_id".to_owned(), "999".to_owned());
    let raw = send(
        &router,
        post(
            "/pay/orderquery",
            "text/xml",
            wx_signed_xml(fields, WxSignType::Md5),
        ),
    )
    .await;
    assert!(
        String::from_utf8(raw.body)
            .unwrap()
            .contains("<return_code><![CDATA[FAIL]]>")
    );
    let mut fields = wx_fields(&[("out_trade_no", "a")]);
    fields.insert("appid".to_owned(), "wx0000000000000000".to_owned());
    assert_eq!(
        wx_call(&router, "/pay/orderquery", fields).await["err_code"],
        "APPID_MCHID_NOT_MATCH"
    );
}

#[tokio::test]
async fn closeorder_closes_an_unpaid_order_but_not_a_paid_one() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "wx-close", "100", &wx_code(2, 0)).await;
    let close = || {
        wx_call(
            &router,
            "/pay/closeorder",
            wx_fields(&[("out_trade_no", "wx-close")]),
        )
    };
    assert_eq!(close().await["result_code"], "SUCCESS");
    assert_eq!(wx_query(&router, "wx-close").await["trade_state"], "CLOSED");
    assert_eq!(
        wx_pay(&router, "wx-close", "100", &wx_code(2, 0)).await["err_code"],
        "ORDERCLOSED"
    );
    wx_pay(&router, "wx-close-paid", "100", &wx_code(0, 0)).await;
    let paid = wx_call(
        &router,
        "/pay/closeorder",
        wx_fields(&[("out_trade_no", "wx-close-paid")]),
    )
    .await;
    assert_eq!(paid["err_code"], "ORDERPAID");
}

#[tokio::test]
async fn an_explicit_pay_now_scenario_skips_the_password_even_for_large_amounts() {
    let sim = simulator();
    let router = sim.router();
    sim.set_scenario("wx-big-now", Scenario::PayNow);
    assert_eq!(
        wx_pay(&router, "wx-big-now", "500000", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn a_signature_made_with_another_type_than_declared_is_refused() {
    let sim = simulator();
    let router = sim.router();
    let mut fields = wx_fields(&[("out_trade_no", "x")]);
    let md5 = paycode_sim::crypto::wx_sign(
        &fields,
        paycode_sim::config::EXAMPLE_WECHAT_API_KEY,
        WxSignType::Md5,
    );
    fields.insert("sign_type".to_owned(), "HMAC-SHA256".to_owned());
    fields.insert("sign".to_owned(), md5);
    let list: Vec<(String, paycode_sim::xml::XmlValue)> = fields
        .into_iter()
        .map(|(k, v)| (k, paycode_sim::xml::XmlValue::Text(v)))
        .collect();
    let raw = send(
        &router,
        post(
            "/pay/orderquery",
            "text/xml",
            paycode_sim::xml::render(&list),
        ),
    )
    .await;
    assert!(String::from_utf8(raw.body).unwrap().contains("签名错误"));
}

#[tokio::test]
async fn a_service_provider_pays_for_its_sub_merchant_and_gets_its_bill() {
    let mut config = paycode_sim::SimConfig::example().unwrap();
    config.wechat.push(paycode_sim::WechatMerchant {
        appid: "wx8888888888888888".to_owned(),
        mch_id: "1900000100".to_owned(),
        sub_mch_id: Some("1900000109".to_owned()),
        api_key: paycode_sim::Secret::new(paycode_sim::config::EXAMPLE_WECHAT_API_KEY),
    });
    let sim = paycode_sim::Simulator::new(config).unwrap();
    let router = sim.router();
    let sp = |extra: &[(&str, &str)]| {
        let mut fields = wx_fields(extra);
        fields.insert("appid".to_owned(), "wx8888888888888888".to_owned());
        fields.insert("mch_id".to_owned(), "1900000100".to_owned());
        fields.insert("sub_mch_id".to_owned(), "1900000109".to_owned());
        fields
    };
    let pay = sp(&[
        ("body", "x"),
        ("out_trade_no", "sp-1"),
        ("total_fee", "100"),
        ("spbill_create_ip", "127.0.0.1"),
        ("auth_code", &wx_code(0, 0)),
    ]);
    let answer = wx_call(&router, "/pay/micropay", pay).await;
    assert_eq!(
        (
            answer["result_code"].as_str(),
            answer["sub_mch_id"].as_str()
        ),
        ("SUCCESS", "1900000109")
    );
    assert_eq!(sim.trades()[0].merchant, "1900000100/1900000109");
    // The plain merchant with the same out_trade_no is another trade space.
    assert_eq!(wx_query(&router, "sp-1").await["err_code"], "ORDERNOTEXIST");
    let date = paycode_sim::clock::beijing_day(sim.now())
        .format("%Y%m%d")
        .to_string();
    sim.advance_clock(24 * 3600); // bills are T+1
    let raw = send(
        &router,
        post(
            "/pay/downloadbill",
            "text/xml",
            wx_signed_xml(sp(&[("bill_date", &date)]), WxSignType::Md5),
        ),
    )
    .await;
    let bill = String::from_utf8(raw.body).unwrap();
    assert!(bill.contains("`1900000100,`1900000109,"), "{bill}");
}

/// WeChat: "每个二维码仅限使用一次，请刷新再试". A code that paid one order is
/// refused under any other order number; the same order keeps its answer.
#[tokio::test]
async fn a_payment_code_pays_once() {
    let sim = simulator();
    let router = sim.router();
    let code = wx_code(0, 0);
    assert_eq!(
        wx_pay(&router, "once-1", "100", &code).await["result_code"],
        "SUCCESS"
    );
    let again = wx_pay(&router, "once-2", "100", &code).await;
    assert_eq!(again["err_code"], "AUTH_CODE_INVALID", "{again:?}");
    assert_eq!(
        wx_pay(&router, "once-1", "100", &code).await["err_code"],
        "ORDERPAID"
    );
    // A refusal before charging does not use the code up.
    let poor = wx_code(3, 0);
    assert_eq!(
        wx_pay(&router, "poor-1", "100", &poor).await["err_code"],
        "NOTENOUGH"
    );
    assert_eq!(
        wx_pay(&router, "poor-2", "100", &poor).await["err_code"],
        "NOTENOUGH"
    );
    let charged: Vec<_> = sim
        .trades()
        .into_iter()
        .filter(|t| t.phase == "paid")
        .map(|t| t.out_trade_no)
        .collect();
    assert_eq!(charged, ["once-1"]);
}

/// WeChat's POS guide: an unpaid payment-code order is revoked by WeChat 45 s
/// after creation; a customer confirming later pays nothing.
#[tokio::test]
async fn an_unpaid_order_is_revoked_by_wechat_after_45_seconds() {
    let sim = simulator();
    let router = sim.router();
    assert_eq!(
        wx_pay(&router, "slow", "100", &wx_code(1, 50)).await["err_code"],
        "USERPAYING"
    );
    assert_eq!(wx_query(&router, "slow").await["trade_state"], "USERPAYING");
    sim.advance_clock(45);
    assert_eq!(wx_query(&router, "slow").await["trade_state"], "REVOKED");
    sim.advance_clock(10);
    assert_eq!(
        wx_query(&router, "slow").await["trade_state"],
        "REVOKED",
        "the late password pays nothing"
    );
    // One that pays in time stays paid.
    assert_eq!(
        wx_pay(&router, "quick", "100", &wx_code(1, 20)).await["err_code"],
        "USERPAYING"
    );
    sim.advance_clock(60);
    assert_eq!(wx_query(&router, "quick").await["trade_state"], "SUCCESS");
}

/// WeChat: `out_refund_no` is unique within the merchant account
/// ("商户系统内部唯一"): another order of the same merchant cannot use it.
#[tokio::test]
async fn a_refund_number_belongs_to_one_order_of_the_merchant() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "rn-1", "1000", &wx_code(0, 0)).await;
    wx_pay(&router, "rn-2", "1000", &wx_code(0, 0)).await;
    assert_eq!(
        refund(&router, "rn-1", "1", "1000", "100").await["result_code"],
        "SUCCESS"
    );
    let other = refund(&router, "rn-2", "1", "1000", "100").await;
    assert_eq!(other["err_code"], "INVALID_REQUEST", "{other:?}");
    assert_eq!(
        refund(&router, "rn-2", "2", "1000", "100").await["result_code"],
        "SUCCESS"
    );
}

/// Scenarios 11 and 12: a refund that stays PROCESSING, then ends CHANGE
/// (the money back at the merchant) or REFUNDCLOSE.
#[tokio::test]
async fn refunds_can_end_change_or_refundclose() {
    let sim = simulator();
    let router = sim.router();
    for (no, scenario, end) in [("rc-change", 11, "CHANGE"), ("rc-close", 12, "REFUNDCLOSE")] {
        wx_pay(&router, no, "1000", &wx_code(scenario, 10)).await;
        assert_eq!(
            refund(&router, no, &format!("{no}-r"), "1000", "100").await["result_code"],
            "SUCCESS"
        );
        let fields = wx_fields(&[("out_refund_no", &format!("{no}-r"))]);
        let query = wx_call(&router, "/pay/refundquery", fields.clone()).await;
        assert_eq!(query["refund_status_0"], "PROCESSING");
        sim.advance_clock(10);
        let query = wx_call(&router, "/pay/refundquery", fields).await;
        assert_eq!(query["refund_status_0"], end);
    }
}

/// WeChat's micropay error table: "每个二维码仅限使用一次，请刷新再试". A code
/// that created a trade is used up whatever became of the trade (waiting,
/// reversed after payment, closed, or lost in an unknown error); re-sent
/// under its own order it keeps that order's answer.
#[tokio::test]
async fn a_used_code_is_refused_whatever_became_of_its_trade() {
    let sim = simulator();
    let router = sim.router();
    let waiting = wx_code(2, 0);
    wx_pay(&router, "used-wait", "100", &waiting).await;
    let reversed = wx_code(0, 0);
    wx_pay(&router, "used-rev", "100", &reversed).await;
    assert_eq!(reverse(&router, "used-rev").await["result_code"], "SUCCESS");
    let closed = wx_code(2, 0);
    wx_pay(&router, "used-close", "100", &closed).await;
    let close = wx_fields(&[("out_trade_no", "used-close")]);
    assert_eq!(
        wx_call(&router, "/pay/closeorder", close).await["result_code"],
        "SUCCESS"
    );
    let unknown = wx_code(7, 0);
    wx_pay(&router, "used-unk", "100", &unknown).await;
    for (code, own_order, own_answer) in [
        (&waiting, "used-wait", "USERPAYING"),
        (&reversed, "used-rev", "ORDERREVERSED"),
        (&closed, "used-close", "ORDERCLOSED"),
        (&unknown, "used-unk", "SYSTEMERROR"),
    ] {
        let again = wx_pay(&router, &format!("{own_order}-2"), "100", code).await;
        assert_eq!(
            again["err_code"], "AUTH_CODE_INVALID",
            "{own_order}: {again:?}"
        );
        assert!(
            again["err_code_des"].contains("每个二维码仅限使用一次"),
            "{again:?}"
        );
        assert_eq!(
            wx_pay(&router, own_order, "100", code).await["err_code"],
            own_answer,
            "{own_order} keeps its answer"
        );
    }
    // The refused order is a definite refusal: it pays with a fresh code.
    assert_eq!(
        wx_query(&router, "used-wait-2").await["trade_state"],
        "PAYERROR"
    );
    assert_eq!(
        wx_pay(&router, "used-wait-2", "100", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
}

/// The code belongs to the customer, not to the merchant: another merchant
/// presenting it is refused even under the same order number.
#[tokio::test]
async fn a_used_code_is_refused_at_another_merchant_under_the_same_order_number() {
    let mut config = paycode_sim::SimConfig::example().unwrap();
    config.wechat.push(paycode_sim::WechatMerchant {
        appid: paycode_sim::config::EXAMPLE_WECHAT_APPID.to_owned(),
        mch_id: paycode_sim::config::EXAMPLE_WECHAT_MCH_ID.to_owned(),
        sub_mch_id: Some("1900000109".to_owned()),
        api_key: paycode_sim::Secret::new(paycode_sim::config::EXAMPLE_WECHAT_API_KEY),
    });
    let sim = paycode_sim::Simulator::new(config).unwrap();
    let router = sim.router();
    let code = wx_code(0, 0);
    assert_eq!(
        wx_pay(&router, "shared-no", "100", &code).await["result_code"],
        "SUCCESS"
    );
    let mut fields = wx_fields(&[
        ("body", "x"),
        ("out_trade_no", "shared-no"),
        ("total_fee", "100"),
        ("spbill_create_ip", "127.0.0.1"),
        ("auth_code", &code),
    ]);
    fields.insert("sub_mch_id".to_owned(), "1900000109".to_owned());
    let other = wx_call(&router, "/pay/micropay", fields).await;
    assert_eq!(other["err_code"], "AUTH_CODE_INVALID", "{other:?}");
    let paid: Vec<_> = sim
        .trades()
        .into_iter()
        .filter(|t| t.phase == "paid")
        .map(|t| t.merchant)
        .collect();
    assert_eq!(paid, [paycode_sim::config::EXAMPLE_WECHAT_MCH_ID]);
}

/// An unknown-error order retried under its number with a fresh code
/// starts afresh, but the first code stays used.
#[tokio::test]
async fn a_code_stays_used_when_its_order_is_retried_with_a_fresh_code() {
    let sim = simulator();
    let router = sim.router();
    let first = wx_code(7, 0);
    assert_eq!(
        wx_pay(&router, "retry-1", "100", &first).await["err_code"],
        "SYSTEMERROR"
    );
    assert_eq!(
        wx_pay(&router, "retry-1", "100", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
    assert_eq!(
        wx_pay(&router, "retry-2", "100", &first).await["err_code"],
        "AUTH_CODE_INVALID"
    );
}

/// A simulator whose frozen clock stands at noon in Beijing, so that the
/// clock advances of a test stay within one bill day.
fn simulator_at_noon(auto_revoke_secs: u64) -> paycode_sim::Simulator {
    let mut config = paycode_sim::SimConfig::example().unwrap();
    config.clock.start = Some("2026-01-15T04:00:00Z".parse().unwrap());
    config.wechat_auto_revoke_secs = auto_revoke_secs;
    paycode_sim::Simulator::new(config).unwrap()
}

/// Once WeChat revoked an unpaid order it is an ordinary revoked order for
/// every look at it: a repeat of the payment answers ORDERREVERSED, a
/// reverse succeeds without recall, the bill has no row, the control view
/// says REVOKED.
#[tokio::test]
async fn an_order_revoked_by_wechat_answers_like_a_reversed_one() {
    let sim = simulator_at_noon(45);
    let router = sim.router();
    let code = wx_code(2, 0);
    wx_pay(&router, "auto", "100", &code).await;
    sim.advance_clock(44);
    assert_eq!(wx_query(&router, "auto").await["trade_state"], "USERPAYING");
    sim.advance_clock(1);
    assert_eq!(
        wx_pay(&router, "auto", "100", &code).await["err_code"],
        "ORDERREVERSED"
    );
    let reversed = reverse(&router, "auto").await;
    assert_eq!(
        (
            reversed["result_code"].as_str(),
            reversed["recall"].as_str()
        ),
        ("SUCCESS", "N")
    );
    let view = &sim.trades()[0];
    assert_eq!(
        (view.phase.as_str(), view.provider_state.as_str()),
        ("closed", "REVOKED")
    );
    assert_eq!(
        view.ended_at,
        Some(view.created_at + chrono::Duration::seconds(45))
    );
    sim.advance_clock(24 * 3600); // bills are T+1
    let fields = wx_fields(&[("bill_date", "20260115"), ("bill_type", "ALL")]);
    let raw = send(
        &router,
        post(
            "/pay/downloadbill",
            "text/xml",
            wx_signed_xml(fields, WxSignType::Md5),
        ),
    )
    .await;
    assert!(
        String::from_utf8(raw.body)
            .unwrap()
            .contains("No Bill Exist"),
        "an unpaid revoked order is in no bill"
    );
}

/// A password that would have come at 50 s charges nothing when WeChat
/// revoked the order at 45 s: the bill has no payment row for it.
#[tokio::test]
async fn a_password_after_the_revoke_is_in_no_bill() {
    let sim = simulator_at_noon(45);
    let router = sim.router();
    wx_pay(&router, "late", "100", &wx_code(1, 50)).await;
    wx_pay(&router, "kept", "100", &wx_code(0, 0)).await;
    sim.advance_clock(60);
    sim.advance_clock(24 * 3600); // bills are T+1
    let fields = wx_fields(&[("bill_date", "20260115"), ("bill_type", "ALL")]);
    let raw = send(
        &router,
        post(
            "/pay/downloadbill",
            "text/xml",
            wx_signed_xml(fields, WxSignType::Md5),
        ),
    )
    .await;
    let bill = String::from_utf8(raw.body).unwrap();
    assert!(
        bill.contains("`kept,") && !bill.contains("`late,"),
        "{bill}"
    );
}

/// The NOTPAY order left by an unknown error is unpaid too: WeChat revokes
/// it at 45 s like a USERPAYING one.
#[tokio::test]
async fn an_order_left_notpay_by_an_unknown_error_is_revoked_too() {
    let sim = simulator_at_noon(45);
    let router = sim.router();
    wx_pay(&router, "np", "100", &wx_code(7, 0)).await;
    sim.advance_clock(44);
    assert_eq!(wx_query(&router, "np").await["trade_state"], "NOTPAY");
    sim.advance_clock(1);
    assert_eq!(wx_query(&router, "np").await["trade_state"], "REVOKED");
}

/// `wechat_auto_revoke_secs = 0`: WeChat never revokes by itself, an order
/// waits for ever and a password after 45 s still pays.
#[tokio::test]
async fn auto_revoke_can_be_turned_off() {
    let sim = simulator_at_noon(0);
    let router = sim.router();
    wx_pay(&router, "forever", "100", &wx_code(2, 0)).await;
    wx_pay(&router, "slow", "100", &wx_code(1, 50)).await;
    sim.advance_clock(3600);
    assert_eq!(
        wx_query(&router, "forever").await["trade_state"],
        "USERPAYING"
    );
    assert_eq!(wx_query(&router, "slow").await["trade_state"], "SUCCESS");
}
