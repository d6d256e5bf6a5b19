//! [`Projector`]: what one projection's code provides, so that the runner,
//! the rebuilds and the SQLite layout handle every projection alike. Each
//! projection implements it in its own module (`orders.rs`, `daily.rs`);
//! `registry.rs` says which implements which [`Projection`].
//!
//! Invariant: a projector is a function of the log alone. `apply` reads no
//! clock and nothing but its own generation's rows and the log, so a
//! rebuild from position 0 gives the same rows as the live runner did. What
//! it keeps in memory is only a shortcut, per generation, trusted at the
//! checkpoint it was committed at (`cache.rs`).

use rusqlite::Transaction;

use crate::Projection;
use crate::error::ProjectionError;
use crate::page::{Decoded, History};

/// One projection's tables and how events become their rows. The caller
/// owns the transaction and the checkpoint: it skips the events a
/// generation already holds, calls [`Projector::apply`] with the rest, moves
/// the checkpoint in the same transaction, and once that committed, calls
/// [`Projector::committed`].
pub(crate) trait Projector: Send {
    /// The projection this implements; its name keys its checkpoints and
    /// its pointer to the serving generation.
    fn projection(&self) -> Projection;

    /// Its tables, without the generation suffix: at generation 3, `orders`
    /// is the table `orders_g3`.
    fn tables(&self) -> &'static [&'static str];

    /// The SQL that creates generation `g`'s empty tables, with their
    /// primary keys only (applying events needs no more).
    fn create_tables(&self, g: u64) -> String;

    /// The SQL that creates the indexes the queries use on generation `g`,
    /// each only if missing; empty when the queries need none. A rebuild
    /// runs it once its tables are full: one sort instead of an index
    /// insert per row.
    fn create_indexes(&self, g: u64) -> String;

    /// Applies `events`, all past `checkpoint`, to generation `g`'s rows in
    /// `tx`. An order not held in memory at `checkpoint` is folded again
    /// from `history`.
    fn apply(
        &mut self,
        tx: &Transaction<'_>,
        g: u64,
        checkpoint: u64,
        events: &[Decoded],
        history: &mut History<'_>,
    ) -> Result<(), ProjectionError>;

    /// The transaction of the last `apply` to generation `g` committed with
    /// the checkpoint at `checkpoint`: what it keeps in memory is true there.
    fn committed(&mut self, g: u64, checkpoint: u64);

    /// Generation `g`'s tables were dropped: so is what was kept of them.
    fn forget(&mut self, g: u64);

    /// Generations older than the serving one are never written again
    /// (another process may have swapped them out): what was kept of them goes.
    fn forget_before(&mut self, serving: u64);
}
