//! The back office's GraphQL API through the router (`oneshot`, no socket):
//! answers from a recorded log compared with golden JSON, the checked-in
//! SDL, the authorization matrix (every role, every operation, own and
//! other merchant: zero leaks), read-your-writes of mutations, and the
//! order-updates subscription's scope.

mod support;

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use expect_test::expect_file;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use paycode_projections::ReadModels;
use paycode_server::graphql::auth::{OperatorConfig, Operators, Principal, Role};
use paycode_server::graphql::{BackOffice, sdl};
use paycode_server::{Config, Service};
use paycode_store::EventStore;
use serde_json::{Value, json};
use support::gql::{codes, gauge, post};
use tower::ServiceExt as _;

const CHECKED_IN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/graphql/schema.graphql"
);

/// Tokens of the matrix: (token, role, merchant scope).
const TOKENS: &[(&str, Role, Option<&str>)] = &[
    ("viewer-demo", Role::Viewer, Some("demo")),
    ("operator-demo", Role::Operator, Some("demo")),
    ("viewer-other", Role::Viewer, Some("other")),
    ("operator-other", Role::Operator, Some("other")),
    ("admin-other", Role::Admin, Some("other")),
    ("viewer-all", Role::Viewer, None),
    ("operator-all", Role::Operator, None),
    ("admin", Role::Admin, None),
];

struct World {
    _dir: tempfile::TempDir,
    store: Arc<dyn EventStore>,
    office: BackOffice,
    router: Router,
    /// The same node's POS and operations routes (`/metrics`).
    pos: Router,
}

/// The recorded log up to the last event, which resolves the order
/// `ali-stuck` by hand: so the manual-intervention queue holds it.
async fn world() -> World {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn EventStore> = Arc::new(
        paycode_store_sqlite::SqliteStore::open(dir.path().join("log.db"))
            .expect("the store opens"),
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/orders.jsonl");
    let file = std::fs::File::open(path).expect("the fixture opens");
    let mut lines = paycode_app::log::parse(BufReader::new(file)).expect("the fixture parses");
    assert_eq!(
        lines.pop().map(|l| l.event_type),
        Some("ManuallyResolved".to_owned())
    );
    paycode_app::log::load(store.as_ref(), &lines)
        .await
        .expect("the fixture loads");
    let service = Service::new(Arc::clone(&store), &Config::empty()).expect("the service builds");
    let models = ReadModels::open(dir.path().join("read.db"), Arc::clone(&store))
        .await
        .expect("the read models open");
    models.catch_up().await.expect("the read models catch up");
    tokio::spawn(models.clone().run());
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
        service.process.clone(),
        Arc::new(Operators::from_config(&operators).expect("tokens")),
    )
    .expect("the back office opens");
    let router = paycode_server::graphql::routes(office.clone());
    World {
        _dir: dir,
        store,
        office,
        router,
        pos: paycode_server::router(service),
    }
}

const ORDER_QUERY: &str = r#"{ order(merchant: "demo", outTradeNo: "ali-refunded") {
    id merchant outTradeNo status provider amount refunded subject storeId terminalId
    providerOrderNo providerTradeNo createdAt paidAt updatedAt needsAttention
    refunds { outRefundNo amount state providerRefundId reason requestedBy requestedAt }
    history { position version eventType at providerCode providerMessage by command outRefundNo providerRefundNo amount refundState } } }"#;

#[tokio::test]
async fn queries_from_the_recorded_log_match_the_golden_answers() {
    let w = world().await;
    let queries = [
        ("order", ORDER_QUERY),
        (
            "orders",
            "{ orders(first: 4) { nodes { outTradeNo status amount refunded needsAttention } hasNextPage } }",
        ),
        (
            "orders_filtered",
            r#"{ orders(filter: { status: SUCCESS, provider: WECHATPAY, amountMin: "10.00" }) { nodes { outTradeNo status amount provider } } }"#,
        ),
        (
            "refunds",
            "{ refunds { nodes { outTradeNo outRefundNo amount state } hasNextPage } }",
        ),
        (
            "manual_interventions",
            "{ manualInterventions { nodes { outTradeNo provider amount status abandonReason reversalReason reversalAttempts since lastProviderCode lastProviderMessage } hasNextPage } }",
        ),
        (
            "daily_totals",
            "{ dailyTotals { merchant provider day paidCount paid refunded reversedCount reversed } }",
        ),
        (
            "projections",
            "{ projections { name generation checkpoint head lag rebuildingCheckpoint } }",
        ),
    ];
    let mut answers = serde_json::Map::new();
    for (name, query) in queries {
        let (status, answer) = post(&w.router, Some("admin"), query).await;
        assert_eq!(status, StatusCode::OK, "{name}: {answer}");
        assert!(answer.get("errors").is_none(), "{name}: {answer}");
        answers.insert(name.to_owned(), answer["data"].clone());
    }
    let text = serde_json::to_string_pretty(&Value::Object(answers)).expect("JSON") + "\n";
    expect_file!["golden/graphql_queries.json"].assert_eq(&text);
}

#[test]
fn the_checked_in_sdl_is_the_one_the_code_serves() {
    let schema = sdl();
    if std::env::var_os("PAYCODE_UPDATE_SCHEMAS").is_some() {
        std::fs::write(CHECKED_IN, &schema).expect("written");
        return;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == schema,
        "schemas/graphql/schema.graphql is out of date: run `make schemas`"
    );
}

#[tokio::test]
async fn pages_chain_through_opaque_cursors() {
    let w = world().await;
    let mut seen = Vec::new();
    let mut after = String::new();
    for _ in 0..20 {
        let query = format!(
            "{{ orders(first: 2{after}) {{ nodes {{ outTradeNo }} endCursor hasNextPage }} }}"
        );
        let (_, answer) = post(&w.router, Some("viewer-demo"), &query).await;
        let page = &answer["data"]["orders"];
        seen.extend(
            page["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| n["outTradeNo"].clone()),
        );
        match page["endCursor"].as_str() {
            Some(cursor) => after = format!(", after: \"{cursor}\""),
            None => break,
        }
    }
    let (_, all) = post(
        &w.router,
        Some("viewer-demo"),
        "{ orders(first: 100) { nodes { outTradeNo } } }",
    )
    .await;
    let all: Vec<Value> = all["data"]["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["outTradeNo"].clone())
        .collect();
    assert_eq!(seen, all);
    assert_eq!(all.len(), 9);
}

/// Every operation of the API with the least role it needs; each names merchant `demo`.
fn operations(demo_order_id: &str) -> Vec<(&'static str, String, Role)> {
    vec![
        ("order by number", ORDER_QUERY.to_owned(), Role::Viewer),
        ("order by id", format!(r#"{{ order(id: "{demo_order_id}") {{ outTradeNo refunds {{ amount }} history {{ eventType }} }} }}"#), Role::Viewer),
        ("orders of demo", r#"{ orders(filter: { merchant: "demo" }) { nodes { outTradeNo refunds { amount } } endCursor } }"#.to_owned(), Role::Viewer),
        ("refunds of demo", r#"{ refunds(merchant: "demo") { nodes { outTradeNo amount } } }"#.to_owned(), Role::Viewer),
        ("queue of demo", r#"{ manualInterventions(merchant: "demo") { nodes { outTradeNo } } }"#.to_owned(), Role::Viewer),
        ("daily totals of demo", r#"{ dailyTotals(merchant: "demo") { paid } }"#.to_owned(), Role::Viewer),
        ("refund", r#"mutation { requestRefund(merchant: "demo", outTradeNo: "wx-paid", outRefundNo: "r-matrix", amount: "1.00") { position } }"#.to_owned(), Role::Operator),
        ("reversal", r#"mutation { requestReversal(merchant: "demo", outTradeNo: "wx-expired") { position } }"#.to_owned(), Role::Operator),
        ("resolve", r#"mutation { resolveManually(merchant: "demo", outTradeNo: "wx-paid", outcome: PAID, note: "matrix") { position } }"#.to_owned(), Role::Operator),
        ("rebuild", r#"mutation { rebuildProjection(name: "daily_totals") }"#.to_owned(), Role::Admin),
    ]
}

#[tokio::test]
async fn every_role_and_scope_gets_exactly_what_it_may_and_nothing_of_other_merchants() {
    let w = world().await;
    let (_, found) = post(&w.router, Some("admin"), ORDER_QUERY).await;
    let demo_id = found["data"]["order"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    for (name, query, needs) in operations(&demo_id) {
        for (token, role, scope) in TOKENS {
            let (_, answer) = post(&w.router, Some(token), &query).await;
            let codes = codes(&answer);
            let sees_demo = scope.is_none_or(|m| m == "demo");
            if *role < needs || (needs == Role::Admin && scope.is_some()) {
                assert_eq!(codes, ["FORBIDDEN"], "{token} may not {name}: {answer}");
            } else if !sees_demo {
                let text = answer["data"].to_string();
                assert!(
                    codes == ["FORBIDDEN"]
                        || (codes.is_empty()
                            && !text.contains("demo")
                            && !text.contains(&demo_id)
                            && !text.contains("amount\":\"")),
                    "{token} saw demo's data through {name}: {answer}"
                );
            } else {
                assert!(
                    !codes
                        .iter()
                        .any(|c| c == "FORBIDDEN" || c == "UNAUTHENTICATED"),
                    "{token} may {name}: {answer}"
                );
            }
        }
        for token in [None, Some("not-a-token")] {
            let (status, answer) = post(&w.router, token, &query).await;
            assert_eq!(
                (status, codes(&answer)),
                (StatusCode::UNAUTHORIZED, vec!["UNAUTHENTICATED".to_owned()])
            );
        }
    }
}

#[tokio::test]
async fn an_order_of_another_merchant_by_id_reads_as_missing() {
    let w = world().await;
    let (_, found) = post(&w.router, Some("admin"), ORDER_QUERY).await;
    let demo_id = found["data"]["order"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let query = format!(r#"{{ order(id: "{demo_id}") {{ outTradeNo history {{ eventType }} }} }}"#);
    let (_, answer) = post(&w.router, Some("viewer-other"), &query).await;
    assert_eq!(answer, json!({ "data": { "order": null } }));
    let (_, answer) = post(&w.router, Some("viewer-other"), "{ orders { nodes { outTradeNo } } refunds { nodes { amount } } manualInterventions { nodes { amount } } dailyTotals { paid } }").await;
    assert_eq!(
        answer["data"],
        json!({ "orders": { "nodes": [] }, "refunds": { "nodes": [] }, "manualInterventions": { "nodes": [] }, "dailyTotals": [] })
    );
}

#[tokio::test]
async fn a_cursor_from_another_scope_or_filter_is_refused() {
    let w = world().await;
    let (_, page) = post(
        &w.router,
        Some("admin"),
        "{ orders(first: 1) { endCursor } }",
    )
    .await;
    let cursor = page["data"]["orders"]["endCursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let reuse =
        format!(r#"{{ orders(first: 1, after: "{cursor}") {{ nodes {{ outTradeNo }} }} }}"#);
    let (_, answer) = post(&w.router, Some("viewer-other"), &reuse).await;
    assert_eq!(codes(&answer), ["BAD_CURSOR"]);
    let (_, answer) = post(&w.router, Some("viewer-demo"), &reuse).await;
    assert_eq!(codes(&answer), ["BAD_CURSOR"]);
    let (_, answer) = post(
        &w.router,
        Some("admin"),
        r#"{ orders(after: "bm90IGEgY3Vyc29y") { endCursor } }"#,
    )
    .await;
    assert_eq!(codes(&answer), ["BAD_CURSOR"]);
}

/// Refunds and the manual queue page by cursor like orders: every row
/// once, in order; a cursor of one list is refused by another.
#[tokio::test]
async fn refunds_and_the_queue_page_by_cursor() {
    let w = world().await;
    let (_, all) = post(
        &w.router,
        Some("admin"),
        "{ refunds(first: 500) { nodes { outRefundNo outTradeNo } } }",
    )
    .await;
    let all = all["data"]["refunds"]["nodes"]
        .as_array()
        .expect("refunds")
        .clone();
    assert!(all.len() >= 2, "the fixture has refunds: {all:?}");
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let after_arg = after
            .as_ref()
            .map(|c| format!(r#", after: "{c}""#))
            .unwrap_or_default();
        let query = format!(
            "{{ refunds(first: 1{after_arg}) {{ nodes {{ outRefundNo outTradeNo }} endCursor hasNextPage }} }}"
        );
        let (_, page) = post(&w.router, Some("admin"), &query).await;
        let page = &page["data"]["refunds"];
        paged.extend(page["nodes"].as_array().expect("nodes").iter().cloned());
        if page["hasNextPage"] != json!(true) {
            break;
        }
        after = page["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(paged, all, "pages of one join into the whole list");
    let (_, first) = post(
        &w.router,
        Some("admin"),
        "{ refunds(first: 1) { endCursor } }",
    )
    .await;
    let cursor = first["data"]["refunds"]["endCursor"]
        .as_str()
        .expect("a cursor");
    for query in [
        format!(r#"{{ manualInterventions(after: "{cursor}") {{ nodes {{ outTradeNo }} }} }}"#),
        format!(r#"{{ orders(after: "{cursor}") {{ nodes {{ outTradeNo }} }} }}"#),
    ] {
        let (_, answer) = post(&w.router, Some("admin"), &query).await;
        assert_eq!(codes(&answer), ["BAD_CURSOR"], "{answer}");
    }
    let (_, queue) = post(
        &w.router,
        Some("admin"),
        "{ manualInterventions(first: 1) { nodes { outTradeNo } hasNextPage endCursor } }",
    )
    .await;
    assert_eq!(
        queue["data"]["manualInterventions"]["nodes"],
        json!([{ "outTradeNo": "ali-stuck" }])
    );
    assert_eq!(
        queue["data"]["manualInterventions"]["hasNextPage"],
        json!(false)
    );
}

#[tokio::test]
async fn a_manual_resolution_answers_from_the_read_model_after_it_caught_up() {
    let w = world().await;
    // The node's own view of the queue, as at start-up.
    w.office
        .process
        .recover()
        .await
        .expect("the work list rebuilds");
    assert_eq!(w.office.process.manual_queue_size(), 1);
    assert_eq!(gauge(&w.pos, "paycode_manual_queue_size").await, 1);
    let work_before = gauge(&w.pos, "paycode_work_list_orders").await;
    let (_, queue) = post(
        &w.router,
        Some("operator-demo"),
        "{ manualInterventions { nodes { outTradeNo } } }",
    )
    .await;
    assert_eq!(
        queue["data"]["manualInterventions"]["nodes"],
        json!([{ "outTradeNo": "ali-stuck" }])
    );
    let (_, answer) = post(
        &w.router,
        Some("operator-demo"),
        r#"mutation { resolveManually(merchant: "demo", outTradeNo: "ali-stuck", outcome: REVERSED, note: "closed in the Alipay console") {
            position projected order { status needsAttention history { eventType by } } } }"#,
    )
    .await;
    let result = &answer["data"]["resolveManually"];
    assert_eq!(
        result["position"],
        json!(w.store.head().await.expect("head"))
    );
    assert_eq!(result["projected"], json!(true));
    assert_eq!(result["order"]["status"], json!("TRADE_CLOSED"));
    assert_eq!(result["order"]["needsAttention"], json!(false));
    let history = result["order"]["history"].as_array().expect("history");
    assert_eq!(
        history.last(),
        Some(&json!({ "eventType": "ManuallyResolved", "by": "operator-demo" }))
    );
    let (_, queue) = post(
        &w.router,
        Some("operator-demo"),
        "{ manualInterventions { nodes { outTradeNo } } }",
    )
    .await;
    assert_eq!(queue["data"]["manualInterventions"]["nodes"], json!([]));
    // Through the payment process: the gauge, `/metrics` and the work list
    // follow without a restart (a closed order has no follow-up work).
    assert_eq!(w.office.process.manual_queue_size(), 0);
    assert_eq!(gauge(&w.pos, "paycode_manual_queue_size").await, 0);
    assert_eq!(
        gauge(&w.pos, "paycode_work_list_orders").await,
        work_before,
        "the resolved order adds no work"
    );
    assert!(
        w.office
            .process
            .next_due_at()
            .is_none_or(|at| at > w.office.process.now()),
        "nothing is due after the resolution"
    );
    let (_, again) = post(&w.router, Some("operator-demo"), r#"mutation { resolveManually(merchant: "demo", outTradeNo: "ali-stuck", outcome: REVERSED, note: "twice") { position } }"#).await;
    assert_eq!(codes(&again), ["ORDER_NOT_NEEDING_ATTENTION"]);
}

#[tokio::test]
async fn each_kind_of_bad_request_gets_its_own_code_in_a_json_body() {
    let w = world().await;
    for (query, code) in [
        (
            r#"{ orders(first: 0) { endCursor } }"#,
            "PAGE_SIZE_OUT_OF_RANGE",
        ),
        (
            r#"{ orders(first: 501) { endCursor } }"#,
            "PAGE_SIZE_OUT_OF_RANGE",
        ),
        (
            r#"{ order(merchant: "demo", outTradeNo: "wx-paid") { history(first: 1001) { eventType } } }"#,
            "PAGE_SIZE_OUT_OF_RANGE",
        ),
        (
            r#"{ dailyTotals(from: "yesterday") { day } }"#,
            "BAD_USER_INPUT",
        ),
        (
            r#"{ orders(filter: { amountMin: "1.234" }) { endCursor } }"#,
            "BAD_USER_INPUT",
        ),
        (
            r#"{ order(id: "x", outTradeNo: "y") { id } }"#,
            "BAD_USER_INPUT",
        ),
        (
            "{ orders(first: \"ten\") { endCursor } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("{ orders { noSuchField } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ orders { endCursor ", "GRAPHQL_PARSE_FAILED"),
        (
            "subscription { a: orderUpdates { id } b: orderUpdates { id } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }",
            "QUERY_TOO_DEEP",
        ),
    ] {
        let (status, answer) = post(&w.router, Some("admin"), query).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        let mut got = codes(&answer);
        got.dedup();
        assert_eq!(got, [code], "{query}: {answer}");
    }
    // A note is required to resolve; a refund reason is held to the POS
    // API's limit (it goes to the provider). Nothing is appended.
    let head = w.store.head().await.expect("head");
    let long = "x".repeat(paycode_domain::MAX_REFUND_REASON_CHARS + 1);
    for query in [
        r#"mutation { resolveManually(merchant: "demo", outTradeNo: "wx-paid", outcome: PAID, note: "  ") { position } }"#.to_owned(),
        format!(r#"mutation {{ requestRefund(merchant: "demo", outTradeNo: "wx-paid", outRefundNo: "r-long", amount: "1.00", reason: "{long}") {{ position }} }}"#),
    ] {
        let (_, answer) = post(&w.router, Some("admin"), &query).await;
        assert_eq!(codes(&answer), ["BAD_USER_INPUT"], "{answer}");
    }
    assert_eq!(w.store.head().await.expect("head"), head);

    // Refusals before GraphQL runs are JSON with a code too (a method a
    // route does not take is the served app's: tests/bad_input.rs).
    let huge = format!(
        "{{ orders {{ endCursor }} }} #{}",
        "x".repeat(paycode_server::graphql::MAX_BODY_BYTES)
    );
    for (method, body, status, code) in [
        (
            "POST",
            json!({ "query": huge }).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "POST",
            "{not json".to_owned(),
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        ),
    ] {
        let request = Request::builder()
            .method(method)
            .uri("/graphql")
            .header("content-type", "application/json")
            .header("authorization", "Bearer admin")
            .body(Body::from(body))
            .expect("a request");
        let response = w.router.clone().oneshot(request).await.expect("answers");
        assert_eq!(response.status(), status, "{method} {code}");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        let answer: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {code}: a JSON body: {e}: {bytes:?}"));
        assert_eq!(codes(&answer), [code], "{answer}");
    }
    let request = Request::get("/graphql/ws")
        .body(Body::empty())
        .expect("a request");
    let response = w.router.clone().oneshot(request).await.expect("answers");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let answer: Value = serde_json::from_slice(&bytes).expect("a JSON body");
    assert_eq!(codes(&answer), ["BAD_REQUEST"], "{answer}");
}

/// The viewer's attack of the first review: 170 aliases of a 500-order page
/// with each order's history answered 8.7 MB and held payments for seconds.
/// Page sizes count now: it is refused before anything is read, while the
/// largest single page of orders, and a page of orders with their
/// histories at a size a console uses, pass.
#[tokio::test]
async fn complexity_counts_page_sizes_and_a_viewer_cannot_ask_for_the_whole_book() {
    let w = world().await;
    let fields = "id merchant outTradeNo status provider amount refunded subject storeId \
                  terminalId providerOrderNo providerTradeNo createdAt paidAt updatedAt needsAttention";
    let history = "history { position eventType at providerCode providerMessage by }";
    let page = |first: u32, alias: usize| {
        format!("p{alias}: orders(first: {first}) {{ endCursor nodes {{ {fields} {history} }} }}")
    };
    let hostile = format!(
        "{{ {} }}",
        (0..170).map(|i| page(500, i)).collect::<Vec<_>>().join(" ")
    );
    assert!(hostile.len() < paycode_server::graphql::MAX_BODY_BYTES);
    let (_, answer) = post(&w.router, Some("viewer-all"), &hostile).await;
    assert_eq!(
        codes(&answer),
        ["QUERY_TOO_COMPLEX"],
        "{}",
        &answer.to_string()[..200.min(answer.to_string().len())]
    );
    assert!(answer["data"].is_null(), "nothing was read: {answer}");

    let one_page_of_history = format!("{{ {} }}", page(500, 0));
    let (_, answer) = post(&w.router, Some("viewer-all"), &one_page_of_history).await;
    assert_eq!(
        codes(&answer),
        ["QUERY_TOO_COMPLEX"],
        "500 orders with histories"
    );

    let largest_page = format!("{{ orders(first: 500) {{ endCursor nodes {{ {fields} }} }} }}");
    let (_, answer) = post(&w.router, Some("viewer-all"), &largest_page).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let console = format!(
        "{{ orders(first: 100) {{ endCursor nodes {{ {fields} history(first: 20) {{ eventType at by }} }} }} }}"
    );
    let (_, answer) = post(&w.router, Some("viewer-all"), &console).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let nodes = answer["data"]["orders"]["nodes"].as_array().expect("nodes");
    assert!(
        !nodes.is_empty()
            && nodes
                .iter()
                .all(|o| o["history"].as_array().is_some_and(|h| !h.is_empty()))
    );
    let deep = "{ orders { nodes { refunds { amount } } } }";
    let (_, answer) = post(&w.router, Some("admin"), deep).await;
    assert!(
        answer.get("errors").is_none(),
        "a normal query passes the limits: {answer}"
    );
}

/// The console's search: the merchant order number, the provider's trade
/// number, the provider order number and a refund number each find their
/// order (inside the token's scope only); the totals count every page; the
/// caller learns its own role and scope.
#[tokio::test]
async fn any_number_finds_its_order_and_totals_count_the_whole_filter() {
    let w = world().await;
    let search = |number: &str| {
        format!(
            r#"{{ orders(filter: {{ number: "{number}" }}) {{ nodes {{ outTradeNo asOf }} totals {{ count amount }} }} }}"#
        )
    };
    for (number, order) in [
        ("wx-paid", "wx-paid"),
        ("4200000001202611200000000001", "wx-paid"),
        ("00000000000007ea0000000000000002", "wx-paid"),
        ("r2", "ali-refunded"),
        (" r1 ", "ali-refunded"),
    ] {
        let (_, answer) = post(&w.router, Some("viewer-demo"), &search(number)).await;
        let page = &answer["data"]["orders"];
        assert_eq!(
            page["nodes"][0]["outTradeNo"],
            json!(order),
            "{number}: {answer}"
        );
        assert_eq!(
            page["nodes"].as_array().map(Vec::len),
            Some(1),
            "{number}: {answer}"
        );
        assert_eq!(page["totals"]["count"], json!(1), "{number}: {answer}");
        assert!(
            page["nodes"][0]["asOf"].as_u64().is_some_and(|p| p > 0),
            "{answer}"
        );
        let (_, other) = post(&w.router, Some("viewer-other"), &search(number)).await;
        assert_eq!(
            other["data"]["orders"]["nodes"],
            json!([]),
            "{number}: another scope"
        );
        assert_eq!(other["data"]["orders"]["totals"]["count"], json!(0));
    }
    let (_, all) = post(
        &w.router,
        Some("admin"),
        "{ orders(first: 1) { nodes { id } totals { count amount } } }",
    )
    .await;
    let (_, every) = post(
        &w.router,
        Some("admin"),
        "{ orders(first: 500) { nodes { amount } } }",
    )
    .await;
    let nodes = every["data"]["orders"]["nodes"].as_array().expect("nodes");
    let fen: i64 = nodes
        .iter()
        .map(|o| {
            let (yuan, fen) = o["amount"]
                .as_str()
                .expect("an amount")
                .split_once('.')
                .expect("a point");
            yuan.parse::<i64>().expect("yuan") * 100 + fen.parse::<i64>().expect("fen")
        })
        .sum();
    assert_eq!(
        all["data"]["orders"]["totals"]["count"],
        json!(nodes.len()),
        "{all}"
    );
    assert_eq!(
        all["data"]["orders"]["totals"]["amount"],
        json!(format!("{}.{:02}", fen / 100, fen % 100)),
        "the totals are every page's, not the first's"
    );
    let (_, refunded) = post(
        &w.router,
        Some("admin"),
        "{ orders(filter: { refundState: SUCCEEDED }) { nodes { outTradeNo } } }",
    )
    .await;
    assert_eq!(
        refunded["data"]["orders"]["nodes"],
        json!([{ "outTradeNo": "ali-refunded" }])
    );
    let (_, store) = post(
        &w.router,
        Some("admin"),
        r#"{ orders(filter: { storeId: "no-such-store" }) { nodes { id } totals { count } } }"#,
    )
    .await;
    assert_eq!(
        store["data"]["orders"]["totals"]["count"],
        json!(0),
        "{store}"
    );
    let (_, me) = post(
        &w.router,
        Some("operator-demo"),
        "{ me { name role merchant } }",
    )
    .await;
    assert_eq!(
        me["data"]["me"],
        json!({ "name": "operator-demo", "role": "OPERATOR", "merchant": "demo" })
    );
}

/// Every code the back office answers with is in the README's table.
#[test]
fn the_readme_lists_every_back_office_error_code() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README");
    for (code, _) in paycode_server::graphql::error::CODES {
        assert!(
            readme.contains(&format!("`{code}`")),
            "{code} is not in the README"
        );
    }
}

#[tokio::test]
async fn graphiql_is_served_to_a_browser() {
    let w = world().await;
    let response = w
        .router
        .clone()
        .oneshot(
            Request::get("/graphql")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert!(String::from_utf8_lossy(&bytes).contains("graphiql"));
}

fn principal(token: &str) -> Principal {
    let (_, role, scope) = TOKENS
        .iter()
        .find(|(t, ..)| *t == token)
        .expect("a known token");
    Principal {
        role: *role,
        merchant: scope.map(|m| paycode_domain::MerchantId::parse(m).expect("an id")),
        name: token.to_owned(),
    }
}

#[tokio::test]
async fn order_updates_reach_only_subscribers_who_may_see_them() {
    let w = world().await;
    let schema = paycode_server::graphql::schema(w.office.clone());
    let subscribe = |token: &str, args: &str| {
        let request = async_graphql::Request::new(format!(
            "subscription {{ orderUpdates{args} {{ merchant outTradeNo status }} }}"
        ))
        .data(principal(token));
        schema.execute_stream(request)
    };
    let head = w.store.head().await.expect("head");
    let mut forbidden = subscribe("viewer-other", r#"(merchant: "demo")"#);
    let refused = forbidden.next().await.expect("an answer");
    assert_eq!(
        refused
            .errors
            .first()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|x| x.get("code"))
            .map(ToString::to_string),
        Some("\"FORBIDDEN\"".to_owned())
    );
    let mut demo = subscribe("viewer-demo", &format!("(after: {head})"));
    let mut other = subscribe("viewer-other", &format!("(after: {head})"));
    let mut demo_paying = subscribe("admin", &format!("(status: PAYING, after: {head})"));
    let first_writes = async {
        w.office
            .process
            .resolve_manually(
                &id("demo"),
                &paycode_domain::OutTradeNo::parse("ali-stuck").expect("no"),
                "t".into(),
                "n".into(),
                paycode_domain::ManualOutcome::Reversed,
            )
            .await
            .expect("resolves");
        support::request_in_log(&w.store, "other", "o-1", "9.90").await;
    };
    let (demo_update, other_update, paying_update, ()) =
        tokio::join!(demo.next(), other.next(), demo_paying.next(), first_writes);
    let show =
        |r: Option<async_graphql::Response>| r.expect("an update").data.into_json().expect("JSON");
    assert_eq!(
        show(demo_update),
        json!({ "orderUpdates": { "merchant": "demo", "outTradeNo": "ali-stuck", "status": "TRADE_CLOSED" } })
    );
    assert_eq!(
        show(other_update),
        json!({ "orderUpdates": { "merchant": "other", "outTradeNo": "o-1", "status": "PAYING" } })
    );
    assert_eq!(
        show(paying_update),
        json!({ "orderUpdates": { "merchant": "other", "outTradeNo": "o-1", "status": "PAYING" } })
    );
}

/// An update carries its event's log position; a subscriber that resumes
/// after it gets every later change and none before it.
#[tokio::test]
async fn an_update_carries_its_event_position_and_resuming_after_it_misses_nothing() {
    let w = world().await;
    let schema = paycode_server::graphql::schema(w.office.clone());
    let head = w.store.head().await.expect("head");
    for number in ["p-1", "p-2", "p-3"] {
        support::request_in_log(&w.store, "demo", number, "9.90").await;
    }
    let follow = |after: u64| {
        let request = async_graphql::Request::new(format!(
            "subscription {{ orderUpdates(after: {after}) {{ outTradeNo asOf }} }}"
        ))
        .data(principal("admin"));
        schema.execute_stream(request)
    };
    let take = |mut stream: futures_util::stream::BoxStream<'static, async_graphql::Response>,
                n: usize| async move {
        let mut seen = Vec::new();
        for _ in 0..n {
            let update = stream
                .next()
                .await
                .expect("an update")
                .data
                .into_json()
                .expect("JSON");
            seen.push((
                update["orderUpdates"]["outTradeNo"]
                    .as_str()
                    .expect("a number")
                    .to_owned(),
                update["orderUpdates"]["asOf"].as_u64().expect("a position"),
            ));
        }
        seen
    };
    let all = take(follow(head), 3).await;
    assert_eq!(
        all,
        [
            ("p-1".to_owned(), head + 1),
            ("p-2".to_owned(), head + 2),
            ("p-3".to_owned(), head + 3)
        ],
        "each update names its own event's position"
    );
    let resumed = take(follow(all[0].1), 2).await;
    assert_eq!(
        resumed,
        all[1..],
        "resuming after the first misses neither of the others"
    );
}

fn id(text: &str) -> paycode_domain::MerchantId {
    paycode_domain::MerchantId::parse(text).expect("an id")
}

/// `cluster` is for unscoped admins; on the embedded store its one node
/// holds every partition.
#[tokio::test]
async fn the_cluster_query_shows_the_one_node_of_an_embedded_store_to_admins() {
    let w = world().await;
    let query = "{ cluster { shared thisNode freePartitions nodes { node partitions draining workOrders } } }";
    for token in ["operator-all", "admin-other"] {
        let (_, answer) = post(&w.router, Some(token), query).await;
        assert_eq!(codes(&answer), ["FORBIDDEN"], "{token}: {answer}");
    }
    let (_, answer) = post(&w.router, Some("admin"), query).await;
    let cluster = &answer["data"]["cluster"];
    assert_eq!(cluster["shared"], json!(false), "{answer}");
    assert_eq!(cluster["freePartitions"], json!([]));
    let nodes = cluster["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["node"], cluster["thisNode"]);
    assert_eq!(
        nodes[0]["partitions"],
        json!((0..paycode_store::PARTITIONS).collect::<Vec<_>>())
    );
    assert_eq!(nodes[0]["draining"], json!(false));
}
