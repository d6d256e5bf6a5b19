//! The read models against the recorded log (`tests/fixtures/orders.jsonl`):
//! they agree with the domain's own replay, their checkpoint survives a
//! reopen, and a rebuild swaps atomically: every query during it sees the
//! old copy or the new one, and a cancelled rebuild leaves the old one.

use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use paycode_projections::{OrderFilter, OrderKey, Projection, ReadModels};
use paycode_store::EventStore;
use paycode_store_sqlite::SqliteStore;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn EventStore>,
    models: ReadModels,
}

fn fixture_lines() -> Vec<paycode_app::log::LogLine> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/orders.jsonl");
    let file = std::fs::File::open(path).expect("the fixture opens");
    paycode_app::log::parse(BufReader::new(file)).expect("the fixture parses")
}

/// The recorded log in a fresh store, with read models that have applied nothing yet.
async fn recorded() -> Fixture {
    let fixture = empty().await;
    paycode_app::log::load(fixture.store.as_ref(), &fixture_lines())
        .await
        .expect("the fixture loads");
    fixture
}

async fn empty() -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteStore::open(dir.path().join("log.db")).expect("the store opens"));
    let models = ReadModels::open(dir.path().join("read.db"), Arc::clone(&store))
        .await
        .expect("the read models open");
    Fixture {
        _dir: dir,
        store,
        models,
    }
}

/// Everything the queries answer, as one comparable text.
async fn snapshot(models: &ReadModels) -> String {
    let orders = models
        .orders(OrderFilter::default(), None, 500)
        .await
        .expect("orders");
    let refunds = models
        .refunds(None, None, None, 500)
        .await
        .expect("refunds")
        .refunds;
    let attention = models
        .attention(None, None, 500)
        .await
        .expect("attention")
        .items;
    let daily = models.daily_totals(None, None, None).await.expect("daily");
    format!("{orders:#?}\n{refunds:#?}\n{attention:#?}\n{daily:#?}")
}

#[tokio::test]
async fn every_order_row_agrees_with_the_domain_replay() {
    let f = recorded().await;
    let head = f.store.head().await.expect("head");
    assert_eq!(f.models.catch_up().await.expect("catches up"), head);
    let replayed = paycode_app::replay::project_orders(f.store.as_ref())
        .await
        .expect("replays");
    assert!(!replayed.is_empty());
    for order in replayed.values() {
        let row = f
            .models
            .order(OrderKey::MerchantOrder {
                merchant: order.merchant.to_string(),
                out_trade_no: order.out_trade_no.to_string(),
            })
            .await
            .expect("the query runs")
            .expect("the order has a row");
        assert_eq!(row.status, order.status);
        assert_eq!(row.amount, order.amount.amount());
        assert_eq!(row.refunded, order.refunded);
        assert_eq!(row.needs_attention, order.needs_attention);
        assert_eq!(row.provider_trade_no, order.provider_trade_no);
        assert_eq!(row.paid_at, order.paid_at);
        assert_eq!(row.updated_at, order.last_event_at);
        let by_id = f
            .models
            .order(OrderKey::Id(order.order_id.to_string()))
            .await
            .expect("runs");
        assert_eq!(by_id.map(|o| o.stream), Some(row.stream));
    }
    let page = f
        .models
        .orders(OrderFilter::default(), None, 500)
        .await
        .expect("orders");
    assert_eq!(page.orders.len(), replayed.len());
}

#[tokio::test]
async fn the_checkpoint_survives_a_reopen_and_nothing_is_applied_twice() {
    let f = recorded().await;
    f.models.catch_up().await.expect("catches up");
    let before = snapshot(&f.models).await;
    let reopened = ReadModels::open(f.models.path(), Arc::clone(&f.store))
        .await
        .expect("reopens");
    assert_eq!(reopened.reached(), f.store.head().await.expect("head"));
    reopened.catch_up().await.expect("catches up again");
    assert_eq!(snapshot(&reopened).await, before);
}

/// Orders whose events come after a restart are not in the runner's memory:
/// their state is folded again from the log, and the rows come out the same
/// as from one run that saw every event.
#[tokio::test]
async fn a_restarted_runner_folds_orders_it_no_longer_remembers_from_the_log() {
    let whole = recorded().await;
    whole.models.catch_up().await.expect("catches up");

    let split = empty().await;
    let lines = fixture_lines();
    let (first, rest) = lines.split_at(lines.len() / 2);
    paycode_app::log::load(split.store.as_ref(), first)
        .await
        .expect("the first half loads");
    split.models.catch_up().await.expect("catches up");
    paycode_app::log::load(split.store.as_ref(), rest)
        .await
        .expect("the rest loads");
    let restarted = ReadModels::open(split.models.path(), Arc::clone(&split.store))
        .await
        .expect("reopens");
    restarted
        .catch_up()
        .await
        .expect("catches up after the restart");

    assert_eq!(snapshot(&restarted).await, snapshot(&whole.models).await);
}

/// A read-model file of an older layout is emptied when opened and rebuilt
/// from the log by the runner.
#[tokio::test]
async fn read_models_of_an_older_layout_are_rebuilt_from_the_log() {
    let f = recorded().await;
    f.models.catch_up().await.expect("catches up");
    let before = snapshot(&f.models).await;
    {
        let conn = rusqlite::Connection::open(f.models.path()).expect("opens the file");
        conn.execute_batch(
            "PRAGMA user_version = 0;
             CREATE TABLE left_by_an_old_version (x INTEGER);",
        )
        .expect("marks it as the first layout");
    }
    let reopened = ReadModels::open(f.models.path(), Arc::clone(&f.store))
        .await
        .expect("reopens");
    assert_eq!(reopened.reached(), 0, "everything is to be applied again");
    reopened.catch_up().await.expect("catches up");
    assert_eq!(snapshot(&reopened).await, before);
    let conn = rusqlite::Connection::open(f.models.path()).expect("opens the file");
    let leftovers: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'left_by_an_old_version'",
            [],
            |row| row.get(0),
        )
        .expect("counts");
    assert_eq!(leftovers, 0);
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps_or_repeats() {
    let f = recorded().await;
    f.models.catch_up().await.expect("catches up");
    let all = f
        .models
        .orders(OrderFilter::default(), None, 500)
        .await
        .expect("orders");
    let mut paged = Vec::new();
    let mut after = None;
    for _ in 0..all.orders.len() {
        let page = f
            .models
            .orders(OrderFilter::default(), after, 2)
            .await
            .expect("a page");
        paged.extend(page.orders.into_iter().map(|o| o.order_id));
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    let expected: Vec<String> = all.orders.into_iter().map(|o| o.order_id).collect();
    assert_eq!(paged, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_during_a_rebuild_see_a_whole_copy_and_the_result_is_the_same() {
    let f = recorded().await;
    f.models.catch_up().await.expect("catches up");
    let before = snapshot(&f.models).await;
    let statuses = f.models.status().await.expect("status");
    f.models.set_rebuild_page(3);
    // One at a time, then both together in one pass.
    let rounds = Projection::ALL
        .map(|projection| vec![projection])
        .into_iter()
        .chain([Projection::ALL.to_vec()]);
    for projections in rounds {
        let mut pages = 0;
        let models = f.models.clone();
        let report = f
            .models
            .rebuild(&projections, |_progress| {
                pages += 1;
                // A query between every page of the rebuild: the old copy answers, whole.
                let seen = tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(snapshot(&models))
                });
                assert_eq!(seen, before, "a query saw a half-built copy");
                ControlFlow::Continue(())
            })
            .await
            .expect("the rebuild swaps in");
        assert!(pages > 10, "the rebuild ran in many pages, not {pages}");
        assert_eq!(report.checkpoint, f.store.head().await.expect("head"));
        assert_eq!(
            report
                .generations
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>(),
            projections
        );
    }
    assert_eq!(snapshot(&f.models).await, before);
    let after = f.models.status().await.expect("status");
    for (old, new) in statuses.iter().zip(&after) {
        assert!(
            new.generation > old.generation,
            "{} swapped generations",
            new.name
        );
        assert_eq!((new.lag, new.rebuilding), (0, None));
    }
}

#[tokio::test]
async fn a_cancelled_rebuild_leaves_the_old_copy_serving() {
    let f = recorded().await;
    f.models.catch_up().await.expect("catches up");
    let before = snapshot(&f.models).await;
    let statuses = f.models.status().await.expect("status");
    f.models.set_rebuild_page(3);
    let result = f
        .models
        .rebuild(&Projection::ALL, |_| ControlFlow::Break(()))
        .await;
    assert!(result.is_err(), "the rebuild reports that it was cancelled");
    assert_eq!(f.models.status().await.expect("status"), statuses);
    assert_eq!(snapshot(&f.models).await, before);
}

#[tokio::test]
async fn daily_totals_add_up_to_the_replayed_orders() {
    let f = recorded().await;
    f.models.catch_up().await.expect("catches up");
    let replayed = paycode_app::replay::project_orders(f.store.as_ref())
        .await
        .expect("replays");
    let refunded: i64 = replayed.values().map(|o| o.refunded.to_fen()).sum();
    let daily = f
        .models
        .daily_totals(None, None, None)
        .await
        .expect("daily");
    let daily_refunded: i64 = daily.iter().map(|d| d.refunded.to_fen()).sum();
    assert_eq!(daily_refunded, refunded);
    let paid_orders = replayed
        .values()
        .filter(|o| o.status == paycode_domain::Status::Success)
        .count();
    let kept: u64 = daily.iter().map(|d| d.paid_count - d.reversed_count).sum();
    assert_eq!(usize::try_from(kept).expect("small"), paid_orders);
}
