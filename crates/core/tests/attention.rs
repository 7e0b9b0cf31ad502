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
// The chief or a supervisor of the unit cannot sign for it: no arrival alarm for them.
#[case::chief_at_the_station(Dispatched, MINE, CHIEF, None)]
#[case::supervisor_at_the_unit(Dispatched, MINE, &[Role::Supervisor], None)]
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

mod undecided_extension {
    use chrono::{Duration, TimeZone, Utc};
    use jsjb_core::attention::undecided_extension_warn_at;
    use jsjb_core::clock::Policy;
    use jsjb_core::letter::Category;
    use jsjb_core::org::{Role, Tier, UnitId, UserId};
    use jsjb_core::workflow::{EventPayload, LetterStatus};

    const CITY: UnitId = UnitId(1);
    const BRANCH: UnitId = UnitId(2);
    const STATION: UnitId = UnitId(5);
    const ELSEWHERE: UnitId = UnitId(3);

    /// Issue 12 item 3: a pending extension reminds the desks and chiefs above (on the
    /// dispatch chain) from the closure warn window before the deadline it asks to move;
    /// not the holder, an officer, a supervisor, or a unit off the chain; and not once
    /// it is decided.
    #[test]
    fn reminds_the_deciders_above_before_the_deadline_it_would_move() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
            .single()
            .expect("time");
        let current_due = t0 + Duration::days(15);
        let mut status = LetterStatus::received(t0, CITY, Tier::City, Category::Complaint);
        for (from, to, tier) in [
            (CITY, BRANCH, Tier::Branch),
            (BRANCH, STATION, Tier::Station),
        ] {
            status.apply(
                t0,
                &EventPayload::Dispatched {
                    from,
                    to,
                    to_tier: tier,
                    note: String::new(),
                    ruling: None,
                    return_upheld: None,
                },
            );
        }
        status.apply(
            t0,
            &EventPayload::SignedFor {
                unit: STATION,
                handler: UserId(9),
            },
        );
        let policy = Policy::shenzhen();
        let desk = [Role::Dispatcher];
        assert_eq!(
            undecided_extension_warn_at(&status, BRANCH, &desk, &policy),
            None,
            "nothing pending"
        );
        status.apply(
            t0 + Duration::days(10),
            &EventPayload::ExtensionRequested {
                reason: "需调取监控".into(),
                legal_basis: "《信访工作条例》".into(),
                requested_due: t0 + Duration::days(25),
                current_due,
            },
        );
        let warn = current_due - Duration::seconds(policy.closure.warn_before_secs);
        assert_eq!(
            undecided_extension_warn_at(&status, BRANCH, &desk, &policy),
            Some(warn)
        );
        assert_eq!(
            undecided_extension_warn_at(&status, CITY, &[Role::Chief], &policy),
            Some(warn)
        );
        for (unit, roles) in [
            (STATION, &[Role::Dispatcher][..]),
            (BRANCH, &[Role::Officer][..]),
            (BRANCH, &[Role::Supervisor][..]),
            (ELSEWHERE, &[Role::Dispatcher][..]),
        ] {
            assert_eq!(
                undecided_extension_warn_at(&status, unit, roles, &policy),
                None,
                "{unit:?} {roles:?}"
            );
        }
        status.apply(
            t0 + Duration::days(11),
            &EventPayload::ExtensionDecided {
                approve: true,
                new_due: Some(t0 + Duration::days(25)),
                note: String::new(),
            },
        );
        assert_eq!(
            undecided_extension_warn_at(&status, BRANCH, &desk, &policy),
            None,
            "decided"
        );
    }
}

mod escalation {
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use jsjb_core::attention::escalation_at;
    use jsjb_core::calendar::WorkCalendar;
    use jsjb_core::clock::{ClockKind, Policy, evaluate};
    use jsjb_core::letter::Category;
    use jsjb_core::letter::{ContactMethod, ContactOutcome};
    use jsjb_core::org::{Role, Tier, UnitId, UserId};
    use jsjb_core::workflow::{EventPayload, LetterStatus};
    use rstest::rstest;

    const CITY: UnitId = UnitId(1);
    const BRANCH: UnitId = UnitId(2);
    const STATION: UnitId = UnitId(5);
    const ELSEWHERE: UnitId = UnitId(3);
    const DESK: &[Role] = &[Role::Dispatcher];

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
            .single()
            .unwrap_or_default()
    }

    /// Received at the city at t0, down to the branch at t0, to the station at t0 + 1 min.
    fn at_station() -> LetterStatus {
        let mut status = LetterStatus::received(t0(), CITY, Tier::City, Category::Complaint);
        for (minute, from, to, tier) in [
            (0, CITY, BRANCH, Tier::Branch),
            (1, BRANCH, STATION, Tier::Station),
        ] {
            status.apply(
                t0() + Duration::minutes(minute),
                &EventPayload::Dispatched {
                    from,
                    to,
                    to_tier: tier,
                    note: String::new(),
                    ruling: None,
                    return_upheld: None,
                },
            );
        }
        status
    }

    /// What changed since `at_station`.
    #[derive(Debug, Clone, Copy)]
    enum Then {
        Nothing,
        SignedFor,
        Contacted,
    }

    fn after(then: Then) -> LetterStatus {
        let mut status = at_station();
        let at = t0() + Duration::minutes(5);
        match then {
            Then::Nothing => {}
            Then::SignedFor => status.apply(
                at,
                &EventPayload::SignedFor {
                    unit: STATION,
                    handler: UserId(9),
                },
            ),
            Then::Contacted => status.apply(
                at,
                &EventPayload::ContactRecorded {
                    outcome: ContactOutcome::Reached,
                    contacted_at: at,
                    method: ContactMethod::Phone,
                    note: String::new(),
                    callback_at: None,
                },
            ),
        }
        status
    }

    /// Issue 12 item 5: the desk that dispatched the letter down hears of a breached
    /// 签收 or 联系 clock below it (due time + grace), and only that desk unless the rule
    /// reaches further; never the holder, a non-desk, a unit off the chain, a met clock,
    /// or a clock the rule does not escalate.
    #[rstest]
    #[case::branch_hears_of_sign_for(
        Then::Nothing,
        ClockKind::SignFor,
        BRANCH,
        DESK,
        1,
        0,
        Some(11)
    )]
    #[case::branch_hears_of_contact(
        Then::Nothing,
        ClockKind::Contact,
        BRANCH,
        DESK,
        1,
        0,
        Some(30)
    )]
    #[case::grace_delays_it(Then::Nothing, ClockKind::SignFor, BRANCH, DESK, 1, 300, Some(11))]
    #[case::city_not_at_one_tier(Then::Nothing, ClockKind::SignFor, CITY, DESK, 1, 0, None)]
    #[case::city_at_two_tiers(Then::Nothing, ClockKind::SignFor, CITY, DESK, 2, 0, Some(11))]
    #[case::not_the_holder(Then::Nothing, ClockKind::SignFor, STATION, DESK, 1, 0, None)]
    #[case::not_an_officer(Then::Nothing, ClockKind::SignFor, BRANCH, &[Role::Officer], 1, 0, None)]
    #[case::not_a_supervisor(Then::Nothing, ClockKind::Contact, BRANCH, &[Role::Supervisor], 1, 0, None)]
    #[case::not_off_the_chain(Then::Nothing, ClockKind::SignFor, ELSEWHERE, DESK, 2, 0, None)]
    #[case::first_feedback_not_escalated(
        Then::Nothing,
        ClockKind::FirstFeedback,
        BRANCH,
        DESK,
        1,
        0,
        None
    )]
    #[case::signed_for(Then::SignedFor, ClockKind::SignFor, BRANCH, DESK, 1, 0, None)]
    #[case::signed_contact_still_runs(
        Then::SignedFor,
        ClockKind::Contact,
        BRANCH,
        DESK,
        1,
        0,
        Some(30)
    )]
    #[case::contacted(Then::Contacted, ClockKind::Contact, BRANCH, DESK, 1, 0, None)]
    fn tells_the_desk_above(
        #[case] then: Then,
        #[case] kind: ClockKind,
        #[case] me: UnitId,
        #[case] roles: &[Role],
        #[case] tiers_up: u8,
        #[case] grace_secs: i64,
        #[case] minutes_after_t0: Option<i64>,
    ) {
        let mut policy = Policy::shenzhen();
        policy.escalation.tiers_up = tiers_up;
        policy.escalation.grace_secs = grace_secs;
        assert_eq!(policy.validate(), Ok(()));
        let status = after(then);
        // Read well after every breach: a breached clock still escalates.
        let clocks = evaluate(
            &status.clock_inputs,
            &policy,
            &WorkCalendar::china(),
            t0() + Duration::hours(2),
        );
        let expected =
            minutes_after_t0.map(|m| t0() + Duration::minutes(m) + Duration::seconds(grace_secs));
        assert_eq!(
            escalation_at(kind, &status, &clocks, me, roles, &policy),
            expected
        );
    }

    #[test]
    fn escalation_can_be_turned_off_and_is_validated() {
        let mut policy = Policy::shenzhen();
        policy.escalation.clocks.clear();
        let status = at_station();
        let clocks = evaluate(&status.clock_inputs, &policy, &WorkCalendar::china(), t0());
        assert_eq!(
            escalation_at(ClockKind::SignFor, &status, &clocks, BRANCH, DESK, &policy),
            None
        );
        policy.escalation.tiers_up = 0;
        assert!(policy.validate().is_err());
        policy.escalation.tiers_up = 1;
        policy.escalation.grace_secs = -1;
        assert!(policy.validate().is_err());
    }
}
