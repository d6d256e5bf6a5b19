//! Two paycode nodes on one PostgreSQL store serve the POS API at once;
//! one is SIGKILLed in the middle of a run of mixed payments and the other
//! takes over its in-flight orders when the dead node's work leases expire.
//! At the end every order is final and the simulator's ledger and paycode's
//! books agree.
//!
//! Needs `PAYCODE_TEST_POSTGRES_URL` (CI sets it); prints a skip line
//! without it. Each run uses its own schema.

mod support;

use std::time::Duration;

use paycode_sim::FaultConfig;
use support::cluster::{
    Clients, check_acknowledged, check_agreement, free_port, http, spawn_paycode,
    wait_until_settled, wall_clock_sim, write_config,
};

const PAYMENTS: u32 = 300;
const CLIENTS: u32 = 8;
/// The dead node's leases last 5 s; its orders then need a few seconds more.
const SETTLE_WITHIN: Duration = Duration::from_secs(90);

fn schema() -> String {
    // PostgreSQL store schemas are at most 50 bytes.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("paycode_nodes_{}_{}", std::process::id(), &unique[..12])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_surviving_node_takes_over_the_orders_of_a_killed_one() {
    let Ok(url) = std::env::var("PAYCODE_TEST_POSTGRES_URL") else {
        eprintln!("skipping: PAYCODE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = schema();
    let store_url = format!("{url}?schema={schema}");
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
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client
        .execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"), &[])
        .await
        .expect("schema dropped");
}
