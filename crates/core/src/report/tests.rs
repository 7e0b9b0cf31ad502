//! Table tests of the report rules: the response outcome of a dispatch (the 退单 rule
//! included), when an open fact starts to count, a letter's facts from its history,
//! time held inside a period, and the ranking.

use chrono::{DateTime, TimeZone, Utc};
use rstest::rstest;

use super::*;
use crate::letter::{FormDecision, ReturnReason};

fn t(min: i64) -> DateTime<Utc> {
    // 2026-03-02 00:00 UTC, a Monday; minutes after it.
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
        .single()
        .expect("valid")
        + Duration::minutes(min)
}

const STATION: UnitId = UnitId(3);
const BRANCH: UnitId = UnitId(2);
const CITY: UnitId = UnitId(1);
const OFFICER: UserId = UserId(7);

fn span(signed: Option<i64>, ended: Option<i64>) -> DispatchSpan {
    DispatchSpan {
        unit: STATION,
        tier: Tier::Station,
        dispatched_at: t(0),
        signed_at: signed.map(t),
        ended_at: ended.map(t),
    }
}

/// Sign-for is 10 minutes under the Shenzhen policy: due at t(10).
#[rstest]
#[case::signed_on_time(span(Some(10), None), true, false, Outcome::Met)]
#[case::signed_late(span(Some(11), None), true, false, Outcome::Missed)]
#[case::returned_on_time(span(None, Some(10)), false, false, Outcome::Met)]
#[case::returned_late(span(None, Some(11)), false, false, Outcome::Missed)]
#[case::returned_on_time_ruled_unfounded(span(None, Some(5)), false, true, Outcome::Missed)]
#[case::signed_then_return_ruled_unfounded(span(Some(2), None), false, true, Outcome::Missed)]
#[case::still_unsigned(span(None, None), true, false, Outcome::Open { due: t(10) })]
#[case::left_unsigned_otherwise(span(None, None), false, false, Outcome::Void)]
fn the_response_outcome_of_a_dispatch(
    #[case] span: DispatchSpan,
    #[case] is_last: bool,
    #[case] unfounded: bool,
    #[case] expected: Outcome,
) {
    let calendar = WorkCalendar::default();
    assert_eq!(
        response_outcome(&span, is_last, unfounded, &Policy::shenzhen(), &calendar),
        expected
    );
}

/// "Breached only strictly after the due time": an open fact counts (as a miss) from
/// the first instant after its deadline.
#[rstest]
#[case::before(Outcome::Open { due: t(10) }, t(9), None)]
#[case::at_the_deadline(Outcome::Open { due: t(10) }, t(10), None)]
#[case::just_after(Outcome::Open { due: t(10) }, t(10) + Duration::microseconds(1), Some(false))]
#[case::met(Outcome::Met, t(0), Some(true))]
#[case::missed(Outcome::Missed, t(0), Some(false))]
#[case::void(Outcome::Void, t(100_000), None)]
fn an_outcome_counts_once_decided_or_overdue(
    #[case] outcome: Outcome,
    #[case] now: DateTime<Utc>,
    #[case] expected: Option<bool>,
) {
    assert_eq!(outcome.at(now), expected);
}

fn received() -> (DateTime<Utc>, EventPayload) {
    (
        t(0),
        EventPayload::Received {
            unit: CITY,
            tier: Tier::City,
        },
    )
}

fn dispatched(
    min: i64,
    from: UnitId,
    to: UnitId,
    tier: Tier,
    ruling: bool,
) -> (DateTime<Utc>, EventPayload) {
    (
        t(min),
        EventPayload::Dispatched {
            from,
            to,
            to_tier: tier,
            note: String::new(),
            ruling: ruling.then(|| "不属实".to_owned()),
            return_upheld: None,
        },
    )
}

fn signed(min: i64) -> (DateTime<Utc>, EventPayload) {
    (
        t(min),
        EventPayload::SignedFor {
            unit: STATION,
            handler: OFFICER,
        },
    )
}

fn returned(min: i64) -> (DateTime<Utc>, EventPayload) {
    (
        t(min),
        EventPayload::Returned {
            from: STATION,
            to: BRANCH,
            to_tier: Tier::Branch,
            reason: ReturnReason::NotOurJurisdiction,
            note: "非本所辖区".to_owned(),
        },
    )
}

fn facts(events: &[(DateTime<Utc>, EventPayload)]) -> LetterFacts {
    letter_facts(
        Category::Help,
        events,
        &Policy::shenzhen(),
        &WorkCalendar::default(),
    )
    .expect("a history that starts with received")
}

#[test]
fn a_return_ruled_unfounded_counts_against_the_returning_station() {
    let events = [
        received(),
        dispatched(1, CITY, BRANCH, Tier::Branch, false),
        dispatched(3, BRANCH, STATION, Tier::Station, false),
        returned(5),
        // The branch desk rules the return unfounded: back to the station.
        dispatched(8, BRANCH, STATION, Tier::Station, true),
        signed(9),
    ];
    let f = facts(&events);
    let outcomes: Vec<(UnitId, Option<UserId>, Outcome)> = f
        .responses
        .iter()
        .map(|r| (r.unit, r.officer, r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            // The branch forwarded it within its clock.
            (BRANCH, None, Outcome::Met),
            // Returned within the clock, but ruled unfounded.
            (STATION, None, Outcome::Missed),
            (STATION, Some(OFFICER), Outcome::Met),
        ]
    );
    assert_eq!(f.area, STATION);
}

#[test]
fn a_return_upheld_stays_a_timely_response() {
    let other = UnitId(4);
    let events = [
        received(),
        dispatched(1, CITY, BRANCH, Tier::Branch, false),
        dispatched(3, BRANCH, STATION, Tier::Station, false),
        returned(5),
        // 改派: the desk upholds the return and sends it to another station.
        (
            t(8),
            EventPayload::Dispatched {
                from: BRANCH,
                to: other,
                to_tier: Tier::Station,
                note: String::new(),
                ruling: Some("改派".to_owned()),
                return_upheld: Some(true),
            },
        ),
    ];
    let f = facts(&events);
    assert_eq!(f.responses[1].outcome, Outcome::Met);
    assert_eq!(f.responses[2].outcome, Outcome::Open { due: t(18) });
    assert_eq!(f.area, other);
}

#[test]
fn a_closed_letter_scores_its_closure_and_voids_clocks_it_stopped() {
    let events = [
        received(),
        dispatched(1, CITY, STATION, Tier::Station, false),
        signed(2),
        (
            t(20),
            EventPayload::FirstFeedbackGiven {
                text: "已受理".to_owned(),
            },
        ),
        (
            t(30),
            EventPayload::FeedbackFormSubmitted {
                summary: "s".to_owned(),
                result: "r".to_owned(),
                reply: "y".to_owned(),
            },
        ),
        (
            t(40),
            EventPayload::FeedbackFormDecided {
                decision: FormDecision::Approve,
                opinion: String::new(),
            },
        ),
        (
            t(50),
            EventPayload::ReturnVisitRecorded {
                resolved: Some(true),
                satisfaction: Satisfaction::BasicallySatisfied,
                note: String::new(),
                method: None,
            },
        ),
    ];
    let f = facts(&events);
    assert_eq!(f.resolution.outcome, Outcome::Met);
    assert_eq!(f.resolution.officer, Some(OFFICER));
    assert_eq!(f.resolution.unit, STATION);
    assert_eq!(f.visits.len(), 1);
    assert!(f.visits[0].satisfied);
    let contact = f
        .deadlines
        .iter()
        .find(|d| d.clock == ClockKind::Contact)
        .expect("contact deadline");
    // Due at t(30), the case closed at t(40) without a contact reached: a breach that
    // stays a breach, charged to the station that held it at the deadline.
    assert_eq!((contact.outcome, contact.unit), (Outcome::Missed, STATION));
    let feedback = f
        .deadlines
        .iter()
        .find(|d| d.clock == ClockKind::FirstFeedback)
        .expect("first feedback deadline");
    assert_eq!(feedback.outcome, Outcome::Met);
}

/// A letter whose facts all lie before a period adds nothing to it, so the desktop's
/// statistics may skip it unread; one still held counts up to now, so never.
#[test]
fn a_letter_counts_in_no_period_after_its_last_fact() {
    let closed = [
        received(),
        dispatched(1, CITY, STATION, Tier::Station, false),
        signed(2),
        (
            t(20),
            EventPayload::FirstFeedbackGiven {
                text: "已受理".to_owned(),
            },
        ),
        (
            t(30),
            EventPayload::FeedbackFormSubmitted {
                summary: "s".to_owned(),
                result: "r".to_owned(),
                reply: "y".to_owned(),
            },
        ),
        (
            t(40),
            EventPayload::FeedbackFormDecided {
                decision: FormDecision::Approve,
                opinion: String::new(),
            },
        ),
    ];
    let f = facts(&closed);
    let until = f.counts_until().expect("a closed letter stops counting");
    // The closure deadline (days after the closure) is a fact: it counts until then.
    assert!(until > t(40), "{until}");
    assert_eq!(until, f.resolution.due_at.max(t(40)));
    let tally_of = |from: DateTime<Utc>| {
        let mut tally = Tally::default();
        let period = Period {
            from,
            to: from + Duration::days(30),
            now: from + Duration::days(40),
        };
        tally.add(&f, &period);
        tally
    };
    let after = tally_of(until + Duration::seconds(1));
    assert_eq!(after.letters, 0);
    assert!(after.units.is_empty() && after.officers.is_empty());
    assert!(
        after.tiers.values().all(|h| *h == Held::default()),
        "{:?}",
        after.tiers
    );
    assert!(after.held_by_unit.values().all(|h| *h == Held::default()));
    // At its last moment it still counts (the resolution is scored in that period).
    let at = tally_of(until);
    assert!(!at.units.is_empty(), "{at:?}");

    let open = [
        received(),
        dispatched(1, CITY, STATION, Tier::Station, false),
    ];
    assert_eq!(
        facts(&open).counts_until(),
        None,
        "held by the station until now"
    );
}

#[test]
fn a_tally_counts_only_inside_the_period() {
    let events = [
        received(),
        dispatched(1, CITY, STATION, Tier::Station, false),
        signed(20),
    ];
    let f = facts(&events);
    let period = Period {
        from: t(0),
        to: t(60),
        now: t(30),
    };
    let mut tally = Tally::default();
    tally.add(&f, &period);
    assert_eq!(tally.letters, 1);
    assert_eq!(tally.units[&STATION].dispatched, 1);
    assert_eq!(tally.units[&STATION].signed_on_time, 0);
    assert_eq!(tally.officers[&OFFICER].1.dispatched, 1);
    // Signed late at t(20): overdue for the station.
    assert_eq!(tally.tiers[&Tier::Station].overdue, 1);
    // The city held it 1 min, the station from t(1) to now t(30).
    assert_eq!(tally.tiers[&Tier::City].held_secs, 60);
    assert_eq!(tally.held_by_unit[&STATION].held_secs, 29 * 60);
    let later = Period {
        from: t(60),
        to: t(120),
        now: t(130),
    };
    let mut tally = Tally::default();
    tally.add(&f, &later);
    assert_eq!(tally.letters, 0);
    assert!(tally.units.is_empty());
    assert_eq!(tally.held_by_unit[&STATION].held_secs, 60 * 60);
}

#[rstest]
#[case::inside(t(10), Some(t(20)), 600)]
#[case::open_until_now(t(10), None, 50 * 60)]
#[case::clipped_at_from(t(-10), Some(t(20)), 1200)]
#[case::clipped_at_to(t(50), Some(t(200)), 600)]
#[case::outside(t(70), Some(t(80)), 0)]
fn time_held_inside_a_period(
    #[case] from: DateTime<Utc>,
    #[case] until: Option<DateTime<Utc>>,
    #[case] secs: i64,
) {
    let period = Period {
        from: t(0),
        to: t(60),
        now: t(100),
    };
    let holding = Holding {
        unit: STATION,
        tier: Tier::Station,
        from,
        until,
    };
    // `open_until_now` runs to now, but now is past the period's end: clipped at t(60).
    assert_eq!(period.held_secs(&holding), secs);
}

fn counts(
    dispatched: u32,
    signed: u32,
    due: u32,
    closed: u32,
    visits: u32,
    satisfied: u32,
) -> RateCounts {
    RateCounts {
        dispatched,
        signed_on_time: signed,
        due,
        closed_on_time: closed,
        visits,
        satisfied,
    }
}

#[test]
fn units_rank_by_weighted_score_with_ties_sharing_a_rank() {
    let weights = RankingWeights::default();
    let ranked = rank(
        &[
            (UnitId(1), counts(10, 10, 10, 5, 0, 0)),
            (UnitId(2), counts(10, 10, 10, 10, 10, 10)),
            (UnitId(3), RateCounts::default()),
            (UnitId(4), counts(10, 10, 10, 10, 10, 10)),
            (UnitId(5), counts(10, 0, 10, 10, 10, 10)),
        ],
        &weights,
    );
    let order: Vec<(UnitId, Option<u32>)> = ranked.iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(
        order,
        [
            (UnitId(2), Some(1)),
            (UnitId(4), Some(1)),
            (UnitId(5), Some(3)),
            (UnitId(1), Some(4)),
            (UnitId(3), None),
        ]
    );
    // No visits: satisfaction's weight goes to the others, (10·1 + 45·0.5) / 55.
    let score = ranked[3].1.expect("scored");
    assert!((score - 59.09).abs() < 0.01, "{score}");
    assert_eq!(ranked[2].1, Some(90.0));
}

#[test]
fn weeks_start_on_monday_and_months_on_the_first_in_cst() {
    // 2026-03-01 20:00 UTC is Monday 2 March 04:00 in Beijing.
    let at = Utc
        .with_ymd_and_hms(2026, 3, 1, 20, 0, 0)
        .single()
        .expect("valid");
    let day = cst_day(at);
    assert_eq!(day.to_string(), "2026-03-02");
    assert_eq!(week_start(day).to_string(), "2026-03-02");
    assert_eq!(
        week_start(day + Duration::days(6)).to_string(),
        "2026-03-02"
    );
    assert_eq!(
        month_start(day + Duration::days(30)).to_string(),
        "2026-04-01"
    );
}
