use chrono::{DateTime, Duration, NaiveDate, Utc};
use rstest::rstest;

use super::*;
use crate::clock::{ClockRule, DispatchSpan, Holding};
use crate::letter::Category;
use crate::org::{Tier, UnitId};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a valid instant")
        .with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a valid date")
}

/// The change of 2027-01-01 (CST): 签收 5 minutes, 联系 20, 办结 10 days, 派发 5.
fn stricter() -> Policy {
    let mut policy = Policy::shenzhen();
    policy.sign_for = ClockRule::calendar(5 * 60, 60);
    policy.contact = ClockRule::calendar(20 * 60, 5 * 60);
    policy.closure = ClockRule::calendar(10 * 86_400, 86_400);
    policy.desk_dispatch = ClockRule::calendar(5 * 60, 60);
    policy
}

const CHANGE: &str = "2026-12-31T16:00:00Z";

fn two_eras() -> Rules {
    let mut doc = Rules::shenzhen().doc().clone();
    doc.eras.push(PolicyEra {
        from: at(CHANGE),
        policy: stricter(),
    });
    Rules::new(doc).expect("valid rules")
}

fn inputs(received: &str, dispatched: Option<&str>, reopened: Option<&str>) -> ClockInputs {
    let received_at = at(received);
    let dispatches = dispatched
        .map(|d| DispatchSpan {
            unit: UnitId(5),
            tier: Tier::Station,
            dispatched_at: at(d),
            signed_at: None,
            ended_at: None,
        })
        .into_iter()
        .collect::<Vec<_>>();
    let holdings = vec![Holding {
        unit: UnitId(5),
        tier: Tier::Station,
        from: dispatched.map_or(received_at, at),
        until: None,
    }];
    ClockInputs {
        received_at,
        category: Category::Complaint,
        dispatches,
        first_contact_reached_at: None,
        first_feedback_at: None,
        extension: None,
        closed_at: None,
        reopened_at: reopened.map(at),
        holdings,
    }
}

#[rstest]
// Received and dispatched before the change: every clock keeps the old rule.
#[case::all_before(
    "2026-12-31T15:00:00Z",
    Some("2026-12-31T15:05:00Z"),
    None,
    600,
    1800,
    15
)]
// Received before, dispatched after: only the new 签收 clock is stricter.
#[case::dispatched_after(
    "2026-12-31T15:50:00Z",
    Some("2026-12-31T16:10:00Z"),
    None,
    300,
    1800,
    15
)]
// Received after the change: the new rules throughout.
#[case::received_after(
    "2027-01-02T01:00:00Z",
    Some("2027-01-02T01:05:00Z"),
    None,
    300,
    1200,
    10
)]
// Reopened (重办) after the change: the new 办结 run follows the new rule.
#[case::reopened_after(
    "2026-12-01T01:00:00Z",
    None,
    Some("2027-01-05T01:00:00Z"),
    600,
    1800,
    10
)]
// Exactly at the change: the new era (it is in force from that moment).
#[case::at_the_moment(CHANGE, None, None, 300, 1200, 10)]
fn each_clock_follows_the_era_in_force_when_it_started(
    #[case] received: &str,
    #[case] dispatched: Option<&str>,
    #[case] reopened: Option<&str>,
    #[case] sign_for_secs: i64,
    #[case] contact_secs: i64,
    #[case] closure_days: i64,
) {
    let rules = two_eras();
    let policy = rules.policy_for(&inputs(received, dispatched, reopened));
    assert_eq!(policy.sign_for.due_after_secs, sign_for_secs);
    assert_eq!(policy.contact.due_after_secs, contact_secs);
    assert_eq!(policy.closure.due_after_secs, closure_days * 86_400);
}

#[test]
fn one_era_is_borrowed_and_the_first_era_covers_what_came_before() {
    let rules = Rules::shenzhen();
    let letter = inputs("2026-12-01T01:00:00Z", Some("2026-12-01T01:02:00Z"), None);
    assert!(matches!(rules.policy_for(&letter), Cow::Borrowed(_)));
    let rules = two_eras();
    assert_eq!(
        rules.policy_at(at("1999-01-01T00:00:00Z")),
        &Policy::shenzhen()
    );
    assert_eq!(rules.current(at("2027-03-01T00:00:00Z")), &stricter());
}

#[test]
fn the_built_in_rules_carry_the_compiled_calendar_with_2027_provisional() {
    let rules = Rules::shenzhen();
    let years: Vec<(i32, bool)> = rules
        .doc()
        .calendar
        .iter()
        .map(|y| (y.year, y.provisional))
        .collect();
    assert_eq!(years, vec![(2025, false), (2026, false), (2027, true)]);
    // Rebuilt from its own data, the calendar is the compiled one, day for day.
    let again = Rules::new(rules.doc().clone()).expect("valid");
    assert_eq!(again.calendar(), rules.calendar());
    assert!(again.calendar().is_makeup_day(day("2026-02-14")));
    assert!(!again.calendar().is_working_day(day("2026-02-16")));
}

#[test]
fn malformed_rules_are_refused() {
    assert_eq!(
        Rules::new(RulesDoc {
            eras: vec![],
            calendar: vec![]
        }),
        Err(RulesError::NoEra)
    );
    let mut doc = two_eras().doc().clone();
    doc.eras.swap(0, 1);
    assert!(matches!(Rules::new(doc), Err(RulesError::EraOrder(_))));
    let mut doc = two_eras().doc().clone();
    doc.eras[1].policy.contact = ClockRule::calendar(0, 0);
    assert!(matches!(Rules::new(doc), Err(RulesError::Policy { .. })));
    let mut doc = Rules::shenzhen().doc().clone();
    let again = doc.calendar[0].clone();
    doc.calendar.push(again);
    assert_eq!(Rules::new(doc), Err(RulesError::DuplicateYear(2025)));
    let mut doc = Rules::shenzhen().doc().clone();
    doc.calendar[1].holidays.push(day("2027-01-01"));
    assert!(matches!(
        Rules::new(doc),
        Err(RulesError::Calendar { year: 2026, .. })
    ));
}

/// Loading a new year's notice: 2027 replaced by the State Council's data.
fn with_2027_notice(rules: &Rules) -> Rules {
    let mut doc = rules.doc().clone();
    let year = doc
        .calendar
        .iter_mut()
        .find(|y| y.year == 2027)
        .expect("2027");
    year.provisional = false;
    year.holidays.push(day("2027-02-09"));
    year.makeup_days.push(day("2027-02-13"));
    Rules::new(doc).expect("valid")
}

#[rstest]
// A new era from tomorrow and the 2027 notice before 2027: accepted.
#[case::future_era_and_next_years_notice("2026-12-20T00:00:00Z", true, true, None)]
// The same, once the era's moment has passed: the era would be new in the past.
#[case::era_already_begun(
    "2027-01-03T00:00:00Z",
    true,
    false,
    Some(RulesError::EraInThePast(at(CHANGE)))
)]
// The notice loaded after 9 Feb 2027 has passed: the day's place would change.
#[case::notice_after_the_day(
    "2027-02-10T00:00:00Z",
    false,
    true,
    Some(RulesError::PastDayChanged(day("2027-02-09")))
)]
fn a_successor_never_rewrites_the_past(
    #[case] now: &str,
    #[case] add_era: bool,
    #[case] add_notice: bool,
    #[case] expected: Option<RulesError>,
) {
    let old = Rules::shenzhen();
    let mut new = if add_era {
        two_eras()
    } else {
        Rules::shenzhen()
    };
    if add_notice {
        new = with_2027_notice(&new);
    }
    assert_eq!(check_successor(&old, &new, at(now)).err(), expected);
}

#[test]
fn an_era_that_has_begun_cannot_be_changed_or_dropped() {
    let old = two_eras();
    let after = at(CHANGE) + Duration::days(2);
    // Dropping the begun era.
    assert_eq!(
        check_successor(&old, &Rules::shenzhen(), after),
        Err(RulesError::PastEraChanged(at(CHANGE)))
    );
    // Editing it in place.
    let mut doc = old.doc().clone();
    doc.eras[1].policy.contact = ClockRule::calendar(25 * 60, 5 * 60);
    let edited = Rules::new(doc).expect("valid");
    assert_eq!(
        check_successor(&old, &edited, after),
        Err(RulesError::PastEraChanged(at(CHANGE)))
    );
    // Before it begins, it may still be edited or withdrawn.
    let before = at(CHANGE) - Duration::days(2);
    assert_eq!(check_successor(&old, &edited, before), Ok(()));
    assert_eq!(check_successor(&old, &Rules::shenzhen(), before), Ok(()));
    // The same rules again are always fine.
    assert_eq!(check_successor(&old, &old, after), Ok(()));
}
