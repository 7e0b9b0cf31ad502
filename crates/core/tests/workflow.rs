//! Table tests for the transition function: every action, allowed and refused, for each
//! role and each relation of the user's unit to the letter's unit, and in every state.

use chrono::{DateTime, Duration, TimeZone, Utc};
use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::{ClockState, Policy};
use jsjb_core::letter::{
    Category, ContactMethod, ContactOutcome, FormDecision, LetterId, LetterState, ReturnReason,
    Satisfaction,
};
use jsjb_core::org::{Role, Tier, Unit, UnitId, UnitTree, UserId};
use jsjb_core::workflow::{
    Action, ActionKind, Actor, DecisionContext, EventPayload, InputProblem, LetterStatus,
    RuleError, RulingOutcome, available_actions, decide, permits,
};
use rstest::rstest;

const CITY: UnitId = UnitId(1);
const BRANCH_A: UnitId = UnitId(10);
const BRANCH_B: UnitId = UnitId(20);
const STATION_A1: UnitId = UnitId(11);
const STATION_A2: UnitId = UnitId(12);
const STATION_B1: UnitId = UnitId(21);

const DESK_USER: UserId = UserId(100);
const HANDLER: UserId = UserId(111);
const SUPERVISOR: UserId = UserId(500);
const ACTOR: UserId = UserId(900);

fn tree() -> UnitTree {
    let unit = |id: UnitId, parent: Option<UnitId>, tier| Unit {
        id,
        parent,
        tier,
        name: format!("{id:?}"),
        active: true,
    };
    UnitTree::new([
        unit(CITY, None, Tier::City),
        unit(BRANCH_A, Some(CITY), Tier::Branch),
        unit(BRANCH_B, Some(CITY), Tier::Branch),
        unit(STATION_A1, Some(BRANCH_A), Tier::Station),
        unit(STATION_A2, Some(BRANCH_A), Tier::Station),
        unit(STATION_B1, Some(BRANCH_B), Tier::Station),
    ])
    .expect("valid tree")
}

/// 2026-03-02 09:00 CST.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .expect("valid time")
}

fn mins(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

/// Builds a status from events, each `m` minutes after t0.
struct History {
    status: LetterStatus,
}

impl History {
    fn received(category: Category) -> Self {
        History {
            status: LetterStatus::received(t0(), CITY, Tier::City, category),
        }
    }
    fn then(mut self, minute: i64, event: EventPayload) -> Self {
        self.status.apply(mins(minute), &event);
        self
    }
    fn dispatched(self, minute: i64, from: UnitId, to: UnitId, to_tier: Tier) -> Self {
        self.then(
            minute,
            EventPayload::Dispatched {
                from,
                to,
                to_tier,
                note: String::new(),
                ruling: None,
                return_upheld: None,
            },
        )
    }
    fn done(self) -> LetterStatus {
        self.status
    }
}

fn at_branch_dispatched() -> LetterStatus {
    History::received(Category::Complaint)
        .dispatched(1, CITY, BRANCH_A, Tier::Branch)
        .done()
}

fn at_station_dispatched() -> LetterStatus {
    History::received(Category::Complaint)
        .dispatched(1, CITY, BRANCH_A, Tier::Branch)
        .dispatched(2, BRANCH_A, STATION_A1, Tier::Station)
        .done()
}

fn handling() -> History {
    History {
        status: at_station_dispatched(),
    }
    .then(
        5,
        EventPayload::SignedFor {
            unit: STATION_A1,
            handler: HANDLER,
        },
    )
}

fn awaiting_approval() -> History {
    handling().then(
        60,
        EventPayload::FeedbackFormSubmitted {
            summary: "已处理".into(),
            result: "已解决".into(),
            reply: "已答复".into(),
        },
    )
}

fn closed() -> History {
    awaiting_approval().then(
        90,
        EventPayload::FeedbackFormDecided {
            decision: FormDecision::Approve,
            opinion: String::new(),
        },
    )
}

fn returned_to_branch() -> LetterStatus {
    History {
        status: at_station_dispatched(),
    }
    .then(
        4,
        EventPayload::Returned {
            from: STATION_A1,
            to: BRANCH_A,
            to_tier: Tier::Branch,
            reason: ReturnReason::NotOurJurisdiction,
            note: "辖区不符".into(),
        },
    )
    .done()
}

/// A letter on which `kind` is possible for the right actor, the moment to try it,
/// a valid action, and the state it leads to.
fn fixture(kind: ActionKind) -> (LetterStatus, DateTime<Utc>, Action, LetterState) {
    let soon = mins(10);
    match kind {
        ActionKind::Dispatch => (
            at_branch_dispatched(),
            soon,
            Action::Dispatch {
                to: STATION_A1,
                note: "请核查".into(),
            },
            LetterState::Dispatched,
        ),
        ActionKind::SignFor => (
            at_station_dispatched(),
            soon,
            Action::SignFor,
            LetterState::Handling,
        ),
        ActionKind::RecordContact => (
            handling().done(),
            soon,
            Action::RecordContact {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: mins(8),
                note: "已电话联系".into(),
                callback_at: None,
            },
            LetterState::Handling,
        ),
        ActionKind::GiveFirstFeedback => (
            handling().done(),
            soon,
            Action::GiveFirstFeedback {
                text: "已受理，正在核查".into(),
            },
            LetterState::Handling,
        ),
        ActionKind::ReturnLetter => (
            at_station_dispatched(),
            soon,
            Action::ReturnLetter {
                reason: ReturnReason::SharedDuty,
                note: "属交警职能".into(),
            },
            LetterState::Received,
        ),
        ActionKind::RuleReturn => (
            returned_to_branch(),
            soon,
            Action::RuleReturn {
                ruling: "经核查属你所辖区".into(),
                outcome: RulingOutcome::SendBack {},
            },
            LetterState::Dispatched,
        ),
        ActionKind::RequestExtension => (
            handling().done(),
            soon,
            Action::RequestExtension {
                reason: "需调取监控".into(),
                legal_basis: "《公安机关办理行政案件程序规定》".into(),
                requested_due: t0() + Duration::days(30),
            },
            LetterState::Handling,
        ),
        ActionKind::DecideExtension => (
            handling()
                .then(
                    20,
                    EventPayload::ExtensionRequested {
                        reason: "需调取监控".into(),
                        legal_basis: "规定".into(),
                        requested_due: t0() + Duration::days(30),
                        current_due: t0() + Duration::days(15),
                    },
                )
                .done(),
            soon,
            Action::DecideExtension {
                approve: true,
                granted_due: None,
                note: String::new(),
            },
            LetterState::Handling,
        ),
        ActionKind::AssignSupervisor => (
            handling().done(),
            // The 30-minute contact clock is breached an hour after receipt.
            mins(60),
            Action::AssignSupervisor {
                supervisor: SUPERVISOR,
                note: String::new(),
            },
            LetterState::Handling,
        ),
        ActionKind::Chase => (
            handling()
                .then(
                    61,
                    EventPayload::SupervisorAssigned {
                        supervisor: SUPERVISOR,
                        note: String::new(),
                    },
                )
                .done(),
            mins(70),
            Action::Chase {
                note: "请尽快联系来信人".into(),
            },
            LetterState::Handling,
        ),
        ActionKind::SubmitFeedbackForm => (
            handling()
                .then(
                    8,
                    EventPayload::FirstFeedbackGiven {
                        text: "已受理".into(),
                    },
                )
                .done(),
            soon,
            Action::SubmitFeedbackForm {
                summary: "已上门核查".into(),
                result: "问题已解决".into(),
                reply: "您反映的问题已处理".into(),
            },
            LetterState::AwaitingApproval,
        ),
        ActionKind::ApproveFeedbackForm => (
            awaiting_approval().done(),
            mins(61),
            Action::ApproveFeedbackForm {
                decision: FormDecision::Approve,
                opinion: String::new(),
            },
            LetterState::Closed,
        ),
        ActionKind::RecordReturnVisit => (
            closed().done(),
            mins(120),
            Action::RecordReturnVisit {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                resolved: Some(true),
                satisfaction: Some(Satisfaction::Satisfied),
                note: String::new(),
            },
            LetterState::Closed,
        ),
        ActionKind::LinkThanks => (
            History::received(Category::Thanks).done(),
            soon,
            Action::LinkThanks {
                case: LetterId(7),
                note: String::new(),
            },
            LetterState::Closed,
        ),
        ActionKind::Reclassify => (
            at_branch_dispatched(),
            soon,
            Action::Reclassify {
                category: Category::Complaint,
                problem_tags: vec!["噪音扰民".into()],
                note: "来信实为投诉".into(),
            },
            LetterState::Dispatched,
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Same,
    Above,
    Below,
    Unrelated,
}

/// A unit standing in `rel` to `unit`, if the tree has one.
fn unit_for(unit: UnitId, rel: Rel) -> Option<UnitId> {
    match (unit, rel) {
        (u, Rel::Same) => Some(u),
        (STATION_A1, Rel::Above) => Some(BRANCH_A),
        (STATION_A1, Rel::Unrelated) => Some(STATION_B1),
        (STATION_A1, Rel::Below) => None,
        (BRANCH_A, Rel::Above) => Some(CITY),
        (BRANCH_A, Rel::Below) => Some(STATION_A1),
        (BRANCH_A, Rel::Unrelated) => Some(BRANCH_B),
        (CITY, Rel::Below) => Some(BRANCH_A),
        (CITY, Rel::Above | Rel::Unrelated) => None,
        _ => None,
    }
}

/// Where a role may take an action only in some of the action's states: the desk
/// records the contact while the letter waits at it, the officer once it is signed for.
fn role_states(kind: ActionKind, role: Role) -> Option<&'static [LetterState]> {
    use LetterState as S;
    match (kind, role) {
        (ActionKind::RecordContact, Role::Dispatcher) => Some(&[S::Received, S::Dispatched]),
        (ActionKind::RecordContact, Role::Officer) => Some(&[S::Handling, S::AwaitingApproval]),
        _ => None,
    }
}

/// The rule book, written out independently of the implementation's table.
fn expected(kind: ActionKind) -> (&'static [Role], &'static [Rel]) {
    use ActionKind as K;
    use Role as R;
    match kind {
        K::Dispatch => (&[R::Dispatcher], &[Rel::Same]),
        K::SignFor => (&[R::Officer, R::Dispatcher], &[Rel::Same]),
        K::RecordContact => (&[R::Officer, R::Dispatcher], &[Rel::Same]),
        K::GiveFirstFeedback => (&[R::Officer], &[Rel::Same]),
        K::ReturnLetter => (&[R::Officer, R::Dispatcher], &[Rel::Same]),
        K::RuleReturn => (&[R::Dispatcher], &[Rel::Same]),
        K::RequestExtension => (&[R::Officer], &[Rel::Same]),
        K::DecideExtension => (&[R::Dispatcher, R::Chief], &[Rel::Above]),
        K::AssignSupervisor => (&[R::Dispatcher, R::Chief], &[Rel::Above]),
        K::Chase => (&[R::Supervisor], &[Rel::Above]),
        K::SubmitFeedbackForm => (&[R::Officer], &[Rel::Same]),
        K::ApproveFeedbackForm => (&[R::Chief], &[Rel::Same]),
        K::RecordReturnVisit => (&[R::Dispatcher], &[Rel::Same, Rel::Above]),
        K::LinkThanks => (&[R::Dispatcher], &[Rel::Same]),
        K::Reclassify => (&[R::Dispatcher], &[Rel::Same, Rel::Above]),
    }
}

fn actor(unit: UnitId, role: Role, kind: ActionKind) -> Actor {
    Actor {
        // The chase is open only to the assigned supervisor; everyone else acts as a stranger.
        user: if kind == ActionKind::Chase {
            SUPERVISOR
        } else {
            ACTOR
        },
        unit,
        roles: vec![role],
    }
}

fn ctx<'a>(
    actor: &'a Actor,
    tree: &'a UnitTree,
    policy: &'a Policy,
    cal: &'a WorkCalendar,
    now: DateTime<Utc>,
) -> DecisionContext<'a> {
    DecisionContext {
        actor,
        tree,
        policy,
        calendar: cal,
        now,
    }
}

#[rstest]
fn every_action_for_every_role_and_relation(
    #[values(
        ActionKind::Dispatch,
        ActionKind::SignFor,
        ActionKind::RecordContact,
        ActionKind::GiveFirstFeedback,
        ActionKind::ReturnLetter,
        ActionKind::RuleReturn,
        ActionKind::RequestExtension,
        ActionKind::DecideExtension,
        ActionKind::AssignSupervisor,
        ActionKind::Chase,
        ActionKind::SubmitFeedbackForm,
        ActionKind::ApproveFeedbackForm,
        ActionKind::RecordReturnVisit,
        ActionKind::LinkThanks,
        ActionKind::Reclassify
    )]
    kind: ActionKind,
    #[values(
        Role::Dispatcher,
        Role::Officer,
        Role::Chief,
        Role::Supervisor,
        Role::Admin
    )]
    role: Role,
    #[values(Rel::Same, Rel::Above, Rel::Below, Rel::Unrelated)] rel: Rel,
) {
    let tree = tree();
    let policy = Policy::shenzhen();
    let cal = WorkCalendar::china();
    let (status, now, action, next_state) = fixture(kind);
    let Some(unit) = unit_for(status.unit, rel) else {
        return; // the tree has no such unit for this letter
    };
    let actor = actor(unit, role, kind);
    let ctx = ctx(&actor, &tree, &policy, &cal, now);
    let (roles, rels) = expected(kind);

    let want = if matches!(rel, Rel::Below | Rel::Unrelated) {
        Err("out_of_scope")
    } else if !roles.contains(&role) {
        Err("role_not_allowed")
    } else if !rels.contains(&rel) {
        Err("out_of_scope")
    } else if role_states(kind, role).is_some_and(|states| !states.contains(&status.state)) {
        Err("wrong_state")
    } else {
        Ok(next_state)
    };

    let got = decide(&ctx, &status, &action).map(|event| {
        let mut after = status.clone();
        after.apply(now, &event);
        assert_eq!(after.version, status.version + 1);
        after.state
    });
    assert_eq!(
        got.map_err(|e| e.code()),
        want,
        "{kind:?} by {role:?} ({rel:?})"
    );
    assert_eq!(
        available_actions(&ctx, &status).contains(&kind),
        want.is_ok(),
        "available_actions for {kind:?} by {role:?} ({rel:?})"
    );
}

/// A status in each state, held by a unit that has a unit above it.
fn status_in(state: LetterState) -> LetterStatus {
    match state {
        LetterState::Received => returned_to_branch(),
        LetterState::Dispatched => at_station_dispatched(),
        LetterState::Handling => handling().done(),
        LetterState::AwaitingApproval => awaiting_approval().done(),
        LetterState::Closed => closed().done(),
    }
}

fn allowed_states(kind: ActionKind) -> &'static [LetterState] {
    use ActionKind as K;
    use LetterState as S;
    match kind {
        K::Dispatch => &[S::Received, S::Dispatched, S::Handling],
        K::SignFor => &[S::Dispatched],
        K::RecordContact => &[S::Received, S::Dispatched, S::Handling, S::AwaitingApproval],
        K::GiveFirstFeedback | K::RequestExtension => &[S::Handling, S::AwaitingApproval],
        K::ReturnLetter => &[S::Dispatched, S::Handling],
        K::RuleReturn | K::LinkThanks => &[S::Received],
        K::DecideExtension | K::AssignSupervisor | K::Chase => {
            &[S::Dispatched, S::Handling, S::AwaitingApproval]
        }
        K::SubmitFeedbackForm => &[S::Handling],
        K::ApproveFeedbackForm => &[S::AwaitingApproval],
        K::RecordReturnVisit => &[S::Closed],
        K::Reclassify => &[S::Received, S::Dispatched, S::Handling, S::AwaitingApproval],
    }
}

#[rstest]
fn every_action_is_refused_in_the_wrong_state(
    #[values(
        ActionKind::Dispatch,
        ActionKind::SignFor,
        ActionKind::RecordContact,
        ActionKind::GiveFirstFeedback,
        ActionKind::ReturnLetter,
        ActionKind::RuleReturn,
        ActionKind::RequestExtension,
        ActionKind::DecideExtension,
        ActionKind::AssignSupervisor,
        ActionKind::Chase,
        ActionKind::SubmitFeedbackForm,
        ActionKind::ApproveFeedbackForm,
        ActionKind::RecordReturnVisit,
        ActionKind::LinkThanks,
        ActionKind::Reclassify
    )]
    kind: ActionKind,
    #[values(
        LetterState::Received,
        LetterState::Dispatched,
        LetterState::Handling,
        LetterState::AwaitingApproval,
        LetterState::Closed
    )]
    state: LetterState,
) {
    if allowed_states(kind).contains(&state) {
        return; // covered by the allowed-path tests
    }
    let tree = tree();
    let policy = Policy::shenzhen();
    let cal = WorkCalendar::china();
    let status = status_in(state);
    let (roles, rels) = expected(kind);
    let unit = if rels.contains(&Rel::Same) {
        status.unit
    } else {
        unit_for(status.unit, Rel::Above).expect("fixtures have a unit above")
    };
    let actor = Actor {
        user: SUPERVISOR,
        unit,
        roles: roles.to_vec(),
    };
    let ctx = ctx(&actor, &tree, &policy, &cal, mins(10));
    assert_eq!(
        permits(&ctx, &status, kind),
        Err(RuleError::WrongState {
            action: kind,
            state
        }),
        "{kind:?} in {state:?}"
    );
}

fn officer_at(unit: UnitId) -> Actor {
    Actor {
        user: HANDLER,
        unit,
        roles: vec![Role::Officer],
    }
}

fn desk_at(unit: UnitId) -> Actor {
    Actor {
        user: DESK_USER,
        unit,
        roles: vec![Role::Dispatcher],
    }
}

#[test]
fn dispatch_only_goes_down_the_tree() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let status = at_branch_dispatched();
    let desk = desk_at(BRANCH_A);
    let ctx = ctx(&desk, &tree, &policy, &cal, mins(3));
    for to in [CITY, BRANCH_A, BRANCH_B, STATION_B1, UnitId(999)] {
        assert_eq!(
            decide(
                &ctx,
                &status,
                &Action::Dispatch {
                    to,
                    note: String::new()
                }
            ),
            Err(RuleError::InvalidTarget),
            "to {to:?}"
        );
    }
    assert!(
        decide(
            &ctx,
            &status,
            &Action::Dispatch {
                to: STATION_A2,
                note: String::new()
            }
        )
        .is_ok()
    );
}

/// A deactivated unit receives no letters: neither a dispatch nor an upheld return's
/// redispatch may go to it (the unit keeps the history it has).
#[test]
fn a_deactivated_unit_receives_no_letters() {
    let (policy, cal) = (Policy::shenzhen(), WorkCalendar::china());
    let tree = UnitTree::new(tree().units().cloned().map(|mut u| {
        u.active = u.id != STATION_A2;
        u
    }))
    .expect("tree");
    let desk = desk_at(BRANCH_A);
    let ctx = ctx(&desk, &tree, &policy, &cal, mins(3));
    let dispatch = Action::Dispatch {
        to: STATION_A2,
        note: String::new(),
    };
    assert_eq!(
        decide(&ctx, &at_branch_dispatched(), &dispatch),
        Err(RuleError::InactiveUnit)
    );
    let ctx = self::ctx(&desk, &tree, &policy, &cal, mins(5));
    let redispatch = Action::RuleReturn {
        ruling: "经核查".into(),
        outcome: RulingOutcome::Redispatch { to: STATION_A2 },
    };
    assert_eq!(
        decide(&ctx, &returned_to_branch(), &redispatch),
        Err(RuleError::InactiveUnit)
    );
    assert_eq!(RuleError::InactiveUnit.code(), "unit_inactive");
}

#[test]
fn forwarding_meets_the_branch_sign_for_clock_and_tracks_holdings() {
    let status = at_station_dispatched();
    assert_eq!(status.clock_inputs.dispatches.len(), 2);
    assert_eq!(status.clock_inputs.dispatches[0].signed_at, Some(mins(2)));
    assert_eq!(status.clock_inputs.dispatches[1].signed_at, None);
    let tiers: Vec<Tier> = status
        .clock_inputs
        .holdings
        .iter()
        .map(|h| h.tier)
        .collect();
    assert_eq!(tiers, vec![Tier::City, Tier::Branch, Tier::Station]);
    assert_eq!(status.clock_inputs.holdings[0].until, Some(mins(1)));
    assert_eq!(status.clock_inputs.holdings[2].until, None);
    assert_eq!(status.dispatch_chain, vec![CITY, BRANCH_A]);
}

#[test]
fn return_goes_to_the_dispatching_desk_and_redispatch_restarts_sign_for() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let mut status = at_station_dispatched();
    let officer = officer_at(STATION_A1);
    let c = ctx(&officer, &tree, &policy, &cal, mins(4));
    let event = decide(
        &c,
        &status,
        &Action::ReturnLetter {
            reason: ReturnReason::NotOurJurisdiction,
            note: "  ".into(),
        },
    );
    assert_eq!(
        event,
        Err(RuleError::Invalid {
            field: "note",
            problem: InputProblem::Required
        })
    );
    let event = decide(
        &c,
        &status,
        &Action::ReturnLetter {
            reason: ReturnReason::NotOurJurisdiction,
            note: "不属本所辖区".into(),
        },
    )
    .expect("officer may return");
    status.apply(mins(4), &event);
    assert_eq!(status.state, LetterState::Received);
    assert_eq!(status.unit, BRANCH_A);
    assert_eq!(status.returned_from, Some(STATION_A1));
    assert_eq!(status.clock_inputs.dispatches[1].ended_at, Some(mins(4)));

    // The branch desk re-dispatches to the other station: a new sign-for clock starts.
    let desk = desk_at(BRANCH_A);
    let c = ctx(&desk, &tree, &policy, &cal, mins(6));
    let event = decide(
        &c,
        &status,
        &Action::Dispatch {
            to: STATION_A2,
            note: String::new(),
        },
    )
    .expect("desk re-dispatches");
    status.apply(mins(6), &event);
    assert_eq!(status.unit, STATION_A2);
    assert_eq!(status.returned_from, None);
    let clocks = status.clocks(&policy, &cal, mins(7));
    let sign_for = clocks.sign_for.expect("sign-for clock runs");
    assert_eq!(sign_for.started_at, mins(6));
    assert_eq!(sign_for.due_at, mins(16));
    // The contact clock still runs from receipt.
    assert_eq!(clocks.contact.due_at, mins(30));
}

#[test]
fn ruling_sends_a_returned_letter_back_with_the_ruling() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let mut status = returned_to_branch();
    let desk = desk_at(BRANCH_A);
    let c = ctx(&desk, &tree, &policy, &cal, mins(5));
    let event = decide(
        &c,
        &status,
        &Action::RuleReturn {
            ruling: "属你所辖区".into(),
            outcome: RulingOutcome::SendBack {},
        },
    )
    .expect("desk rules");
    assert!(matches!(
        &event,
        EventPayload::Dispatched { to, ruling: Some(r), .. } if *to == STATION_A1 && r == "属你所辖区"
    ));
    status.apply(mins(5), &event);
    assert_eq!(status.state, LetterState::Dispatched);
    assert_eq!(status.unit, STATION_A1);
}

/// 退单裁定 has three outcomes: refused (back to the returning station), upheld and sent
/// to another unit (改派), upheld and passed up to the desk above (上报).
#[rstest]
#[case::send_back(RulingOutcome::SendBack {}, Ok((STATION_A1, LetterState::Dispatched, None)))]
#[case::redispatch(
    RulingOutcome::Redispatch { to: STATION_A2 },
    Ok((STATION_A2, LetterState::Dispatched, Some(true)))
)]
#[case::pass_up(
    RulingOutcome::PassUp { reason: ReturnReason::SharedDuty },
    Ok((CITY, LetterState::Received, None))
)]
#[case::redispatch_to_the_returner(
    RulingOutcome::Redispatch { to: STATION_A1 },
    Err(RuleError::InvalidTarget)
)]
#[case::redispatch_outside_the_branch(
    RulingOutcome::Redispatch { to: STATION_B1 },
    Err(RuleError::InvalidTarget)
)]
#[case::redispatch_to_itself(RulingOutcome::Redispatch { to: BRANCH_A }, Err(RuleError::InvalidTarget))]
fn a_ruling_refuses_or_upholds_the_return(
    #[case] outcome: RulingOutcome,
    #[case] expected: Result<(UnitId, LetterState, Option<bool>), RuleError>,
) {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let mut status = returned_to_branch();
    let desk = desk_at(BRANCH_A);
    let c = ctx(&desk, &tree, &policy, &cal, mins(5));
    let action = Action::RuleReturn {
        ruling: "经核查".into(),
        outcome,
    };
    let (event, (unit, state, upheld)) = match (decide(&c, &status, &action), expected) {
        (Err(got), Err(want)) => {
            assert_eq!(got, want);
            return;
        }
        (Ok(event), Ok(want)) => (event, want),
        (got, want) => panic!("{got:?} but expected {want:?}"),
    };
    match &event {
        EventPayload::Dispatched {
            ruling,
            return_upheld,
            ..
        } => {
            assert_eq!(ruling.as_deref(), Some("经核查"));
            assert_eq!(*return_upheld, upheld);
        }
        EventPayload::Returned { reason, note, .. } => {
            assert_eq!(*reason, ReturnReason::SharedDuty);
            assert_eq!(note, "经核查");
        }
        other => panic!("unexpected {other:?}"),
    }
    status.apply(mins(5), &event);
    assert_eq!((status.unit, status.state), (unit, state));
    if state == LetterState::Received {
        // Passed up: now the city desk rules on it.
        assert_eq!(status.returned_from, Some(BRANCH_A));
        let city = desk_at(CITY);
        let c = ctx(&city, &tree, &policy, &cal, mins(6));
        assert_eq!(permits(&c, &status, ActionKind::RuleReturn), Ok(()));
    }
}

#[test]
fn a_desk_that_received_the_letter_itself_cannot_pass_its_ruling_up() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    // Received at the city desk, dispatched to the branch, returned by the branch.
    let status = History::received(Category::Help)
        .dispatched(1, CITY, BRANCH_A, Tier::Branch)
        .then(
            3,
            EventPayload::Returned {
                from: BRANCH_A,
                to: CITY,
                to_tier: Tier::City,
                reason: ReturnReason::Other,
                note: "非本局".into(),
            },
        )
        .done();
    let city = desk_at(CITY);
    let c = ctx(&city, &tree, &policy, &cal, mins(4));
    let action = Action::RuleReturn {
        ruling: "改由他局".into(),
        outcome: RulingOutcome::PassUp {
            reason: ReturnReason::Other,
        },
    };
    assert_eq!(
        decide(&c, &status, &action),
        Err(RuleError::NothingToReturnTo)
    );
}

#[test]
fn the_city_desk_cannot_return_a_letter_nobody_dispatched() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let status = History::received(Category::Help).done();
    let desk = desk_at(CITY);
    let c = ctx(&desk, &tree, &policy, &cal, mins(1));
    assert_eq!(
        permits(&c, &status, ActionKind::ReturnLetter),
        Err(RuleError::WrongState {
            action: ActionKind::ReturnLetter,
            state: LetterState::Received
        })
    );
    assert_eq!(
        permits(&c, &status, ActionKind::RuleReturn),
        Err(RuleError::NotReturned)
    );
    assert_eq!(
        permits(&c, &status, ActionKind::LinkThanks),
        Err(RuleError::NotThanks)
    );
}

#[test]
fn extension_only_before_the_deadline_and_one_at_a_time() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let status = handling().done();
    let officer = officer_at(STATION_A1);
    let due = t0() + Duration::days(15);
    let ask = Action::RequestExtension {
        reason: "需要调查".into(),
        legal_basis: "规定".into(),
        requested_due: due + Duration::days(10),
    };
    for (now, ok) in [
        (due - Duration::seconds(1), true),
        (due, true),
        (due + Duration::seconds(1), false),
    ] {
        let c = ctx(&officer, &tree, &policy, &cal, now);
        assert_eq!(
            decide(&c, &status, &ask).map(|_| ()),
            if ok {
                Ok(())
            } else {
                Err(RuleError::DeadlinePassed)
            },
            "at due {:+}s",
            (now - due).num_seconds()
        );
    }
    let c = ctx(&officer, &tree, &policy, &cal, mins(30));
    let not_later = Action::RequestExtension {
        reason: "需要调查".into(),
        legal_basis: "规定".into(),
        requested_due: due,
    };
    assert_eq!(
        decide(&c, &status, &not_later),
        Err(RuleError::Invalid {
            field: "requested_due",
            problem: InputProblem::NotLater
        })
    );
    let mut status = status;
    let event = decide(&c, &status, &ask).expect("asks");
    status.apply(mins(30), &event);
    assert_eq!(decide(&c, &status, &ask), Err(RuleError::ExtensionPending));

    // The branch chief approves: the closure deadline moves, the original is kept.
    let chief = Actor {
        user: UserId(300),
        unit: BRANCH_A,
        roles: vec![Role::Chief],
    };
    let c = ctx(&chief, &tree, &policy, &cal, mins(40));
    let event = decide(
        &c,
        &status,
        &Action::DecideExtension {
            approve: true,
            granted_due: None,
            note: String::new(),
        },
    )
    .expect("chief above decides");
    status.apply(mins(40), &event);
    assert!(status.pending_extension.is_none());
    let clocks = status.clocks(&policy, &cal, mins(41));
    assert_eq!(clocks.closure.due_at, due + Duration::days(10));
    assert_eq!(clocks.closure.original_due_at, Some(due));
    // Nothing is left to decide.
    assert_eq!(
        decide(
            &c,
            &status,
            &Action::DecideExtension {
                approve: false,
                granted_due: None,
                note: String::new()
            }
        ),
        Err(RuleError::NoPendingExtension)
    );
}

#[rstest]
#[case::a_shorter_extension(Some(20), true, Ok(20))]
#[case::a_longer_extension(Some(45), true, Ok(45))]
#[case::as_requested(None, true, Ok(30))]
#[case::not_later_than_in_force(Some(15), true, Err(InputProblem::NotLater))]
#[case::a_date_on_a_refusal(Some(20), false, Err(InputProblem::NotApplicable))]
fn an_extension_can_be_granted_to_another_date(
    #[case] granted_days: Option<i64>,
    #[case] approve: bool,
    #[case] expected: Result<i64, InputProblem>,
) {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    // Requested: t0 + 30 days; in force: t0 + 15 days.
    let (mut status, now, _, _) = fixture(ActionKind::DecideExtension);
    let desk = desk_at(BRANCH_A);
    let c = ctx(&desk, &tree, &policy, &cal, now);
    let action = Action::DecideExtension {
        approve,
        granted_due: granted_days.map(|d| t0() + Duration::days(d)),
        note: "理由".into(),
    };
    match (decide(&c, &status, &action), expected) {
        (Ok(event), Ok(days)) => {
            status.apply(now, &event);
            let clocks = status.clocks(&policy, &cal, now);
            assert_eq!(clocks.closure.due_at, t0() + Duration::days(days));
        }
        (Err(got), Err(problem)) => assert_eq!(
            got,
            RuleError::Invalid {
                field: "granted_due",
                problem
            }
        ),
        (got, want) => panic!("{got:?} but expected {want:?}"),
    }
}

#[test]
fn rejecting_an_extension_requires_a_reason_and_keeps_the_deadline() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let (mut status, now, _, _) = fixture(ActionKind::DecideExtension);
    let desk = desk_at(BRANCH_A);
    let c = ctx(&desk, &tree, &policy, &cal, now);
    assert_eq!(
        decide(
            &c,
            &status,
            &Action::DecideExtension {
                approve: false,
                granted_due: None,
                note: " ".into()
            }
        ),
        Err(RuleError::Invalid {
            field: "note",
            problem: InputProblem::Required
        })
    );
    let event = decide(
        &c,
        &status,
        &Action::DecideExtension {
            approve: false,
            granted_due: None,
            note: "理由不充分".into(),
        },
    )
    .expect("desk rejects");
    status.apply(now, &event);
    let clocks = status.clocks(&policy, &cal, now);
    assert_eq!(clocks.closure.due_at, t0() + Duration::days(15));
    assert_eq!(clocks.closure.original_due_at, None);
}

#[test]
fn a_supervisor_is_assigned_only_to_overdue_or_extended_cases() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let status = handling().done();
    let desk = desk_at(BRANCH_A);
    let assign = Action::AssignSupervisor {
        supervisor: SUPERVISOR,
        note: String::new(),
    };
    // 30 min after receipt the contact clock is due, not yet breached.
    let c = ctx(&desk, &tree, &policy, &cal, mins(30));
    assert_eq!(
        decide(&c, &status, &assign),
        Err(RuleError::NotOverdueOrExtended)
    );
    let c = ctx(&desk, &tree, &policy, &cal, mins(31));
    assert!(decide(&c, &status, &assign).is_ok());
}

#[test]
fn only_the_assigned_supervisor_chases() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let (status, now, action, _) = fixture(ActionKind::Chase);
    let other = Actor {
        user: UserId(501),
        unit: BRANCH_A,
        roles: vec![Role::Supervisor],
    };
    let c = ctx(&other, &tree, &policy, &cal, now);
    assert_eq!(
        decide(&c, &status, &action),
        Err(RuleError::NotAssignedSupervisor)
    );
}

#[test]
fn first_feedback_once_and_contact_time_checked() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let mut status = handling().done();
    let officer = officer_at(STATION_A1);
    let c = ctx(&officer, &tree, &policy, &cal, mins(20));
    let event = decide(
        &c,
        &status,
        &Action::GiveFirstFeedback {
            text: "已受理".into(),
        },
    )
    .expect("ok");
    status.apply(mins(20), &event);
    assert_eq!(
        decide(
            &c,
            &status,
            &Action::GiveFirstFeedback {
                text: "再次反馈".into()
            }
        ),
        Err(RuleError::AlreadyDone)
    );
    let contact = |at| Action::RecordContact {
        method: ContactMethod::Phone,
        outcome: ContactOutcome::Reached,
        contacted_at: at,
        note: String::new(),
        callback_at: None,
    };
    assert_eq!(
        decide(&c, &status, &contact(mins(26))),
        Err(RuleError::Invalid {
            field: "contacted_at",
            problem: InputProblem::InTheFuture
        })
    );
    assert_eq!(
        decide(&c, &status, &contact(mins(-1))),
        Err(RuleError::Invalid {
            field: "contacted_at",
            problem: InputProblem::BeforeReceipt
        })
    );
    // An unreachable attempt does not meet the contact clock; the first reached one does.
    let unreachable = Action::RecordContact {
        method: ContactMethod::Phone,
        outcome: ContactOutcome::Unreachable,
        contacted_at: mins(12),
        note: "无人接听".into(),
        callback_at: None,
    };
    let event = decide(&c, &status, &unreachable).expect("ok");
    status.apply(mins(12), &event);
    assert_eq!(status.clock_inputs.first_contact_reached_at, None);
    let event = decide(&c, &status, &contact(mins(18))).expect("ok");
    status.apply(mins(20), &event);
    assert_eq!(status.clock_inputs.first_contact_reached_at, Some(mins(18)));
}

/// 约定回拨: a call-back time goes with an attempt that did not reach the writer, and
/// not before it. It is judged against the attempt, not the deciding `now`: a contact
/// queued offline reaches the server after the promised time and is still recorded.
#[rstest]
#[case::none_after_an_unreachable_attempt(ContactOutcome::Unreachable, None, Ok(()))]
#[case::later_than_the_attempt(ContactOutcome::Unreachable, Some(60), Ok(()))]
#[case::at_the_attempt(ContactOutcome::Unreachable, Some(12), Ok(()))]
#[case::already_past_when_decided(ContactOutcome::Unreachable, Some(15), Ok(()))]
#[case::before_the_attempt(
    ContactOutcome::Unreachable,
    Some(11),
    Err(InputProblem::BeforeContact)
)]
#[case::on_a_reached_contact(ContactOutcome::Reached, Some(60), Err(InputProblem::NotApplicable))]
#[case::none_on_a_reached_contact(ContactOutcome::Reached, None, Ok(()))]
fn a_call_back_time_is_promised_after_an_unreachable_attempt(
    #[case] outcome: ContactOutcome,
    #[case] callback_minute: Option<i64>,
    #[case] expected: Result<(), InputProblem>,
) {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let status = handling().done();
    let officer = officer_at(STATION_A1);
    // Decided at minute 20, for an attempt at minute 12.
    let c = ctx(&officer, &tree, &policy, &cal, mins(20));
    let action = Action::RecordContact {
        method: ContactMethod::Phone,
        outcome,
        contacted_at: mins(12),
        note: "无人接听".into(),
        callback_at: callback_minute.map(mins),
    };
    match (decide(&c, &status, &action), expected) {
        (Ok(event), Ok(())) => assert_eq!(
            event,
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome,
                contacted_at: mins(12),
                note: "无人接听".into(),
                callback_at: callback_minute.map(mins),
            }
        ),
        (Err(got), Err(problem)) => assert_eq!(
            got,
            RuleError::Invalid {
                field: "callback_at",
                problem
            }
        ),
        (got, want) => panic!("{got:?} but expected {want:?}"),
    }
}

/// Contacts stored before a call-back time could be given parse, and serialise to the
/// same bytes (the audit chain hashes them); the action without it still parses.
#[test]
fn a_contact_without_a_call_back_time_keeps_its_old_form() {
    let stored = r#"{"kind":"contact_recorded","method":"phone","outcome":"unreachable","contacted_at":"2026-03-02T01:12:00Z","note":"无人接听"}"#;
    let event: EventPayload = serde_json::from_str(stored).expect("old event parses");
    assert!(matches!(
        event,
        EventPayload::ContactRecorded {
            callback_at: None,
            ..
        }
    ));
    assert_eq!(serde_json::to_string(&event).expect("serialises"), stored);
    let body = r#"{"action":"record_contact","method":"phone","outcome":"unreachable","contacted_at":"2026-03-02T01:12:00Z","note":""}"#;
    let action: Action = serde_json::from_str(body).expect("old body parses");
    assert_eq!(serde_json::to_string(&action).expect("serialises"), body);
    // With one, it travels.
    let promised = r#"{"kind":"contact_recorded","method":"phone","outcome":"unreachable","contacted_at":"2026-03-02T01:12:00Z","note":"","callback_at":"2026-03-02T11:00:00Z"}"#;
    let event: EventPayload = serde_json::from_str(promised).expect("parses");
    assert_eq!(serde_json::to_string(&event).expect("serialises"), promised);
}

#[test]
fn the_form_waits_for_the_first_feedback() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let status = handling().done();
    let officer = officer_at(STATION_A1);
    let c = ctx(&officer, &tree, &policy, &cal, mins(20));
    assert_eq!(
        permits(&c, &status, ActionKind::SubmitFeedbackForm),
        Err(RuleError::FirstFeedbackMissing)
    );
}

#[test]
fn closing_stops_every_clock() {
    let (policy, cal) = (Policy::shenzhen(), WorkCalendar::china());
    // Closed without ever reaching the writer: the contact clock stays breached but
    // no longer asks for attention.
    let status = closed().done();
    let clocks = status.clocks(&policy, &cal, mins(60 * 24 * 30));
    assert_eq!(clocks.most_urgent, None);
    assert_eq!(clocks.contact.state, jsjb_core::clock::ClockState::Breached);
    assert_eq!(clocks.contact.band, jsjb_core::clock::Band::Done);
    assert_eq!(clocks.contact.remaining_secs, -60 * 60);
    assert_eq!(clocks.closure.band, jsjb_core::clock::Band::Done);
}

#[test]
fn text_is_trimmed_and_limited() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let status = handling().done();
    let officer = officer_at(STATION_A1);
    let c = ctx(&officer, &tree, &policy, &cal, mins(20));
    let long = "字".repeat(jsjb_core::workflow::MAX_TEXT_CHARS + 1);
    assert_eq!(
        decide(&c, &status, &Action::GiveFirstFeedback { text: long }),
        Err(RuleError::Invalid {
            field: "text",
            problem: InputProblem::TooLong
        })
    );
    assert_eq!(
        decide(
            &c,
            &status,
            &Action::GiveFirstFeedback {
                text: "  已受理 \n".into()
            }
        ),
        Ok(EventPayload::FirstFeedbackGiven {
            text: "已受理".into()
        })
    );
}

#[test]
fn send_back_needs_an_opinion_and_returns_to_handling() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let mut status = awaiting_approval().done();
    let chief = Actor {
        user: UserId(301),
        unit: STATION_A1,
        roles: vec![Role::Chief],
    };
    let c = ctx(&chief, &tree, &policy, &cal, mins(70));
    let back = |opinion: &str| Action::ApproveFeedbackForm {
        decision: FormDecision::SendBack,
        opinion: opinion.into(),
    };
    assert_eq!(
        decide(&c, &status, &back("")),
        Err(RuleError::Invalid {
            field: "opinion",
            problem: InputProblem::Required
        })
    );
    let event = decide(&c, &status, &back("回复内容不完整")).expect("ok");
    status.apply(mins(70), &event);
    assert_eq!(status.state, LetterState::Handling);
    assert_eq!(status.clock_inputs.closed_at, None);
}

#[test]
fn a_dissatisfied_return_visit_reopens_the_case() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let mut status = closed().done();
    assert_eq!(status.clock_inputs.closed_at, Some(mins(90)));
    let desk = desk_at(CITY);
    let c = ctx(&desk, &tree, &policy, &cal, mins(200));
    assert_eq!(
        decide(
            &c,
            &status,
            &Action::RecordReturnVisit {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                resolved: Some(false),
                satisfaction: Some(Satisfaction::Dissatisfied),
                note: String::new()
            }
        ),
        Err(RuleError::Invalid {
            field: "note",
            problem: InputProblem::Required
        })
    );
    let event = decide(
        &c,
        &status,
        &Action::RecordReturnVisit {
            method: ContactMethod::Phone,
            outcome: ContactOutcome::Reached,
            resolved: Some(false),
            satisfaction: Some(Satisfaction::Dissatisfied),
            note: "问题未解决".into(),
        },
    )
    .expect("desk above records the visit");
    status.apply(mins(200), &event);
    assert_eq!(status.state, LetterState::Handling);
    assert_eq!(status.handler, Some(HANDLER));
    assert_eq!(status.unit, STATION_A1);
    assert_eq!(status.clock_inputs.reopened_at, Some(mins(200)));
    let clocks = status.clocks(&policy, &cal, mins(201));
    assert_eq!(clocks.closure.started_at, mins(200));
    assert_eq!(clocks.closure.due_at, mins(200) + Duration::days(15));

    // A satisfied visit is recorded once per closure.
    let mut closed = closed().done();
    let event = decide(
        &c,
        &closed,
        &Action::RecordReturnVisit {
            method: ContactMethod::Phone,
            outcome: ContactOutcome::Reached,
            resolved: Some(true),
            satisfaction: Some(Satisfaction::Satisfied),
            note: String::new(),
        },
    )
    .expect("ok");
    closed.apply(mins(200), &event);
    assert_eq!(
        permits(&c, &closed, ActionKind::RecordReturnVisit),
        Err(RuleError::AlreadyDone)
    );
}

#[test]
fn a_return_visit_that_does_not_reach_the_writer_leaves_the_visit_due() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let mut status = closed().done();
    let desk = desk_at(BRANCH_A);
    let c = ctx(&desk, &tree, &policy, &cal, mins(200));
    let unreached = |resolved, satisfaction| Action::RecordReturnVisit {
        method: ContactMethod::Phone,
        outcome: ContactOutcome::Unreachable,
        resolved,
        satisfaction,
        note: "无人接听".into(),
    };
    // Nobody answered, so nobody said whether it was solved.
    assert_eq!(
        decide(&c, &status, &unreached(Some(true), None)),
        Err(RuleError::Invalid {
            field: "resolved",
            problem: InputProblem::NotApplicable
        })
    );
    assert_eq!(
        decide(&c, &status, &unreached(None, Some(Satisfaction::Satisfied))),
        Err(RuleError::Invalid {
            field: "satisfaction",
            problem: InputProblem::NotApplicable
        })
    );
    let event = decide(&c, &status, &unreached(None, None)).expect("attempt recorded");
    assert_eq!(
        event,
        EventPayload::ReturnVisitAttempted {
            method: ContactMethod::Phone,
            note: "无人接听".into()
        }
    );
    status.apply(mins(200), &event);
    assert_eq!(status.state, LetterState::Closed);
    assert_eq!(permits(&c, &status, ActionKind::RecordReturnVisit), Ok(()));
    // Reached: both answers are required, and the method is kept.
    let reached = |resolved, satisfaction| Action::RecordReturnVisit {
        method: ContactMethod::Visit,
        outcome: ContactOutcome::Reached,
        resolved,
        satisfaction,
        note: String::new(),
    };
    assert_eq!(
        decide(&c, &status, &reached(None, Some(Satisfaction::Satisfied))),
        Err(RuleError::Invalid {
            field: "resolved",
            problem: InputProblem::Required
        })
    );
    assert_eq!(
        decide(&c, &status, &reached(Some(true), None)),
        Err(RuleError::Invalid {
            field: "satisfaction",
            problem: InputProblem::Required
        })
    );
    let event = decide(
        &c,
        &status,
        &reached(Some(true), Some(Satisfaction::BasicallySatisfied)),
    )
    .expect("visit recorded");
    assert!(matches!(
        event,
        EventPayload::ReturnVisitRecorded {
            method: Some(ContactMethod::Visit),
            resolved: Some(true),
            satisfaction: Satisfaction::BasicallySatisfied,
            ..
        }
    ));
    status.apply(mins(201), &event);
    assert_eq!(
        permits(&c, &status, ActionKind::RecordReturnVisit),
        Err(RuleError::AlreadyDone)
    );
}

#[test]
fn an_old_client_body_still_parses() {
    // Bodies as desktops before the outcome, granted date and visit method sent them.
    let ruling: Action =
        serde_json::from_str(r#"{"action":"rule_return","ruling":"属你所辖区"}"#).expect("ruling");
    assert_eq!(
        ruling,
        Action::RuleReturn {
            ruling: "属你所辖区".into(),
            outcome: RulingOutcome::SendBack {}
        }
    );
    let visit: Action = serde_json::from_str(
        r#"{"action":"record_return_visit","resolved":true,"satisfaction":"satisfied","note":""}"#,
    )
    .expect("visit");
    assert_eq!(
        visit,
        Action::RecordReturnVisit {
            method: ContactMethod::Phone,
            outcome: ContactOutcome::Reached,
            resolved: Some(true),
            satisfaction: Some(Satisfaction::Satisfied),
            note: String::new()
        }
    );
    // An unknown ruling outcome is refused, not ignored.
    assert!(
        serde_json::from_str::<Action>(
            r#"{"action":"rule_return","ruling":"x","outcome":{"kind":"send_back","to":11}}"#
        )
        .is_err()
    );
}

#[test]
fn from_events_folds_a_stored_history() {
    let received = EventPayload::Received {
        unit: CITY,
        tier: Tier::City,
    };
    let dispatched = EventPayload::Dispatched {
        from: CITY,
        to: BRANCH_A,
        to_tier: Tier::Branch,
        note: String::new(),
        ruling: None,
        return_upheld: None,
    };
    let status = LetterStatus::from_events(
        Category::Inquiry,
        [(t0(), &received), (mins(1), &dispatched)],
    )
    .expect("starts with received");
    assert_eq!(status, at_branch_dispatched_as(Category::Inquiry));
    assert!(LetterStatus::from_events(Category::Inquiry, [(t0(), &dispatched)]).is_none());
}

fn at_branch_dispatched_as(category: Category) -> LetterStatus {
    History::received(category)
        .dispatched(1, CITY, BRANCH_A, Tier::Branch)
        .done()
}

#[test]
fn actions_and_events_round_trip_through_json() {
    for kind in ActionKind::ALL {
        let (_, _, action, _) = fixture(kind);
        let json = serde_json::to_value(&action).expect("serialises");
        assert_eq!(json["action"], kind.as_str());
        let back: Action = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, action);
        assert_eq!(ActionKind::parse(kind.as_str()), Some(kind));
    }
    let bad: Result<Action, _> = serde_json::from_str(r#"{"action":"delete_everything"}"#);
    assert!(bad.is_err());
}

/// Issue 12 item 8: the desk holding a letter records its own contact with the writer
/// (the seed's city desk called back in 13 minutes), which meets the contact clock; once
/// a unit below signed for it, contact is the handling officer's.
#[test]
fn a_desk_records_its_own_contact_while_the_letter_waits_there() {
    let (tree, policy, cal) = (tree(), Policy::shenzhen(), WorkCalendar::china());
    let contact = Action::RecordContact {
        method: ContactMethod::Phone,
        outcome: ContactOutcome::Reached,
        contacted_at: mins(13),
        note: "已回电来信人".into(),
        callback_at: None,
    };
    // At the city desk, as received: the desk may, an officer there may not.
    let received = History::received(Category::Complaint).done();
    let city_desk = desk_at(CITY);
    let at_desk = ctx(&city_desk, &tree, &policy, &cal, mins(13));
    let event = decide(&at_desk, &received, &contact).expect("the desk records its contact");
    let mut after = received.clone();
    after.apply(mins(13), &event);
    assert_eq!(
        after.state,
        LetterState::Received,
        "the letter still waits at the desk"
    );
    let clocks = after.clocks(&policy, &cal, mins(14));
    assert_eq!(
        clocks.contact.state,
        ClockState::Met,
        "13 minutes: the 30-minute clock is met"
    );
    assert!(available_actions(&at_desk, &received).contains(&ActionKind::RecordContact));
    let city_officer = officer_at(CITY);
    assert_eq!(
        decide(
            &ctx(&city_officer, &tree, &policy, &cal, mins(13)),
            &received,
            &contact
        ),
        Err(RuleError::WrongState {
            action: ActionKind::RecordContact,
            state: LetterState::Received
        })
    );
    // Dispatched to the branch and not yet forwarded: the branch desk may.
    let at_branch = at_branch_dispatched();
    let branch_desk = desk_at(BRANCH_A);
    assert!(
        decide(
            &ctx(&branch_desk, &tree, &policy, &cal, mins(13)),
            &at_branch,
            &contact
        )
        .is_ok()
    );
    // Signed for at the station: the officer's, not a desk's.
    let signed = handling().done();
    let station_desk = desk_at(STATION_A1);
    assert_eq!(
        decide(
            &ctx(&station_desk, &tree, &policy, &cal, mins(13)),
            &signed,
            &contact
        ),
        Err(RuleError::WrongState {
            action: ActionKind::RecordContact,
            state: LetterState::Handling
        })
    );
    assert!(
        decide(
            &ctx(&officer_at(STATION_A1), &tree, &policy, &cal, mins(13)),
            &signed,
            &contact
        )
        .is_ok()
    );
}

/// Issue 12 item 3: the pending request carries what its decider must read — the reason,
/// the legal basis, and the deadline it would replace.
#[test]
fn a_pending_extension_keeps_what_the_decider_reads() {
    let requested = handling()
        .then(
            30,
            EventPayload::ExtensionRequested {
                reason: "需调取监控".into(),
                legal_basis: "《信访工作条例》第三十六条".into(),
                requested_due: mins(60 * 24 * 25),
                current_due: mins(60 * 24 * 15),
            },
        )
        .done();
    let pending = requested.pending_extension.expect("pending");
    assert_eq!(pending.requested_at, mins(30));
    assert_eq!(pending.requested_due, mins(60 * 24 * 25));
    assert_eq!(pending.current_due, mins(60 * 24 * 15));
    assert_eq!(pending.reason, "需调取监控");
    assert_eq!(pending.legal_basis, "《信访工作条例》第三十六条");
}

/// 重新分类: the category changes the closure rule from then on; the classes are trimmed
/// and deduplicated, and more than five, an empty one or an over-long one is refused.
#[test]
fn reclassifying_sets_the_category_and_checks_the_classes() {
    let status = at_branch_dispatched();
    let tree = tree();
    let desk = Actor {
        user: ACTOR,
        unit: BRANCH_A,
        roles: vec![Role::Dispatcher],
    };
    let policy = Policy::shenzhen();
    let calendar = WorkCalendar::china();
    let ctx = ctx(&desk, &tree, &policy, &calendar, mins(10));
    let reclassify = |tags: Vec<&str>| Action::Reclassify {
        category: Category::Inquiry,
        problem_tags: tags.into_iter().map(str::to_owned).collect(),
        note: String::new(),
    };
    let event = decide(
        &ctx,
        &status,
        &reclassify(vec![" 户政落户 ", "户政落户", "居住证"]),
    )
    .expect("a valid reclassification");
    assert_eq!(
        event,
        EventPayload::Reclassified {
            category: Category::Inquiry,
            problem_tags: vec!["户政落户".into(), "居住证".into()],
            note: String::new(),
        }
    );
    let mut after = status.clone();
    after.apply(mins(10), &event);
    assert_eq!(after.category, Category::Inquiry);
    for bad in [
        vec![""],
        vec!["一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三"],
        vec!["a", "b", "c", "d", "e", "f"],
    ] {
        assert!(
            matches!(
                decide(&ctx, &status, &reclassify(bad.clone())),
                Err(RuleError::Invalid {
                    field: "problem_tags",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
}
