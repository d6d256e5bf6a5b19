//! Which code implements each [`Projection`]: the one place the public enum
//! is mapped to its [`Projector`]. A new projection is a variant of
//! `Projection`, a module implementing `Projector`, and one line in
//! [`projector`]; the runner, the rebuilds and `db.rs` need no change.
//!
//! Invariant: the writer holds one projector per projection
//! ([`Projectors`]), so what a projection keeps in memory has one owner.

use std::collections::HashMap;

use crate::Projection;
use crate::daily::DailyTotalsProjector;
use crate::orders::OrdersProjector;
use crate::projector::Projector;

/// The implementation of `projection`, with nothing in memory yet.
fn projector(projection: Projection) -> Box<dyn Projector> {
    match projection {
        Projection::Orders => Box::new(OrdersProjector::default()),
        Projection::DailyTotals => Box::new(DailyTotalsProjector::default()),
    }
}

/// One projector per projection, kept with the writing connection between
/// pages; each is made the first time it is asked for.
#[derive(Default)]
pub(crate) struct Projectors {
    made: HashMap<Projection, Box<dyn Projector>>,
}

impl Projectors {
    /// The projector of `projection`.
    pub(crate) fn get(&mut self, projection: Projection) -> &mut dyn Projector {
        self.made
            .entry(projection)
            .or_insert_with(|| projector(projection))
            .as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_projection_maps_to_its_own_projector() {
        for projection in Projection::ALL {
            let projector = projector(projection);
            assert_eq!(projector.projection(), projection);
            let tables = projector.create_tables(7);
            for table in projector.tables() {
                assert!(
                    tables.contains(&format!("CREATE TABLE {table}_g7 (")),
                    "{projection}: {table} is listed, so it is dropped with its generation"
                );
            }
            assert_eq!(
                tables.matches("CREATE TABLE").count(),
                projector.tables().len(),
                "{projection}: every table it creates is listed, so none outlives its generation"
            );
        }
    }
}
