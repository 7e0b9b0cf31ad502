//! "This letter waits for me": the one rule behind the arrival alarm, the tray count and
//! the window title's count (issue 12 item 1, issue 13 item 2).
//!
//! A letter waits for a user when their unit must act on it *now* and nobody else can:
//! - at any unit, a letter dispatched to it and not signed for (签收), for those who may
//!   sign for it (an officer, a desk — not the chief or a supervisor, who cannot);
//! - at a desk (a user with the dispatcher role), a letter `received` at its unit: a new
//!   citizen letter, one returned by a unit below (退单), one sent back up for a ruling —
//!   it must be dispatched or ruled on (派发/裁定).
//!
//! Handling, awaiting approval and closed letters wait for someone's work, but not for a
//! signature or a dispatch: they have their own worklists and clocks.
//!
//! One softer reminder is for the deciders above: an extension request nobody decides
//! ([`undecided_extension_warn_at`]). Another is for the desks above the holder: a clock
//! breached below them (逐级上报, [`escalation_at`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::WorkCalendar;
use crate::clock::{ClockKind, ClockState, LetterClocks, Policy, desk_dispatch_due};
use crate::letter::LetterState;
use crate::org::{Role, UnitId};
use crate::workflow::{ActionKind, LetterStatus, roles_for};

/// What the user must do for a letter that waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Awaiting {
    /// Sign for it (签收): it was dispatched to the user's unit.
    SignFor,
    /// Dispatch it or rule on it (派发/裁定): it is `received` at the user's desk.
    Dispatch,
}

/// Whether a letter in `state`, held by `holder`, waits for a user of `my_unit` with
/// `roles`, and for what.
pub fn awaiting(
    state: LetterState,
    holder: UnitId,
    my_unit: UnitId,
    roles: &[Role],
) -> Option<Awaiting> {
    if holder != my_unit {
        return None;
    }
    match state {
        LetterState::Dispatched
            if roles
                .iter()
                .any(|r| roles_for(ActionKind::SignFor).contains(r)) =>
        {
            Some(Awaiting::SignFor)
        }
        LetterState::Received if roles.contains(&Role::Dispatcher) => Some(Awaiting::Dispatch),
        _ => None,
    }
}

/// When a letter that waits for the user must be acted on: the sign-for clock's due time
/// (`sign_for_due`, from the letter's clocks) for [`Awaiting::SignFor`], the policy's desk
/// dispatch rule for [`Awaiting::Dispatch`]. `None` when the letter does not wait.
pub fn waiting_due(
    status: &LetterStatus,
    sign_for_due: Option<DateTime<Utc>>,
    my_unit: UnitId,
    roles: &[Role],
    policy: &Policy,
    calendar: &WorkCalendar,
    now: DateTime<Utc>,
) -> Option<(Awaiting, DateTime<Utc>)> {
    match awaiting(status.state, status.unit, my_unit, roles)? {
        Awaiting::SignFor => Some((Awaiting::SignFor, sign_for_due.unwrap_or(now))),
        Awaiting::Dispatch => Some((
            Awaiting::Dispatch,
            desk_dispatch_due(&status.clock_inputs, policy, calendar),
        )),
    }
}

/// When the decider of a pending extension request — a desk or chief of a unit the letter
/// was dispatched down from — is reminded that nobody has decided it: from the closure
/// rule's warn window before the deadline the request asks to move. `None` when nothing
/// is pending or the user does not decide it.
pub fn undecided_extension_warn_at(
    status: &LetterStatus,
    my_unit: UnitId,
    roles: &[Role],
    policy: &Policy,
) -> Option<DateTime<Utc>> {
    let pending = status.pending_extension.as_ref()?;
    let decides = (roles.contains(&Role::Dispatcher) || roles.contains(&Role::Chief))
        && status.unit != my_unit
        && status.dispatch_chain.contains(&my_unit);
    if !decides {
        return None;
    }
    let warn = policy.closure_rule(status.category).warn_before_secs;
    Some(
        pending
            .current_due
            .checked_sub_signed(Duration::seconds(warn))
            .unwrap_or(pending.current_due),
    )
}

/// When the desk of `my_unit` is told that the holder below let `kind` breach (逐级上报):
/// the clock's due time plus the policy's grace, while the clock is unmet, when the
/// policy escalates that clock, and when `my_unit` is one of the `tiers_up` desks that
/// dispatched the letter down to its holder. `None` otherwise — the desk's own letters
/// ring their own alarms, and a met clock needs nobody above.
pub fn escalation_at(
    kind: ClockKind,
    status: &LetterStatus,
    clocks: &LetterClocks,
    my_unit: UnitId,
    roles: &[Role],
    policy: &Policy,
) -> Option<DateTime<Utc>> {
    let rule = &policy.escalation;
    if !rule.clocks.contains(&kind) || !roles.contains(&Role::Dispatcher) || status.unit == my_unit
    {
        return None;
    }
    let above = status
        .dispatch_chain
        .iter()
        .rev()
        .take(usize::from(rule.tiers_up));
    if !above.into_iter().any(|unit| *unit == my_unit) {
        return None;
    }
    let reading = clocks.get(kind)?;
    if !matches!(reading.state, ClockState::Running | ClockState::Breached) {
        return None;
    }
    Some(
        reading
            .due_at
            .checked_add_signed(Duration::seconds(rule.grace_secs))
            .unwrap_or(reading.due_at),
    )
}
