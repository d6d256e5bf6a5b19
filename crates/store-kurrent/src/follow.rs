//! Keeping `watch_head` current with appends made by any client: a catch-up
//! subscription to `$all`, filtered to the namespace's streams, publishes
//! the position of every event it is handed. KurrentDB hands an event to
//! subscribers only once it is committed, so a woken reader finds it.
//!
//! When the subscription fails (the client's own retries gave up: server
//! down, leader lost), it pauses, reads the head and subscribes again from
//! the last position it saw, so nothing committed meanwhile is missed.

use std::sync::Arc;
use std::time::Duration;

use kurrentdb::{Client, Position, StreamPosition, SubscribeToAllOptions};
use tokio::sync::watch;

use crate::store::{filter, head};

/// The pause before subscribing again after the subscription failed, so a
/// server that is down is not hammered.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_secs(1);

/// Raises the published head to `position` if it is higher.
pub(crate) fn publish(sender: &watch::Sender<u64>, position: u64) {
    sender.send_if_modified(|h| {
        let moved = position > *h;
        *h = (*h).max(position);
        moved
    });
}

/// Follows the namespace from position `from` until the store aborts it.
pub(crate) async fn follow(
    client: Client,
    namespace: String,
    head_tx: Arc<watch::Sender<u64>>,
    mut from: u64,
) {
    loop {
        let start = match from {
            0 => StreamPosition::Start,
            p => StreamPosition::Position(Position {
                commit: p,
                prepare: p,
            }),
        };
        let options = SubscribeToAllOptions::default()
            .position(start)
            .filter(filter(&namespace));
        let mut subscription = client.subscribe_to_all(&options).await;
        // Ends only when the subscription fails for good.
        while let Ok(event) = subscription.next().await {
            let position = event.get_original_event().position.prepare;
            from = from.max(position);
            publish(&head_tx, position);
        }
        tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
        if let Ok(position) = head(&client, &namespace).await {
            publish(&head_tx, position);
        }
    }
}
