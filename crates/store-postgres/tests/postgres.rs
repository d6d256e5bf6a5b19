//! What the PostgreSQL backend promises beyond the shared suite: no reader
//! skips an event while several nodes append at once, other nodes' appends
//! wake `watch_head`, migrations run once and refuse a newer schema, and bad
//! configuration is told apart from an unreachable server.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use paycode_store::conformance::{event, read_everything};
use paycode_store::{EventStore, ExpectedVersion, Leases, RecordedEvent, StoreError, StreamName};
use paycode_store_postgres::{ConnectError, PostgresStore};

use common::{TestStore, unique_schema, url};

/// Store handles on one schema, standing for nodes: appends of different
/// handles race for the advisory lock, which is where commits could land out
/// of position order if the mechanism were wrong.
const NODES: usize = 4;
const WRITERS: usize = 32;
const APPENDS: usize = 50;

/// How long a wake-up may take before the test fails instead of hanging.
const WAKE_BOUND: Duration = Duration::from_secs(10);

async fn nodes(url: &str, schema: &str) -> Vec<Arc<PostgresStore>> {
    let mut nodes = Vec::with_capacity(NODES);
    for _ in 0..NODES {
        let node = PostgresStore::connect(url, schema).await.expect("connect");
        nodes.push(Arc::new(node));
    }
    nodes
}

fn stream(name: &str) -> StreamName {
    StreamName::parse(name).expect("valid stream name")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_polling_by_position_never_skips_an_event_while_many_nodes_append() {
    let Some(url) = url() else { return };
    let owner = TestStore::fresh(url.clone()).await;
    let nodes = nodes(&url, owner.inner().schema()).await;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (nodes[0].clone(), done.clone());
        tokio::spawn(async move { poll_until_done(&*store, &done).await })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let node = nodes[w % NODES].clone();
            tokio::spawn(async move {
                let s = stream(&format!("race-{w}"));
                for n in 0..APPENDS {
                    let batch = (0..=n % 3)
                        .map(|i| event(&format!("{w}-{n}-{i}")))
                        .collect();
                    node.append(&s, ExpectedVersion::Any, batch)
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer task");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.expect("reader task");
    let all = read_everything(&*nodes[1]).await;
    let per_writer: usize = (0..APPENDS).map(|n| n % 3 + 1).sum();
    assert_eq!(
        all.len(),
        WRITERS * per_writer,
        "every appended event is stored"
    );
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "positions are dense"
    );
    assert_eq!(
        seen, all,
        "the polling reader saw the whole log once, in order"
    );
}

/// Polls `read_all` from its last position until `done`, then drains.
async fn poll_until_done(store: &dyn EventStore, done: &AtomicBool) -> Vec<RecordedEvent> {
    let mut seen: Vec<RecordedEvent> = Vec::new();
    let mut ids = HashSet::new();
    loop {
        // Read `done` before reading: a page read after every writer
        // finished is complete, so an empty one ends the loop.
        let finished = done.load(Ordering::SeqCst);
        let after = seen.last().map_or(0, |e| e.position);
        let page = store.read_all(after, 97).await.expect("read_all");
        if page.is_empty() && finished {
            return seen;
        }
        for e in page {
            assert!(e.position > after, "read_all went backwards");
            assert_eq!(
                e.position,
                seen.last().map_or(0, |l| l.position) + 1,
                "a reader saw position {} before a lower one committed",
                e.position
            );
            assert!(ids.insert(e.id), "event {} seen twice", e.id);
            seen.push(e);
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_through_another_node_move_watch_head() {
    let Some(url) = url() else { return };
    let owner = TestStore::fresh(url.clone()).await;
    let other = PostgresStore::connect(&url, owner.inner().schema())
        .await
        .expect("connect a second node");
    let mut head = owner.watch_head();
    for n in 0..5 {
        let ack = other
            .append(
                &stream("elsewhere"),
                ExpectedVersion::Exact(n),
                vec![event("x")],
            )
            .await
            .expect("append on the other node");
        let woke = tokio::time::timeout(WAKE_BOUND, head.wait_for(|h| *h >= ack.position)).await;
        assert!(
            matches!(woke, Ok(Ok(_))),
            "watch_head did not reach {} within {WAKE_BOUND:?}",
            ack.position
        );
    }
    assert_eq!(owner.head().await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(url) = url() else { return };
    let owner = TestStore::fresh(url.clone()).await;
    let schema = owner.inner().schema().to_owned();
    owner
        .append(&stream("kept"), ExpectedVersion::NoStream, vec![event("a")])
        .await
        .expect("append");
    let again = PostgresStore::connect(&url, &schema)
        .await
        .expect("reconnect");
    assert_eq!(
        again.head().await.unwrap(),
        1,
        "a reconnect keeps the events"
    );
    drop(again);

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(connection);
    let versions: Vec<i32> = client
        .query(
            &format!("SELECT version FROM \"{schema}\".schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .expect("read the migrations table")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let every_version: Vec<i32> = (1..=paycode_store_postgres::SCHEMA_VERSION).collect();
    assert_eq!(versions, every_version, "each migration applied once");
    client
        .execute(
            &format!("INSERT INTO \"{schema}\".schema_migrations (version) VALUES (999)"),
            &[],
        )
        .await
        .expect("pretend a newer build migrated");
    let newer = PostgresStore::connect(&url, &schema).await;
    assert!(
        matches!(newer, Err(ConnectError::Store(StoreError::Corrupt(_)))),
        "got {newer:?}"
    );
}

#[tokio::test]
async fn bad_configuration_is_refused_before_any_connection() {
    let schema = unique_schema();
    let bad_url = PostgresStore::connect("postgres://[::1", &schema).await;
    assert!(
        matches!(bad_url, Err(ConnectError::InvalidUrl(_))),
        "got {bad_url:?}"
    );
    let bad_schema =
        PostgresStore::connect("postgres://postgres@127.0.0.1/test", "Drop Table").await;
    assert!(
        matches!(bad_schema, Err(ConnectError::InvalidSchemaName { .. })),
        "got {bad_schema:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let refused =
        PostgresStore::connect("postgres://postgres@127.0.0.1:1/test", &unique_schema()).await;
    assert!(
        matches!(
            refused,
            Err(ConnectError::Store(StoreError::Unavailable(_)))
        ),
        "got {refused:?}"
    );
}

/// Waits (a bounded number of catalog reads, no clock) until `count`
/// connections of `role` are open on this schema: listeners connect in the
/// background after `connect` returned.
async fn await_connections(url: &str, schema: &str, role: &str, count: i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(connection);
    let name = format!("{schema}-{role}");
    for _ in 0..CATALOG_POLLS {
        let open: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .await
            .expect("read pg_stat_activity")
            .get(0);
        if open >= count {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{count} {role} connections did not open in {CATALOG_POLLS} reads");
}

/// Reads of `pg_stat_activity` before giving up on a connection opening.
const CATALOG_POLLS: usize = 10_000;

/// Ends this schema's connections of one role (`writer`, `listener`) as an
/// operator or a failover would, and returns how many were ended.
async fn terminate(url: &str, schema: &str, role: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(connection);
    let name = format!("{schema}-{role}");
    let ended = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .expect("terminate backends");
    ended.get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_write_connection_fails_at_most_one_append_then_reconnects() {
    let Some(url) = url() else { return };
    let owner = TestStore::fresh(url.clone()).await;
    let s = stream("survivor");
    owner
        .append(&s, ExpectedVersion::NoStream, vec![event("before")])
        .await
        .expect("append before the kill");
    assert_eq!(terminate(&url, owner.inner().schema(), "writer").await, 1);
    let retry = vec![event("after")];
    let first = owner
        .append(&s, ExpectedVersion::Exact(1), retry.clone())
        .await;
    assert!(
        matches!(first, Ok(_) | Err(StoreError::Unavailable(_))),
        "the append on the dead connection is Unavailable (or already reconnected): {first:?}"
    );
    // The caller's reaction to Unavailable: retry with the same event ids.
    let ack = owner
        .append(&s, ExpectedVersion::Exact(1), retry)
        .await
        .expect("the writer reconnected");
    assert_eq!(ack.version, 2);
    assert_eq!(owner.read_stream(&s, 1, 10).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_head_still_moves_after_the_listening_connection_is_killed() {
    let Some(url) = url() else { return };
    let owner = TestStore::fresh(url.clone()).await;
    let schema = owner.inner().schema().to_owned();
    let other = PostgresStore::connect(&url, &schema)
        .await
        .expect("connect a second node");
    // Both nodes' listeners share the application name; both are ended.
    await_connections(&url, &schema, "listener", 2).await;
    assert_eq!(terminate(&url, &schema, "listener").await, 2);
    let ack = other
        .append(
            &stream("elsewhere"),
            ExpectedVersion::NoStream,
            vec![event("x")],
        )
        .await
        .expect("append on the other node");
    let mut head = owner.watch_head();
    let woke = tokio::time::timeout(WAKE_BOUND, head.wait_for(|h| *h >= ack.position)).await;
    assert!(
        matches!(woke, Ok(Ok(_))),
        "watch_head did not reach {} within {WAKE_BOUND:?} without its listener",
        ack.position
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_starting_together_on_a_new_schema_all_connect() {
    let Some(url) = url() else { return };
    let schema = unique_schema();
    let starts: Vec<_> = (0..NODES)
        .map(|_| {
            let (url, schema) = (url.clone(), schema.clone());
            tokio::spawn(async move { PostgresStore::connect(&url, &schema).await })
        })
        .collect();
    let mut nodes = Vec::new();
    for start in starts {
        nodes.push(
            start
                .await
                .expect("connect task")
                .expect("every node connects"),
        );
    }
    let owner = TestStore {
        store: nodes.pop(),
        url: url.clone(),
    };
    let ack = nodes[0]
        .append(
            &stream("shared"),
            ExpectedVersion::NoStream,
            vec![event("a")],
        )
        .await
        .expect("append");
    assert_eq!(
        owner.head().await.unwrap(),
        ack.position,
        "one schema, one log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_is_held_by_one_node_until_it_expires() {
    let Some(url) = url() else { return };
    let node_a = TestStore::fresh(url.clone()).await;
    let a = node_a.inner();
    let b = PostgresStore::connect(&url, a.schema())
        .await
        .expect("node b connects");
    let live = Duration::from_secs(60);
    assert!(
        a.acquire(3, "node-a", live).await.expect("acquire"),
        "a free partition is taken"
    );
    assert!(
        !b.acquire(3, "node-b", live).await.expect("acquire"),
        "a live lease is refused to another node"
    );
    assert!(
        a.acquire(3, "node-a", live).await.expect("renew"),
        "the holder renews"
    );
    assert!(
        b.acquire(4, "node-b", live).await.expect("acquire"),
        "other partitions stay free"
    );
    // A lease of zero seconds has expired by the next transaction (the
    // database's clock decides), so no test waits on the wall clock.
    assert!(
        a.acquire(5, "node-a", Duration::ZERO)
            .await
            .expect("acquire")
    );
    assert!(
        b.acquire(5, "node-b", live).await.expect("acquire"),
        "an expired lease passes to another node"
    );
    assert!(
        !a.acquire(5, "node-a", live).await.expect("acquire"),
        "and the old holder has lost it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_beat_release_drain_and_leave() {
    use paycode_store::NodeBeat;
    let Some(url) = url() else { return };
    let node_a = TestStore::fresh(url.clone()).await;
    let a = node_a.inner();
    let b = PostgresStore::connect(&url, a.schema())
        .await
        .expect("node b connects");
    let live = Duration::from_secs(60);
    let beat = |node: &str, work: u64| NodeBeat {
        node: node.to_owned(),
        work_orders: work,
        oldest_due_secs: 2,
    };
    a.beat(&beat("node-a", 7), live).await.expect("beat");
    b.beat(&beat("node-b", 0), live).await.expect("beat");
    // A beat of zero seconds has run out by the next statement.
    b.beat(&beat("node-gone", 0), Duration::ZERO)
        .await
        .expect("beat");
    let nodes = b.nodes().await.expect("nodes");
    assert_eq!(
        nodes.iter().map(|n| n.beat.clone()).collect::<Vec<_>>(),
        [beat("node-a", 7), beat("node-b", 0)],
        "live nodes by name, with what they reported; the run-out beat is not listed"
    );
    assert!(
        nodes
            .iter()
            .all(|n| !n.draining && n.expires_in > Duration::from_secs(50))
    );

    assert!(a.acquire(1, "node-a", live).await.expect("acquire"));
    assert!(a.acquire(2, "node-a", live).await.expect("acquire"));
    b.release(1, "node-a").await.expect("release");
    b.release(2, "node-b")
        .await
        .expect("a release by another node is a no-op");
    let leases = b.leases().await.expect("leases");
    assert_eq!(
        leases
            .iter()
            .map(|l| (l.partition, l.owner.as_str()))
            .collect::<Vec<_>>(),
        [(2, "node-a")],
        "a released lease is gone at once; another node's release touched nothing"
    );
    assert!(
        b.acquire(1, "node-b", live).await.expect("acquire"),
        "a released partition is free without waiting"
    );

    assert!(
        b.drain("node-a").await.expect("drain"),
        "a live node can be drained"
    );
    assert!(
        !b.drain("node-gone").await.expect("drain"),
        "a run-out node cannot"
    );
    a.beat(&beat("node-a", 3), live).await.expect("beat");
    let drained = b.nodes().await.expect("nodes");
    assert!(
        drained[0].draining && drained[0].beat.work_orders == 3,
        "a beat keeps the drain request: {drained:?}"
    );
    a.leave("node-a").await.expect("leave");
    a.beat(&beat("node-a", 0), live).await.expect("beat");
    assert!(
        !b.nodes().await.expect("nodes")[0].draining,
        "a node that left and came back starts without the request"
    );
}
