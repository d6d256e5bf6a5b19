//! Refunds at the edges (issue 12): paycode's own provider refund numbers,
//! a fault aimed at the refund call, a refund still processing at Alipay,
//! and fifty refunds racing on one order. Each case checks what the till
//! was told, the refund's final state and the simulator's ledger.

mod support;

use paycode_sim::faults::Fault;
use serde_json::{Value, json};
use support::{World, alipay_code, call_faults, wechat_code};

fn refund_body(no: &str, amount: &str) -> Value {
    json!({ "out_refund_no": no, "amount": amount, "reason": "returned" })
}

/// The simulator's refunds of the trade behind a paycode order, as
/// (out_refund_no, refund_id, amount, status).
fn sim_refunds(world: &World, trade_no: &str) -> Vec<(String, String, String, String)> {
    world
        .sim
        .sim()
        .trades()
        .into_iter()
        .filter(|t| t.trade_no == trade_no)
        .flat_map(|t| t.refunds)
        .map(|r| (r.out_refund_no, r.refund_id, r.amount, r.status))
        .collect()
}

async fn paid(world: &World, no: &str, code: &str, amount: &str) -> String {
    let (status, body) = world.pay(no, code, amount).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("SUCCESS")),
        "{body}"
    );
    body["provider_trade_no"]
        .as_str()
        .expect("a trade number")
        .to_owned()
}

/// WeChat wants `out_refund_no` unique across the merchant account and
/// queries refunds by it alone. Two orders whose tills both number their
/// refund `1` used to share one refund at WeChat: the second order took the
/// first one's refund id. Now each refund goes out under paycode's own
/// number, and each order has its own refund at the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orders_refunded_under_the_same_till_number_get_a_refund_each() {
    let world = World::start().await;
    let first = paid(&world, "wx-r1", &wechat_code(0, 0, 601), "20.00").await;
    let second = paid(&world, "wx-r2", &wechat_code(0, 0, 602), "30.00").await;
    for (no, amount) in [("wx-r1", "5.00"), ("wx-r2", "7.00")] {
        let (status, body) = world
            .post(
                &format!("/v1/payments/{no}/refunds"),
                refund_body("1", amount),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_ne!(body["provider_refund_no"], "1", "{body}");
    }
    world.pass(40).await;
    let mut ids = Vec::new();
    for (no, trade, amount) in [("wx-r1", &first, "5.00"), ("wx-r2", &second, "7.00")] {
        let (_, body) = world.get(&format!("/v1/payments/{no}/refunds/1")).await;
        assert_eq!(body["state"], "SUCCEEDED", "{no}: {body}");
        let at_sim = sim_refunds(&world, trade);
        assert_eq!(at_sim.len(), 1, "{no}: one refund at the provider");
        let (number, refund_id, sim_amount, status) = &at_sim[0];
        assert_eq!(body["provider_refund_no"].as_str(), Some(number.as_str()));
        assert_eq!(
            body["provider_refund_id"].as_str(),
            Some(refund_id.as_str())
        );
        assert_eq!((sim_amount.as_str(), status.as_str()), (amount, "SUCCESS"));
        ids.push(refund_id.clone());
    }
    assert_ne!(ids[0], ids[1], "each order has its own refund");
}

/// A refund call that fails in transport (before it reached the provider,
/// or after the provider took it; dropped or timed out), answers 5xx, or
/// answers something that cannot be trusted: the till hears 201 with the
/// refund UNKNOWN, paycode sends it again under the same number, and the
/// provider refunds exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_call_that_fails_in_transport_is_sent_again_and_refunds_once() {
    // Provider calls give up after 800 ms, so a held call times out quickly.
    let world = World::start_with(|config| {
        config.provider_http.total_timeout_ms = 800;
        config.provider_http.connect_timeout_ms = 800;
    })
    .await;
    let held = |effect_applied| Fault::Timeout {
        ms: 1_600,
        then: paycode_sim::AfterHold::Drop,
        effect_applied,
    };
    let timeouts = [
        ("timeout, not applied", held(false)),
        ("timeout, applied", held(true)),
    ];
    let faults: Vec<_> = call_faults().into_iter().chain(timeouts).collect();
    let mut serial = 610;
    for (wallet, code) in [("wx", 0u8), ("ali", 1u8)] {
        for &(name, fault) in &faults {
            serial += 1;
            let no = format!("{wallet}-rf-{serial}");
            let auth = if code == 0 {
                wechat_code(0, 0, serial)
            } else {
                alipay_code(0, 0, serial)
            };
            let trade = paid(&world, &no, &auth, "10.00").await;
            world.aim(fault);
            let (status, body) = world
                .post(
                    &format!("/v1/payments/{no}/refunds"),
                    refund_body("r", "4.00"),
                )
                .await;
            assert_eq!(status, 201, "{no} {name}: {body}");
            assert_eq!(body["state"], "UNKNOWN", "{no} {name}: {body}");
            world.pass(120).await;
            let (_, body) = world.get(&format!("/v1/payments/{no}/refunds/r")).await;
            assert_eq!(body["state"], "SUCCEEDED", "{no} {name}: {body}");
            let at_sim = sim_refunds(&world, &trade);
            assert_eq!(at_sim.len(), 1, "{no} {name}: refunded once: {at_sim:?}");
            assert_eq!(at_sim[0].2, "4.00", "{no} {name}");
            let (_, order) = world.get(&format!("/v1/payments/{no}")).await;
            assert_eq!(order["refunded_amount"], "4.00", "{no} {name}: {order}");
        }
    }
}

/// An Alipay refund that stays processing: the refund query answers without
/// data until it completes. That is "not refunded yet", never a failure:
/// the amount stays reserved, the refund is sent again under the same
/// number, and it ends refunded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_refund_still_processing_is_never_recorded_failed() {
    let world = World::start().await;
    let trade = paid(&world, "ali-slow", &alipay_code(10, 40, 620), "10.00").await;
    let (status, body) = world
        .post("/v1/payments/ali-slow/refunds", refund_body("r", "6.00"))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("PROCESSING")),
        "{body}"
    );
    // The first query, 10 s on, finds no refund data yet.
    world.pass(15).await;
    let (_, body) = world.get("/v1/payments/ali-slow/refunds/r").await;
    assert_eq!(
        body["state"], "UNKNOWN",
        "not found yet, not failed: {body}"
    );
    // The amount is still reserved: 4.01 more would exceed the payment.
    let (status, body) = world
        .post("/v1/payments/ali-slow/refunds", refund_body("r2", "4.01"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("REFUND_EXCEEDS_PAID_AMOUNT")),
        "{body}"
    );
    world.pass(120).await;
    let (_, body) = world.get("/v1/payments/ali-slow/refunds/r").await;
    assert_eq!(body["state"], "SUCCEEDED", "{body}");
    let at_sim = sim_refunds(&world, &trade);
    assert_eq!(at_sim.len(), 1, "{at_sim:?}");
    assert_eq!(
        (at_sim[0].2.as_str(), at_sim[0].3.as_str()),
        ("6.00", "SUCCESS")
    );
}

/// Fifty tills refund one 10.00 order at once, 1.00 each under distinct
/// numbers. Each is either accepted (2xx) or refused with a documented
/// code; every accepted one is refunded at the provider and no refused one
/// is; the provider never refunds more than was paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_refunds_never_refund_more_than_was_paid() {
    let world = World::start().await;
    let trade = paid(&world, "wx-rush", &wechat_code(0, 0, 630), "10.00").await;
    let answers = futures_util::future::join_all((0..50).map(|n| {
        let world = &world;
        async move {
            let no = format!("n{n}");
            let (status, body) = world
                .post("/v1/payments/wx-rush/refunds", refund_body(&no, "1.00"))
                .await;
            (no, status, body)
        }
    }))
    .await;
    world.pass(60).await;
    let mut accepted = Vec::new();
    for (no, status, body) in &answers {
        match status {
            200 | 201 => accepted.push(no.clone()),
            409 => assert_eq!(body["code"], "CONCURRENT_UPDATE", "{no}: {body}"),
            422 => assert_eq!(body["code"], "REFUND_EXCEEDS_PAID_AMOUNT", "{no}: {body}"),
            other => panic!("{no}: unexpected {other}: {body}"),
        }
    }
    assert!(accepted.len() <= 10, "{} accepted", accepted.len());
    for no in &accepted {
        let (_, body) = world
            .get(&format!("/v1/payments/wx-rush/refunds/{no}"))
            .await;
        assert_eq!(body["state"], "SUCCEEDED", "{no}: {body}");
    }
    let at_sim = sim_refunds(&world, &trade);
    assert_eq!(
        at_sim.len(),
        accepted.len(),
        "every accepted refund and no refused one reached the provider"
    );
    let (_, order) = world.get("/v1/payments/wx-rush").await;
    assert_eq!(
        order["refunded_amount"],
        format!("{}.00", accepted.len()),
        "{order}"
    );
}

/// WeChat `CHANGE` (the bank refused the refund; the money went back to
/// the merchant account) and `REFUNDCLOSE`. CHANGE is ABNORMAL: the amount
/// stays reserved and the order goes to a person, who records the outcome;
/// REFUNDCLOSE is a definite failure that frees the amount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_refund_that_ends_change_waits_for_a_person_and_refundclose_frees_the_amount() {
    let world = World::start().await;
    paid(&world, "wx-change", &wechat_code(11, 20, 640), "10.00").await;
    let (status, body) = world
        .post("/v1/payments/wx-change/refunds", refund_body("r", "6.00"))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("PROCESSING")),
        "{body}"
    );
    world.pass(60).await;
    let (_, refund) = world.get("/v1/payments/wx-change/refunds/r").await;
    assert_eq!(refund["state"], "ABNORMAL", "{refund}");
    let (_, order) = world.get("/v1/payments/wx-change").await;
    assert_eq!(order["needs_attention"], true, "{order}");
    assert_eq!(order["refunded_amount"], "0.00", "{order}");
    let (status, body) = world
        .post("/v1/payments/wx-change/refunds", refund_body("r2", "4.01"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("REFUND_EXCEEDS_PAID_AMOUNT")),
        "{body}"
    );
    assert_eq!(world.service.process.manual_queue_size(), 1);
    world
        .service
        .process
        .resolve_refund(
            &paycode_domain::MerchantId::parse("shop-a").unwrap(),
            &paycode_domain::OutTradeNo::parse("wx-change").unwrap(),
            paycode_domain::OutRefundNo::parse("r").unwrap(),
            "ops-anna".into(),
            "paid back by bank transfer".into(),
            paycode_domain::RefundResolution::Refunded,
        )
        .await
        .expect("resolved");
    let (_, order) = world.get("/v1/payments/wx-change").await;
    assert_eq!(order["needs_attention"], false, "{order}");
    assert_eq!(order["refunded_amount"], "6.00", "{order}");
    assert_eq!(
        world.service.process.manual_queue_size(),
        0,
        "the gauge follows at once"
    );

    paid(&world, "wx-close", &wechat_code(12, 20, 641), "10.00").await;
    world
        .post("/v1/payments/wx-close/refunds", refund_body("r", "6.00"))
        .await;
    world.pass(60).await;
    let (_, refund) = world.get("/v1/payments/wx-close/refunds/r").await;
    assert_eq!(refund["state"], "FAILED", "{refund}");
    assert_eq!(refund["failure"]["code"], "REFUNDCLOSE", "{refund}");
    let (status, body) = world
        .post("/v1/payments/wx-close/refunds", refund_body("r2", "10.00"))
        .await;
    assert_eq!(
        status, 201,
        "the closed refund's amount is free again: {body}"
    );
}
