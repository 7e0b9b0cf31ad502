//! The SLA clocks, rule by rule, to the second. Times are written as China Standard
//! Time wall-clock strings, as a desk officer would read them.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::{
    Band, ClockInputs, ClockKind, ClockRule, ClockState, Counting, DispatchSpan, ExtensionGrant,
    Holding, LetterClocks, Policy, PolicyError, RuleRef, TierTime, due_time, evaluate,
    sign_for_met, tier_times,
};
use jsjb_core::letter::Category;
use jsjb_core::org::{Tier, UnitId};
use proptest::prelude::*;
use rstest::rstest;

use Band::{Done, Ok as Green, Overdue, Warning};
use ClockKind::{Closure, Contact, FirstFeedback, SignFor};
use ClockState::{Breached, Met, MetLate, Running};

/// A wall-clock time in China Standard Time ("2026-03-02 09:00" or with seconds).
fn cst(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .expect("a CST time like 2026-03-02 09:00");
    naive
        .and_local_timezone(jsjb_core::cst())
        .single()
        .expect("UTC+8 is unambiguous")
        .with_timezone(&Utc)
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}
fn mins(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}
fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}
fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

const RECEIVED: &str = "2026-03-02 09:00";

/// A letter received at `RECEIVED` and dispatched at once to a station, nothing done yet.
fn letter() -> ClockInputs {
    let received = cst(RECEIVED);
    ClockInputs {
        received_at: received,
        category: Category::Help,
        dispatches: vec![dispatch(received)],
        first_contact_reached_at: None,
        first_feedback_at: None,
        extension: None,
        closed_at: None,
        reopened_at: None,
        holdings: vec![],
    }
}

fn dispatch(at: DateTime<Utc>) -> DispatchSpan {
    DispatchSpan {
        unit: UnitId(7),
        tier: Tier::Station,
        dispatched_at: at,
        signed_at: None,
        ended_at: None,
    }
}

fn clocks(inputs: &ClockInputs, now: DateTime<Utc>) -> LetterClocks {
    evaluate(inputs, &Policy::shenzhen(), &WorkCalendar::china(), now)
}

/// The Shenzhen time allowed and warn window of each clock.
fn allowed(kind: ClockKind) -> (TimeDelta, TimeDelta) {
    match kind {
        SignFor => (mins(10), mins(3)),
        Contact => (mins(30), mins(10)),
        FirstFeedback => (days(4), hours(24)),
        Closure => (days(15), hours(48)),
    }
}

/// Records the event that meets `kind` at `at`.
fn meet(inputs: &mut ClockInputs, kind: ClockKind, at: DateTime<Utc>) {
    match kind {
        SignFor => inputs.dispatches[0].signed_at = Some(at),
        Contact => inputs.first_contact_reached_at = Some(at),
        FirstFeedback => inputs.first_feedback_at = Some(at),
        Closure => inputs.closed_at = Some(at),
    }
}

fn reading(clocks: &LetterClocks, kind: ClockKind) -> &jsjb_core::clock::ClockReading {
    clocks.get(kind).expect("the clock runs")
}

#[rstest]
fn the_shenzhen_deadlines(#[values(SignFor, Contact, FirstFeedback, Closure)] kind: ClockKind) {
    let c = clocks(&letter(), cst(RECEIVED));
    let r = reading(&c, kind);
    assert_eq!(r.started_at, cst(RECEIVED));
    assert_eq!(r.due_at, cst(RECEIVED) + allowed(kind).0);
    assert_eq!(r.original_due_at, None);
    assert_eq!((r.state, r.band), (Running, Green));
}

#[test]
fn the_deadlines_read_like_the_rules() {
    let c = clocks(&letter(), cst(RECEIVED));
    assert_eq!(reading(&c, SignFor).due_at, cst("2026-03-02 09:10"));
    assert_eq!(reading(&c, Contact).due_at, cst("2026-03-02 09:30"));
    assert_eq!(reading(&c, FirstFeedback).due_at, cst("2026-03-06 09:00"));
    assert_eq!(reading(&c, Closure).due_at, cst("2026-03-17 09:00"));
}

/// "Within 10 minutes" includes the tenth minute: met at the due time, late a second after.
#[rstest]
fn met_at_the_boundaries(
    #[values(SignFor, Contact, FirstFeedback, Closure)] kind: ClockKind,
    #[values((-1, Met, 1), (0, Met, 0), (1, MetLate, -1))] case: (i64, ClockState, i64),
) {
    let (offset, state, remaining) = case;
    let due = cst(RECEIVED) + allowed(kind).0;
    let mut inputs = letter();
    meet(&mut inputs, kind, due + secs(offset));
    let c = clocks(&inputs, due + days(30));
    let r = reading(&c, kind);
    assert_eq!(
        (r.state, r.band, r.remaining_secs),
        (state, Done, remaining),
        "{kind} met at due{offset:+}s"
    );
    assert_eq!(r.met_at, Some(due + secs(offset)));
}

/// Not met: still running at the due time itself, breached only a second after.
#[rstest]
fn unmet_at_the_boundaries(
    #[values(SignFor, Contact, FirstFeedback, Closure)] kind: ClockKind,
    #[values((-1, Running, Warning, 1), (0, Running, Warning, 0), (1, Breached, Overdue, -1))] case: (
        i64,
        ClockState,
        Band,
        i64,
    ),
) {
    let (offset, state, band, remaining) = case;
    let due = cst(RECEIVED) + allowed(kind).0;
    let c = clocks(&letter(), due + secs(offset));
    let r = reading(&c, kind);
    assert_eq!(
        (r.state, r.band, r.remaining_secs),
        (state, band, remaining),
        "{kind} read at due{offset:+}s"
    );
    assert_eq!(r.met_at, None);
}

#[rstest]
fn the_warn_window_opens_on_the_second(
    #[values(SignFor, Contact, FirstFeedback, Closure)] kind: ClockKind,
    #[values((-1, Green), (0, Warning), (1, Warning))] case: (i64, Band),
) {
    let (offset, band) = case;
    let (allowed, warn) = allowed(kind);
    let warn_from = cst(RECEIVED) + allowed - warn;
    let c = clocks(&letter(), warn_from + secs(offset));
    let r = reading(&c, kind);
    assert_eq!(
        (r.state, r.band),
        (Running, band),
        "{kind} at warn start{offset:+}s"
    );
    assert_eq!(r.remaining_secs, warn.num_seconds() - offset);
}

#[test]
fn a_late_fraction_of_a_second_is_already_negative() {
    let due = cst("2026-03-02 09:30");
    let c = clocks(&letter(), due + TimeDelta::milliseconds(300));
    assert_eq!((c.contact.state, c.contact.remaining_secs), (Breached, -1));
    let c = clocks(&letter(), due - TimeDelta::milliseconds(300));
    assert_eq!((c.contact.state, c.contact.remaining_secs), (Running, 0));
}

#[test]
fn across_midnight_and_the_year_end_in_china_time() {
    let received = cst("2026-12-31 23:55");
    assert_eq!(
        received.to_rfc3339(),
        "2026-12-31T15:55:00+00:00",
        "stored in UTC"
    );
    let inputs = ClockInputs {
        received_at: received,
        dispatches: vec![dispatch(received)],
        ..letter()
    };
    let c = clocks(&inputs, cst("2027-01-01 00:04:59"));
    assert_eq!(reading(&c, SignFor).due_at, cst("2027-01-01 00:05"));
    assert_eq!(c.contact.due_at, cst("2027-01-01 00:25"));
    assert_eq!(c.first_feedback.due_at, cst("2027-01-04 23:55"));
    assert_eq!(c.closure.due_at, cst("2027-01-15 23:55"));
    assert_eq!(
        (
            reading(&c, SignFor).band,
            reading(&c, SignFor).remaining_secs
        ),
        (Warning, 1)
    );
    assert_eq!(c.most_urgent, Some(SignFor));

    let c = clocks(&inputs, cst("2027-01-01 00:05:01"));
    assert_eq!(
        (
            reading(&c, SignFor).state,
            reading(&c, SignFor).remaining_secs
        ),
        (Breached, -1)
    );
}

#[test]
fn an_extension_approved_before_the_deadline_moves_it() {
    let mut inputs = letter();
    inputs.extension = Some(ExtensionGrant {
        decided_at: cst("2026-03-12 10:00"),
        new_due: cst("2026-03-27 09:00"),
    });
    let c = clocks(&inputs, cst("2026-03-20 09:00"));
    assert_eq!(c.closure.due_at, cst("2026-03-27 09:00"));
    assert_eq!(
        c.closure.original_due_at,
        Some(cst("2026-03-17 09:00")),
        "kept for scoring"
    );
    assert_eq!(
        (c.closure.state, c.closure.band, c.closure.remaining_secs),
        (Running, Green, 7 * 86_400)
    );

    // Closed after the original deadline but within the extension: met.
    inputs.closed_at = Some(cst("2026-03-27 09:00"));
    let c = clocks(&inputs, cst("2026-04-01 09:00"));
    assert_eq!((c.closure.state, c.closure.band), (Met, Done));
    assert_eq!(c.closure.original_due_at, Some(cst("2026-03-17 09:00")));
}

#[test]
fn an_extension_approved_after_the_deadline_passed_still_applies() {
    let mut inputs = letter();
    let before = clocks(&inputs, cst("2026-03-17 09:00:01"));
    assert_eq!(before.closure.state, Breached);

    inputs.extension = Some(ExtensionGrant {
        decided_at: cst("2026-03-18 14:00"),
        new_due: cst("2026-03-31 18:00"),
    });
    let c = clocks(&inputs, cst("2026-03-18 14:00"));
    assert_eq!(c.closure.due_at, cst("2026-03-31 18:00"));
    assert_eq!(c.closure.original_due_at, Some(cst("2026-03-17 09:00")));
    assert_eq!((c.closure.state, c.closure.band), (Running, Green));

    let c = clocks(&inputs, cst("2026-03-31 18:00:01"));
    assert_eq!(
        (c.closure.state, c.closure.band, c.closure.remaining_secs),
        (Breached, Overdue, -1)
    );
}

#[test]
fn without_the_extension_the_same_closure_is_late() {
    let mut inputs = letter();
    inputs.closed_at = Some(cst("2026-03-27 09:00"));
    let c = clocks(&inputs, cst("2026-04-01 09:00"));
    assert_eq!(
        (c.closure.state, c.closure.remaining_secs),
        (MetLate, -10 * 86_400)
    );
}

#[test]
fn a_redispatch_restarts_only_the_sign_for_clock() {
    let mut inputs = letter();
    inputs.dispatches[0].ended_at = Some(cst("2026-03-02 09:08")); // returned unsigned: 非本单位管辖
    inputs.dispatches.push(DispatchSpan {
        unit: UnitId(8),
        ..dispatch(cst("2026-03-02 09:20"))
    });

    let c = clocks(&inputs, cst("2026-03-02 09:25"));
    let sign_for = reading(&c, SignFor);
    assert_eq!(sign_for.started_at, cst("2026-03-02 09:20"));
    assert_eq!(sign_for.due_at, cst("2026-03-02 09:30"));
    assert_eq!(
        (sign_for.state, sign_for.band, sign_for.remaining_secs),
        (Running, Green, 300)
    );
    // The writer's clocks still run from receipt.
    assert_eq!(c.contact.started_at, cst(RECEIVED));
    assert_eq!(
        (c.contact.due_at, c.contact.band, c.contact.remaining_secs),
        (cst("2026-03-02 09:30"), Warning, 300)
    );
    assert_eq!(c.first_feedback.started_at, cst(RECEIVED));
    assert_eq!(c.closure.started_at, cst(RECEIVED));
    // Equal time left: the tie goes to 签收, the first clock in order.
    assert_eq!(c.most_urgent, Some(SignFor));
}

#[test]
fn no_sign_for_clock_while_the_letter_is_back_at_the_desk() {
    let mut inputs = letter();
    assert!(
        clocks(
            &ClockInputs {
                dispatches: vec![],
                ..letter()
            },
            cst(RECEIVED)
        )
        .sign_for
        .is_none()
    );
    inputs.dispatches[0].ended_at = Some(cst("2026-03-02 09:08"));
    let c = clocks(&inputs, cst("2026-03-02 10:00"));
    assert!(c.sign_for.is_none());
    assert_eq!(c.most_urgent, Some(Contact));
}

#[rstest]
#[case::signed_in_time(Some("2026-03-02 09:10"), None, Some(true))]
#[case::signed_late(Some("2026-03-02 09:10:01"), None, Some(false))]
#[case::signed_then_forwarded(Some("2026-03-02 09:05"), Some("2026-03-02 09:06"), Some(true))]
#[case::returned_unsigned(None, Some("2026-03-02 09:05"), Some(false))]
#[case::signature_after_it_left(Some("2026-03-02 09:07"), Some("2026-03-02 09:05"), Some(false))]
#[case::still_waiting(None, None, None)]
fn sign_for_met_scores_one_dispatch(
    #[case] signed: Option<&str>,
    #[case] ended: Option<&str>,
    #[case] expected: Option<bool>,
) {
    let span = DispatchSpan {
        signed_at: signed.map(cst),
        ended_at: ended.map(cst),
        ..dispatch(cst(RECEIVED))
    };
    assert_eq!(
        sign_for_met(&span, &Policy::shenzhen(), &WorkCalendar::china()),
        expected
    );
}

/// A letter closed on day 10, reopened (重办) on day 12 after a dissatisfied return visit.
fn reopened_letter() -> ClockInputs {
    let mut inputs = letter();
    inputs.dispatches[0].signed_at = Some(cst("2026-03-02 09:04"));
    inputs.first_contact_reached_at = Some(cst("2026-03-02 09:20"));
    inputs.first_feedback_at = Some(cst("2026-03-08 09:00")); // late: due 03-06
    inputs.extension = Some(ExtensionGrant {
        decided_at: cst("2026-03-07 10:00"),
        new_due: cst("2026-03-22 09:00"),
    });
    inputs.closed_at = None; // cleared by the reopen
    inputs.reopened_at = Some(cst("2026-03-14 16:00"));
    inputs
}

#[test]
fn a_reopen_restarts_the_closure_clock_with_the_full_duration() {
    let c = clocks(&reopened_letter(), cst("2026-03-20 09:00"));
    assert_eq!(c.closure.started_at, cst("2026-03-14 16:00"));
    assert_eq!(
        c.closure.due_at,
        cst("2026-03-29 16:00"),
        "15 days from the reopen"
    );
    assert_eq!(
        c.closure.original_due_at, None,
        "the earlier extension is spent"
    );
    assert_eq!((c.closure.state, c.closure.band), (Running, Green));
    // The writer's earlier clocks keep their results.
    assert_eq!((c.contact.state, c.first_feedback.state), (Met, MetLate));
    assert_eq!(c.most_urgent, Some(Closure));
}

#[rstest]
#[case::closed_before_the_reopen_is_ignored("2026-03-12 10:00", Running)]
#[case::closed_again_in_time("2026-03-29 16:00", Met)]
#[case::closed_again_late("2026-03-29 16:00:01", MetLate)]
fn closing_a_reopened_letter(#[case] closed: &str, #[case] state: ClockState) {
    let inputs = ClockInputs {
        closed_at: Some(cst(closed)),
        ..reopened_letter()
    };
    let c = clocks(&inputs, cst("2026-03-29 16:00"));
    assert_eq!(c.closure.state, state);
}

#[test]
fn an_extension_after_the_reopen_applies_to_the_new_run() {
    let mut inputs = reopened_letter();
    inputs.extension = Some(ExtensionGrant {
        decided_at: cst("2026-03-25 10:00"),
        new_due: cst("2026-04-10 18:00"),
    });
    let c = clocks(&inputs, cst("2026-03-30 09:00"));
    assert_eq!(c.closure.due_at, cst("2026-04-10 18:00"));
    assert_eq!(c.closure.original_due_at, Some(cst("2026-03-29 16:00")));
    assert_eq!(c.closure.state, Running);
}

#[rstest]
#[case::fresh_letter_sign_for_first(&[], "2026-03-02 09:01", Some(SignFor))]
#[case::signed_then_contact(&[SignFor], "2026-03-02 09:01", Some(Contact))]
#[case::contact_breached_beats_everything(&[SignFor], "2026-03-02 11:00", Some(Contact))]
#[case::feedback_next(&[SignFor, Contact], "2026-03-02 11:00", Some(FirstFeedback))]
#[case::closure_last(&[SignFor, Contact, FirstFeedback], "2026-03-10 11:00", Some(Closure))]
#[case::all_met(&[SignFor, Contact, FirstFeedback, Closure], "2026-03-10 11:00", None)]
#[case::the_most_overdue_wins(&[], "2026-03-02 12:00", Some(SignFor))]
fn most_urgent(#[case] met: &[ClockKind], #[case] now: &str, #[case] expected: Option<ClockKind>) {
    let mut inputs = letter();
    for &kind in met {
        meet(&mut inputs, kind, cst("2026-03-02 09:05"));
    }
    let c = clocks(&inputs, cst(now));
    assert_eq!(c.most_urgent, expected);
    assert_eq!(c.most_urgent_reading().map(|r| r.kind), expected);
}

#[test]
fn time_held_per_tier() {
    let holding = |tier, from: &str, until: Option<&str>| Holding {
        unit: UnitId(1),
        tier,
        from: cst(from),
        until: until.map(cst),
    };
    let inputs = ClockInputs {
        holdings: vec![
            holding(Tier::City, "2026-03-02 09:00", Some("2026-03-02 09:02")),
            holding(Tier::Branch, "2026-03-02 09:02", Some("2026-03-02 09:30")),
            holding(Tier::Station, "2026-03-02 09:30", Some("2026-03-02 10:00")), // returned
            holding(Tier::City, "2026-03-02 10:00", Some("2026-03-02 10:05")),
            holding(Tier::Station, "2026-03-02 10:05", None), // still there
        ],
        ..letter()
    };
    assert_eq!(
        tier_times(&inputs, cst("2026-03-02 12:05")),
        vec![
            TierTime {
                tier: Tier::City,
                held_secs: 7 * 60
            },
            TierTime {
                tier: Tier::Branch,
                held_secs: 28 * 60
            },
            TierTime {
                tier: Tier::Station,
                held_secs: 30 * 60 + 2 * 3600
            },
        ]
    );
    // A workstation clock behind the holding's start counts nothing, never negative.
    let t = tier_times(&inputs, cst("2026-03-02 10:00"));
    assert_eq!(
        t[2],
        TierTime {
            tier: Tier::Station,
            held_secs: 30 * 60
        }
    );
    assert_eq!(
        tier_times(&letter(), cst(RECEIVED))
            .iter()
            .map(|t| t.held_secs)
            .collect::<Vec<_>>(),
        vec![0, 0, 0]
    );
}

fn working_days(n: i64) -> ClockRule {
    ClockRule::working_days(n, 0)
}

#[rstest]
// Inside a working day: the same time of day on the N-th working day after.
#[case::plain_week("2026-03-03 15:00", 2, "2026-03-05 15:00")]
#[case::over_a_weekend("2026-03-06 15:00", 1, "2026-03-09 15:00")]
#[case::spring_festival_2026_with_the_makeup_saturday("2026-02-12 15:00", 3, "2026-02-24 15:00")]
#[case::makeup_saturday_after_spring_festival_2026("2026-02-26 09:00", 2, "2026-02-28 09:00")]
#[case::spring_festival_2025_makeup_sunday("2025-01-24 10:00", 1, "2025-01-26 10:00")]
#[case::through_spring_festival_2025("2025-01-27 09:00", 2, "2025-02-06 09:00")]
#[case::national_day_2025("2025-09-30 17:00", 1, "2025-10-09 17:00")]
#[case::national_day_2025_makeup_saturday("2025-09-30 17:00", 3, "2025-10-11 17:00")]
#[case::start_on_a_makeup_sunday("2025-09-28 10:00", 1, "2025-09-29 10:00")]
#[case::makeup_sunday_before_national_day_2026("2026-09-18 14:00", 1, "2026-09-20 14:00")]
#[case::national_day_2026("2026-09-30 09:00", 3, "2026-10-10 09:00")]
#[case::year_end_into_provisional_2027("2026-12-31 23:55", 1, "2027-01-04 23:55")]
#[case::the_tenth_working_day("2026-09-24 11:00", 10, "2026-10-15 11:00")]
// On a rest day or at 00:00: from the first working day's start, due at the end of the N-th.
#[case::start_on_a_saturday("2026-03-07 10:00", 5, "2026-03-14 00:00")]
#[case::start_on_a_holiday("2025-10-03 10:00", 1, "2025-10-10 00:00")]
#[case::start_on_the_saturday_before_a_makeup_sunday("2025-01-25 10:00", 1, "2025-01-27 00:00")]
#[case::start_at_midnight("2026-03-09 00:00", 1, "2026-03-10 00:00")]
#[case::start_at_midnight_before_a_holiday("2026-09-30 00:00", 1, "2026-10-01 00:00")]
// Outside the covered years: plain weekdays.
#[case::uncovered_year("2030-01-01 10:00", 1, "2030-01-02 10:00")]
fn working_day_deadlines(#[case] start: &str, #[case] n: i64, #[case] due: &str) {
    assert_eq!(
        due_time(cst(start), &working_days(n), &WorkCalendar::china()),
        cst(due),
        "{start} + {n} working days"
    );
}

#[test]
fn a_working_day_policy_drives_the_closure_clock() {
    let policy = Policy {
        closure_by_category: vec![(Category::Complaint, ClockRule::working_days(15, 2 * 86_400))],
        ..Policy::shenzhen()
    };
    policy.validate().expect("a valid policy");
    let inputs = ClockInputs {
        category: Category::Complaint,
        ..letter()
    };
    let received_before_national_day = ClockInputs {
        received_at: cst("2026-09-24 11:00"),
        ..inputs.clone()
    };
    let c = evaluate(
        &received_before_national_day,
        &policy,
        &WorkCalendar::china(),
        cst("2026-10-01 12:00"),
    );
    // Working days: 9-25 is 中秋 (off), 9-28..30 (3), 10-1..7 off, 10-8, 9, 10 (调休 Sat), 12..16, 19..22.
    assert_eq!(c.closure.due_at, cst("2026-10-22 11:00"));
    assert_eq!(
        c.first_feedback.due_at,
        cst("2026-09-28 11:00"),
        "other clocks stay in calendar time"
    );
    // Other categories keep the general rule.
    assert_eq!(
        policy.closure_rule(Category::Help),
        Policy::shenzhen().closure
    );
}

#[test]
fn the_shenzhen_policy() {
    let p = Policy::shenzhen();
    assert_eq!(p.validate(), Ok(()));
    assert_eq!(
        p.sign_for,
        ClockRule {
            due_after_secs: 600,
            warn_before_secs: 180,
            counting: Counting::Calendar
        }
    );
    assert_eq!(p.contact, ClockRule::calendar(1800, 600));
    assert_eq!(p.first_feedback, ClockRule::calendar(4 * 86_400, 86_400));
    assert_eq!(p.closure, ClockRule::calendar(15 * 86_400, 2 * 86_400));
    for category in Category::ALL {
        assert_eq!(p.closure_rule(*category), p.closure);
    }
}

#[rstest]
#[case::zero_time(
    |p: &mut Policy| p.contact.due_after_secs = 0,
    PolicyError::NonPositiveDuration { rule: RuleRef { clock: Contact, category: None }, secs: 0 }
)]
#[case::negative_warn(
    |p: &mut Policy| p.sign_for.warn_before_secs = -1,
    PolicyError::NegativeWarnWindow { rule: RuleRef { clock: SignFor, category: None }, secs: -1 }
)]
#[case::warn_as_long_as_the_clock(
    |p: &mut Policy| p.first_feedback.warn_before_secs = 4 * 86_400,
    PolicyError::WarnWindowTooLong {
        rule: RuleRef { clock: FirstFeedback, category: None },
        warn_secs: 4 * 86_400,
        due_secs: 4 * 86_400,
    }
)]
#[case::part_of_a_working_day(
    |p: &mut Policy| p.closure_by_category.push((Category::Inquiry, ClockRule { counting: Counting::WorkingDays, ..ClockRule::calendar(86_400 + 1, 0) })),
    PolicyError::FractionalWorkingDays { rule: RuleRef { clock: Closure, category: Some(Category::Inquiry) }, secs: 86_401 }
)]
#[case::duplicate_category(
    |p: &mut Policy| p.closure_by_category.extend([(Category::Help, ClockRule::working_days(5, 0)), (Category::Help, ClockRule::working_days(6, 0))]),
    PolicyError::DuplicateCategory(Category::Help)
)]
fn invalid_policies_are_rejected(#[case] break_it: fn(&mut Policy), #[case] error: PolicyError) {
    let mut policy = Policy::shenzhen();
    break_it(&mut policy);
    assert_eq!(policy.validate(), Err(error));
}

#[test]
fn policy_errors_say_which_rule() {
    let e = PolicyError::FractionalWorkingDays {
        rule: RuleRef {
            clock: Closure,
            category: Some(Category::Inquiry),
        },
        secs: 5,
    };
    assert_eq!(
        e.to_string(),
        "the closure clock for inquiry: counted in working days, the time allowed must be a whole number of days, not 5 s"
    );
}

#[test]
fn extreme_values_saturate_instead_of_panicking() {
    let calendar = WorkCalendar::china();
    let max = DateTime::<Utc>::MAX_UTC;
    let min = DateTime::<Utc>::MIN_UTC;
    assert_eq!(
        due_time(max, &ClockRule::calendar(i64::MAX, 0), &calendar),
        max
    );
    assert_eq!(
        due_time(min, &ClockRule::calendar(i64::MIN, 0), &calendar),
        min
    );
    assert_eq!(
        due_time(max, &ClockRule::working_days(i64::MAX, 0), &calendar),
        max
    );
    assert_eq!(due_time(max - days(1), &working_days(3), &calendar), max);
    let inputs = ClockInputs {
        received_at: min,
        ..letter()
    };
    let c = clocks(&inputs, max);
    assert_eq!(c.contact.state, Breached);
    assert!(c.contact.remaining_secs < 0);
    let c = clocks(
        &ClockInputs {
            received_at: max,
            ..letter()
        },
        min,
    );
    assert_eq!(c.contact.state, Running);
    assert!(c.contact.remaining_secs > 0);
}

proptest! {
    #[test]
    fn deadlines_never_panic_and_never_come_early(
        start_secs in -10_000_000_000i64..10_000_000_000i64,
        allowed in 1i64..(4000 * 86_400),
        working in any::<bool>(),
    ) {
        let start = DateTime::<Utc>::from_timestamp(start_secs, 0).expect("in range");
        let rule = ClockRule {
            due_after_secs: allowed,
            warn_before_secs: 0,
            counting: if working { Counting::WorkingDays } else { Counting::Calendar },
        };
        let due = due_time(start, &rule, &WorkCalendar::china());
        prop_assert!(due >= start + TimeDelta::seconds(allowed));
    }
}

/// A letter at a desk since `from` (the open holding), received at `RECEIVED`.
fn at_desk_since(from: &str) -> ClockInputs {
    ClockInputs {
        dispatches: vec![],
        holdings: vec![Holding {
            unit: UnitId(1),
            tier: Tier::City,
            from: cst(from),
            until: None,
        }],
        ..letter()
    }
}

#[rstest]
// A new letter: the desk has 10 minutes from receipt.
#[case::new_letter(at_desk_since(RECEIVED), "2026-03-02 09:10")]
// A 退单 back at the desk: 10 minutes from the return, not from receipt.
#[case::returned(at_desk_since("2026-03-03 14:25:30"), "2026-03-03 14:35:30")]
// No holding recorded (an old cache): from receipt.
#[case::no_holding(ClockInputs { holdings: vec![], ..letter() }, "2026-03-02 09:10")]
// The last holding is closed (the letter left): the receipt is the only anchor left.
#[case::closed_holding(
    ClockInputs {
        holdings: vec![Holding { unit: UnitId(1), tier: Tier::City, from: cst("2026-03-03 08:00"), until: Some(cst("2026-03-03 08:05")) }],
        ..letter()
    },
    "2026-03-02 09:10"
)]
fn the_desk_must_dispatch_within_ten_minutes(#[case] inputs: ClockInputs, #[case] due: &str) {
    let due_at =
        jsjb_core::clock::desk_dispatch_due(&inputs, &Policy::shenzhen(), &WorkCalendar::china());
    assert_eq!(due_at, cst(due));
}

#[test]
fn the_desk_dispatch_rule_is_policy_not_code() {
    let policy = Policy {
        desk_dispatch: ClockRule::calendar(5 * 60, 60),
        ..Policy::shenzhen()
    };
    let due_at = jsjb_core::clock::desk_dispatch_due(
        &at_desk_since(RECEIVED),
        &policy,
        &WorkCalendar::china(),
    );
    assert_eq!(due_at, cst("2026-03-02 09:05"));
    // An older stored policy without the field gets the 10-minute default.
    let mut json = serde_json::to_value(Policy::shenzhen()).expect("serialises");
    json.as_object_mut()
        .expect("an object")
        .remove("desk_dispatch");
    let old: Policy = serde_json::from_value(json).expect("an older policy still reads");
    assert_eq!(old.desk_dispatch, ClockRule::calendar(600, 180));
    // And it is validated like the others.
    let bad = Policy {
        desk_dispatch: ClockRule::calendar(0, 0),
        ..Policy::shenzhen()
    };
    assert!(matches!(bad.validate(), Err(PolicyError::DeskDispatch(_))));
    assert_eq!(Policy::shenzhen().validate(), Ok(()));
}
