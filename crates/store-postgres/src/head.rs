//! Keeping `watch_head` current with commits made elsewhere: by other nodes on
//! the same schema, or by this node before a reconnect.
//!
//! The listener holds one dedicated connection that LISTENs on the schema's
//! channel; every append transaction NOTIFYs its new head on it, and
//! PostgreSQL delivers a notification only after the sender's COMMIT, so a
//! woken subscriber finds the events readable. Notifications are lost while
//! the listening connection is down, so the poller also reads the head every
//! [`HEAD_POLL`]: a missed wake-up costs at most that much latency.
//!
//! Both loops run until the store aborts them on drop; the head only grows
//! (`send_if_modified` with `max`), whichever source reports first.

use std::future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

use paycode_store::StoreError;

use crate::reader;
use crate::schema::{Sql, pg_error};

/// How often the head is read when no notification came. Short enough that
/// a lost notification delays a subscriber by a fraction of a second, long
/// enough that an idle node costs the database two queries a second.
pub const HEAD_POLL: Duration = Duration::from_millis(500);

/// The pause before the listener reconnects after its connection broke, so a
/// server that is down is not hammered; the poller covers the gap.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Raises the published head to `head` if it is higher.
pub(crate) fn publish(sender: &watch::Sender<u64>, head: u64) {
    sender.send_if_modified(|h| {
        let moved = head > *h;
        *h = (*h).max(head);
        moved
    });
}

/// Listens for the head on the schema's channel, reconnecting forever.
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    sql: Arc<Sql>,
    head: Arc<watch::Sender<u64>>,
) {
    loop {
        // An error only means "reconnect": the poller keeps the head moving
        // meanwhile, and there is no caller to report it to.
        let _ = listen_once(&config, &sql, &head).await;
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// One connection's life: LISTEN, then publish every notification until the
/// connection ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    sql: &Sql,
    head: &Arc<watch::Sender<u64>>,
) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(pg_error)?;
    let sender = head.clone();
    // The connection must be polled for LISTEN to complete, so the
    // notification loop runs on its own task from the start.
    let messages = tokio::spawn(async move {
        while let Some(Ok(message)) = future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(note) = message
                && let Ok(position) = note.payload().parse::<u64>()
            {
                publish(&sender, position);
            }
        }
    });
    if let Err(error) = client
        .batch_execute(&format!("LISTEN \"{}\"", sql.channel))
        .await
    {
        messages.abort();
        return Err(pg_error(error));
    }
    // Commits made before LISTEN took effect sent no notification here.
    if let Ok(row) = client.query_one(&sql.head, &[]).await
        && let Ok(position) = row.try_get::<_, i64>(0)
    {
        publish(head, u64::try_from(position).unwrap_or(0));
    }
    // Holds the client (and so the connection) open until the connection
    // breaks, or until the store drops this future.
    let ended = messages.await;
    drop(client);
    ended.map_err(StoreError::unavailable)
}

/// Reads the head every [`HEAD_POLL`], forever.
pub(crate) async fn poll(pool: Pool, sql: Arc<Sql>, head: Arc<watch::Sender<u64>>) {
    let mut ticks = tokio::time::interval(HEAD_POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // A failed read is retried at the next tick; reads and appends
        // report the outage to their callers.
        if let Ok(position) = reader::head(&pool, &sql).await {
            publish(&head, position);
        }
    }
}
