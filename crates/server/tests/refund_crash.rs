//! A crash in the middle of a refund re-send (issue 12): paycode runs as a
//! child process; the first refund call is lost, the re-send reaches the
//! provider (which refunds) and paycode is SIGKILLed before the answer
//! comes back. After a restart paycode sends the refund again under the
//! same number, and the provider has refunded exactly once.

mod support;

use std::time::{Duration, Instant};

use paycode_sim::{Fault, FaultConfig};
use serde_json::{Value, json};
use support::cluster::{SqliteNode, http, spawn_paycode, sqlite_node, wall_clock_sim};
use support::wechat_code;

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let mut request = http
        .request(method, url)
        .header("authorization", format!("Bearer {}", support::KEY));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).ok()?))
}

/// Sends until the node answers (it may still be starting).
async fn until_answered(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let started = Instant::now();
    loop {
        if let Some(answer) = call(http, method.clone(), url.clone(), body.clone()).await {
            return answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url}: no answer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_resent_across_a_crash_is_refunded_once() {
    let sim = wall_clock_sim(FaultConfig::default()).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let SqliteNode { config, port, .. } = sqlite_node(dir.path(), &sim.base_url());
    let log = dir.path().join("paycode.log");
    let mut node = spawn_paycode(&config, &log);
    let base = format!("http://127.0.0.1:{port}");
    let http = http();

    let (status, paid) = until_answered(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/payments"),
        Some(json!({ "out_trade_no": "rc-1", "auth_code": wechat_code(0, 0, 990), "amount": "10.00", "subject": "crash" })),
    )
    .await;
    assert_eq!(
        (status, paid["state"].as_str()),
        (201, Some("SUCCESS")),
        "{paid}"
    );
    let trade_no = paid["provider_trade_no"]
        .as_str()
        .expect("a trade")
        .to_owned();

    // The first refund call is lost before it reaches the provider; the
    // re-send reaches it (the refund is made) and is held there, answer
    // lost, while paycode is killed.
    let refund = |nth: u32, fault: Fault| json!({ "call": "refund", "provider": "wechat", "nth": nth, "fault": fault });
    let faults: FaultConfig = serde_json::from_value(json!({ "targets": [
        refund(1, Fault::Drop { effect_applied: false }),
        refund(1, Fault::Timeout { ms: 5_000, then: paycode_sim::AfterHold::Drop, effect_applied: true }),
    ]}))
    .expect("faults");
    sim.sim().set_faults(faults).expect("valid");
    let (status, body) = until_answered(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/payments/rc-1/refunds"),
        Some(json!({ "out_refund_no": "r", "amount": "4.00" })),
    )
    .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (201, Some("UNKNOWN")),
        "{body}"
    );

    // Wait for the re-send to reach the provider, then SIGKILL.
    let started = Instant::now();
    while sim.sim().fault_log().iter().filter(|d| d.targeted).count() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the re-send never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.kill();
    let refunds_at = |sim: &paycode_sim::RunningSim| -> Vec<(String, String)> {
        sim.sim()
            .trades()
            .into_iter()
            .filter(|t| t.trade_no == trade_no)
            .flat_map(|t| t.refunds)
            .map(|r| (r.amount, r.status))
            .collect()
    };
    assert_eq!(refunds_at(&sim).len(), 1, "the held re-send was refunded");

    let _node = spawn_paycode(&config, &log);
    let started = Instant::now();
    let refund = loop {
        let (_, refund) = until_answered(
            &http,
            reqwest::Method::GET,
            format!("{base}/v1/payments/rc-1/refunds/r"),
            None,
        )
        .await;
        if refund["state"] == "SUCCEEDED" {
            break refund;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the refund never settled: {refund}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(refund["amount"], "4.00");
    assert_eq!(
        refunds_at(&sim),
        [("4.00".to_owned(), "SUCCESS".to_owned())],
        "refunded exactly once, under paycode's one number"
    );
    let (_, order) = until_answered(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/payments/rc-1"),
        None,
    )
    .await;
    assert_eq!(order["refunded_amount"], "4.00", "{order}");
}
