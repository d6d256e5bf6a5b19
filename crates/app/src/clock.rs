//! Time and new ids, injected.
//!
//! The domain never reads the clock nor makes ids; the app layer hands both
//! in through the decision context. Production uses the system clock and
//! time-ordered random (v7) UUIDs; tests and recorded logs use a clock that only moves
//! when told to and ids that count up, so the same script writes the same log.

use std::fmt::Debug;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock {
    // A std mutex: held for a copy only, never across an await.
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub trait IdSource: Send + Sync + Debug {
    fn new_id(&self) -> Uuid;
}

/// Time-ordered random UUIDs (v7): unique without coordination, and new
/// ids land at the end of the store's id index instead of on a random page,
/// which the SQLite benchmark measures at about a third more appends with
/// 64 writers (`make bench`, the `random v4 ids` row).
/// The millisecond they carry is no secret: events record their time anyway.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// UUIDs that count up from a seed: for tests and recorded logs only.
#[derive(Debug)]
pub struct SequentialIds {
    next: AtomicU64,
    seed: u64,
}

impl SequentialIds {
    pub fn new(seed: u64) -> SequentialIds {
        SequentialIds {
            next: AtomicU64::new(1),
            seed,
        }
    }
}

impl IdSource for SequentialIds {
    fn new_id(&self) -> Uuid {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Uuid::from_u64_pair(self.seed, n)
    }
}
