//! paycode's use cases, between the pure domain and the outside world.
//!
//! - [`process`]: the payment process, the one door through which anything
//!   changes an order: it calls providers, records their answers, works what
//!   the domain says is due, and answers the reads of an order.
//! - [`worker`]: the process's loops: the work list rebuilt from the log,
//!   the due work, the work leases and following other nodes' appends.
//! - [`share`]: this node's share of the follow-up work: the partitions it
//!   holds, balanced at its fair share among the live nodes.
//! - `streams.rs`: the one event-sourcing engine (load, fold, decide, append
//!   with the expected version, decide again on a conflict), used by orders
//!   (`orders.rs`) and reconciliation runs alike.
//! - [`log`]: the event log as JSON Lines, out of and into a store.
//! - [`answers`]: provider answers translated into domain outcomes.
//! - [`replay`]: every order's state, projected from a store.
//! - [`reconciliation`]: a provider's daily bill against the ledger, as
//!   events in the run's own stream, and the day's report read back.
//! - [`clock`]: where time and new ids come from, injected so tests and
//!   replays are deterministic.
//!
//! Invariant: this crate knows no HTTP and no backend; it reaches the log
//! only through the `EventStore` trait.

pub mod answers;
pub mod clock;
pub mod log;
pub mod metrics;
mod orders;
pub mod process;
pub mod reconciliation;
pub mod replay;
pub mod share;
mod streams;
pub mod worker;

pub use clock::{Clock, IdSource, ManualClock, RandomIds, SequentialIds, SystemClock};
pub use orders::{AppError, Executed, order_stream_name};
pub use process::{PaymentProcess, ProcessError, ProcessSetup, ProviderDirectory};
pub use share::{ClusterView, LEASE_TTL};
pub use streams::{MAX_CONFLICT_RETRIES, StreamError};

#[cfg(test)]
mod tests {
    mod orders;
    mod recorded_log;
}
