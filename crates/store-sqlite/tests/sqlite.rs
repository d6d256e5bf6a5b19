//! SQLite-specific behaviour beyond the shared suite: the file keeps its
//! events across reopen, and a schema from a newer build is refused.

use paycode_store::conformance::{event, read_everything};
use paycode_store::{EventStore, ExpectedVersion, StoreError, StreamName};
use paycode_store_sqlite::{SCHEMA_VERSION, SqliteStore};

#[tokio::test(flavor = "multi_thread")]
async fn a_reopened_store_keeps_its_events_and_continues_positions_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let s = StreamName::parse("reopen").unwrap();
    let first = {
        let store = SqliteStore::open(&path).unwrap();
        store
            .append(&s, ExpectedVersion::NoStream, vec![event("a"), event("b")])
            .await
            .unwrap()
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.head().await.unwrap(), first.position);
    assert_eq!(
        *store.watch_head().borrow(),
        first.position,
        "watch_head starts at the stored head"
    );
    let second = store
        .append(&s, ExpectedVersion::Exact(2), vec![event("c")])
        .await
        .unwrap();
    assert_eq!((second.version, second.position), (3, first.position + 1));
    assert_eq!(read_everything(&store).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(error @ StoreError::Corrupt(_)) => assert_eq!(error.code(), "store_corrupt"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_appends_share_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::open(dir.path().join("events.db")).unwrap());
    let writers: Vec<_> = (0..64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = StreamName::parse(&format!("group-{w}")).unwrap();
                for n in 0..20 {
                    store
                        .append(&s, ExpectedVersion::Exact(n), vec![event("x")])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let stats = store.writer_stats();
    assert_eq!((stats.requests, stats.events), (64 * 20, 64 * 20));
    assert!(
        stats.groups < stats.requests,
        "group commit batched appends: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_database_is_in_wal_mode_and_records_its_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let _store = SqliteStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), version), ("wal", SCHEMA_VERSION));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_that_does_not_decode_is_reported_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO events (stream, version, id, type, type_version, data, metadata, recorded_at)
         VALUES ('bad', 1, x'0102', 'T', 1, x'', x'', 0)",
        [],
    )
    .unwrap();
    let read = store.read_all(0, 10).await;
    assert!(
        matches!(read, Err(StoreError::Corrupt(_))),
        "a 2-byte id: {read:?}"
    );
}

#[test]
fn a_path_that_cannot_hold_a_database_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    match SqliteStore::open(dir.path()) {
        Err(error @ StoreError::Unavailable(_)) => assert_eq!(error.code(), "store_unavailable"),
        other => panic!("a directory is not a database file: {other:?}"),
    }
}
