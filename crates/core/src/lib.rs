//! The 接诉即办 domain, shared by the central server and the desktop app.
//!
//! Pure: no IO, no async, no reading of the system clock. Time is always passed in,
//! so that every rule can be tested to the second and the server and the desktops
//! can never disagree about a deadline.

pub mod attention;
pub mod calendar;
pub mod clock;
pub mod form;
pub mod letter;
pub mod org;
pub mod report;
pub mod routing;
pub mod rules;
pub mod workflow;
pub mod writer_notice;

/// China Standard Time (UTC+8, no daylight saving): how every time is shown and how
/// calendar days are cut.
pub const CST: chrono::FixedOffset = match chrono::FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    // Evaluated at compile time: 8 h is within the ±24 h FixedOffset accepts.
    None => panic!("UTC+8 is a valid offset"),
};

/// The start of the CST calendar day `at` falls in (the wall board's "today").
pub fn cst_day_start(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let day = at.with_timezone(&CST).date_naive();
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    // A fixed offset has no gaps or folds: the local midnight is always one instant.
    midnight
        .and_local_timezone(CST)
        .single()
        .map_or(at, |t| t.with_timezone(&chrono::Utc))
}

/// China Standard Time; see [`CST`].
pub fn cst() -> chrono::FixedOffset {
    CST
}
