//! Alipay side of the simulator: gateway parameter merging, RSA2 both ways, trade.pay/query/cancel/refund state machine.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn a_well_formed_code_pays_at_once_and_the_answer_signature_covers_the_exact_text() {
    let sim = simulator();
    let router = sim.router();
    let answer = ali_pay(&router, "ali-paid", "88.80", &ali_code(0, 0)).await;
    assert_eq!(answer["code"], "10000");
    assert_eq!(answer["total_amount"], "88.80");
    let trade_no = answer["trade_no"].as_str().unwrap();
    assert_eq!(trade_no.len(), 28);
    assert_eq!(&trade_no[8..13], "22001");
    let query = ali_query(&router, "ali-paid").await;
    assert_eq!(query["trade_status"], "TRADE_SUCCESS");
    assert_eq!(query["trade_no"], trade_no);
}

#[tokio::test]
async fn a_wrong_signature_gets_isv_invalid_signature() {
    let sim = simulator();
    let router = sim.router();
    let mut params = ali_params("alipay.trade.query", &json!({"out_trade_no": "x"}));
    params.insert("timestamp".to_owned(), "2026-01-15 10:00:01".to_owned());
    let raw = ali_send(&router, &params).await;
    let answer = ali_verified("alipay.trade.query", &raw.body);
    assert_eq!(answer["code"], "40002");
    assert_eq!(answer["sub_code"], "isv.invalid-signature");
}

#[tokio::test]
async fn parameters_may_come_all_in_the_form_body() {
    let sim = simulator();
    let router = sim.router();
    let params = ali_params("alipay.trade.query", &json!({"out_trade_no": "none"}));
    let form: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let raw = send(
        &router,
        post(
            "/gateway.do",
            "application/x-www-form-urlencoded",
            form.join("&"),
        ),
    )
    .await;
    let answer = ali_verified("alipay.trade.query", &raw.body);
    assert_eq!(answer["sub_code"], "ACQ.TRADE_NOT_EXIST");
}

#[tokio::test]
async fn an_unknown_app_and_an_unknown_method_are_refused() {
    let sim = simulator();
    let router = sim.router();
    let mut params = ali_params("alipay.trade.query", &json!({}));
    params.insert("app_id".to_owned(), "2099".to_owned());
    let raw = ali_send(&router, &params).await;
    let body: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(
        body["alipay_trade_query_response"]["sub_code"],
        "isv.invalid-app-id"
    );
    let answer = ali_call(&router, "alipay.trade.fly", json!({})).await;
    assert_eq!(answer["sub_code"], "isv.invalid-method");
}

#[tokio::test]
async fn a_large_amount_is_pending_with_10003_until_the_password_arrives() {
    let sim = simulator();
    let router = sim.router();
    let code = ali_code(0, 0);
    let answer = ali_pay(&router, "ali-big", "1000.01", &code).await;
    assert_eq!(answer["code"], "10003");
    assert_eq!(answer["receipt_amount"], "0.00");
    assert_eq!(
        ali_query(&router, "ali-big").await["trade_status"],
        "WAIT_BUYER_PAY"
    );
    assert_eq!(
        ali_pay(&router, "ali-big", "1000.01", &code).await["code"],
        "10003"
    );
    sim.advance_clock(10);
    assert_eq!(
        ali_query(&router, "ali-big").await["trade_status"],
        "TRADE_SUCCESS"
    );
}

#[tokio::test]
async fn resubmissions_answer_trade_has_success_or_context_inconsistent() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-dup", "1.00", &ali_code(0, 0)).await;
    assert_eq!(
        ali_pay(&router, "ali-dup", "1.00", &ali_code(0, 0)).await["sub_code"],
        "ACQ.TRADE_HAS_SUCCESS"
    );
    ali_pay(&router, "ali-wait", "1.00", &ali_code(2, 0)).await;
    assert_eq!(
        ali_pay(&router, "ali-wait", "2.00", &ali_code(2, 0)).await["sub_code"],
        "ACQ.CONTEXT_INCONSISTENT"
    );
}

#[tokio::test]
async fn refusals_and_unknown_errors_carry_alipay_codes() {
    let sim = simulator();
    let router = sim.router();
    let poor = ali_pay(&router, "ali-poor", "1.00", &ali_code(3, 0)).await;
    assert_eq!(
        (poor["code"].as_str(), poor["sub_code"].as_str()),
        (Some("40004"), Some("ACQ.BUYER_BALANCE_NOT_ENOUGH"))
    );
    assert_eq!(
        ali_query(&router, "ali-poor").await["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );
    assert_eq!(
        ali_pay(&router, "ali-exp", "1.00", &ali_code(4, 0)).await["sub_code"],
        "ACQ.PAYMENT_AUTH_CODE_INVALID"
    );
    assert_eq!(
        ali_pay(&router, "ali-wx", "1.00", &wx_code(0, 0)).await["sub_code"],
        "ACQ.PAYMENT_AUTH_CODE_INVALID"
    );
    assert_eq!(
        ali_pay(&router, "ali-u1", "1.00", &ali_code(6, 0)).await["code"],
        "20000"
    );
    assert_eq!(
        ali_query(&router, "ali-u1").await["trade_status"],
        "TRADE_SUCCESS"
    );
    assert_eq!(
        ali_pay(&router, "ali-u2", "1.00", &ali_code(7, 0)).await["code"],
        "20000"
    );
    assert_eq!(
        ali_query(&router, "ali-u2").await["trade_status"],
        "WAIT_BUYER_PAY"
    );
}

async fn cancel(router: &axum::Router, out_trade_no: &str) -> serde_json::Value {
    ali_call(
        router,
        "alipay.trade.cancel",
        json!({"out_trade_no": out_trade_no}),
    )
    .await
}

#[tokio::test]
async fn cancel_closes_or_refunds_and_says_so_in_action() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-c1", "5.00", &ali_code(2, 0)).await;
    let closed = cancel(&router, "ali-c1").await;
    assert_eq!(
        (closed["action"].as_str(), closed["retry_flag"].as_str()),
        (Some("close"), Some("N"))
    );
    assert_eq!(
        ali_query(&router, "ali-c1").await["trade_status"],
        "TRADE_CLOSED"
    );
    assert_eq!(
        ali_pay(&router, "ali-c1", "5.00", &ali_code(2, 0)).await["sub_code"],
        "ACQ.TRADE_HAS_CLOSE"
    );

    ali_pay(&router, "ali-c2", "5.00", &ali_code(0, 0)).await;
    let refunded = cancel(&router, "ali-c2").await;
    assert_eq!(refunded["action"], "refund");
    assert_eq!(
        cancel(&router, "ali-c2").await["action"],
        "refund",
        "cancel is idempotent"
    );
    assert_eq!(
        cancel(&router, "ali-none").await["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );
}

#[tokio::test]
async fn cancel_asks_for_retry_k_times_then_succeeds_and_is_limited_to_the_day() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-k", "5.00", &ali_code(8, 2)).await;
    for _ in 0..2 {
        let answer = cancel(&router, "ali-k").await;
        assert_eq!(
            (answer["sub_code"].as_str(), answer["retry_flag"].as_str()),
            (Some("ACQ.SYSTEM_ERROR"), Some("Y"))
        );
    }
    assert_eq!(cancel(&router, "ali-k").await["action"], "close");
    ali_pay(&router, "ali-late", "5.00", &ali_code(2, 0)).await;
    sim.advance_clock(86_400);
    assert_eq!(
        cancel(&router, "ali-late").await["sub_code"],
        "ACQ.TRADE_CANCEL_TIME_OUT"
    );
}

async fn refund(
    router: &axum::Router,
    out_trade_no: &str,
    amount: &str,
    request_no: Option<&str>,
) -> serde_json::Value {
    let mut biz = json!({"out_trade_no": out_trade_no, "refund_amount": amount});
    if let Some(no) = request_no {
        biz["out_request_no"] = json!(no);
    }
    ali_call(router, "alipay.trade.refund", biz).await
}

#[tokio::test]
async fn refunds_are_bounded_idempotent_and_close_the_trade_when_complete() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-r", "10.00", &ali_code(0, 0)).await;
    let first = refund(&router, "ali-r", "4.00", Some("q1")).await;
    assert_eq!(
        (first["code"].as_str(), first["fund_change"].as_str()),
        (Some("10000"), Some("Y"))
    );
    let repeat = refund(&router, "ali-r", "4.00", Some("q1")).await;
    assert_eq!(
        (
            repeat["fund_change"].as_str(),
            repeat["refund_fee"].as_str()
        ),
        (Some("N"), Some("4.00"))
    );
    assert_eq!(
        refund(&router, "ali-r", "5.00", Some("q1")).await["sub_code"],
        "ACQ.DISCORDANT_REPEAT_REQUEST"
    );
    assert_eq!(
        refund(&router, "ali-r", "6.01", Some("q2")).await["sub_code"],
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    );
    assert_eq!(
        ali_query(&router, "ali-r").await["trade_status"],
        "TRADE_SUCCESS"
    );
    assert_eq!(
        refund(&router, "ali-r", "6.00", None).await["refund_fee"],
        "10.00"
    );
    assert_eq!(
        ali_query(&router, "ali-r").await["trade_status"],
        "TRADE_CLOSED"
    );
    let by_default_number = json!({"out_trade_no": "ali-r", "out_request_no": "ali-r"});
    let query = ali_call(
        &router,
        "alipay.trade.fastpay.refund.query",
        by_default_number,
    )
    .await;
    assert_eq!(
        (
            query["refund_status"].as_str(),
            query["refund_amount"].as_str()
        ),
        (Some("REFUND_SUCCESS"), Some("6.00"))
    );
}

#[tokio::test]
async fn a_processing_refund_has_no_refund_data_until_it_completes() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-slow", "3.00", &ali_code(10, 20)).await;
    assert_eq!(
        refund(&router, "ali-slow", "1.00", Some("s1")).await["fund_change"],
        "N"
    );
    let query = || {
        ali_call(
            &router,
            "alipay.trade.fastpay.refund.query",
            json!({"out_trade_no": "ali-slow", "out_request_no": "s1"}),
        )
    };
    // Alipay: returned data means refunded, so none is shown before it is.
    let processing = query().await;
    assert!(processing.get("refund_status").is_none());
    assert!(processing.get("refund_amount").is_none());
    sim.advance_clock(20);
    assert_eq!(query().await["refund_status"], "REFUND_SUCCESS");
    let unknown = ali_call(
        &router,
        "alipay.trade.fastpay.refund.query",
        json!({"out_trade_no": "ali-slow", "out_request_no": "zz"}),
    )
    .await;
    assert_eq!(unknown["code"], "10000");
    assert!(unknown.get("refund_amount").is_none());
}

#[tokio::test]
async fn trades_are_finished_after_the_refund_period() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-old", "3.00", &ali_code(0, 0)).await;
    sim.advance_clock(91 * 86_400);
    assert_eq!(
        ali_query(&router, "ali-old").await["trade_status"],
        "TRADE_FINISHED"
    );
    assert_eq!(
        refund(&router, "ali-old", "1.00", Some("o1")).await["sub_code"],
        "ACQ.TRADE_NOT_ALLOW_REFUND"
    );
}

#[tokio::test]
async fn trade_close_closes_a_waiting_trade_but_not_a_paid_one() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-close", "1.00", &ali_code(2, 0)).await;
    let closed = ali_call(
        &router,
        "alipay.trade.close",
        json!({"out_trade_no": "ali-close"}),
    )
    .await;
    assert_eq!(closed["code"], "10000");
    assert_eq!(
        ali_query(&router, "ali-close").await["trade_status"],
        "TRADE_CLOSED"
    );
    ali_pay(&router, "ali-close-paid", "1.00", &ali_code(0, 0)).await;
    let refused = ali_call(
        &router,
        "alipay.trade.close",
        json!({"out_trade_no": "ali-close-paid"}),
    )
    .await;
    assert_eq!(refused["sub_code"], "ACQ.TRADE_STATUS_ERROR");
}

#[tokio::test]
async fn only_rsa2_is_accepted() {
    let sim = simulator();
    let router = sim.router();
    let mut params = ali_params("alipay.trade.query", &json!({"out_trade_no": "x"}));
    params.insert("sign_type".to_owned(), "RSA".to_owned());
    let answer = ali_verified("alipay.trade.query", &ali_send(&router, &params).await.body);
    assert_eq!(answer["sub_code"], "isv.invalid-signature-type");
}

/// Alipay refuses a used payment code with 40004
/// ACQ.PAYMENT_AUTH_CODE_INVALID under any other order number; its own
/// order keeps its answer, and a refusal before charging (no balance) does
/// not use the code up.
#[tokio::test]
async fn a_payment_code_pays_once() {
    let sim = simulator();
    let router = sim.router();
    let code = ali_code(0, 0);
    assert_eq!(
        ali_pay(&router, "ali-once-1", "1.00", &code).await["code"],
        "10000"
    );
    let again = ali_pay(&router, "ali-once-2", "1.00", &code).await;
    assert_eq!(
        (again["code"].as_str(), again["sub_code"].as_str()),
        (Some("40004"), Some("ACQ.PAYMENT_AUTH_CODE_INVALID")),
        "{again}"
    );
    assert_eq!(
        ali_pay(&router, "ali-once-1", "1.00", &code).await["sub_code"],
        "ACQ.TRADE_HAS_SUCCESS"
    );
    let waiting = ali_code(2, 0);
    assert_eq!(
        ali_pay(&router, "ali-wait-1", "1.00", &waiting).await["code"],
        "10003"
    );
    assert_eq!(
        ali_pay(&router, "ali-wait-2", "1.00", &waiting).await["sub_code"],
        "ACQ.PAYMENT_AUTH_CODE_INVALID"
    );
    assert_eq!(
        ali_pay(&router, "ali-wait-1", "1.00", &waiting).await["code"],
        "10003"
    );
    let poor = ali_code(3, 0);
    for order in ["ali-poor-1", "ali-poor-2"] {
        assert_eq!(
            ali_pay(&router, order, "1.00", &poor).await["sub_code"],
            "ACQ.BUYER_BALANCE_NOT_ENOUGH"
        );
    }
    // A refused order is no trade for Alipay's query.
    assert_eq!(
        ali_query(&router, "ali-once-2").await["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );
}

/// WeChat's 45 s revoke is WeChat's: an Alipay trade waits for its cancel.
#[tokio::test]
async fn an_unpaid_alipay_trade_is_not_revoked_by_itself() {
    let sim = simulator();
    let router = sim.router();
    ali_pay(&router, "ali-forever", "1.00", &ali_code(2, 0)).await;
    sim.advance_clock(600);
    assert_eq!(
        ali_query(&router, "ali-forever").await["trade_status"],
        "WAIT_BUYER_PAY"
    );
}
