//! Beijing time: UTC+8 all year (China keeps no daylight saving, so a fixed
//! offset is exact). It is the calendar of the providers, their bills and
//! the merchants' books; every crate cuts days at this one midnight.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset as _, Utc};

const OFFSET_SECS: i32 = 8 * 3600;

/// UTC+8.
pub fn offset() -> FixedOffset {
    // In range by construction; UTC stands in only to avoid a panic path.
    FixedOffset::east_opt(OFFSET_SECS).unwrap_or_else(|| Utc.fix())
}

/// The Beijing wall-clock time of an instant.
pub fn wall_clock(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&offset()).naive_local()
}

/// The Beijing calendar day of an instant.
pub fn day(at: DateTime<Utc>) -> NaiveDate {
    wall_clock(at).date()
}

/// The instant a Beijing day starts (its midnight); `None` at the end of time.
pub fn start_of(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_time(NaiveTime::MIN)
        .and_local_timezone(offset())
        .single()
        .map(|start| start.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_turns_at_four_in_the_afternoon_utc() {
        let before = DateTime::parse_from_rfc3339("2026-11-26T15:59:59Z").unwrap();
        let after = DateTime::parse_from_rfc3339("2026-11-26T16:00:00Z").unwrap();
        assert_eq!(day(before.to_utc()).to_string(), "2026-11-26");
        assert_eq!(day(after.to_utc()).to_string(), "2026-11-27");
        let start = start_of(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap());
        assert_eq!(start, Some(after.to_utc()));
        assert_eq!(
            wall_clock(after.to_utc()).to_string(),
            "2026-11-27 00:00:00"
        );
    }
}
