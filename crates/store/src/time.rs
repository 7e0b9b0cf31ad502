//! Timestamps in the database: UTC microseconds since the Unix epoch, as INTEGER, so
//! that SQL compares them exactly (a clock is breached only *strictly* after its due
//! time, and the server's timestamps carry microseconds).

use chrono::{DateTime, Utc};

use crate::StoreError;

pub(crate) fn to_db(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_db(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} out of range")))
}
