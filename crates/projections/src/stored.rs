//! How values are stored in the read models' columns, written by the
//! projections and read back by the queries.
//!
//! Invariant: instants are Unix milliseconds, so they sort and compare as
//! integers; `instant` reads back exactly what `millis` wrote.

use chrono::{DateTime, Utc};

/// Instants are stored as Unix milliseconds: they sort and compare as integers.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn instant(ms: i64) -> DateTime<Utc> {
    // Every stored value came from `millis`, so it is in range; the epoch
    // stands in for a value written by hand.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
