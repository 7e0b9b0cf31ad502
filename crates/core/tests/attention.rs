//! "This letter waits for me", as a table: the one rule behind the alarm and the counts.

use jsjb_core::attention::{Awaiting, awaiting};
use jsjb_core::letter::LetterState::{
    self, AwaitingApproval, Closed, Dispatched, Handling, Received,
};
use jsjb_core::org::{Role, UnitId};
use rstest::rstest;

const MINE: UnitId = UnitId(10);
const OTHER: UnitId = UnitId(11);
const DESK: &[Role] = &[Role::Dispatcher];
const OFFICER: &[Role] = &[Role::Officer];
const CHIEF: &[Role] = &[Role::Chief];
const DESK_AND_OFFICER: &[Role] = &[Role::Officer, Role::Dispatcher];

#[rstest]
// A station: dispatched to my unit and not signed for.
#[case::station_dispatched(Dispatched, MINE, OFFICER, Some(Awaiting::SignFor))]
#[case::station_dispatched_elsewhere(Dispatched, OTHER, OFFICER, None)]
#[case::station_signed(Handling, MINE, OFFICER, None)]
// A branch desk is dispatched letters too: it signs for (or forwards) them.
#[case::desk_dispatched_to_it(Dispatched, MINE, DESK, Some(Awaiting::SignFor))]
// A desk: received at my unit (new, returned, sent back up) waits for a dispatch.
#[case::desk_received(Received, MINE, DESK, Some(Awaiting::Dispatch))]
#[case::desk_received_elsewhere(Received, OTHER, DESK, None)]
#[case::desk_with_two_roles(Received, MINE, DESK_AND_OFFICER, Some(Awaiting::Dispatch))]
// Only a dispatcher dispatches: an officer or chief of the same unit is not asked to.
#[case::officer_at_a_desk_unit(Received, MINE, OFFICER, None)]
#[case::chief_at_a_desk_unit(Received, MINE, CHIEF, None)]
// Work in progress has its own worklists, not the arrival alarm.
#[case::awaiting_approval(AwaitingApproval, MINE, DESK_AND_OFFICER, None)]
#[case::closed(Closed, MINE, DESK_AND_OFFICER, None)]
#[case::handling_at_desk(Handling, MINE, DESK, None)]
fn waits_for_me(
    #[case] state: LetterState,
    #[case] holder: UnitId,
    #[case] roles: &[Role],
    #[case] expected: Option<Awaiting>,
) {
    assert_eq!(awaiting(state, holder, MINE, roles), expected);
}
