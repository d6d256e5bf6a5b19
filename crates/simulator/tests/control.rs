//! The control API under `/_sim/`, spoken in JSON as a test in another language would.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use support::*;

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let raw = send(router, request).await;
    let value = if raw.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw.body).unwrap()
    };
    (raw.status, value)
}

#[tokio::test]
async fn trades_list_shows_state_amounts_and_refunds() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "c-1", "1050", &wx_code(10, 0)).await;
    let fields = wx_fields(&[
        ("out_trade_no", "c-1"),
        ("out_refund_no", "cr-1"),
        ("total_fee", "1050"),
        ("refund_fee", "50"),
    ]);
    wx_call(&router, "/secapi/pay/refund", fields).await;
    let (status, trades) = call(&router, "GET", "/_sim/trades", None).await;
    assert_eq!(status, StatusCode::OK);
    let trade = &trades[0];
    assert_eq!(trade["provider"], "wechat");
    assert_eq!(trade["amount"], "10.50");
    assert_eq!(trade["phase"], "paid");
    assert_eq!(trade["provider_state"], "REFUND");
    assert_eq!(
        trade["scenario"],
        json!({"kind": "refund_processing", "secs": 60, "end": "success"})
    );
    assert_eq!(trade["refunds"][0]["status"], "PROCESSING");
    assert_eq!(trade["refunded"], "0.50");
}

#[tokio::test]
async fn the_clock_advances_through_the_api_and_settles_pending_trades() {
    let sim = simulator();
    let router = sim.router();
    let (_, before) = call(&router, "GET", "/_sim/clock", None).await;
    ali_pay(&router, "c-clock", "5.00", &ali_code(1, 20)).await;
    let (status, after) = call(
        &router,
        "POST",
        "/_sim/clock/advance",
        Some(json!({"secs": 20})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let parse = |v: &Value| {
        v["now"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!((parse(&after) - parse(&before)).num_seconds(), 20);
    assert_eq!(sim.trades()[0].provider_state, "TRADE_SUCCESS");
}

#[tokio::test]
async fn a_scenario_set_for_an_order_number_applies_to_its_payment() {
    let sim = simulator();
    let router = sim.router();
    let body = json!({"out_trade_no": "c-scn", "scenario": {"kind": "reverse_retry", "times": 1}});
    assert_eq!(
        call(&router, "POST", "/_sim/scenarios", Some(body)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        ali_pay(&router, "c-scn", "5.00", &ali_code(0, 0)).await["code"],
        "10003"
    );
    let cancel = ali_call(
        &router,
        "alipay.trade.cancel",
        json!({"out_trade_no": "c-scn"}),
    )
    .await;
    assert_eq!(cancel["retry_flag"], "Y");
    let bad = json!({"out_trade_no": "c-scn", "scenario": {"kind": "teleport"}});
    assert!(
        call(&router, "POST", "/_sim/scenarios", Some(bad))
            .await
            .0
            .is_client_error()
    );
    let (_, markers) = call(&router, "GET", "/_sim/scenarios", None).await;
    assert_eq!(markers["markers"].as_array().unwrap().len(), 13);
}

#[tokio::test]
async fn faults_are_set_read_back_and_validated() {
    let sim = simulator();
    let router = sim.router();
    let faults = json!({"seed": 5, "script": [{"kind": "http5xx"}], "drop_percent": 10, "effect": "applied"});
    let (status, _) = call(&router, "PUT", "/_sim/faults", Some(faults)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        send(&router, post("/pay/micropay", "text/xml", "<xml></xml>"))
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (_, read) = call(&router, "GET", "/_sim/faults", None).await;
    assert_eq!(read["config"]["drop_percent"], 10);
    assert_eq!(read["log"][0]["fault"]["kind"], "http5xx");
    let (status, error) = call(
        &router,
        "PUT",
        "/_sim/faults",
        Some(json!({"drop_percent": 80, "timeout_percent": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_faults");
}

#[tokio::test]
async fn bill_tampers_are_added_listed_and_cleared() {
    let sim = simulator();
    let router = sim.router();
    let tamper = json!({"kind": "inject_success", "provider": "alipay", "merchant": "2014072300007148", "out_trade_no": "late", "amount": "9.99"});
    let (status, stored) = call(&router, "POST", "/_sim/bill/tampers", Some(tamper)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        stored["at"].is_string(),
        "the time defaults to the simulator's now"
    );
    let bad = json!({"kind": "alter_amount", "out_trade_no": "x", "amount": "-1"});
    assert_eq!(
        call(&router, "POST", "/_sim/bill/tampers", Some(bad))
            .await
            .1["code"],
        "invalid_tamper"
    );
    assert_eq!(
        call(&router, "GET", "/_sim/bill/tampers", None)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        call(&router, "DELETE", "/_sim/bill/tampers", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(
        call(&router, "GET", "/_sim/bill/tampers", None)
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn reset_forgets_trades_and_overrides_but_not_the_time() {
    let sim = simulator();
    let router = sim.router();
    wx_pay(&router, "c-reset", "100", &wx_code(0, 0)).await;
    sim.set_scenario("c-again", paycode_sim::Scenario::InsufficientBalance);
    let later = sim.advance_clock(60);
    assert_eq!(
        call(&router, "POST", "/_sim/reset", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(sim.trades().is_empty());
    assert_eq!(sim.now(), later);
    assert_eq!(
        wx_pay(&router, "c-again", "100", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
    assert_eq!(
        wx_pay(&router, "c-reset", "200", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
}

/// `POST /_sim/reset` forgets which payment codes were used, with the trades.
#[tokio::test]
async fn reset_frees_the_used_payment_codes() {
    let sim = simulator();
    let router = sim.router();
    let code = wx_code(0, 0);
    wx_pay(&router, "r-1", "100", &code).await;
    assert_eq!(
        wx_pay(&router, "r-2", "100", &code).await["err_code"],
        "AUTH_CODE_INVALID"
    );
    let (status, _) = call(&router, "POST", "/_sim/reset", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        wx_pay(&router, "r-2", "100", &code).await["result_code"],
        "SUCCESS"
    );
}

/// Targets through `PUT /_sim/faults` as a test in another language sets
/// them; `GET /_sim/faults` shows each decision's call kind and provider,
/// and whether a target chose it.
#[tokio::test]
async fn targets_are_set_over_http_and_the_log_says_which_call_they_hit() {
    let sim = simulator();
    let router = sim.router();
    let faults = json!({"targets": [
        {"call": "pay", "provider": "wechat", "out_trade_no": "t-1", "nth": 1,
         "fault": {"kind": "stale", "ms": 10}}
    ]});
    let (status, echoed) = call(&router, "PUT", "/_sim/faults", Some(faults)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed["config"]["targets"][0]["fault"]["kind"], "stale");
    wx_query(&router, "t-1").await;
    let (_, read) = call(&router, "GET", "/_sim/faults", None).await;
    assert_eq!(
        read["pending_targets"],
        json!([{"call": "pay", "provider": "wechat", "out_trade_no": "t-1", "nth": 1,
                "fault": {"kind": "stale", "ms": 10}, "seen": 0}]),
        "a query is no pay call"
    );
    assert_eq!(
        wx_pay(&router, "t-1", "100", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
    let (_, read) = call(&router, "GET", "/_sim/faults", None).await;
    assert_eq!(
        read["log"],
        json!([
            {"call": 1, "latency_ms": 0, "fault": {"kind": "none"},
             "kind": "query", "provider": "wechat", "targeted": false},
            {"call": 2, "latency_ms": 0, "fault": {"kind": "stale", "ms": 10},
             "kind": "pay", "provider": "wechat", "targeted": true}
        ])
    );
    assert_eq!(
        read["config"]["targets"][0]["call"], "pay",
        "the config as set"
    );
    assert_eq!(read["pending_targets"], json!([]), "fired and gone");
    let zeroth = json!({"targets": [{"call": "pay", "nth": 0, "fault": {"kind": "http5xx"}}]});
    let (status, error) = call(&router, "PUT", "/_sim/faults", Some(zeroth)).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_faults"))
    );
    let unknown_call = json!({"targets": [{"call": "pray", "fault": {"kind": "http5xx"}}]});
    let (status, _) = call(&router, "PUT", "/_sim/faults", Some(unknown_call)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
