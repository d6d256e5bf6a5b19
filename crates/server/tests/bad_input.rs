//! Bad input: every mistake is a 4xx with a stable, documented code, and
//! nothing is appended, charged or refunded for it.

mod support;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use support::{KEY, OTHER_KEY, REVOKED_KEY, World, wechat_code};
use tower::ServiceExt as _;

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

/// The scheme's name is case-insensitive (RFC 9110 11.1); another scheme
/// is no key at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_read_in_any_case() {
    let world = World::start().await;
    for (scheme, status) in [("bearer", 404), ("BEARER", 404), ("Basic", 401)] {
        let response = world
            .http
            .get(format!("{}/v1/payments/none", world.base))
            .header("authorization", format!("{scheme} {KEY}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{scheme}");
    }
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

/// Asserts an error answer: its status and code, a message, and that the
/// code is in the documented list (`api::error_codes`) with that status.
fn assert_refused(what: &str, got: (u16, &Value), status: u16, code: &str) {
    let (got_status, answer) = got;
    assert_eq!(
        (got_status, answer["code"].as_str()),
        (status, Some(code)),
        "{what}: {answer}"
    );
    assert!(
        answer["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: a message: {answer}"
    );
    assert!(
        paycode_server::api::error_codes().contains(&(code, status)),
        "{what}: {code} ({status}) is documented"
    );
}

/// One POST with the merchant's key, a raw body and the given Content-Type
/// (none when `None`); the status, the JSON answer and the headers.
async fn post_raw(
    world: &World,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value, HeaderMap) {
    let mut request = world
        .http
        .post(format!("{}{path}", world.base))
        .header("authorization", format!("Bearer {KEY}"))
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    send_request(request).await
}

async fn send_request(request: reqwest::RequestBuilder) -> (u16, Value, HeaderMap) {
    let response = request.send().await.expect("paycode answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json, headers)
}

/// A paid order `o-paid` of 10.00, and the log head and trade count after it.
async fn paid_order(world: &World) -> (u64, usize) {
    let (status, body) = world.pay("o-paid", &wechat_code(0, 0, 70), "10.00").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("SUCCESS")),
        "{body}"
    );
    (world.head().await, world.sim.sim().trades().len())
}

/// Asserts that nothing was appended and no provider was called since.
async fn assert_untouched(world: &World, (head, trades): (u64, usize)) {
    assert_eq!(world.head().await, head, "nothing was appended");
    assert_eq!(
        world.sim.sim().trades().len(),
        trades,
        "no provider was called"
    );
    let refunds: Vec<String> = world
        .events("shop-a", "o-paid")
        .await
        .into_iter()
        .filter(|event| event.starts_with("Refund") || event.starts_with("Reversal"))
        .collect();
    assert!(
        refunds.is_empty(),
        "nothing refunded or reversed: {refunds:?}"
    );
}

/// The POS contract's strictness (issue 13): a body must be declared JSON,
/// on every route that takes one; a charset parameter or another case is
/// fine, and a reversal without a body needs no Content-Type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_declared_json_is_a_415_on_every_route() {
    let world = World::start().await;
    let (status, _, _) = post_raw(
        &world,
        "/v1/payments",
        Some("Application/JSON; charset=utf-8"),
        &json!({ "out_trade_no": "o-cs", "auth_code": wechat_code(0, 0, 78), "amount": "1.00", "subject": "x" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "a charset parameter and another case are fine");
    let before = paid_order(&world).await;
    let bodies = [
        (
            "/v1/payments",
            json!({ "out_trade_no": "o-ct", "auth_code": wechat_code(0, 0, 77), "amount": "1.00", "subject": "x" }),
        ),
        (
            "/v1/payments/o-paid/attempts",
            json!({ "auth_code": wechat_code(0, 0, 79) }),
        ),
        (
            "/v1/payments/o-paid/refunds",
            json!({ "out_refund_no": "r-1", "amount": "1.00" }),
        ),
        ("/v1/payments/o-paid/reversal", json!({})),
    ];
    for (path, body) in &bodies {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
            Some("text/json"),
        ] {
            let (status, answer, _) = post_raw(&world, path, content_type, &body.to_string()).await;
            let what = format!("{path} with {content_type:?}");
            assert_refused(&what, (status, &answer), 415, "UNSUPPORTED_MEDIA_TYPE");
        }
    }
    // No body at all: the reversal takes none, so it reaches the domain
    // (which finds it too early for WeChat) instead of a 415.
    let (status, answer, _) = post_raw(&world, "/v1/payments/o-paid/reversal", None, "").await;
    assert_refused(
        "a reversal without a body",
        (status, &answer),
        422,
        "REVERSAL_TOO_EARLY",
    );
    assert_untouched(&world, before).await;
}

/// A field a request does not take is refused by name, never ignored: a
/// `currency` would be charged in CNY, an `amount` on /attempts dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_by_name_on_every_body() {
    let world = World::start().await;
    let before = paid_order(&world).await;
    let wx = wechat_code(0, 0, 71);
    let cases = [
        (
            "/v1/payments",
            json!({ "out_trade_no": "o-2", "auth_code": wx, "amount": "1.00", "subject": "x", "currency": "USD" }),
            vec!["currency"],
        ),
        (
            "/v1/payments",
            json!({ "out_trade_no": "o-2", "auth_code": wx, "amount": "1.00", "subject": "x", "tip": "1.00", "Amount": "5.00" }),
            vec!["tip", "Amount"],
        ),
        (
            "/v1/payments/o-paid/attempts",
            json!({ "auth_code": wx, "amount": "9.00" }),
            vec!["amount"],
        ),
        (
            "/v1/payments/o-paid/refunds",
            json!({ "out_refund_no": "r-1", "amount": "1.00", "note": "x" }),
            vec!["note"],
        ),
        (
            "/v1/payments/o-paid/reversal",
            json!({ "reason": "customer left" }),
            vec!["reason"],
        ),
    ];
    for (path, body, unknown) in cases {
        let (status, answer) = world.post(path, body.clone()).await;
        assert_refused(
            &format!("{path} {body}"),
            (status, &answer),
            400,
            "UNKNOWN_FIELD",
        );
        let message = answer["message"].as_str().unwrap_or_default();
        for field in unknown {
            assert!(
                message.contains(&format!("`{field}`")),
                "{path}: names {field}: {message}"
            );
        }
    }
    assert_untouched(&world, before).await;
}

/// A key given twice is refused wherever it is, even nested: serde_json
/// alone would keep the last one and refund (or charge) 2.00.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_given_twice_is_refused_and_nothing_is_charged_or_refunded() {
    let world = World::start().await;
    let before = paid_order(&world).await;
    let wx = wechat_code(0, 0, 72);
    let cases = [
        (
            "/v1/payments",
            format!(
                r#"{{"out_trade_no":"o-3","auth_code":"{wx}","amount":"1.00","subject":"x","amount":"2.00"}}"#
            ),
            "amount",
        ),
        (
            "/v1/payments/o-paid/refunds",
            r#"{"out_refund_no":"r-1","amount":"1.00","amount":"2.00"}"#.to_owned(),
            "amount",
        ),
        (
            "/v1/payments/o-paid/refunds",
            r#"{"out_refund_no":"r-1","out_refund_no":"r-2","amount":"1.00"}"#.to_owned(),
            "out_refund_no",
        ),
        (
            "/v1/payments/o-paid/attempts",
            format!(r#"{{"auth_code":"{wx}","auth_code":"{wx}"}}"#),
            "auth_code",
        ),
        (
            "/v1/payments",
            format!(
                r#"{{"out_trade_no":"o-3","auth_code":"{wx}","amount":"1.00","subject":{{"a":1,"b":[{{"c":1,"c":2}}]}}}}"#
            ),
            "c",
        ),
    ];
    for (path, body, key) in &cases {
        let (status, answer, _) = post_raw(&world, path, Some("application/json"), body).await;
        assert_refused(body, (status, &answer), 400, "DUPLICATE_FIELD");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{key}`")),
            "{body}: names {key}: {message}"
        );
    }
    // Malformed JSON after a duplicate is malformed first.
    let (status, answer, _) = post_raw(
        &world,
        "/v1/payments/o-paid/refunds",
        Some("application/json"),
        r#"{"amount":"1.00","amount":"2.00","#,
    )
    .await;
    assert_refused("cut off", (status, &answer), 400, "MALFORMED_JSON");
    assert_untouched(&world, before).await;
}

/// Unknown paths and methods answer JSON like every other error; a 405
/// names the methods the route takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json() {
    let world = World::start().await;
    let before = paid_order(&world).await;
    let (status, answer) = world.get("/v1/nothing-here").await;
    assert_refused(
        "GET /v1/nothing-here",
        (status, &answer),
        404,
        "ROUTE_NOT_FOUND",
    );
    let (status, answer) = world
        .send(
            reqwest::Method::POST,
            "/v2/payments",
            Some(KEY),
            Some("{}".into()),
        )
        .await;
    assert_refused(
        "POST /v2/payments",
        (status, &answer),
        404,
        "ROUTE_NOT_FOUND",
    );
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/v1/payments/o-paid", "GET,HEAD"),
        (reqwest::Method::GET, "/v1/payments", "POST"),
        (reqwest::Method::PUT, "/v1/payments/o-paid/refunds", "POST"),
        (reqwest::Method::GET, "/v1/payments/o-paid/reversal", "POST"),
    ] {
        let request = world
            .http
            .request(method.clone(), format!("{}{path}", world.base))
            .header("authorization", format!("Bearer {KEY}"));
        let (status, answer, headers) = send_request(request).await;
        let what = format!("{method} {path}");
        assert_refused(&what, (status, &answer), 405, "METHOD_NOT_ALLOWED");
        assert_eq!(
            headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{what}"
        );
    }
    assert_untouched(&world, before).await;
}

/// A path parameter that is not UTF-8 once percent-decoded is an invalid
/// identifier, in JSON (axum alone answers it in plain text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_parameters_that_are_not_text_are_invalid_identifiers() {
    let world = World::start().await;
    let before = paid_order(&world).await;
    for (path, code) in [
        ("/v1/payments/%FF", "INVALID_OUT_TRADE_NO"),
        ("/v1/payments/%FF/refunds/r-1", "INVALID_OUT_TRADE_NO"),
        (
            "/v1/payments/o-paid/refunds/%C3%28",
            "INVALID_OUT_REFUND_NO",
        ),
    ] {
        let (status, answer) = world.get(path).await;
        assert_refused(path, (status, &answer), 400, code);
    }
    let (status, answer) = world
        .post(
            "/v1/payments/%FF/refunds",
            json!({ "out_refund_no": "r-1", "amount": "1.00" }),
        )
        .await;
    assert_refused(
        "POST /v1/payments/%FF/refunds",
        (status, &answer),
        400,
        "INVALID_OUT_TRADE_NO",
    );
    assert_untouched(&world, before).await;
}

/// The app as `paycode serve` assembles it (POS and operations routes, the
/// back office merged in, then `api::json_fallbacks`): the GraphQL routes
/// still work, and what no route serves answers JSON there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_app_answers_json_for_what_no_route_serves() {
    let world = World::start().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = paycode_server::Config::empty();
    config.read_models = Some(dir.path().join("read.db"));
    let mut service = world.service.clone();
    let (app, runner) = paycode_server::wiring::app(&mut service, &config)
        .await
        .expect("the app assembles");
    let call = |method: &str, path: &str, body: &str| {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .expect("a request");
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.expect("answers");
            let status = response.status().as_u16();
            let allow = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("a body")
                .to_bytes();
            let json = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            (status, json, allow)
        }
    };
    for (method, path, allow) in [
        ("PUT", "/graphql", "GET,HEAD,POST"),
        ("POST", "/graphql/ws", "GET,HEAD"),
        ("POST", "/healthz", "GET,HEAD"),
        ("DELETE", "/openapi.json", "GET,HEAD"),
    ] {
        let (status, answer, got_allow) = call(method, path, "").await;
        let what = format!("{method} {path}");
        assert_refused(&what, (status, &answer), 405, "METHOD_NOT_ALLOWED");
        assert_eq!(got_allow.as_deref(), Some(allow), "{what}");
    }
    let (status, answer, _) = call("GET", "/graphql/nothing", "").await;
    assert_refused(
        "GET /graphql/nothing",
        (status, &answer),
        404,
        "ROUTE_NOT_FOUND",
    );
    let (status, answer, _) = call("GET", "/v1/payments", "").await;
    assert_refused(
        "GET /v1/payments",
        (status, &answer),
        405,
        "METHOD_NOT_ALLOWED",
    );
    // The back office still answers: a GraphQL error for a missing token,
    // not a route error.
    let (_, answer, _) = call("POST", "/graphql", r#"{"query":"{ __typename }"}"#).await;
    assert!(
        answer.get("errors").is_some() || answer.get("data").is_some(),
        "{answer}"
    );
    let (status, _, _) = call("GET", "/graphql", "").await;
    assert_eq!(status, 200, "GraphiQL");
    runner.abort();
}
