//! The next deadline a writer is shown on the progress page (下一步：首次反馈，预计 … 前).
//!
//! Read off the letter's clocks as core computes them ([`LetterStatus::clocks`]), so the
//! writer is promised exactly the deadline the desks are held to. Only the clocks that
//! run from the writer's point of view count: 联系 (an officer calls), 首次反馈 and 办结.
//! 签收 is the units' business among themselves.

use chrono::{DateTime, Utc};
use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::{ClockKind, ClockState, Policy};
use jsjb_core::letter::{Category, LetterState};
use jsjb_core::workflow::LetterStatus;

/// The writer's clocks, in the order the steps come.
const WRITER_CLOCKS: [ClockKind; 3] = [
    ClockKind::Contact,
    ClockKind::FirstFeedback,
    ClockKind::Closure,
];

/// What the writer waits for next, and by when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStep {
    /// `Contact`, `FirstFeedback` or `Closure`.
    pub clock: ClockKind,
    /// The deadline in force (an approved extension's, when there is one).
    pub due_at: DateTime<Utc>,
    /// The deadline has passed and the step is not done.
    pub overdue: bool,
}

/// The next step of an open letter: the unmet writer's clock with the earliest deadline,
/// leaving out a step that a later one has overtaken (a first feedback given before any
/// call reached the writer: the call is no longer what they wait for). `None` once the
/// letter is closed, and for a thank-you letter, which asks nothing of anyone.
pub fn next_step(
    status: &LetterStatus,
    policy: &Policy,
    calendar: &WorkCalendar,
    now: DateTime<Utc>,
) -> Option<NextStep> {
    if status.state == LetterState::Closed || status.category == Category::Thanks {
        return None;
    }
    let clocks = status.clocks(policy, calendar, now);
    let readings: Vec<_> = WRITER_CLOCKS
        .iter()
        .filter_map(|&kind| clocks.get(kind))
        .collect();
    let overtaken = readings
        .iter()
        .rposition(|r| r.met_at.is_some())
        .map_or(0, |last_met| last_met + 1);
    readings[overtaken..]
        .iter()
        .filter(|r| matches!(r.state, ClockState::Running | ClockState::Breached))
        .min_by_key(|r| r.due_at)
        .map(|r| NextStep {
            clock: r.kind,
            due_at: r.due_at,
            overdue: r.state == ClockState::Breached,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use jsjb_core::clock::{ClockRule, ExtensionGrant};
    use jsjb_core::org::{Tier, UnitId};

    fn received() -> (LetterStatus, DateTime<Utc>) {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 26, 19, 35, 0)
            .single()
            .expect("a time");
        (
            LetterStatus::received(at, UnitId(1), Tier::City, Category::Help),
            at,
        )
    }

    fn step(status: &LetterStatus, now: DateTime<Utc>) -> Option<NextStep> {
        next_step(status, &Policy::shenzhen(), &WorkCalendar::china(), now)
    }

    #[test]
    fn a_new_letter_waits_for_the_call_within_the_contact_clock() {
        let (status, at) = received();
        assert_eq!(
            step(&status, at + Duration::minutes(5)),
            Some(NextStep {
                clock: ClockKind::Contact,
                due_at: at + Duration::minutes(30),
                overdue: false,
            })
        );
        // At the due time the clock still runs; a second later it is late.
        let due = at + Duration::minutes(30);
        assert_eq!(step(&status, due).map(|s| s.overdue), Some(false));
        assert_eq!(
            step(&status, due + Duration::seconds(1)).map(|s| (s.clock, s.overdue)),
            Some((ClockKind::Contact, true))
        );
    }

    #[test]
    fn after_the_call_comes_the_first_feedback_then_the_closure() {
        let (mut status, at) = received();
        status.state = LetterState::Handling;
        status.clock_inputs.first_contact_reached_at = Some(at + Duration::minutes(12));
        let now = at + Duration::hours(1);
        assert_eq!(
            step(&status, now),
            Some(NextStep {
                clock: ClockKind::FirstFeedback,
                due_at: at + Duration::days(4),
                overdue: false,
            })
        );
        status.clock_inputs.first_feedback_at = Some(at + Duration::days(1));
        assert_eq!(
            step(&status, now + Duration::days(1)).map(|s| (s.clock, s.due_at)),
            Some((ClockKind::Closure, at + Duration::days(15)))
        );
    }

    #[test]
    fn a_first_feedback_overtakes_a_call_that_never_reached_the_writer() {
        let (mut status, at) = received();
        status.state = LetterState::Handling;
        status.clock_inputs.first_feedback_at = Some(at + Duration::hours(2));
        assert_eq!(
            step(&status, at + Duration::hours(3)).map(|s| s.clock),
            Some(ClockKind::Closure)
        );
    }

    #[test]
    fn an_overdue_step_stays_the_next_one_and_says_so() {
        let (mut status, at) = received();
        status.state = LetterState::Handling;
        status.clock_inputs.first_contact_reached_at = Some(at + Duration::minutes(40));
        let now = at + Duration::days(5);
        assert_eq!(
            step(&status, now),
            Some(NextStep {
                clock: ClockKind::FirstFeedback,
                due_at: at + Duration::days(4),
                overdue: true,
            })
        );
    }

    #[test]
    fn an_extension_moves_the_closure_deadline_shown() {
        let (mut status, at) = received();
        status.state = LetterState::Handling;
        status.clock_inputs.first_contact_reached_at = Some(at + Duration::minutes(5));
        status.clock_inputs.first_feedback_at = Some(at + Duration::days(1));
        let new_due = at + Duration::days(30);
        status.clock_inputs.extension = Some(ExtensionGrant {
            decided_at: at + Duration::days(10),
            new_due,
        });
        assert_eq!(
            step(&status, at + Duration::days(16)),
            Some(NextStep {
                clock: ClockKind::Closure,
                due_at: new_due,
                overdue: false,
            })
        );
    }

    #[test]
    fn the_policy_sets_the_deadline() {
        let (status, at) = received();
        let mut policy = Policy::shenzhen();
        policy.contact = ClockRule::calendar(20 * 60, 5 * 60);
        let next = next_step(&status, &policy, &WorkCalendar::china(), at);
        assert_eq!(next.map(|s| s.due_at), Some(at + Duration::minutes(20)));
    }

    #[test]
    fn closed_and_thank_you_letters_have_no_next_step() {
        let (mut status, at) = received();
        status.state = LetterState::Closed;
        status.clock_inputs.closed_at = Some(at + Duration::days(2));
        assert_eq!(step(&status, at + Duration::days(3)), None);
        let (mut thanks, at) = received();
        thanks.category = Category::Thanks;
        assert_eq!(step(&thanks, at), None);
    }
}
