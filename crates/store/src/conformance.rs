//! The conformance suite: what every [`EventStore`] backend must do, written
//! once. A backend runs it from an integration test with
//! [`conformance_tests!`](crate::conformance_tests), which expands to one
//! `#[tokio::test(flavor = "multi_thread")]` per case (the backend's crate
//! needs `tokio` as a dev-dependency for the attribute).
//!
//! Each case takes a fresh, empty store and panics with a sentence when the
//! backend breaks the contract. The cases check the contract only; they
//! assume nothing a backend may do differently (gap-free positions, batch
//! contiguity in the global order).

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::{
    Appended, EventStore, ExpectedVersion, MAX_EVENT_BYTES, NewEvent, RecordedEvent, StoreError,
    StreamName, Subscription,
};

/// Expands to one `#[tokio::test(flavor = "multi_thread")]` per conformance
/// case. `$factory` is an expression evaluated once per test that yields a
/// future of a fresh, empty `Arc<dyn EventStore>` (a new database each time).
///
/// `conformance_tests!(optional $factory)` is for backends that need an
/// outside server: the future yields `Option<Arc<dyn EventStore>>`, and on
/// `None` (the factory printed why, e.g. its URL is unset) the case returns.
#[macro_export]
macro_rules! conformance_tests {
    (optional $factory:expr) => {
        $crate::conformance_tests!(@cases $factory;
            appended_events_read_back_unchanged,
            expected_version_rules_hold_and_conflicts_report_the_actual_version,
            concurrent_writers_on_one_stream_win_each_version_exactly_once,
            a_thousand_writers_on_distinct_streams_all_succeed,
            global_order_is_commit_order,
            an_identical_retry_returns_the_original_ack_and_stores_nothing,
            partly_stored_ids_are_an_idempotency_mismatch,
            a_subscription_sees_every_event_once_in_order_while_appends_continue,
            events_over_the_size_limit_are_refused_and_nothing_is_appended,
            invalid_stream_names_are_refused,
            an_empty_append_is_refused,
            read_stream_pages_by_version_and_limit,
            read_all_pages_by_position,
            a_separate_reader_reads_the_same_log_and_never_appends,
        );
    };
    ($factory:expr) => {
        $crate::conformance_tests!(optional async {
            let store: ::std::sync::Arc<dyn $crate::EventStore> = $factory.await;
            Some(store)
        });
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread")]
            async fn $case() {
                let store: Option<::std::sync::Arc<dyn $crate::EventStore>> = $factory.await;
                let Some(store) = store else { return };
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

/// A small event with a recognisable JSON payload and a fresh id.
pub fn event(label: &str) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "ConformanceEvent".to_owned(),
        type_version: 1,
        data: format!(r#"{{"label":"{label}"}}"#).into_bytes(),
        metadata: br#"{"by":"conformance"}"#.to_vec(),
    }
}

fn stream(name: &str) -> StreamName {
    StreamName::parse(name).expect("the suite's stream names are valid")
}

/// The page size the suite reads with, and the most pages it reads, so a
/// backend that never returns an empty page fails instead of hanging.
const READ_PAGE: usize = 1_000;
const MAX_READ_PAGES: usize = 1_000;

/// The whole global log, read in pages.
pub async fn read_everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all: Vec<RecordedEvent> = Vec::new();
    for _ in 0..MAX_READ_PAGES {
        let after = all.last().map_or(0, |e| e.position);
        let page = store
            .read_all(after, READ_PAGE)
            .await
            .expect("read_all succeeds");
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
    panic!("read_all never returned an empty page after {MAX_READ_PAGES} pages");
}

async fn append_ok(
    store: &dyn EventStore,
    name: &StreamName,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Appended {
    store
        .append(name, expected, events)
        .await
        .expect("append succeeds")
}

pub async fn appended_events_read_back_unchanged(store: Arc<dyn EventStore>) {
    let name = stream("order-m1-t1");
    let mut sent = vec![event("first"), event("second")];
    sent[1].metadata = Vec::new();
    sent[1].type_version = 3;
    let ack = append_ok(&*store, &name, ExpectedVersion::NoStream, sent.clone()).await;
    assert_eq!(
        ack.version, 2,
        "the stream is at version 2 after two events"
    );
    assert!(
        *store.watch_head().borrow() >= ack.position,
        "watch_head moved before append returned"
    );
    assert_eq!(store.head().await.unwrap(), ack.position);

    let read = store.read_stream(&name, 1, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    for (i, (got, want)) in read.iter().zip(&sent).enumerate() {
        assert_eq!(got.id, want.id);
        assert_eq!(got.stream, name);
        assert_eq!(got.version, i as u64 + 1, "versions are 1-based");
        assert_eq!(got.event_type, want.event_type);
        assert_eq!(got.type_version, want.type_version);
        assert_eq!(got.data, want.data);
        assert_eq!(got.metadata, want.metadata);
    }
    assert!(read[0].position < read[1].position);
    assert_eq!(read[1].position, ack.position);
    assert_eq!(
        read_everything(&*store).await,
        read,
        "read_all returns the same events"
    );
}

pub async fn expected_version_rules_hold_and_conflicts_report_the_actual_version(
    store: Arc<dyn EventStore>,
) {
    let s = stream("versions");
    let conflict = |r: Result<Appended, StoreError>| match r {
        Err(StoreError::Conflict {
            stream,
            expected,
            actual,
        }) => (stream, expected, actual),
        other => panic!("expected a conflict, got {other:?}"),
    };
    let c = conflict(
        store
            .append(&s, ExpectedVersion::Exact(5), vec![event("x")])
            .await,
    );
    assert_eq!(c, ("versions".to_owned(), ExpectedVersion::Exact(5), 0));
    assert_eq!(
        append_ok(&*store, &s, ExpectedVersion::NoStream, vec![event("1")])
            .await
            .version,
        1
    );
    let c = conflict(
        store
            .append(&s, ExpectedVersion::NoStream, vec![event("x")])
            .await,
    );
    assert_eq!(c.2, 1, "NoStream on an existing stream reports its version");
    assert!(matches!(c.1, ExpectedVersion::NoStream));
    let c = conflict(
        store
            .append(&s, ExpectedVersion::Exact(0), vec![event("x")])
            .await,
    );
    assert_eq!(c.2, 1, "Exact(0) behaves as NoStream");
    assert_eq!(
        append_ok(
            &*store,
            &s,
            ExpectedVersion::Exact(1),
            vec![event("2"), event("3")]
        )
        .await
        .version,
        3
    );
    let c = conflict(
        store
            .append(&s, ExpectedVersion::Exact(2), vec![event("x")])
            .await,
    );
    assert_eq!(c, ("versions".to_owned(), ExpectedVersion::Exact(2), 3));
    assert_eq!(
        append_ok(&*store, &s, ExpectedVersion::Any, vec![event("4")])
            .await
            .version,
        4
    );
    let fresh = stream("versions-fresh");
    assert_eq!(
        append_ok(&*store, &fresh, ExpectedVersion::Exact(0), vec![event("a")])
            .await
            .version,
        1
    );
    assert_eq!(
        append_ok(
            &*store,
            &stream("versions-any"),
            ExpectedVersion::Any,
            vec![event("a")]
        )
        .await
        .version,
        1
    );
    let labels: Vec<_> = store
        .read_stream(&s, 1, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.data)
        .collect();
    let want: Vec<_> = ["1", "2", "3", "4"].iter().map(|l| event(l).data).collect();
    assert_eq!(labels, want, "refused appends stored nothing");
}

const RACE_ROUNDS: u64 = 8;
const RACE_WRITERS: usize = 32;

pub async fn concurrent_writers_on_one_stream_win_each_version_exactly_once(
    store: Arc<dyn EventStore>,
) {
    let s = stream("contended");
    let mut winners = Vec::new();
    for round in 0..RACE_ROUNDS {
        let tasks: Vec<_> = (0..RACE_WRITERS)
            .map(|w| {
                let (store, s, e) = (store.clone(), s.clone(), event(&format!("r{round}w{w}")));
                tokio::spawn(async move {
                    (
                        e.id,
                        store
                            .append(&s, ExpectedVersion::Exact(round), vec![e])
                            .await,
                    )
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            match task.await.expect("writer task") {
                (id, Ok(ack)) => won.push((id, ack)),
                (_, Err(StoreError::Conflict { actual, .. })) => {
                    assert_eq!(actual, round + 1, "a loser sees the winner's version");
                }
                (_, Err(other)) => panic!("unexpected error {other:?}"),
            }
        }
        assert_eq!(
            won.len(),
            1,
            "exactly one writer wins version {}",
            round + 1
        );
        assert_eq!(won[0].1.version, round + 1);
        winners.push(won[0].0);
    }
    let read = store.read_stream(&s, 1, 100).await.unwrap();
    let versions: Vec<u64> = read.iter().map(|e| e.version).collect();
    assert_eq!(
        versions,
        (1..=RACE_ROUNDS).collect::<Vec<_>>(),
        "no duplicates, no gaps"
    );
    assert_eq!(read.iter().map(|e| e.id).collect::<Vec<_>>(), winners);
}

const DISTINCT_WRITERS: usize = 1_000;

pub async fn a_thousand_writers_on_distinct_streams_all_succeed(store: Arc<dyn EventStore>) {
    let tasks: Vec<_> = (0..DISTINCT_WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream(&format!("distinct-{i}"));
                store
                    .append(&s, ExpectedVersion::NoStream, vec![event(&i.to_string())])
                    .await
            })
        })
        .collect();
    let mut positions = Vec::new();
    for task in tasks {
        let ack = task
            .await
            .expect("writer task")
            .expect("every distinct-stream append succeeds");
        assert_eq!(ack.version, 1);
        positions.push(ack.position);
    }
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        DISTINCT_WRITERS,
        "each append got its own position"
    );
    let all = read_everything(&*store).await;
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        positions
    );
    assert_eq!(store.head().await.unwrap(), *positions.last().unwrap());
}

const ORDER_WRITERS: usize = 16;
const ORDER_APPENDS: usize = 25;

/// One acknowledged append: its stream, the ids sent and the ack.
type Acked = (StreamName, Vec<Uuid>, Appended);

pub async fn global_order_is_commit_order(store: Arc<dyn EventStore>) {
    let tasks: Vec<_> = (0..ORDER_WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream(&format!("ordered-{w}"));
                let mut acked: Vec<Acked> = Vec::new();
                for n in 0..ORDER_APPENDS {
                    let batch: Vec<_> = (0..=n % 3)
                        .map(|i| event(&format!("{w}-{n}-{i}")))
                        .collect();
                    let ids = batch.iter().map(|e| e.id).collect();
                    let version = acked.last().map_or(0, |a| a.2.version);
                    let ack = store
                        .append(&s, ExpectedVersion::Exact(version), batch)
                        .await
                        .expect("append");
                    acked.push((s.clone(), ids, ack));
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.expect("writer task"));
    }
    let all = read_everything(&*store).await;
    assert!(
        all.windows(2).all(|w| w[0].position < w[1].position),
        "positions strictly increase"
    );
    let by_id: HashMap<Uuid, &RecordedEvent> = all.iter().map(|e| (e.id, e)).collect();
    assert_eq!(
        by_id.len(),
        acked.iter().map(|a| a.1.len()).sum::<usize>(),
        "every event once"
    );
    for (s, ids, ack) in &acked {
        let last = by_id[ids.last().unwrap()];
        assert_eq!(
            (&last.stream, last.version, last.position),
            (s, ack.version, ack.position)
        );
        let first_version = ack.version + 1 - ids.len() as u64;
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                by_id[id].version,
                first_version + i as u64,
                "a batch keeps its order"
            );
        }
    }
    let mut last_version: HashMap<&StreamName, u64> = HashMap::new();
    for e in &all {
        let previous = last_version.insert(&e.stream, e.version).unwrap_or(0);
        assert_eq!(
            e.version,
            previous + 1,
            "each stream appears in version order in the global log"
        );
    }
}

pub async fn an_identical_retry_returns_the_original_ack_and_stores_nothing(
    store: Arc<dyn EventStore>,
) {
    let s = stream("idempotent");
    let batch = vec![event("a"), event("b")];
    let first = append_ok(&*store, &s, ExpectedVersion::NoStream, batch.clone()).await;
    let head = store.head().await.unwrap();
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Any,
    ] {
        assert_eq!(append_ok(&*store, &s, expected, batch.clone()).await, first);
    }
    assert_eq!(store.head().await.unwrap(), head, "a retry stores nothing");
    append_ok(&*store, &s, ExpectedVersion::Exact(2), vec![event("c")]).await;
    assert_eq!(
        append_ok(&*store, &s, ExpectedVersion::NoStream, batch.clone()).await,
        first,
        "a late retry still returns the original ack"
    );
    assert_eq!(store.read_stream(&s, 1, 10).await.unwrap().len(), 3);
    assert_eq!(read_everything(&*store).await.len(), 3);
}

pub async fn partly_stored_ids_are_an_idempotency_mismatch(store: Arc<dyn EventStore>) {
    let (s, other) = (stream("stored"), stream("elsewhere"));
    let (a, b) = (event("a"), event("b"));
    append_ok(
        &*store,
        &s,
        ExpectedVersion::NoStream,
        vec![a.clone(), b.clone()],
    )
    .await;
    let head = store.head().await.unwrap();
    let attempts = [
        (&s, vec![b.clone(), event("new")]),
        (&s, vec![event("new"), a.clone()]),
        (&s, vec![b.clone(), a.clone()]),
        (&other, vec![a.clone(), b.clone()]),
        (&other, vec![a.clone()]),
    ];
    for (target, batch) in attempts {
        match store.append(target, ExpectedVersion::Any, batch).await {
            Err(StoreError::IdempotencyMismatch { stream }) => assert_eq!(stream, target.as_str()),
            other => panic!("expected IdempotencyMismatch, got {other:?}"),
        }
    }
    let twice = event("twice");
    let repeated = store
        .append(&other, ExpectedVersion::Any, vec![twice.clone(), twice])
        .await;
    assert!(
        matches!(repeated, Err(StoreError::IdempotencyMismatch { .. })),
        "an id twice in one batch: {repeated:?}"
    );
    assert_eq!(store.head().await.unwrap(), head, "nothing was stored");
    assert!(store.read_stream(&other, 1, 10).await.unwrap().is_empty());
}

const LIVE_WRITERS: usize = 4;
const LIVE_APPENDS: usize = 50;

pub async fn a_subscription_sees_every_event_once_in_order_while_appends_continue(
    store: Arc<dyn EventStore>,
) {
    let total = LIVE_WRITERS * (0..LIVE_APPENDS).map(|n| n % 2 + 1).sum::<usize>();
    let mut subscription = Subscription::new(store.clone(), 0);
    let reader = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(total);
        while seen.len() < total {
            seen.push(subscription.next().await.expect("subscription delivers"));
        }
        (seen, subscription.position())
    });
    let writers: Vec<_> = (0..LIVE_WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream(&format!("live-{w}"));
                for n in 0..LIVE_APPENDS {
                    let batch = (0..=n % 2)
                        .map(|i| event(&format!("{w}-{n}-{i}")))
                        .collect();
                    store
                        .append(&s, ExpectedVersion::Any, batch)
                        .await
                        .expect("append");
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer task");
    }
    let (seen, position) = reader.await.expect("subscriber task");
    let all = read_everything(&*store).await;
    assert_eq!(all.len(), total);
    assert_eq!(
        seen, all,
        "the subscription delivered the global log exactly, in order"
    );
    assert_eq!(position, all.last().unwrap().position);
    assert_eq!(store.head().await.unwrap(), position);

    let mut later = Subscription::new(store.clone(), all[9].position);
    assert_eq!(
        later.next().await.unwrap(),
        all[10],
        "a subscription starts after its position"
    );
}

pub async fn events_over_the_size_limit_are_refused_and_nothing_is_appended(
    store: Arc<dyn EventStore>,
) {
    let s = stream("sizes");
    let mut big = event("big");
    big.data = vec![b' '; MAX_EVENT_BYTES + 1];
    big.metadata = Vec::new();
    let mut split = event("split");
    split.data = vec![b' '; MAX_EVENT_BYTES / 2];
    split.metadata = vec![b' '; MAX_EVENT_BYTES / 2 + 1];
    for batch in [vec![big], vec![event("small"), split]] {
        match store.append(&s, ExpectedVersion::Any, batch).await {
            Err(StoreError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (MAX_EVENT_BYTES + 1, MAX_EVENT_BYTES))
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
    assert_eq!(store.head().await.unwrap(), 0, "nothing appended");
    assert!(store.read_stream(&s, 1, 10).await.unwrap().is_empty());
    let mut at_limit = event("at-limit");
    at_limit.data = vec![b' '; MAX_EVENT_BYTES - at_limit.metadata.len()];
    append_ok(
        &*store,
        &s,
        ExpectedVersion::NoStream,
        vec![at_limit.clone()],
    )
    .await;
    assert_eq!(
        store.read_stream(&s, 1, 1).await.unwrap()[0].data,
        at_limit.data,
        "an event at the limit fits"
    );
}

pub async fn invalid_stream_names_are_refused(store: Arc<dyn EventStore>) {
    let too_long = "a".repeat(201);
    for bad in [
        "",
        too_long.as_str(),
        "$all",
        "$ce-order",
        "has space",
        "名字",
        "tab\there",
        "line\n",
        "a/b",
    ] {
        match StreamName::parse(bad) {
            Err(StoreError::InvalidStreamName { name, .. }) => assert_eq!(name, bad),
            other => panic!("{bad:?} should be refused, got {other:?}"),
        }
    }
    let longest = stream(&"a".repeat(200));
    append_ok(
        &*store,
        &longest,
        ExpectedVersion::NoStream,
        vec![event("x")],
    )
    .await;
    assert_eq!(
        store.read_stream(&longest, 1, 1).await.unwrap()[0].stream,
        longest
    );
}

pub async fn an_empty_append_is_refused(store: Arc<dyn EventStore>) {
    let s = stream("empty");
    for expected in [ExpectedVersion::Any, ExpectedVersion::NoStream] {
        assert!(matches!(
            store.append(&s, expected, Vec::new()).await,
            Err(StoreError::EmptyAppend)
        ));
    }
    let one = append_ok(&*store, &s, ExpectedVersion::NoStream, vec![event("one")]).await;
    assert!(matches!(
        store
            .append(&s, ExpectedVersion::Exact(1), Vec::new())
            .await,
        Err(StoreError::EmptyAppend)
    ));
    assert_eq!(store.head().await.unwrap(), one.position);
    assert_eq!(store.read_stream(&s, 1, 10).await.unwrap().len(), 1);
}

pub async fn read_stream_pages_by_version_and_limit(store: Arc<dyn EventStore>) {
    let (s, noise) = (stream("paged"), stream("noise"));
    for n in 0..10 {
        append_ok(
            &*store,
            &s,
            ExpectedVersion::Exact(n),
            vec![event(&n.to_string())],
        )
        .await;
        append_ok(&*store, &noise, ExpectedVersion::Any, vec![event("noise")]).await;
    }
    let versions = |events: Vec<RecordedEvent>| -> Vec<u64> {
        assert!(
            events.iter().all(|e| e.stream == s),
            "read_stream returns only its stream"
        );
        events.iter().map(|e| e.version).collect()
    };
    assert_eq!(
        versions(store.read_stream(&s, 1, 3).await.unwrap()),
        [1, 2, 3]
    );
    assert_eq!(
        versions(store.read_stream(&s, 4, 3).await.unwrap()),
        [4, 5, 6]
    );
    assert_eq!(
        versions(store.read_stream(&s, 0, 2).await.unwrap()),
        [1, 2],
        "from 0 reads from the start"
    );
    assert_eq!(
        versions(store.read_stream(&s, 9, 5).await.unwrap()),
        [9, 10]
    );
    assert!(store.read_stream(&s, 11, 5).await.unwrap().is_empty());
    assert!(
        store.read_stream(&s, 1, 0).await.unwrap().is_empty(),
        "limit 0 reads nothing"
    );
    assert!(
        store
            .read_stream(&stream("unknown"), 1, 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        versions(store.read_stream(&s, 1, usize::MAX).await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
}

pub async fn read_all_pages_by_position(store: Arc<dyn EventStore>) {
    let names = [stream("p-a"), stream("p-b"), stream("p-c")];
    for n in 0..25 {
        append_ok(
            &*store,
            &names[n % 3],
            ExpectedVersion::Any,
            vec![event(&n.to_string())],
        )
        .await;
    }
    let everything = store.read_all(0, 1_000).await.unwrap();
    assert_eq!(everything.len(), 25);
    let mut paged: Vec<RecordedEvent> = Vec::new();
    for _ in 0..10 {
        let after = paged.last().map_or(0, |e| e.position);
        let page = store.read_all(after, 7).await.unwrap();
        assert!(page.len() <= 7);
        paged.extend(page);
    }
    assert_eq!(paged, everything, "pages of 7 join into the whole log");
    assert_eq!(
        store.read_all(everything[4].position, 1).await.unwrap(),
        [everything[5].clone()]
    );
    assert!(
        store
            .read_all(everything[24].position, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store.read_all(0, 0).await.unwrap().is_empty(),
        "limit 0 reads nothing"
    );
    assert_eq!(store.read_all(0, usize::MAX).await.unwrap(), everything);
}

/// A separate reader (when the backend has one) sees what this handle
/// appended, before and after it was opened, wakes with its head, and
/// refuses to append.
pub async fn a_separate_reader_reads_the_same_log_and_never_appends(store: Arc<dyn EventStore>) {
    let s = stream("reader-a");
    append_ok(
        &*store,
        &s,
        ExpectedVersion::NoStream,
        vec![event("before")],
    )
    .await;
    let Some(reader) = store.separate_reader(1).expect("a reader opens") else {
        return;
    };
    let mut woken = reader.watch_head();
    let last = append_ok(&*store, &s, ExpectedVersion::Exact(1), vec![event("after")]).await;
    let read: Vec<u64> = reader
        .read_stream(&s, 1, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(
        read,
        [1, 2],
        "the reader sees events appended before and after it opened"
    );
    assert_eq!(
        reader.read_all(0, 10).await.unwrap(),
        store.read_all(0, 10).await.unwrap()
    );
    assert_eq!(reader.head().await.unwrap(), last.position);
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        woken.wait_for(|head| *head >= last.position),
    )
    .await
    .expect("the reader's head wakes within 10 s")
    .expect("the head channel is open");
    let refused = reader
        .append(&s, ExpectedVersion::Any, vec![event("refused")])
        .await;
    assert!(
        matches!(refused, Err(StoreError::ReadOnly)),
        "a reader refuses to append: {refused:?}"
    );
    assert_eq!(
        store.read_stream(&s, 1, 10).await.unwrap().len(),
        2,
        "nothing was appended"
    );
}
