//! Reconciliation through the back office's GraphQL API, against a whole
//! paycode and simulator: an operator runs a day whose bill the simulator
//! altered, gets exactly that discrepancy, resolves it once, and a rerun
//! records nothing; bad days and missing provider accounts record nothing;
//! and roles and merchant scopes gate every reconciliation field.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use paycode_projections::ReadModels;
use paycode_server::graphql::BackOffice;
use paycode_server::graphql::auth::{OperatorConfig, Operators, Role};
use paycode_sim::BillTamper;
use serde_json::{Value, json};
use support::gql::codes;
use support::{World, wechat_code};

/// The test day: `World::start` begins at 10:00 on it, Beijing time.
const DAY: &str = "2026-11-20";

/// Tokens: (token, role, merchant scope).
const TOKENS: &[(&str, Role, Option<&str>)] = &[
    ("viewer-a", Role::Viewer, Some("shop-a")),
    ("operator-a", Role::Operator, Some("shop-a")),
    ("operator-b", Role::Operator, Some("shop-b")),
    ("viewer-all", Role::Viewer, None),
    ("admin", Role::Admin, None),
];

struct Office {
    _dir: tempfile::TempDir,
    router: Router,
}

async fn office(world: &World) -> Office {
    let dir = tempfile::tempdir().expect("a temp dir");
    let models = ReadModels::open(dir.path().join("read.db"), Arc::clone(&world.store))
        .await
        .expect("the read models open");
    let operators: Vec<OperatorConfig> = TOKENS
        .iter()
        .map(|(token, role, merchant)| OperatorConfig {
            token_sha256: paycode_server::config::sha256_hex(token.as_bytes()),
            role: *role,
            merchant: merchant.map(|m| paycode_domain::MerchantId::parse(m).expect("an id")),
            name: Some((*token).to_owned()),
        })
        .collect();
    let office = BackOffice::new(
        models,
        world.service.process.clone(),
        Arc::new(Operators::from_config(&operators).expect("tokens")),
    )
    .expect("the back office opens");
    Office {
        _dir: dir,
        router: paycode_server::graphql::routes(office),
    }
}

async fn post(office: &Office, token: Option<&str>, query: &str) -> (StatusCode, Value) {
    support::gql::post(&office.router, token, query).await
}

/// Three WeChat payments of shop-a; the simulator's bill says 7.70 for the
/// 7.00 of `wx-alter`.
async fn day_with_an_altered_amount(world: &World) {
    for (order, serial, amount) in [("wx-ok", 1, "12.00"), ("wx-two", 2, "30.00")]
        .into_iter()
        .chain([("wx-alter", 3, "7.00")])
    {
        let (status, body) = world.pay(order, &wechat_code(0, 0, serial), amount).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (201, Some("SUCCESS")),
            "{body}"
        );
    }
    world
        .sim
        .sim()
        .tamper_bill(BillTamper::AlterAmount {
            out_trade_no: world.provider_no("wx-alter").await,
            amount: "7.70".into(),
        })
        .expect("the tamper is valid");
    world.pass(2).await;
    // The bill exists from the next day.
    world.next_day().await;
}

const REPORT_FIELDS: &str = "provider merchant day runs ranAt billSource billSha256
    matchedPayments matchedRefunds matchedReversals carriedOver
    open shortCount shortTotal longCount longTotal net warnings
    bill { paymentCount refundCount paidTotal refundTotal }
    ledger { paymentCount refundCount paidTotal refundTotal }
    discrepancies { id status supersededByRun kind subject order outTradeNo outRefundNo providerTradeNo
        billAmount ledgerAmount billLines detail foundAt
        resolution { outcome by note at } }";

fn run_mutation(merchant: &str, day: &str) -> String {
    format!(
        r#"mutation {{ runReconciliation(provider: WECHATPAY, merchant: "{merchant}", day: "{day}") {{
            appended newDiscrepancies report {{ {REPORT_FIELDS} }} }} }}"#
    )
}

fn resolve_mutation(merchant: &str, id: &str, note: &str) -> String {
    format!(
        r#"mutation {{ resolveDiscrepancy(provider: WECHATPAY, merchant: "{merchant}", day: "{DAY}",
            id: "{id}", outcome: LEDGER_CORRECT, note: "{note}") {{ {REPORT_FIELDS} }} }}"#
    )
}

fn report_query(merchant: &str) -> String {
    format!(
        r#"{{ reconciliationReport(provider: WECHATPAY, merchant: "{merchant}", day: "{DAY}") {{ {REPORT_FIELDS} }} }}"#
    )
}

/// Runs the day as `operator-a` and returns the one discrepancy's id.
async fn run_day(office: &Office) -> (Value, String) {
    let (status, answer) = post(office, Some("operator-a"), &run_mutation("shop-a", DAY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(codes(&answer), Vec::<String>::new(), "{answer}");
    let run = answer["data"]["runReconciliation"].clone();
    let id = run["report"]["discrepancies"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (run, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_day_finds_the_altered_amount_and_resolves_it_once() {
    let world = World::start().await;
    day_with_an_altered_amount(&world).await;
    let office = office(&world).await;
    let (run, id) = run_day(&office).await;
    assert_eq!(run["appended"], json!(true));
    assert_eq!(run["newDiscrepancies"], json!(1));
    let report = &run["report"];
    assert_eq!(
        (&report["provider"], &report["merchant"], &report["day"]),
        (&json!("wechatpay"), &json!("shop-a"), &json!(DAY))
    );
    assert_eq!(report["matchedPayments"], json!(2), "{report}");
    assert_eq!(report["billSource"], json!("download"));
    assert_eq!(report["bill"]["paidTotal"], json!("49.70"), "{report}");
    assert_eq!(report["ledger"]["paidTotal"], json!("49.00"), "{report}");
    let found = report["discrepancies"].as_array().expect("a list");
    assert_eq!(found.len(), 1, "{report}");
    let d = &found[0];
    assert_eq!(
        (&d["kind"], &d["subject"], &d["order"]),
        (
            &json!("AMOUNT_MISMATCH"),
            &json!("payment"),
            &json!("wx-alter")
        )
    );
    assert_eq!(
        (&d["billAmount"], &d["ledgerAmount"]),
        (&json!("7.70"), &json!("7.00"))
    );
    assert_eq!(d["outTradeNo"], json!(world.provider_no("wx-alter").await));
    assert_eq!(d["resolution"], Value::Null);
    assert_eq!((&d["status"], &report["open"]), (&json!("open"), &json!(1)));
    assert_eq!(
        (&report["shortCount"], &report["longCount"], &report["net"]),
        (&json!(0), &json!(0), &json!("0.70")),
        "the bill says 0.70 more than the ledger"
    );
    assert!(id.contains("AMOUNT_MISMATCH"), "{id}");

    let (_, answer) = post(
        &office,
        Some("operator-a"),
        &resolve_mutation("shop-a", &id, "asked WeChat to correct"),
    )
    .await;
    assert_eq!(codes(&answer), Vec::<String>::new(), "{answer}");
    let resolution = &answer["data"]["resolveDiscrepancy"]["discrepancies"][0]["resolution"];
    assert_eq!(
        (
            &resolution["outcome"],
            &resolution["by"],
            &resolution["note"]
        ),
        (
            &json!("LEDGER_CORRECT"),
            &json!("operator-a"),
            &json!("asked WeChat to correct")
        )
    );
    let (_, answer) = post(&office, Some("viewer-a"), &report_query("shop-a")).await;
    let read = &answer["data"]["reconciliationReport"];
    assert_eq!(
        read["discrepancies"][0]["resolution"], *resolution,
        "{answer}"
    );
    assert_eq!(
        (&read["discrepancies"][0]["status"], &read["open"]),
        (&json!("resolved"), &json!(0)),
        "{answer}"
    );

    let head = world.head().await;
    let (_, again) = post(
        &office,
        Some("admin"),
        &resolve_mutation("shop-a", &id, "again"),
    )
    .await;
    assert_eq!(codes(&again), ["DISCREPANCY_ALREADY_RESOLVED"], "{again}");
    let (_, unknown) = post(
        &office,
        Some("admin"),
        &resolve_mutation("shop-a", "no/such/id", "x"),
    )
    .await;
    assert_eq!(codes(&unknown), ["UNKNOWN_DISCREPANCY"], "{unknown}");
    let (_, blank) = post(
        &office,
        Some("admin"),
        &resolve_mutation("shop-a", &id, " "),
    )
    .await;
    assert_eq!(codes(&blank), ["RESOLUTION_NOTE_REQUIRED"], "{blank}");
    let (_, rerun) = post(&office, Some("operator-a"), &run_mutation("shop-a", DAY)).await;
    assert_eq!(codes(&rerun), Vec::<String>::new(), "{rerun}");
    let rerun = &rerun["data"]["runReconciliation"];
    assert_eq!(
        (&rerun["appended"], &rerun["newDiscrepancies"]),
        (&json!(false), &json!(0))
    );
    assert_eq!(rerun["report"], *read, "the rerun reads the same report");
    assert_eq!(
        world.head().await,
        head,
        "refusals and the rerun appended nothing"
    );

    let list = r#"{ reconciliationReports(provider: WECHATPAY, from: "2026-11-20", to: "2026-11-20") { merchant day runs } }"#;
    let (_, listed) = post(&office, Some("viewer-all"), list).await;
    assert_eq!(
        listed["data"]["reconciliationReports"],
        json!([{ "merchant": "shop-a", "day": DAY, "runs": 1 }]),
        "{listed}"
    );
    let later = r#"{ reconciliationReports(from: "2026-11-21") { day } }"#;
    let (_, listed) = post(&office, Some("viewer-all"), later).await;
    assert_eq!(
        listed["data"]["reconciliationReports"],
        json!([]),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_day_or_a_merchant_without_the_provider_records_nothing() {
    let world = World::start().await;
    let office = office(&world).await;
    let head = world.head().await;
    for day in ["2026-11-21", "2026-13-01", "20 Nov"] {
        let (_, answer) = post(&office, Some("admin"), &run_mutation("shop-a", day)).await;
        assert_eq!(codes(&answer), ["BAD_USER_INPUT"], "{day}: {answer}");
    }
    // Today is not over: its bill does not exist yet.
    let (_, answer) = post(&office, Some("admin"), &run_mutation("shop-a", DAY)).await;
    assert_eq!(codes(&answer), ["DAY_NOT_OVER"], "{answer}");
    // shop-b has a WeChat account only.
    let alipay = r#"mutation { runReconciliation(provider: ALIPAY, merchant: "shop-b", day: "2026-11-19") { appended } }"#;
    let (_, answer) = post(&office, Some("admin"), alipay).await;
    assert_eq!(codes(&answer), ["PROVIDER_NOT_CONFIGURED"], "{answer}");
    let (_, answer) = post(
        &office,
        Some("admin"),
        &run_mutation("no-such-shop", "2026-11-19"),
    )
    .await;
    assert_eq!(codes(&answer), ["PROVIDER_NOT_CONFIGURED"], "{answer}");
    assert_eq!(world.head().await, head);
    let (_, answer) = post(&office, Some("admin"), &report_query("shop-a")).await;
    assert_eq!(
        answer["data"]["reconciliationReport"],
        Value::Null,
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_and_other_merchants_tokens_cannot_run_resolve_or_read_this_merchants_days() {
    let world = World::start().await;
    day_with_an_altered_amount(&world).await;
    let office = office(&world).await;
    let (_, id) = run_day(&office).await;
    let head = world.head().await;

    let (_, answer) = post(&office, Some("viewer-a"), &report_query("shop-a")).await;
    let read = &answer["data"]["reconciliationReport"];
    assert_eq!(
        read["discrepancies"][0]["id"],
        json!(id),
        "a viewer reads: {answer}"
    );

    for token in ["viewer-a", "operator-b"] {
        let (_, answer) = post(&office, Some(token), &run_mutation("shop-a", DAY)).await;
        assert_eq!(codes(&answer), ["FORBIDDEN"], "{token} run: {answer}");
        let (_, answer) = post(&office, Some(token), &resolve_mutation("shop-a", &id, "n")).await;
        assert_eq!(codes(&answer), ["FORBIDDEN"], "{token} resolve: {answer}");
    }
    let (_, answer) = post(&office, Some("operator-b"), &report_query("shop-a")).await;
    assert_eq!(codes(&answer), ["FORBIDDEN"], "{answer}");
    assert_eq!(
        answer["data"]["reconciliationReport"],
        Value::Null,
        "{answer}"
    );
    let all = r#"{ reconciliationReports { merchant discrepancies { id } } }"#;
    let (_, answer) = post(&office, Some("operator-b"), all).await;
    assert_eq!(
        answer["data"]["reconciliationReports"],
        json!([]),
        "{answer}"
    );
    let (_, answer) = post(&office, Some("viewer-a"), all).await;
    assert_eq!(
        answer["data"]["reconciliationReports"],
        json!([{ "merchant": "shop-a", "discrepancies": [{ "id": id }] }]),
        "{answer}"
    );
    let theirs = r#"{ reconciliationReports(merchant: "shop-a") { merchant } }"#;
    let (_, answer) = post(&office, Some("operator-b"), theirs).await;
    assert_eq!(codes(&answer), ["FORBIDDEN"], "{answer}");

    for query in [report_query("shop-a"), run_mutation("shop-a", DAY)] {
        let (status, answer) = post(&office, None, &query).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(codes(&answer), ["UNAUTHENTICATED"], "{answer}");
    }
    assert_eq!(
        world.head().await,
        head,
        "no refused call appended anything"
    );
}
