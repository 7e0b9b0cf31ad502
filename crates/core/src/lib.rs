//! The 接诉即办 domain, shared by the central server and the desktop app.
//!
//! Pure: no IO, no async, no reading of the system clock. Time is always passed in,
//! so that every rule can be tested to the second and the server and the desktops
//! can never disagree about a deadline.

pub mod calendar;
pub mod clock;
pub mod letter;
pub mod org;

/// China Standard Time (UTC+8, no daylight saving): how every time is shown and how
/// calendar days are cut.
pub fn cst() -> chrono::FixedOffset {
    // 8 h is within the ±24 h that FixedOffset accepts, so this cannot fail.
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()))
}
