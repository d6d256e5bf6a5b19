//! paycode's read models: projections of the order log into SQLite, kept
//! up to date by a runner that follows the store's global order, rebuilt
//! from position 0 on an operator's request, and queried by the back office.
//!
//! - [`ReadModels`]: the handle: open, run, wait for a position, rebuild,
//!   status, and the queries (`query.rs`).
//! - [`Projection`]: the projections and the read models each maintains.
//! - `orders.rs`, `daily.rs`: each projection's `apply`, from events to rows.
//! - `cache.rs`: folded orders kept in memory between pages; an order not
//!   there is folded again from its stream in the log.
//! - `db.rs`: the SQLite layout: generation-suffixed tables and the pointer
//!   that swaps a rebuilt generation in.
//!
//! Invariant: a read model is a function of the log alone. `apply` never
//! reads the clock, so a rebuild from position 0 gives the same rows as the
//! live runner did. The checkpoint of a projection is written in the same
//! transaction as its rows: an event is applied exactly once even across
//! crashes (effectively once). This crate knows no HTTP and no GraphQL.

mod cache;
mod daily;
mod db;
mod error;
mod orders;
mod query;
mod runner;
mod views;

pub use error::ProjectionError;
pub use query::{
    AttentionAfter, MAX_PAGE, OrderFilter, OrderKey, OrderTotals, PageAfter, RefundAfter,
};
pub use runner::{Progress, READ_CONCURRENCY, ReadModels, RebuildReport};
pub use views::{
    AttentionPage, AttentionView, DailyTotalView, OrderPage, OrderView, ProjectionStatus,
    RefundPage, RefundView,
};

/// A projection: a set of read models maintained together, with one
/// checkpoint and one generation, rebuilt as a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Projection {
    /// The read models folded from each order's state: `orders` (one row per
    /// order), `refunds` (one row per refund) and `attention` (the
    /// manual-intervention queue). One projection, because all three are
    /// views of the same folded `Order` and are written from it together.
    Orders,
    /// Daily totals per merchant, provider and Beijing day (UTC+8).
    DailyTotals,
    // Reconciliation results will be a third projection here: a variant, its
    // `apply` module and its tables in `db.rs`; the runner needs no change.
}

impl Projection {
    pub const ALL: [Projection; 2] = [Projection::Orders, Projection::DailyTotals];

    /// The stable name used in the CLI, the API and the checkpoint table.
    pub fn name(self) -> &'static str {
        match self {
            Projection::Orders => "orders",
            Projection::DailyTotals => "daily_totals",
        }
    }

    pub fn parse(name: &str) -> Option<Projection> {
        Projection::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl std::fmt::Display for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
