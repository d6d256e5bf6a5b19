//! The command handler against a real store: idempotent repeats, races
//! settled by the expected version, rejections that append nothing.

use std::sync::Arc;

use crate::orders::OrderService;
use crate::{AppError, ManualClock, RandomIds};
use chrono::{TimeZone, Utc};
use paycode_domain::{
    AuthCode, MerchantId, Money, OrderCommand, OrderEvent, OutTradeNo, PayOutcome, Policy,
    ProviderReply, Rejection, RequestPayment, Status,
};
use paycode_store::{EventStore, StreamName};
use paycode_store_sqlite::SqliteStore;

fn service() -> (tempfile::TempDir, OrderService) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteStore::open(dir.path().join("orders.db")).expect("opens"));
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0)
            .single()
            .expect("valid"),
    ));
    (
        dir,
        OrderService::new(store, Policy::default(), clock, Arc::new(RandomIds)),
    )
}

fn request(amount: &str, code: &str) -> OrderCommand {
    OrderCommand::RequestPayment(RequestPayment {
        merchant: MerchantId::parse("m1").expect("valid"),
        out_trade_no: OutTradeNo::parse("o-1").expect("valid"),
        amount: Money::parse(amount).expect("valid"),
        subject: "coffee".into(),
        store_id: None,
        terminal_id: None,
        auth_code: AuthCode::parse(code).expect("valid"),
    })
}

fn stream() -> StreamName {
    crate::orders::order_stream_name(
        &MerchantId::parse("m1").expect("valid"),
        &OutTradeNo::parse("o-1").expect("valid"),
    )
}

async fn stored(service: &OrderService) -> usize {
    service
        .store()
        .read_stream(&stream(), 1, 1_000)
        .await
        .expect("reads")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_identical_concurrent_requests_make_one_order() {
    let (_dir, service) = service();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                service
                    .execute(&stream(), &request("9.90", "134567890123456789"))
                    .await
            })
        })
        .collect();
    let mut order_ids = Vec::new();
    let mut creators = 0;
    for task in tasks {
        let executed = task
            .await
            .expect("joins")
            .expect("every identical request succeeds");
        creators += usize::from(
            executed
                .events
                .iter()
                .any(|e| matches!(e, OrderEvent::PaymentRequested(_))),
        );
        order_ids.push(executed.order.expect("the order exists").order_id);
    }
    assert_eq!(creators, 1, "exactly one request created the order");
    assert!(
        order_ids.windows(2).all(|w| w[0] == w[1]),
        "every answer names the same order"
    );
    assert_eq!(stored(&service).await, 1);
}

#[tokio::test]
async fn the_same_order_number_with_another_amount_is_rejected_and_appends_nothing() {
    let (_dir, service) = service();
    service
        .execute(&stream(), &request("9.90", "134567890123456789"))
        .await
        .expect("first request");
    let error = service
        .execute(&stream(), &request("10.00", "134567890123456789"))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            error,
            AppError::Rejected(Rejection::ExistsWithDifferentAmount)
        ),
        "{error:?}"
    );
    assert_eq!(stored(&service).await, 1);
}

#[tokio::test]
async fn a_command_on_a_missing_order_is_rejected_and_appends_nothing() {
    let (_dir, service) = service();
    let error = service
        .execute(&stream(), &OrderCommand::Tick)
        .await
        .expect_err("no order");
    assert!(
        matches!(error, AppError::Rejected(Rejection::OrderNotFound)),
        "{error:?}"
    );
    assert_eq!(stored(&service).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_answers_for_one_attempt_are_decided_one_after_the_other() {
    let (_dir, service) = service();
    service
        .execute(&stream(), &request("9.90", "134567890123456789"))
        .await
        .expect("requested");
    let paid = OrderCommand::RecordPayAnswer {
        attempt: 1,
        outcome: PayOutcome::Paid {
            provider_trade_no: "4200000001".into(),
            paid_at: Utc::now(),
        },
        reply: ProviderReply::new("SUCCESS", "OK"),
    };
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (service, paid) = (service.clone(), paid.clone());
            tokio::spawn(async move { service.execute(&stream(), &paid).await })
        })
        .collect();
    let mut appended = 0;
    for task in tasks {
        let executed = task
            .await
            .expect("joins")
            .expect("the same answer again is accepted");
        appended += executed.events.len();
        assert_eq!(executed.order.expect("exists").status, Status::Success);
    }
    assert_eq!(appended, 1, "the answer is recorded once, whoever wins");
    assert_eq!(stored(&service).await, 2);
}
