//! Crash recovery, end to end: paycode runs as a child process on the
//! embedded store and is SIGKILLed at seeded random moments while 1,000
//! payments of mixed scenarios go through it; each time it is restarted on
//! the same store. At the end every order is final, and the simulator's
//! ledger and paycode's books agree: no charge without SUCCESS (or a
//! completed reversal), no SUCCESS without a charge, no acknowledged
//! payment lost. A second run does the same with 30% provider faults.
//!
//! The simulator runs inside the test process on the wall clock; paycode
//! runs with a short policy (4 s deadline, 1 s polls) so the run takes
//! tens of seconds, not the production half-minute per order.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use paycode_sim::FaultConfig;
use support::cluster::{
    Clients, Seeded, SqliteNode, check_acknowledged, check_agreement, http, spawn_paycode,
    sqlite_node, wait_until_settled, wall_clock_sim,
};

const PAYMENTS: u32 = 1_000;
/// Concurrent POS clients.
const CLIENTS: u32 = 16;
/// How long the orders may take to settle after the last request was acknowledged.
const SETTLE_WITHIN: Duration = Duration::from_secs(120);

async fn run(faults: FaultConfig, seed: u64) {
    let sim = wall_clock_sim(faults).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let SqliteNode { config, port, db } = sqlite_node(dir.path(), &sim.base_url());
    let log = dir.path().join("paycode.log");
    let child = Arc::new(std::sync::Mutex::new(spawn_paycode(&config, &log)));

    // The killer: SIGKILL at seeded moments, restart at once.
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (child, stop, config, log) = (child.clone(), stop.clone(), config.clone(), log.clone());
        tokio::spawn(async move {
            let mut rng = Seeded(seed);
            let mut kills = 0_u32;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(300 + rng.below(1_200))).await;
                let mut running = child.lock().expect("lock");
                running.kill();
                *running = spawn_paycode(&config, &log);
                kills += 1;
            }
            kills
        })
    };

    let bases = vec![format!("http://127.0.0.1:{port}")];
    let http = http();
    let clients = Clients::start(&http, &bases, CLIENTS, PAYMENTS);
    let acknowledged = clients.acknowledged().await;
    stop.store(true, Ordering::Relaxed);
    let kills = killer.await.expect("killer finished");
    assert!(
        kills >= 3,
        "the run must actually crash paycode (killed {kills} times)"
    );

    // Let the last incarnation finish every order, reading the log beside it.
    let store =
        paycode_store_sqlite::SqliteStore::open(&db).expect("the store opens beside paycode");
    let orders = wait_until_settled(&store, PAYMENTS as usize, SETTLE_WITHIN, &log).await;
    child.lock().expect("lock").kill();

    check_acknowledged(&orders, &acknowledged);
    check_agreement(&orders, &sim.sim().trades());
    let attention = orders.values().filter(|o| o.needs_attention).count();
    eprintln!(
        "crash run: {kills} kills, {} orders settled, {attention} on the manual queue",
        orders.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_nothing_and_charges_nothing_twice() {
    run(FaultConfig::default(), 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_percent_provider_faults_and_crashes_still_leave_the_books_in_agreement() {
    let faults = FaultConfig {
        seed: 11,
        timeout_percent: 6,
        timeout_ms: 2_500,
        drop_percent: 6,
        http_5xx_percent: 6,
        malformed_percent: 6,
        bad_signature_percent: 6,
        ..FaultConfig::default()
    };
    run(faults, 13).await;
}
