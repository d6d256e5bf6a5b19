//! paycode's use cases, between the pure domain and the outside world.
//!
//! - [`orders`]: handle a command against an order stream: load, fold,
//!   decide, append with the expected version, and try again on a conflict.
//! - [`log`]: the event log as JSON Lines, out of and into a store.
//! - [`process`]: the payment process manager: calls providers, records
//!   their answers, and works what the domain says is due.
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
pub mod orders;
pub mod process;
pub mod reconciliation;
pub mod replay;

pub use clock::{Clock, IdSource, ManualClock, RandomIds, SequentialIds, SystemClock};
pub use orders::{AppError, Executed, OrderService};
pub use process::{NewRefund, PaymentProcess, ProcessError, ProviderDirectory};
