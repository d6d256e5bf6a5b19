//! Several paycode nodes on one PostgreSQL store serve the POS API at once.
//! Two nodes: one is SIGKILLed in the middle of a run of mixed payments and
//! the other takes over its in-flight orders when the dead node's work
//! leases expire. Three nodes: the follow-up work is balanced between them,
//! moves when one is killed, rebalances when it rejoins, and a node paused
//! past its leases (SIGSTOP, SIGCONT) makes no conflicting decision. At the
//! end of each, every order is final and the simulator's ledger and
//! paycode's books agree.
//!
//! Needs `PAYCODE_TEST_POSTGRES_URL` (CI sets it); prints a skip line
//! without it. Each run uses its own schema.

mod support;

use std::time::Duration;

use paycode_sim::FaultConfig;
use support::cluster::{
    Clients, check_acknowledged, check_agreement, free_port, http, pay_until_acknowledged,
    spawn_paycode, wait_until_settled, wall_clock_sim, write_config,
};

const PAYMENTS: u32 = 300;
const CLIENTS: u32 = 8;
/// The dead node's leases last 5 s; its orders then need a few seconds more.
const SETTLE_WITHIN: Duration = Duration::from_secs(90);

/// The test server's URL, a fresh schema name and the store URL on it;
/// `None` (with a skip line) when no server is configured.
fn postgres() -> Option<(String, String, String)> {
    let Ok(url) = std::env::var("PAYCODE_TEST_POSTGRES_URL") else {
        eprintln!("skipping: PAYCODE_TEST_POSTGRES_URL is not set");
        return None;
    };
    let schema = schema();
    let store_url = format!("{url}?schema={schema}");
    Some((url, schema, store_url))
}

async fn drop_schema(url: &str, schema: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client
        .execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"), &[])
        .await
        .expect("schema dropped");
}

fn schema() -> String {
    // PostgreSQL store schemas are at most 50 bytes.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("paycode_nodes_{}_{}", std::process::id(), &unique[..12])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_surviving_node_takes_over_the_orders_of_a_killed_one() {
    let Some((url, schema, store_url)) = postgres() else {
        return;
    };
    let sim = wall_clock_sim(FaultConfig::default()).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = write_config(dir.path(), "a", &sim.base_url(), port_a, &store_url);
    let config_b = write_config(dir.path(), "b", &sim.base_url(), port_b, &store_url);
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut node_a = spawn_paycode(&config_a, &log_a);
    // Node a creates the schema; node b joins it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut node_b = spawn_paycode(&config_b, &log_b);

    let bases = vec![
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    ];
    let http = http();
    let clients = Clients::start(&http, &bases, CLIENTS, PAYMENTS);
    // Kill node a while payments are in flight: it holds whatever leases it
    // took first, so its partitions' polls and reversals stop with it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    node_a.kill();

    let acknowledged = clients.acknowledged().await;
    let store = paycode_store_postgres::PostgresStore::connect(&url, &schema)
        .await
        .expect("connects");
    let orders = wait_until_settled(&store, PAYMENTS as usize, SETTLE_WITHIN, &log_b).await;
    node_b.kill();

    check_acknowledged(&orders, &acknowledged);
    check_agreement(&orders, &sim.sim().trades());
    let answered_by_a = acknowledged.len();
    eprintln!(
        "two nodes: {answered_by_a} payments acknowledged, {} orders settled after node a died",
        orders.len()
    );
    drop(store);
    drop_schema(&url, &schema).await;
}

/// One gauge of a node's `GET /metrics`; `None` while the node does not answer.
async fn gauge(http: &reqwest::Client, base: &str, name: &str) -> Option<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    support::metric(&text, name, &[])
}

/// Waits until every node of `bases` shows the `expected` gauges, or fails
/// after `within`.
async fn until_gauges(
    http: &reqwest::Client,
    bases: &[&str],
    expected: &[(&str, u64)],
    within: Duration,
    what: &str,
) {
    let started = std::time::Instant::now();
    loop {
        let mut seen = Vec::new();
        for base in bases {
            for (name, _) in expected {
                seen.push(gauge(http, base, name).await);
            }
        }
        let wanted: Vec<_> = bases
            .iter()
            .flat_map(|_| expected.iter().map(|(_, v)| Some(*v)))
            .collect();
        if seen == wanted {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{what}: after {within:?} the nodes show {seen:?}, not {wanted:?} ({expected:?} on each of {bases:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A person resolves a manual-queue order through one node's back office:
/// that node's queue gauge and work list follow at once (the resolution goes
/// through its payment process), and the other node's follow within seconds
/// by following the log. Neither restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_resolution_on_one_node_reaches_both_nodes_gauges_without_a_restart() {
    let Some((url, schema, store_url)) = postgres() else {
        return;
    };
    let sim = wall_clock_sim(FaultConfig::default()).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = write_config(dir.path(), "a", &sim.base_url(), port_a, &store_url);
    let config_b = write_config(dir.path(), "b", &sim.base_url(), port_b, &store_url);
    let mut node_a = spawn_paycode(&config_a, &dir.path().join("a.log"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut node_b = spawn_paycode(&config_b, &dir.path().join("b.log"));
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let http = http();
    until_gauges(
        &http,
        &[&a, &b],
        &[("paycode_manual_queue_size", 0)],
        Duration::from_secs(30),
        "both nodes start",
    )
    .await;

    // An Alipay payment whose reversal the provider always refuses: it ends
    // on the manual-intervention queue of whichever node works it, and the
    // other node sees it there by following the log.
    let body = serde_json::json!({
        "out_trade_no": "stuck",
        "auth_code": support::alipay_code(9, 0, 1),
        "amount": "40.00",
        "subject": "a reversal that always fails",
    });
    let paid = http
        .post(format!("{a}/v1/payments"))
        .header("authorization", format!("Bearer {}", support::KEY))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("node a answers");
    assert_eq!(paid.status().as_u16(), 201);
    until_gauges(
        &http,
        &[&a, &b],
        &[
            ("paycode_manual_queue_size", 1),
            ("paycode_work_list_orders", 0),
        ],
        Duration::from_secs(60),
        "the abandoned reversal reaches both queues",
    )
    .await;

    let mutation = r#"mutation { resolveManually(merchant: "shop", outTradeNo: "stuck", outcome: REVERSED, note: "closed in the Alipay console") { order { status needsAttention } } }"#;
    let answer: serde_json::Value = serde_json::from_str(
        &http
            .post(format!("{b}/graphql"))
            .header(
                "authorization",
                format!("Bearer {}", support::cluster::OPERATOR_TOKEN),
            )
            .header("content-type", "application/json")
            .body(serde_json::json!({ "query": mutation }).to_string())
            .send()
            .await
            .expect("node b answers")
            .text()
            .await
            .expect("a body"),
    )
    .expect("JSON");
    assert_eq!(
        answer["data"]["resolveManually"]["order"],
        serde_json::json!({ "status": "TRADE_CLOSED", "needsAttention": false }),
        "{answer}"
    );
    // The node that took the resolution: at once.
    assert_eq!(gauge(&http, &b, "paycode_manual_queue_size").await, Some(0));
    assert_eq!(gauge(&http, &b, "paycode_work_list_orders").await, Some(0));
    // The other node: by following the log, without a restart.
    until_gauges(
        &http,
        &[&a, &b],
        &[
            ("paycode_manual_queue_size", 0),
            ("paycode_work_list_orders", 0),
        ],
        Duration::from_secs(10),
        "the resolution reaches the other node",
    )
    .await;

    node_a.kill();
    node_b.kill();
    drop_schema(&url, &schema).await;
}

/// Every node's `paycode_partitions_held`, in the order of `bases`.
async fn partitions(http: &reqwest::Client, bases: &[&str]) -> Vec<Option<u64>> {
    let mut held = Vec::new();
    for base in bases {
        held.push(gauge(http, base, "paycode_partitions_held").await);
    }
    held
}

/// Waits until the live nodes `bases` hold every partition between them,
/// none more than its fair share plus one, none fewer than its fair share
/// less one; fails after `within`.
async fn until_balanced(http: &reqwest::Client, bases: &[&str], within: Duration, what: &str) {
    let partitions_total = u64::from(paycode_store::PARTITIONS);
    let nodes = u64::try_from(bases.len()).expect("a few nodes");
    let share = partitions_total.div_ceil(nodes);
    let started = std::time::Instant::now();
    loop {
        let held = partitions(http, bases).await;
        let counts: Vec<u64> = held.iter().flatten().copied().collect();
        let balanced = counts.len() == bases.len()
            && counts.iter().sum::<u64>() == partitions_total
            && counts
                .iter()
                .all(|n| *n + 1 >= partitions_total / nodes && *n <= share + 1);
        if balanced {
            eprintln!(
                "{what}: balanced as {counts:?} after {:?}",
                started.elapsed()
            );
            return;
        }
        assert!(
            started.elapsed() < within,
            "{what}: after {within:?} the nodes hold {held:?} partitions, not a fair share of {partitions_total} each"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The follow-up provider calls (queries and reverses) a node has made.
async fn follow_up_calls(http: &reqwest::Client, base: &str) -> u64 {
    let Ok(response) = http.get(format!("{base}/metrics")).send().await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    ["call=\"query\"", "call=\"reverse\""]
        .iter()
        .filter_map(|call| support::metric(&text, "paycode_provider_call_seconds_count", &[call]))
        .sum()
}

const THREE_NODE_PAYMENTS: u32 = 240;
const PAUSED_PAYMENTS: u32 = 60;

/// Three nodes share the follow-up work fairly; a killed node's partitions
/// move to the others and its in-flight orders settle; it rejoins and the
/// work rebalances; a node paused past its leases wakes without working
/// what it no longer holds. Books agree with the simulator at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_the_follow_up_work_and_hand_it_over() {
    let Some((url, schema, store_url)) = postgres() else {
        return;
    };
    let sim = wall_clock_sim(FaultConfig::default()).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let ports = [free_port(), free_port(), free_port()];
    let configs: Vec<_> = ["a", "b", "c"]
        .iter()
        .zip(ports)
        .map(|(name, port)| write_config(dir.path(), name, &sim.base_url(), port, &store_url))
        .collect();
    let logs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|name| dir.path().join(format!("{name}.log")))
        .collect();
    let node_a = spawn_paycode(&configs[0], &logs[0]);
    // Node a creates the schema; the others join it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let node_b = spawn_paycode(&configs[1], &logs[1]);
    let mut node_c = spawn_paycode(&configs[2], &logs[2]);
    let bases: Vec<String> = ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
    let [a, b, c] = [bases[0].as_str(), bases[1].as_str(), bases[2].as_str()];
    let http = http();
    until_balanced(
        &http,
        &[a, b, c],
        Duration::from_secs(20),
        "three nodes start",
    )
    .await;

    // Mixed payments through all three: pending ones need polls, unconfirmed
    // ones reversals, so every node has follow-up work of its partitions.
    let clients = Clients::start(&http, &bases, 6, THREE_NODE_PAYMENTS);
    let started = std::time::Instant::now();
    while follow_up_calls(&http, c).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node c did no follow-up work"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node_c.kill();
    until_balanced(&http, &[a, b], Duration::from_secs(15), "node c killed").await;
    let acknowledged = clients.acknowledged().await;
    let store = paycode_store_postgres::PostgresStore::connect(&url, &schema)
        .await
        .expect("connects");
    let orders = wait_until_settled(
        &store,
        THREE_NODE_PAYMENTS as usize,
        SETTLE_WITHIN,
        &logs[0],
    )
    .await;
    check_acknowledged(&orders, &acknowledged);
    check_agreement(&orders, &sim.sim().trades());
    for base in [a, b] {
        assert!(
            follow_up_calls(&http, base).await > 0,
            "{base} did no follow-up work"
        );
    }

    // Node c rejoins: the others give up what is above their new share.
    let node_c = spawn_paycode(&configs[2], &logs[2]);
    until_balanced(&http, &[a, b, c], Duration::from_secs(20), "node c rejoins").await;

    // Node a stops for longer than its leases while payments go on; b and
    // c take its partitions, and when a wakes it works nothing it no longer
    // holds (its own clock ran out its leases) before it renews.
    let more = tokio::spawn({
        let (http, bases) = (http.clone(), bases.clone());
        async move {
            let mut acknowledged = Vec::new();
            for n in THREE_NODE_PAYMENTS..THREE_NODE_PAYMENTS + PAUSED_PAYMENTS {
                acknowledged.push((n, pay_until_acknowledged(&http, &bases[1..], n).await));
            }
            acknowledged
        }
    });
    node_a.pause();
    tokio::time::sleep(Duration::from_secs(8)).await;
    until_balanced(&http, &[b, c], Duration::from_secs(15), "node a paused").await;
    node_a.resume();
    until_balanced(&http, &[a, b, c], Duration::from_secs(20), "node a resumed").await;
    let mut acknowledged = acknowledged;
    acknowledged.extend(more.await.expect("payments finished"));
    let orders = wait_until_settled(
        &store,
        (THREE_NODE_PAYMENTS + PAUSED_PAYMENTS) as usize,
        SETTLE_WITHIN,
        &logs[0],
    )
    .await;
    check_acknowledged(&orders, &acknowledged);
    check_agreement(&orders, &sim.sim().trades());

    // Node c stops on purpose: before it exits it has released its
    // partitions and left the node table, so the others take its share at
    // their next renewal instead of after its leases run out.
    let mut node_c = node_c;
    node_c.terminate();
    use paycode_store::Leases as _;
    let leases = store.leases().await.expect("leases");
    assert!(
        leases.iter().all(|l| l.owner != "c"),
        "c released every partition before exiting: {leases:?}"
    );
    let nodes = store.nodes().await.expect("nodes");
    assert!(
        nodes.iter().all(|n| n.beat.node != "c"),
        "c left the node table: {nodes:?}"
    );
    until_balanced(&http, &[a, b], Duration::from_secs(15), "node c stopped").await;

    drop((node_a, node_b, node_c));
    drop(store);
    drop_schema(&url, &schema).await;
}
