//! The payment process's loops, as a node runs them: rebuild the work list
//! from the log, then work whatever is due, for ever; on a store shared
//! with other nodes, also renew the work leases and follow the appends the
//! other nodes make.

use std::time::Duration;

use crate::process::PaymentProcess;

/// The longest the worker sleeps when nothing is due: new work from the API
/// wakes it sooner through the store's head, and this bound keeps a missed
/// wake-up from delaying a poll by more than a second.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// How often a node renews its work leases: well inside
/// [`crate::share::LEASE_TTL`] (5 s), so a live node never loses one to a
/// slow renewal.
const LEASE_RENEW: Duration = Duration::from_secs(1);

/// Runs the process worker until the task is dropped.
pub async fn run(process: PaymentProcess) {
    let head = loop {
        match process.recover().await {
            Ok((open, head)) => {
                tracing::info!(open, "work list rebuilt from the log");
                break head;
            }
            Err(error) => {
                tracing::error!(%error, "could not rebuild the work list; trying again");
                tokio::time::sleep(IDLE_WAKE).await;
            }
        }
    };
    if process.shared() {
        tokio::spawn(keep_leases(process.clone()));
        tokio::spawn(follow(process.clone(), head));
    }
    let mut wake = process.store().watch_head();
    loop {
        while process.run_due().await > 0 {}
        let now = process.now();
        let sleep = process
            .next_due_at()
            .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(IDLE_WAKE)
            .min(IDLE_WAKE);
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            changed = wake.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(IDLE_WAKE).await;
                }
            }
        }
    }
}

/// Renews this node's work leases every second, for ever.
async fn keep_leases(process: PaymentProcess) {
    loop {
        process.renew_leases().await;
        tokio::time::sleep(LEASE_RENEW).await;
    }
}

/// Follows the log for orders other nodes append, restarting from a fresh
/// rebuild if the store fails.
async fn follow(process: PaymentProcess, mut after: u64) {
    loop {
        if let Err(error) = process.follow_log(after).await {
            tracing::warn!(%error, "following the log failed; rebuilding the work list");
            tokio::time::sleep(IDLE_WAKE).await;
            if let Ok((_, head)) = process.recover().await {
                after = head;
            }
        }
    }
}
