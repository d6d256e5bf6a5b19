//! Fault injection: each fault kind observed from the client side, the trade effect applied or not, and seeded determinism.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use paycode_sim::crypto::WxSignType;
use paycode_sim::{AfterHold, Fault, FaultConfig, SimConfig};
use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::ServiceExt as _;

fn script(faults: Vec<Fault>) -> FaultConfig {
    FaultConfig {
        script: faults,
        ..FaultConfig::default()
    }
}

fn micropay_body(out_trade_no: &str) -> String {
    let fields = wx_fields(&[
        ("body", "x"),
        ("out_trade_no", out_trade_no),
        ("total_fee", "100"),
        ("spbill_create_ip", "127.0.0.1"),
        ("auth_code", &wx_code(0, 0)),
    ]);
    wx_signed_xml(fields, WxSignType::Md5)
}

#[tokio::test]
async fn http_5xx_changes_nothing_and_the_next_call_is_normal() {
    let sim = simulator();
    let router = sim.router();
    sim.set_faults(script(vec![Fault::Http5xx])).unwrap();
    let raw = send(
        &router,
        post("/pay/micropay", "text/xml", micropay_body("f-5xx")),
    )
    .await;
    assert_eq!(raw.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(sim.trades().is_empty());
    assert_eq!(
        wx_pay(&router, "f-5xx", "100", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn malformed_and_badly_signed_answers_hide_an_applied_effect() {
    let sim = simulator();
    let router = sim.router();
    sim.set_faults(script(vec![
        Fault::Malformed,
        Fault::BadSignature,
        Fault::BadSignature,
    ]))
    .unwrap();
    let raw = send(
        &router,
        post("/pay/micropay", "text/xml", micropay_body("f-bad")),
    )
    .await;
    assert!(paycode_sim::xml::parse(std::str::from_utf8(&raw.body).unwrap_or("")).is_err());
    let raw = send(
        &router,
        post(
            "/pay/orderquery",
            "text/xml",
            wx_signed_xml(wx_fields(&[("out_trade_no", "f-bad")]), WxSignType::Md5),
        ),
    )
    .await;
    let answer = paycode_sim::xml::parse(std::str::from_utf8(&raw.body).unwrap()).unwrap();
    assert_eq!(
        answer["trade_state"], "SUCCESS",
        "the payment happened despite the malformed answer"
    );
    assert!(!paycode_sim::crypto::wx_verify(
        &answer,
        paycode_sim::config::EXAMPLE_WECHAT_API_KEY,
        WxSignType::Md5
    ));
    let raw = ali_send(
        &router,
        &ali_params("alipay.trade.query", &json!({"out_trade_no": "x"})),
    )
    .await;
    let verifies = std::panic::catch_unwind(|| ali_verified("alipay.trade.query", &raw.body));
    assert!(
        verifies.is_err(),
        "the altered Alipay signature must not verify"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_then_drop_may_apply_the_effect_or_not() {
    let sim = simulator();
    let router = sim.router();
    let hold = Fault::Timeout {
        ms: 60_000,
        then: AfterHold::Drop,
        effect_applied: true,
    };
    let lost = Fault::Timeout {
        ms: 60_000,
        then: AfterHold::Drop,
        effect_applied: false,
    };
    sim.set_faults(script(vec![hold, lost])).unwrap();
    let started = tokio::time::Instant::now();
    for order in ["f-t-applied", "f-t-lost"] {
        let response = router
            .clone()
            .oneshot(post("/pay/micropay", "text/xml", micropay_body(order)))
            .await
            .unwrap();
        assert!(
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .is_err(),
            "no answer arrives"
        );
    }
    assert!(started.elapsed() >= Duration::from_secs(120));
    let orders: Vec<String> = sim.trades().into_iter().map(|t| t.out_trade_no).collect();
    assert_eq!(orders, ["f-t-applied"]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_applies_its_effect_only_after_the_hold() {
    let sim = simulator();
    let router = sim.router();
    sim.set_faults(script(vec![Fault::Timeout {
        ms: 60_000,
        then: AfterHold::Answer,
        effect_applied: false,
    }]))
    .unwrap();
    let request = tokio::spawn({
        let router = router.clone();
        async move {
            send(
                &router,
                post("/pay/micropay", "text/xml", micropay_body("f-slow")),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        sim.trades().is_empty(),
        "nothing happened yet: a query now says ORDERNOTEXIST"
    );
    let raw = request.await.unwrap();
    assert!(
        String::from_utf8(raw.body)
            .unwrap()
            .contains("<result_code><![CDATA[SUCCESS]]>")
    );
    assert_eq!(sim.trades().len(), 1);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults_through_http() {
    let statuses = |seed: u64| async move {
        let sim = simulator();
        let router = sim.router();
        sim.set_faults(FaultConfig {
            seed,
            http_5xx_percent: 50,
            ..FaultConfig::default()
        })
        .unwrap();
        let mut seen = Vec::new();
        for n in 0..24 {
            let raw = send(
                &router,
                post(
                    "/pay/micropay",
                    "text/xml",
                    micropay_body(&format!("f-seed-{n}")),
                ),
            )
            .await;
            seen.push(raw.status.as_u16());
        }
        seen
    };
    let first = statuses(99).await;
    assert_eq!(first, statuses(99).await);
    assert!(first.contains(&503) && first.contains(&200));
    assert_ne!(first, statuses(100).await);
}

/// One raw HTTP/1.1 exchange over a real socket; returns everything the server sent before closing.
async fn raw_exchange(addr: std::net::SocketAddr, path: &str, body: &str) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    // A reset counts as "closed without an answer" too.
    let _ = stream.read_to_end(&mut received).await;
    received
}

#[tokio::test]
async fn a_dropped_connection_sends_nothing_on_a_real_socket() {
    let running = paycode_sim::start(
        SimConfig::example().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    assert!(running.base_url().starts_with("http://127.0.0.1:"));
    running
        .set_faults(script(vec![
            Fault::Drop {
                effect_applied: true,
            },
            Fault::Drop {
                effect_applied: false,
            },
        ]))
        .unwrap();
    assert!(
        raw_exchange(running.addr(), "/pay/micropay", &micropay_body("f-drop-1"))
            .await
            .is_empty()
    );
    assert!(
        raw_exchange(running.addr(), "/pay/micropay", &micropay_body("f-drop-2"))
            .await
            .is_empty()
    );
    let answer = raw_exchange(running.addr(), "/pay/micropay", &micropay_body("f-drop-3")).await;
    assert!(
        String::from_utf8(answer)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    let orders: Vec<String> = running
        .trades()
        .into_iter()
        .map(|t| t.out_trade_no)
        .collect();
    assert_eq!(orders, ["f-drop-1", "f-drop-3"]);
    let log = running.fault_log();
    assert_eq!(log.len(), 3);
    running.shutdown().await;
}

/// A fault aimed at one call: the second WeChat query of one order answers
/// 503; the pay call, the first query and the third go through, another
/// order's queries are untouched, and the log says which call it hit.
#[tokio::test]
async fn a_target_hits_only_the_nth_call_of_its_kind_and_order() {
    let sim = simulator();
    let router = sim.router();
    let faults: FaultConfig = serde_json::from_value(json!({
        "targets": [{
            "call": "query", "provider": "wechat", "out_trade_no": "aimed", "nth": 2,
            "fault": { "kind": "http5xx" }
        }]
    }))
    .expect("the documented JSON shape");
    sim.set_faults(faults).unwrap();
    assert_eq!(
        wx_pay(&router, "aimed", "100", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
    assert_eq!(
        wx_pay(&router, "other", "100", &wx_code(0, 0)).await["result_code"],
        "SUCCESS"
    );
    assert_eq!(wx_query(&router, "aimed").await["trade_state"], "SUCCESS");
    assert_eq!(wx_query(&router, "other").await["trade_state"], "SUCCESS");
    let query = wx_signed_xml(wx_fields(&[("out_trade_no", "aimed")]), WxSignType::Md5);
    let raw = send(&router, post("/pay/orderquery", "text/xml", query)).await;
    assert_eq!(raw.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(wx_query(&router, "aimed").await["trade_state"], "SUCCESS");
    let fired: Vec<_> = sim.fault_log().into_iter().filter(|d| d.targeted).collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].fault, Fault::Http5xx);
    assert_eq!(fired[0].kind, Some(paycode_sim::faults::CallKind::Query));
}

/// Aims `fault` at the next WeChat query of `out_trade_no`.
fn aim_query(out_trade_no: &str, fault: Fault) -> FaultConfig {
    serde_json::from_value(json!({
        "targets": [{"call": "query", "out_trade_no": out_trade_no, "fault": fault}]
    }))
    .expect("the documented JSON shape")
}

/// Sends a WeChat query in the background and returns its answer's trade_state.
fn query_in_background(
    router: &axum::Router,
    out_trade_no: &str,
) -> tokio::task::JoinHandle<String> {
    let (router, out_trade_no) = (router.clone(), out_trade_no.to_owned());
    tokio::spawn(async move {
        let query = wx_signed_xml(
            wx_fields(&[("out_trade_no", &out_trade_no)]),
            WxSignType::Md5,
        );
        let raw = send(&router, post("/pay/orderquery", "text/xml", query)).await;
        let answer = paycode_sim::xml::parse(std::str::from_utf8(&raw.body).unwrap()).unwrap();
        answer["trade_state"].clone()
    })
}

/// A stale answer: the query is answered SUCCESS as of its arrival, and
/// that answer reaches the client after the reverse was confirmed. A plain
/// latency is the other way round: it reads the trade after the wait.
#[tokio::test(start_paused = true)]
async fn a_stale_paid_answer_arrives_after_the_reverse_was_confirmed() {
    let sim = simulator();
    let router = sim.router();
    for (order, fault, delivered) in [
        ("stale", Fault::Stale { ms: 5_000 }, "SUCCESS"),
        ("late", Fault::Latency { ms: 5_000 }, "REVOKED"),
    ] {
        wx_pay(&router, order, "100", &wx_code(0, 0)).await;
        sim.set_faults(aim_query(order, fault)).unwrap();
        let started = tokio::time::Instant::now();
        let query = query_in_background(&router, order);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reversed = wx_call(
            &router,
            "/secapi/pay/reverse",
            wx_fields(&[("out_trade_no", order)]),
        )
        .await;
        assert_eq!(
            reversed["result_code"], "SUCCESS",
            "{order}: reverse confirmed"
        );
        assert_eq!(query.await.unwrap(), delivered, "{order}");
        assert!(started.elapsed() >= Duration::from_millis(5_000));
        assert_eq!(wx_query(&router, order).await["trade_state"], "REVOKED");
    }
}

/// A target finds an Alipay order in biz_content and keeps the meaning of
/// its fault: the aimed pay is dropped after it charged, the aimed cancel
/// is dropped before it reversed; the other order's calls are untouched.
#[tokio::test]
async fn a_target_finds_an_alipay_order_in_biz_content() {
    let sim = simulator();
    let router = sim.router();
    let faults: FaultConfig = serde_json::from_value(json!({
        "targets": [
            {"call": "pay", "provider": "alipay", "out_trade_no": "ali-aim",
             "fault": {"kind": "drop", "effect_applied": true}},
            {"call": "reverse", "provider": "alipay", "out_trade_no": "ali-aim",
             "fault": {"kind": "drop", "effect_applied": false}}
        ]
    }))
    .unwrap();
    sim.set_faults(faults).unwrap();
    assert_eq!(
        ali_pay(&router, "ali-other", "1.00", &ali_code(0, 0)).await["code"],
        "10000"
    );
    let biz = json!({"out_trade_no": "ali-aim", "scene": "bar_code", "auth_code": ali_code(0, 0),
                     "subject": "x", "total_amount": "1.00"});
    assert_dropped(&router, ali_request("alipay.trade.pay", &biz)).await;
    assert_eq!(
        ali_query(&router, "ali-aim").await["trade_status"],
        "TRADE_SUCCESS"
    );
    let cancel = ali_request("alipay.trade.cancel", &json!({"out_trade_no": "ali-aim"}));
    assert_dropped(&router, cancel).await;
    assert_eq!(
        ali_query(&router, "ali-aim").await["trade_status"],
        "TRADE_SUCCESS"
    );
    let fired: Vec<_> = sim
        .fault_log()
        .into_iter()
        .filter(|d| d.targeted)
        .map(|d| (d.kind, d.provider))
        .collect();
    use paycode_sim::Provider;
    use paycode_sim::faults::CallKind;
    assert_eq!(
        fired,
        [
            (Some(CallKind::Pay), Some(Provider::Alipay)),
            (Some(CallKind::Reverse), Some(Provider::Alipay)),
        ]
    );
}

/// An Alipay request as the Java SDK sends it: protocol parameters in the query, biz_content in the form.
fn ali_request(method: &str, biz: &serde_json::Value) -> axum::http::Request<axum::body::Body> {
    let params = ali_params(method, biz);
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| *k != "biz_content")
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    post(
        &format!("/gateway.do?{}", query.join("&")),
        "application/x-www-form-urlencoded;charset=utf-8",
        format!("biz_content={}", urlencode(&params["biz_content"])),
    )
}

/// The answer's body fails before its first byte: on a socket, the connection closes without an answer.
async fn assert_dropped(router: &axum::Router, request: axum::http::Request<axum::body::Body>) {
    let response = router.clone().oneshot(request).await.unwrap();
    assert!(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .is_err(),
        "no answer arrives"
    );
}
