//! The simulator's clock: wall time (or a configured instant) plus whatever the control API has advanced it by.
//!
//! Every delay the simulator plays ("paid after N seconds", a refund that stays processing, reversal windows, bill days) reads this clock,
//! so tests move time with `advance` instead of sleeping on the wall clock.
//! Fault latencies are the exception: they delay real responses, so they use tokio's timer.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

/// Beijing time, UTC+8, with no daylight saving: the providers' bill days and time fields use it.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is within the valid offset range")
}

/// The Beijing calendar day an instant falls on.
pub fn beijing_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&beijing()).date_naive()
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time (Alipay fields and both bills).
pub fn beijing_dashed(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `yyyyMMddHHmmss` in Beijing time (WeChat `time_end`).
pub fn beijing_compact(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y%m%d%H%M%S")
        .to_string()
}

#[derive(Debug)]
pub struct SimClock {
    origin: DateTime<Utc>,
    started: Instant,
    /// When frozen, only `advance` moves the clock: fully deterministic tests.
    frozen: bool,
    /// A std mutex: it is held for a few instructions and never across an await.
    advanced: Mutex<Duration>,
}

impl SimClock {
    pub fn new(origin: DateTime<Utc>, frozen: bool) -> Self {
        SimClock {
            origin,
            started: Instant::now(),
            frozen,
            advanced: Mutex::new(Duration::zero()),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let advanced = *self
            .advanced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = if self.frozen {
            Duration::zero()
        } else {
            Duration::from_std(self.started.elapsed()).unwrap_or_else(|_| Duration::zero())
        };
        self.origin + elapsed + advanced
    }

    /// Moves the clock forward; returns the new now.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        {
            let mut advanced = self
                .advanced
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *advanced += by;
        }
        self.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let origin = DateTime::parse_from_rfc3339("2026-01-15T15:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = SimClock::new(origin, true);
        assert_eq!(clock.now(), origin);
        assert_eq!(
            clock.advance(Duration::seconds(90)),
            origin + Duration::seconds(90)
        );
        assert_eq!(beijing_day(origin).to_string(), "2026-01-15");
        assert_eq!(beijing_day(clock.now()).to_string(), "2026-01-16");
    }
}
