//! Every order's state, projected from the whole log: what `paycode replay`
//! prints and what the recorded-log test compares with its golden file.
//!
//! This is the simplest projection there is, a fold per stream held in
//! memory; the back office's read models come with their own runner.

use std::collections::BTreeMap;

use paycode_domain::{Order, OrderEvent, evolve};
use paycode_store::{EventStore, RecordedEvent};

use crate::orders::AppError;

/// Events fetched per `read_all` call.
const REPLAY_PAGE: usize = 4_096;

/// The prefix of every order stream (`paycode_domain::order_stream`).
pub const ORDER_STREAM_PREFIX: &str = "order-";

/// Folds every order stream of `store`, keyed by stream name.
pub async fn project_orders(store: &dyn EventStore) -> Result<BTreeMap<String, Order>, AppError> {
    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    let mut page = store.read_all(0, REPLAY_PAGE).await?;
    loop {
        let Some(last) = page.last() else {
            return Ok(orders);
        };
        // The next page is read while this one is decoded and folded: the
        // store reads on its own thread (SQLite) or the network (PostgreSQL).
        let (next, folded) = tokio::join!(store.read_all(last.position, REPLAY_PAGE), async {
            fold_page(&mut orders, &page)
        });
        folded?;
        page = next?;
    }
}

/// Folds one page of the log into `orders`.
fn fold_page(orders: &mut BTreeMap<String, Order>, page: &[RecordedEvent]) -> Result<(), AppError> {
    for recorded in page
        .iter()
        .filter(|e| e.stream.as_str().starts_with(ORDER_STREAM_PREFIX))
    {
        let event = decode(recorded)?;
        let stream = recorded.stream.as_str();
        let state = orders.remove(stream);
        // Checked here, not left to `evolve`'s assertion: a log file is input.
        if state.is_none() && !matches!(event, OrderEvent::PaymentRequested(_)) {
            return Err(AppError::Corrupt {
                stream: stream.to_owned(),
                reason: format!(
                    "stream opens with {}, not PaymentRequested",
                    recorded.event_type
                ),
            });
        }
        if let Some(order) = evolve(state, &event) {
            orders.insert(stream.to_owned(), order);
        }
    }
    Ok(())
}

/// Decodes a stored event of an order stream.
pub fn decode(recorded: &RecordedEvent) -> Result<OrderEvent, AppError> {
    OrderEvent::decode(&recorded.event_type, recorded.type_version, &recorded.data).map_err(
        |source| AppError::Corrupt {
            stream: recorded.stream.as_str().to_owned(),
            reason: source.to_string(),
        },
    )
}
