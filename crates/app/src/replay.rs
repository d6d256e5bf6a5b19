//! Every order's state, projected from the whole log: what `paycode replay`
//! prints and what the recorded-log test compares with its golden file.
//!
//! This is the simplest projection there is, a fold per stream held in
//! memory; the back office's read models come with their own runner.

use std::collections::BTreeMap;

use paycode_domain::{Order, OrderEvent, is_order_stream};
use paycode_store::{EventStore, RecordedEvent};

use crate::orders::AppError;
use crate::streams::{Aggregate, StreamError, fold_recorded};

/// Events fetched per `read_all` call.
const REPLAY_PAGE: usize = 4_096;

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
    for recorded in page.iter().filter(|e| is_order_stream(e.stream.as_str())) {
        let stream = recorded.stream.as_str();
        // The checked fold, not `evolve`'s assertion: a log file is input.
        let order = fold_recorded(orders.remove(stream), recorded)?;
        orders.insert(stream.to_owned(), order);
    }
    Ok(())
}

/// Decodes a stored event of an order stream.
pub fn decode(recorded: &RecordedEvent) -> Result<OrderEvent, AppError> {
    <Order as Aggregate>::decode(recorded).map_err(|reason| StreamError::Corrupt {
        stream: recorded.stream.as_str().to_owned(),
        reason,
    })
}
