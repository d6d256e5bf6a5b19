//! The payment process end to end: paycode's POS API over a socket, the
//! simulator over a socket, every scenario to its final state, with both
//! clocks moved by the test (no test waits on the wall clock).

mod support;

use serde_json::{Value, json};
use support::{World, alipay_code, wechat_code};

fn state(body: &Value) -> &str {
    body["state"]
        .as_str()
        .unwrap_or_else(|| panic!("no state in {body}"))
}

/// The simulator's view of the trade behind an order (by provider order number).
fn sim_phase(world: &World, provider_trade_no: Option<&str>) -> Vec<String> {
    world
        .sim
        .sim()
        .trades()
        .into_iter()
        .filter(|t| provider_trade_no.is_none_or(|no| t.trade_no == no))
        .map(|t| t.phase)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_code_that_pays_at_once_is_success_with_one_charge() {
    let world = World::start().await;
    let (status, body) = world.pay("wx-1", &wechat_code(0, 0, 1), "12.50").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(state(&body), "SUCCESS");
    assert_eq!(body["provider"], "wechatpay");
    assert_eq!(body["amount"], "12.50");
    let trade_no = body["provider_trade_no"].as_str().expect("a trade number");
    assert_eq!(sim_phase(&world, Some(trade_no)), ["paid"]);
    assert_eq!(
        world.events("shop-a", "wx-1").await,
        ["PaymentRequested", "PaymentSucceeded"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_code_that_pays_at_once_is_success() {
    let world = World::start().await;
    let (status, body) = world.pay("ali-1", &alipay_code(0, 0, 1), "99.99").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(state(&body), "SUCCESS");
    assert_eq!(body["provider"], "alipay");
    assert_eq!(
        sim_phase(&world, body["provider_trade_no"].as_str()),
        ["paid"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_payment_is_polled_until_paid() {
    let world = World::start().await;
    for (no, code) in [
        ("wx-pw", wechat_code(1, 12, 2)),
        ("ali-pw", alipay_code(1, 12, 2)),
    ] {
        let (status, body) = world.pay(no, &code, "20.00").await;
        assert_eq!((status, state(&body)), (201, "PAYING"), "{body}");
        world.pass(15).await;
        let (_, body) = world.get(&format!("/v1/payments/{no}")).await;
        assert_eq!(state(&body), "SUCCESS", "{no}: {body}");
        let events = world.events("shop-a", no).await;
        assert_eq!(events.first().map(String::as_str), Some("PaymentRequested"));
        assert_eq!(
            events.last().map(String::as_str),
            Some("PaymentSucceeded"),
            "{no}: {events:?}"
        );
        assert!(
            events
                .iter()
                .filter(|e| *e == "PaymentPendingReported")
                .count()
                >= 2,
            "{no}: {events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_balance_fails_and_a_new_code_pays_the_same_order() {
    let world = World::start().await;
    let (status, body) = world.pay("wx-poor", &wechat_code(3, 0, 3), "50.00").await;
    assert_eq!((status, state(&body)), (201, "FAILED"), "{body}");
    assert_eq!(body["failure"]["code"], "NOTENOUGH");
    let (status, body) = world
        .post(
            "/v1/payments/wx-poor/attempts",
            json!({ "auth_code": wechat_code(0, 0, 4) }),
        )
        .await;
    assert_eq!((status, state(&body)), (200, "SUCCESS"), "{body}");
    assert_eq!(body["attempts"], 2);
    let events = world.events("shop-a", "wx-poor").await;
    assert_eq!(
        events,
        [
            "PaymentRequested",
            "PaymentFailed",
            "PaymentRetried",
            "PaymentSucceeded"
        ]
    );
    let phases = sim_phase(&world, None);
    assert_eq!(
        phases.iter().filter(|p| *p == "paid").count(),
        1,
        "{phases:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_answer_whose_trade_was_paid_becomes_success_by_query() {
    let world = World::start().await;
    for (no, code) in [
        ("wx-unk", wechat_code(6, 0, 5)),
        ("ali-unk", alipay_code(6, 0, 5)),
    ] {
        let (status, body) = world.pay(no, &code, "8.00").await;
        assert_eq!((status, state(&body)), (201, "PAYING"), "{body}");
        world.pass(6).await;
        let (_, body) = world.get(&format!("/v1/payments/{no}")).await;
        assert_eq!(state(&body), "SUCCESS", "{no}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_never_confirmed_is_reversed_at_the_deadline() {
    let world = World::start().await;
    for (no, code, reversed) in [
        ("wx-never", wechat_code(2, 0, 6), "REVOKED"),
        ("ali-never", alipay_code(2, 0, 6), "TRADE_CLOSED"),
    ] {
        let (_, body) = world.pay(no, &code, "30.00").await;
        assert_eq!(state(&body), "PAYING");
        world.pass(29).await;
        assert_eq!(
            state(&world.get(&format!("/v1/payments/{no}")).await.1),
            "PAYING",
            "{no}: not before the deadline"
        );
        world.pass(3).await;
        let (_, body) = world.get(&format!("/v1/payments/{no}")).await;
        assert_eq!(state(&body), reversed, "{no}: {body}");
        let events = world.events("shop-a", no).await;
        assert!(
            events.contains(&"ReversalRequested".to_owned()),
            "{events:?}"
        );
    }
    let phases = sim_phase(&world, None);
    assert_eq!(phases, ["closed", "closed"], "nothing was charged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_error_without_payment_is_reversed_and_nothing_is_charged() {
    let world = World::start().await;
    let (_, body) = world.pay("wx-unk-np", &wechat_code(7, 0, 7), "15.00").await;
    assert_eq!(state(&body), "PAYING");
    world.pass(50).await;
    let (_, body) = world.get("/v1/payments/wx-unk-np").await;
    assert_eq!(state(&body), "REVOKED", "{body}");
    assert!(
        sim_phase(&world, None)
            .iter()
            .all(|p| p != "paid" && p != "reversed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_is_retried_while_the_provider_asks_for_recall() {
    let world = World::start().await;
    let (_, body) = world.pay("wx-recall", &wechat_code(8, 3, 8), "40.00").await;
    assert_eq!(state(&body), "PAYING");
    world.pass(60).await;
    let (_, body) = world.get("/v1/payments/wx-recall").await;
    assert_eq!(state(&body), "REVOKED", "{body}");
    let events = world.events("shop-a", "wx-recall").await;
    assert_eq!(
        events.iter().filter(|e| *e == "ReversalRetried").count(),
        3,
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_that_always_fails_lands_on_the_manual_queue() {
    let world = World::start().await;
    let (_, body) = world.pay("ali-stuck", &alipay_code(9, 0, 9), "40.00").await;
    assert_eq!(state(&body), "PAYING");
    world.pass(240).await;
    let (_, body) = world.get("/v1/payments/ali-stuck").await;
    assert_eq!(state(&body), "REVERSING", "{body}");
    assert_eq!(body["needs_attention"], true);
    let events = world.events("shop-a", "ali-stuck").await;
    assert_eq!(
        events.last().map(String::as_str),
        Some("ReversalAbandoned"),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_reverses_a_paid_wechat_order_after_the_15_second_minimum() {
    let world = World::start().await;
    let (_, body) = world
        .pay("wx-cancel", &wechat_code(0, 0, 10), "19.90")
        .await;
    assert_eq!(state(&body), "SUCCESS");
    let (status, body) = world
        .post("/v1/payments/wx-cancel/reversal", json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("REVERSAL_TOO_EARLY")),
        "{body}"
    );
    world.pass(16).await;
    let (status, body) = world
        .post("/v1/payments/wx-cancel/reversal", json!({}))
        .await;
    assert_eq!((status, state(&body)), (200, "REVOKED"), "{body}");
    assert_eq!(
        sim_phase(&world, body["provider_trade_no"].as_str()),
        ["reversed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refunds_never_exceed_the_paid_amount() {
    let world = World::start().await;
    let (_, body) = world.pay("ali-ref", &alipay_code(0, 0, 11), "100.00").await;
    assert_eq!(state(&body), "SUCCESS");
    let refund = |no: &str, amount: &str| json!({ "out_refund_no": no, "amount": amount, "reason": "returned" });
    let (status, body) = world
        .post("/v1/payments/ali-ref/refunds", refund("r1", "60.00"))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("SUCCEEDED")),
        "{body}"
    );
    let (status, body) = world
        .post("/v1/payments/ali-ref/refunds", refund("r1", "60.00"))
        .await;
    assert_eq!(status, 200, "the identical refund again: {body}");
    let head = world.head().await;
    let (status, body) = world
        .post("/v1/payments/ali-ref/refunds", refund("r2", "40.01"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("REFUND_EXCEEDS_PAID_AMOUNT")),
        "{body}"
    );
    assert_eq!(world.head().await, head, "a refused refund appends nothing");
    let (status, body) = world
        .post("/v1/payments/ali-ref/refunds", refund("r1", "10.00"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("REFUND_EXISTS_WITH_DIFFERENT_AMOUNT")),
        "{body}"
    );
    let (_, order) = world.get("/v1/payments/ali-ref").await;
    assert_eq!(order["refunded_amount"], "60.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_refund_is_polled_until_it_succeeds() {
    let world = World::start().await;
    let (_, body) = world.pay("wx-ref", &wechat_code(10, 20, 12), "30.00").await;
    assert_eq!(state(&body), "SUCCESS");
    let (status, body) = world
        .post(
            "/v1/payments/wx-ref/refunds",
            json!({ "out_refund_no": "rf-1", "amount": "30.00" }),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("PROCESSING")),
        "{body}"
    );
    world.pass(40).await;
    let (_, body) = world.get("/v1/payments/wx-ref/refunds/rf-1").await;
    assert_eq!(body["state"], "SUCCEEDED", "{body}");
    let (_, order) = world.get("/v1/payments/wx-ref").await;
    assert_eq!(
        (state(&order), order["refunded_amount"].as_str()),
        ("SUCCESS", Some("30.00"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_identical_requests_charge_once() {
    let world = std::sync::Arc::new(World::start().await);
    let code = wechat_code(0, 0, 13);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (world, code) = (world.clone(), code.clone());
            tokio::spawn(async move { world.pay("wx-race", &code, "9.90").await })
        })
        .collect();
    let mut order_ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.expect("joins");
        assert!(status == 200 || status == 201, "{status} {body}");
        order_ids.insert(body["order_id"].as_str().expect("an order id").to_owned());
    }
    assert_eq!(order_ids.len(), 1, "one order for all answers");
    let charges = world
        .sim
        .sim()
        .trades()
        .into_iter()
        .filter(|t| t.phase == "paid")
        .count();
    assert_eq!(charges, 1, "one provider charge");
    assert_eq!(
        world
            .events("shop-a", "wx-race")
            .await
            .iter()
            .filter(|e| *e == "PaymentRequested")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_payments_reversals_and_provider_latency() {
    let world = World::start().await;
    world.pay("m-paid", &wechat_code(0, 0, 20), "1.00").await;
    world.pay("m-poor", &alipay_code(3, 0, 20), "1.00").await;
    world.pay("m-never", &wechat_code(2, 0, 21), "1.00").await;
    world.pass(32).await;
    let text = world
        .http
        .get(format!("{}/metrics", world.base))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    for line in [
        "paycode_payments_total{provider=\"wechatpay\",outcome=\"success\"} 1",
        "paycode_payments_total{provider=\"alipay\",outcome=\"failed\"} 1",
        "paycode_reversals_total{provider=\"wechatpay\",outcome=\"requested\"} 1",
        "paycode_reversals_total{provider=\"wechatpay\",outcome=\"confirmed\"} 1",
        "paycode_provider_call_seconds_count{provider=\"wechatpay\",call=\"pay\"} 2",
        "paycode_manual_queue_size 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
