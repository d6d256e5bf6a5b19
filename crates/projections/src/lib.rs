//! paycode's read models: projections of the order log into SQLite, kept
//! up to date by a runner that follows the store's global order, rebuilt
//! from position 0 on an operator's request, and queried by the back office.
//!
//! - [`ReadModels`]: the handle. `read_models.rs`: open, status, and what
//!   the rest shares (the one writer, the readers, `apply_page`);
//!   `live.rs`: the live runner and read-your-writes (`run`, `catch_up`,
//!   `wait_for`); `rebuild.rs`: rebuilds and their atomic swap;
//!   `query.rs`: the queries, answering with `views.rs`.
//! - [`Projection`]: the projections and the read models each maintains.
//! - `projector.rs`: the `Projector` trait, what each projection's code
//!   provides: its tables, `apply` (from events to rows) and what it keeps
//!   in memory. `orders.rs` and `daily.rs` implement it; `registry.rs` is
//!   the one place a `Projection` is mapped to its `Projector`.
//! - `page.rs`: a page of the log, decoded once for every projection, and
//!   an order's earlier events read back from the log.
//! - `cache.rs`: folded orders kept in memory between pages; an order not
//!   there is folded again from its stream in the log.
//! - `db.rs`: the SQLite layout: generation-suffixed tables and the pointer
//!   that swaps a rebuilt generation in. `stored.rs`: how values are stored.
//!
//! Modules depend on each other in one direction only (`a <- b`: `b` uses
//! `a`; `error`, `cache`, `stored`, `views` and the `Projection` enum here
//! are used throughout): `page` <- `projector` <- `orders`, `daily` <-
//! `registry` <- `db` <- `read_models` <- `live`, `rebuild`, `query`.
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
mod live;
mod orders;
mod page;
mod projector;
mod query;
mod read_models;
mod rebuild;
mod registry;
mod stored;
mod views;

pub use error::ProjectionError;
pub use query::{MAX_PAGE, OrderFilter, OrderKey, OrderTotals};
pub use read_models::{READ_CONCURRENCY, ReadModels};
pub use rebuild::{Progress, RebuildReport};
pub use views::{
    AttentionAfter, AttentionPage, AttentionView, DailyTotalView, OrderPage, OrderView, PageAfter,
    ProjectionStatus, RefundAfter, RefundPage, RefundView,
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
    // Reconciliation results will be a third projection here: a variant, a
    // module implementing `Projector` (its tables and its `apply`) and one
    // line in `registry.rs`; the runner and `db.rs` need no change.
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
