//! The one source of "now" for everything time-dependent (invite expiry,
//! throttling windows, later grace windows), so tests can move time forward.

use chrono::{DateTime, Duration, Utc};
use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

/// Wall-clock time plus an offset that only tests change.
#[derive(Clone, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every server sharing it) forward.
    pub fn advance(&self, by: Duration) {
        // Only tests move the clock; a span past i64 microseconds (292,000 years) saturates.
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Times are stored as microseconds since the Unix epoch: one portable integer
/// column type on SQLite and PostgreSQL, and sortable.
pub fn to_micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}
