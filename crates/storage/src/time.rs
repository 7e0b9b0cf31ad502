//! The one text form of a timestamp in storage and in the audit chain's encoding.

use chrono::{DateTime, SecondsFormat, Utc};

/// UTC, fixed width, microseconds. Fixed width makes text comparison in SQL agree with
/// time order.
pub fn to_db(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a timestamp written by [`to_db`].
pub fn from_db(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}
