//! Bad input: every mistake is a 4xx with a stable code, and nothing is
//! appended for it.

mod support;

use serde_json::json;
use support::{KEY, OTHER_KEY, REVOKED_KEY, World, wechat_code};

fn payment(amount: serde_json::Value) -> String {
    json!({ "out_trade_no": "o-1", "auth_code": wechat_code(0, 0, 1), "amount": amount, "subject": "x" }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_payment_request_gets_a_stable_code_and_appends_nothing() {
    let world = World::start().await;
    let wx = wechat_code(0, 0, 1);
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "MALFORMED_JSON"),
        ("[1, 2]".into(), 400, "MALFORMED_JSON"),
        (json!({ "auth_code": wx, "amount": "1.00", "subject": "x" }).to_string(), 400, "MISSING_FIELD"),
        (json!({ "out_trade_no": "o-1", "amount": "1.00", "subject": "x" }).to_string(), 400, "MISSING_FIELD"),
        (json!({ "out_trade_no": "o-1", "auth_code": wx, "subject": "x" }).to_string(), 400, "MISSING_FIELD"),
        (json!({ "out_trade_no": "o-1", "auth_code": wx, "amount": "1.00" }).to_string(), 400, "MISSING_FIELD"),
        (payment(json!("0")), 400, "INVALID_AMOUNT"),
        (payment(json!("-1")), 400, "INVALID_AMOUNT"),
        (payment(json!("1.001")), 400, "INVALID_AMOUNT"),
        (payment(json!("1e3")), 400, "INVALID_AMOUNT"),
        (payment(json!("NaN")), 400, "INVALID_AMOUNT"),
        (payment(json!("99999999999")), 400, "INVALID_AMOUNT"),
        (payment(json!(12.5)), 400, "INVALID_AMOUNT"),
        (json!({ "out_trade_no": "o-1", "auth_code": "991234567890123456", "amount": "1.00", "subject": "x" }).to_string(), 400, "UNKNOWN_AUTH_CODE"),
        (json!({ "out_trade_no": "o 1", "auth_code": wx, "amount": "1.00", "subject": "x" }).to_string(), 400, "INVALID_OUT_TRADE_NO"),
        (json!({ "out_trade_no": "o-1", "auth_code": wx, "amount": "1.00", "subject": "x", "wait_seconds": -1 }).to_string(), 400, "INVALID_FIELD"),
        (json!({ "out_trade_no": "o-1", "auth_code": wx, "amount": "1.00", "subject": "x", "currency": "USD" }).to_string(), 400, "UNKNOWN_FIELD"),
        // serde_json would keep the last of two equal keys: 2.00 charged.
        (format!(r#"{{"out_trade_no":"o-1","auth_code":"{wx}","amount":"1.00","amount":"2.00","subject":"x"}}"#), 400, "DUPLICATE_FIELD"),
        // Just over the 64 KiB limit: small enough for loopback's socket
        // buffers to take it whole, so the server's early 413 cannot break
        // the client's write (a 1 MiB body failed with a broken pipe).
        (format!("{{\"subject\": \"{}\"}}", "x".repeat(66 * 1024)), 413, "BODY_TOO_LARGE"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = world
            .send(
                reqwest::Method::POST,
                "/v1/payments",
                Some(KEY),
                Some(body.clone()),
            )
            .await;
        let shown: String = body.chars().take(80).collect();
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{shown}: {answer}"
        );
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{shown}: a message"
        );
    }
    assert_eq!(world.head().await, 0, "nothing was appended");
    assert!(
        world.sim.sim().trades().is_empty(),
        "no provider was called"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_unknown_and_revoked_keys_are_refused() {
    let world = World::start().await;
    let body = payment(json!("1.00"));
    for (key, code) in [
        (None, "UNAUTHENTICATED"),
        (Some("nope"), "INVALID_API_KEY"),
        (Some(REVOKED_KEY), "API_KEY_REVOKED"),
    ] {
        let (status, answer) = world
            .send(
                reqwest::Method::POST,
                "/v1/payments",
                key,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (401, Some(code)),
            "{key:?}"
        );
    }
    assert_eq!(world.head().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_merchants_order_is_not_found_not_forbidden() {
    let world = World::start().await;
    let (status, _) = world
        .pay("secret-order", &wechat_code(0, 0, 2), "5.00")
        .await;
    assert_eq!(status, 201);
    let head = world.head().await;
    for (method, path, body) in [
        (reqwest::Method::GET, "/v1/payments/secret-order", None),
        (
            reqwest::Method::POST,
            "/v1/payments/secret-order/reversal",
            Some("{}".to_owned()),
        ),
        (
            reqwest::Method::POST,
            "/v1/payments/secret-order/refunds",
            Some(json!({ "out_refund_no": "r", "amount": "1.00" }).to_string()),
        ),
        (
            reqwest::Method::GET,
            "/v1/payments/secret-order/refunds/r",
            None,
        ),
    ] {
        let (status, answer) = world
            .send(method.clone(), path, Some(OTHER_KEY), body)
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (404, Some("ORDER_NOT_FOUND")),
            "{method} {path}: {answer}"
        );
    }
    assert_eq!(
        world.head().await,
        head,
        "nothing appended for the other merchant"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_order_number_with_another_amount_or_code_is_a_conflict() {
    let world = World::start().await;
    world.pay("dup", &wechat_code(0, 0, 3), "5.00").await;
    let head = world.head().await;
    let (status, answer) = world.pay("dup", &wechat_code(0, 0, 3), "6.00").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("EXISTS_WITH_DIFFERENT_AMOUNT"))
    );
    let (status, answer) = world.pay("dup", &wechat_code(0, 0, 4), "5.00").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("EXISTS_WITH_DIFFERENT_AUTH_CODE"))
    );
    let (status, answer) = world.pay("dup", &wechat_code(0, 0, 3), "5.00").await;
    assert_eq!(
        (status, answer["state"].as_str()),
        (200, Some("SUCCESS")),
        "the identical request: the original outcome"
    );
    assert_eq!(world.head().await, head);
    assert_eq!(world.sim.sim().trades().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_without_an_alipay_account_gets_a_clear_error() {
    let world = World::start().await;
    let body = json!({ "out_trade_no": "b-1", "auth_code": support::alipay_code(0, 0, 1), "amount": "1.00", "subject": "x" });
    let (status, answer) = world
        .send(
            reqwest::Method::POST,
            "/v1/payments",
            Some(OTHER_KEY),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("PROVIDER_NOT_CONFIGURED")),
        "{answer}"
    );
    assert_eq!(world.head().await, 0);
}

/// The POS contract's strictness (issue 13): a body must be declared JSON,
/// may hold only the request's own fields, and every error, unknown routes
/// and methods included, is JSON `{code, message}`. Nothing is appended or
/// charged for any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_routes_and_methods_outside_the_contract_are_refused_as_json() {
    let world = World::start().await;
    let wx = wechat_code(0, 0, 77);
    let body = json!({ "out_trade_no": "o-ct", "auth_code": wx, "amount": "1.00", "subject": "x" })
        .to_string();
    let client = &world.http;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = client
            .post(format!("{}/v1/payments", world.base))
            .header("authorization", format!("Bearer {KEY}"))
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("paycode answers");
        assert_eq!(response.status().as_u16(), 415, "{content_type:?}");
        let answer: serde_json::Value =
            serde_json::from_str(&response.text().await.expect("a body")).expect("JSON");
        assert_eq!(answer["code"], "UNSUPPORTED_MEDIA_TYPE", "{content_type:?}");
    }
    let charset = client
        .post(format!("{}/v1/payments", world.base))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(json!({ "out_trade_no": "o-cs", "auth_code": wechat_code(0, 0, 78), "amount": "1.00", "subject": "x" }).to_string())
        .send()
        .await
        .expect("paycode answers");
    assert_eq!(
        charset.status().as_u16(),
        201,
        "a charset parameter is fine"
    );
    let head = world.head().await;
    let trades = world.sim.sim().trades().len();

    // An amount where none is taken is refused, not ignored.
    let (status, answer) = world
        .post(
            "/v1/payments/o-cs/attempts",
            json!({ "auth_code": wechat_code(0, 0, 79), "amount": "9.00" }),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("UNKNOWN_FIELD")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("amount")),
        "{answer}"
    );
    let (status, answer) = world
        .post(
            "/v1/payments/o-cs/refunds",
            json!({ "out_refund_no": "r", "amount": "1.00", "note": "x" }),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("UNKNOWN_FIELD")),
        "{answer}"
    );
    let (status, answer) = world
        .post("/v1/payments/o-cs/reversal", json!({ "reason": "x" }))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("UNKNOWN_FIELD")),
        "{answer}"
    );

    let (status, answer) = world.get("/v1/nothing-here").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("ROUTE_NOT_FOUND")),
        "{answer}"
    );
    let (status, answer) = world
        .send(
            reqwest::Method::DELETE,
            "/v1/payments/o-cs",
            Some(KEY),
            None,
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED")),
        "{answer}"
    );
    let (status, answer) = world.get("/v1/payments").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED")),
        "{answer}"
    );

    assert_eq!(world.head().await, head, "nothing was appended");
    assert_eq!(
        world.sim.sim().trades().len(),
        trades,
        "no provider was called"
    );
}
