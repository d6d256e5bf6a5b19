//! The order-updates subscription's stream: follows the log with a store
//! `Subscription`, waits for the read model to apply each order event, and
//! yields the order as the read model then shows it, if the caller may see
//! it and it matches the filters.

use std::time::Duration;

use futures_util::Stream;
use paycode_projections::{OrderKey, ReadModels};
use paycode_store::Subscription;

use super::auth::Principal;
use super::types::{Order, Position};

/// How long an update waits for the read model before it is read anyway.
const PROJECTION_WAIT: Duration = Duration::from_secs(5);

pub struct Updates {
    pub subscription: Subscription,
    pub models: ReadModels,
    pub principal: Principal,
    pub merchant: Option<String>,
    pub status: Option<paycode_domain::Status>,
}

impl Updates {
    pub fn into_stream(self) -> impl Stream<Item = Order> {
        futures_util::stream::unfold(self, |mut state| async move {
            let order = state.next().await?;
            Some((order, state))
        })
    }

    /// The next matching order; `None` ends the stream (the store failed).
    async fn next(&mut self) -> Option<Order> {
        loop {
            let event = match self.subscription.next().await {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, "order updates: the store failed; ending the subscription");
                    return None;
                }
            };
            if !paycode_domain::is_order_stream(event.stream.as_str()) {
                continue;
            }
            // A timeout still reads the row: an update a little late beats none.
            let _ = self.models.wait_for(event.position, PROJECTION_WAIT).await;
            let row = self
                .models
                .order(OrderKey::Stream(event.stream.as_str().to_owned()))
                .await;
            let Ok(Some(row)) = row else { continue };
            let visible = self.principal.sees(&row.merchant)
                && self.merchant.as_ref().is_none_or(|m| *m == row.merchant)
                && self.status.is_none_or(|s| s == row.status);
            if visible {
                // The event's own position, not the read model's: a client
                // that resumes after it misses no later event, of this order
                // or another one the read model had already applied.
                let mut order = Order::from(row);
                order.as_of = Position(event.position);
                return Some(order);
            }
        }
    }
}
