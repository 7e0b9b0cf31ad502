//! Where a row ranks and how it is coloured at a given `now`: pure functions of a
//! letter's clock columns, shared by the in-memory index (which filters and orders by
//! them) and the rows it hands out (which show them), so the two can never disagree.

use jsjb_core::clock::{Band, running_band};
use serde::Serialize;
use ts_rs::TS;

/// Where a row ranks in the inbox at the query's `now` (docs/design.md, "The inbox
/// order"): groups in this order, each sorted as its variant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum InboxGroup {
    /// A sign-for or contact clock still runs: saved or lost in the next minutes.
    /// By that clock's due time, soonest first (even when an earlier clock of the
    /// letter is already overdue: signing now still saves the contact clock).
    Savable,
    /// Another clock (first feedback, closure) still runs: by its due time.
    Live,
    /// Its most urgent clock is overdue and no sign-for or contact clock can be saved
    /// any more (已超期): longest overdue first.
    Overdue,
    /// No clock runs: newest first.
    Done,
}

/// The colour of a row's most urgent clock at `now`, by core's rule for a running clock
/// ([`running_band`]), and the seconds left on it (negative once overdue); `None` due:
/// every clock is met.
pub(crate) fn band_at(
    next_due_at: Option<i64>,
    warn_at: Option<i64>,
    now: i64,
) -> (Band, Option<i64>) {
    let Some(due) = next_due_at else {
        return (Band::Done, None);
    };
    let remaining = due.saturating_sub(now).div_euclid(1_000_000);
    // A row without a warn time warns only at its due time.
    match running_band(now, due, warn_at.unwrap_or(due)) {
        Band::Overdue => (Band::Overdue, Some(remaining.min(-1))),
        band => (band, Some(remaining)),
    }
}

/// The earliest sign-for or contact due time not yet passed at `now`: the clock that
/// can still be saved. A clock due exactly now still runs.
pub(crate) fn savable_due(
    sign_for_due: Option<i64>,
    contact_due: Option<i64>,
    now: i64,
) -> Option<i64> {
    [sign_for_due, contact_due]
        .into_iter()
        .flatten()
        .filter(|due| *due >= now)
        .min()
}

/// The group of a row (see [`InboxGroup`]).
pub(crate) fn group_of(savable: Option<i64>, next_due_at: Option<i64>, now: i64) -> InboxGroup {
    match (savable, next_due_at) {
        (Some(_), _) => InboxGroup::Savable,
        (None, None) => InboxGroup::Done,
        (None, Some(due)) if now > due => InboxGroup::Overdue,
        (None, Some(_)) => InboxGroup::Live,
    }
}

/// A row's place in the inbox at `now`, smallest first: its group, then within the group
/// the savable clock's due time (savable rows) or the stored `urgency_key` (the others:
/// the due time of the most urgent clock, or for letters with no running clock a key
/// that puts the newest first), then the id so that equal keys keep one order.
pub(crate) fn sort_key(
    savable: Option<i64>,
    next_due_at: Option<i64>,
    urgency_key: i64,
    id: i64,
    now: i64,
) -> (InboxGroup, i64, i64) {
    let group = group_of(savable, next_due_at, now);
    (group, savable.unwrap_or(urgency_key), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn band_edges_follow_core() {
        // At exactly the due time the clock still runs.
        assert_eq!(
            band_at(Some(100 * S), Some(40 * S), 100 * S),
            (Band::Warning, Some(0))
        );
        assert_eq!(
            band_at(Some(100 * S), Some(40 * S), 100 * S + 1),
            (Band::Overdue, Some(-1))
        );
        assert_eq!(
            band_at(Some(100 * S), Some(40 * S), 40 * S),
            (Band::Warning, Some(60))
        );
        assert_eq!(
            band_at(Some(100 * S), Some(40 * S), 40 * S - 1),
            (Band::Ok, Some(60))
        );
        assert_eq!(band_at(Some(100 * S), None, 99 * S), (Band::Ok, Some(1)));
        assert_eq!(band_at(None, None, 0), (Band::Done, None));
    }

    /// One row per case of the groups: (sign-for due, contact due, next due, now) → the
    /// savable due time and the group.
    #[test]
    fn groups_at_every_edge() {
        type Case = (
            Option<i64>,
            Option<i64>,
            Option<i64>,
            i64,
            Option<i64>,
            InboxGroup,
        );
        let cases: &[Case] = &[
            // Sign-for due later: savable by it.
            (
                Some(10),
                Some(30),
                Some(10),
                5,
                Some(10),
                InboxGroup::Savable,
            ),
            // Due exactly now: still savable.
            (
                Some(10),
                Some(30),
                Some(10),
                10,
                Some(10),
                InboxGroup::Savable,
            ),
            // Sign-for lost, contact still runs: savable by the contact clock.
            (
                Some(10),
                Some(30),
                Some(10),
                11,
                Some(30),
                InboxGroup::Savable,
            ),
            // Both lost: overdue.
            (Some(10), Some(30), Some(10), 31, None, InboxGroup::Overdue),
            // Only a later clock runs: live until its due time, overdue after.
            (None, None, Some(100), 99, None, InboxGroup::Live),
            (None, None, Some(100), 100, None, InboxGroup::Live),
            (None, None, Some(100), 101, None, InboxGroup::Overdue),
            // Nothing runs.
            (None, None, None, 0, None, InboxGroup::Done),
        ];
        for &(sign_for, contact, next_due, now, savable, group) in cases {
            let got = savable_due(sign_for, contact, now);
            assert_eq!(got, savable, "{sign_for:?} {contact:?} at {now}");
            assert_eq!(group_of(got, next_due, now), group, "{next_due:?} at {now}");
        }
        // Groups come in their order before any key; savable rows by their savable due.
        assert!(sort_key(Some(500), Some(1), 1, 9, 0) < sort_key(None, Some(2), 2, 1, 0));
        assert!(sort_key(Some(5), Some(1), 1, 9, 0) < sort_key(Some(6), Some(1), 1, 1, 0));
        assert!(sort_key(None, None, 7, 1, 0) > sort_key(None, Some(-5), -5, 2, 0));
    }
}
