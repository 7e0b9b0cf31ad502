//! Statistics (三率, categories, tiers) and the shift handover, on hand-made histories
//! whose every figure is worked out in the comments.

use std::error::Error;

use chrono::{DateTime, Utc};
use jsjb_core::clock::ClockKind;
use jsjb_core::letter::{
    Category, ContactMethod, ContactOutcome, FormDecision, LetterId, ReturnReason, Satisfaction,
};
use jsjb_core::org::{Role, Tier, UserId};
use jsjb_core::workflow::{Action, EventPayload};
use jsjb_proto::{HandoverAck, HandoverAckRequest, HandoverCounts};
use jsjb_store::fixtures::{self, LetterBuilder, NANSHAN, NANTOU, SHEKOU, cst, page, upsert};
use jsjb_store::{
    HANDOVER_SOON_SECS, HandoverAckStatus, HandoverItemKind, RateCounts, Store, TierStats,
};

type TestResult = Result<(), Box<dyn Error>>;

fn contact(at: &str, outcome: ContactOutcome, note: &str) -> (DateTime<Utc>, EventPayload) {
    (
        cst(at),
        EventPayload::ContactRecorded {
            method: ContactMethod::Phone,
            outcome,
            contacted_at: cst(at),
            note: note.to_owned(),
            callback_at: None,
        },
    )
}

fn with(b: LetterBuilder, e: (DateTime<Utc>, EventPayload)) -> LetterBuilder {
    b.event(e.0, e.1)
}

/// The period is 2026-03-01 (CST), read on 03-02 09:00. Sign-for 10 min, contact
/// 30 min, closure 15 days (Shenzhen defaults).
/// - 1: 03-01 09:00, to 南头 09:02, signed by 7 at 09:08 (due 09:12: on time),
///   reached 09:20 (due 09:30). Open.
/// - 2: 03-01 10:00 (complaint, tags 噪音+夜间), to 南头 10:01, signed by 8 at 10:15
///   (due 10:11: late), unreachable at 10:20 (contact due 10:30: breached).
/// - 3: 03-01 11:00, to 蛇口 11:01, returned unsigned 11:05 (before its due 11:11: a
///   timely response, DOMAIN.md's 退单 rule, and not late), at the 南山 desk until re-dispatched to 南头 11:40, never
///   signed (due 11:50: breached). Contact due 11:30 breached while 南山 (branch) held it.
/// - 4: 02-14 09:00, to 南头, signed by 7, reached, closed 02-28 12:00; closure due
///   03-01 09:00 (in the period, met); return visit 03-01 10:00 basically satisfied.
/// - 5: 02-13 09:00, to 南头, signed by 8, reached; closure due 02-28 09:00 extended to
///   03-01 20:00 (in the period), never closed: breached.
fn period_store() -> Result<Store, Box<dyn Error>> {
    let mut store = Store::open_in_memory()?;
    let one = with(
        LetterBuilder::received(1, cst("2026-03-01 09:00"))
            .dispatch_to(NANTOU, cst("2026-03-01 09:02"))
            .sign_for(UserId(7), cst("2026-03-01 09:08")),
        contact("2026-03-01 09:20", ContactOutcome::Reached, ""),
    )
    .build();
    let mut two = with(
        LetterBuilder::received(2, cst("2026-03-01 10:00"))
            .category(Category::Complaint)
            .dispatch_to(NANTOU, cst("2026-03-01 10:01"))
            .sign_for(UserId(8), cst("2026-03-01 10:15")),
        contact(
            "2026-03-01 10:20",
            ContactOutcome::Unreachable,
            "晚上七点再打",
        ),
    )
    .build();
    two.problem_tags = vec!["噪音".to_owned(), "夜间".to_owned()];
    let three = LetterBuilder::received(3, cst("2026-03-01 11:00"))
        .dispatch_to(SHEKOU, cst("2026-03-01 11:01"))
        .event(
            cst("2026-03-01 11:05"),
            EventPayload::Returned {
                from: SHEKOU,
                to: NANSHAN,
                to_tier: Tier::Branch,
                reason: ReturnReason::NotOurJurisdiction,
                note: String::new(),
            },
        )
        .dispatch_to(NANTOU, cst("2026-03-01 11:40"))
        .build();
    let four = with(
        LetterBuilder::received(4, cst("2026-02-14 09:00"))
            .dispatch_to(NANTOU, cst("2026-02-14 09:01"))
            .sign_for(UserId(7), cst("2026-02-14 09:05")),
        contact("2026-02-14 09:10", ContactOutcome::Reached, ""),
    )
    .event(
        cst("2026-02-28 11:00"),
        EventPayload::FeedbackFormSubmitted {
            summary: "已处理".to_owned(),
            result: "已解决".to_owned(),
            reply: "您好".to_owned(),
        },
    )
    .event(
        cst("2026-02-28 12:00"),
        EventPayload::FeedbackFormDecided {
            decision: FormDecision::Approve,
            opinion: String::new(),
        },
    )
    .event(
        cst("2026-03-01 10:00"),
        EventPayload::ReturnVisitRecorded {
            resolved: Some(true),
            satisfaction: Satisfaction::BasicallySatisfied,
            note: String::new(),
            method: None,
        },
    )
    .build();
    let five = with(
        LetterBuilder::received(5, cst("2026-02-13 09:00"))
            .dispatch_to(NANTOU, cst("2026-02-13 09:01"))
            .sign_for(UserId(8), cst("2026-02-13 09:05")),
        contact("2026-02-13 09:10", ContactOutcome::Reached, ""),
    )
    .event(
        cst("2026-02-27 09:00"),
        EventPayload::ExtensionDecided {
            approve: true,
            new_due: Some(cst("2026-03-01 20:00")),
            note: String::new(),
        },
    )
    .build();
    store.set_me(&fixtures::me(8, NANTOU, &[Role::Officer]))?;
    store.apply_page(&page(
        1,
        cst("2026-03-02 09:00"),
        [one, two, three, four, five]
            .into_iter()
            .map(upsert)
            .collect(),
    ))?;
    Ok(store)
}

fn counts(
    (dispatched, signed_on_time): (u32, u32),
    (due, closed_on_time): (u32, u32),
    (visits, satisfied): (u32, u32),
) -> RateCounts {
    RateCounts {
        dispatched,
        signed_on_time,
        due,
        closed_on_time,
        visits,
        satisfied,
    }
}

#[test]
fn the_three_rates_categories_and_tiers_of_a_day() -> TestResult {
    let store = period_store()?;
    let report = store.statistics(
        cst("2026-03-01 00:00"),
        cst("2026-03-02 00:00"),
        cst("2026-03-02 09:00"),
    )?;
    assert_eq!(report.letters, 3, "letters 1–3 were received that day");
    let by_category: Vec<_> = report
        .by_category
        .iter()
        .map(|c| (c.key, c.count))
        .collect();
    assert_eq!(by_category, [(Category::Help, 2), (Category::Complaint, 1)]);
    let by_problem: Vec<_> = report
        .by_problem
        .iter()
        .map(|c| (c.key.as_str(), c.count))
        .collect();
    assert_eq!(by_problem, [("噪音", 1), ("夜间", 1)]);

    let unit = |id| {
        report
            .units
            .iter()
            .find(|u| u.unit_id == id)
            .map(|u| u.counts)
    };
    // 南头: dispatches 1 (on time), 2 (late), 3's second (never signed); closures due
    // of 4 (met) and 5 (breached); the visit of 4.
    assert_eq!(unit(NANTOU), Some(counts((3, 1), (2, 1), (1, 1))));
    // 蛇口: 3's first dispatch, returned unsigned within its clock: timely.
    assert_eq!(unit(SHEKOU), Some(counts((1, 1), (0, 0), (0, 0))));
    assert_eq!(report.units.len(), 2);

    let officer = |id| {
        report
            .officers
            .iter()
            .find(|o| o.user_id == UserId(id))
            .map(|o| (o.unit_id, o.counts))
    };
    assert_eq!(
        officer(7),
        Some((Some(NANTOU), counts((1, 1), (1, 1), (1, 1))))
    );
    assert_eq!(
        officer(8),
        Some((Some(NANTOU), counts((1, 0), (1, 0), (0, 0))))
    );

    // Overdue: station — 2's sign-for and contact, 3's second sign-for, 5's closure;
    // branch — 3's contact (due 11:30 while at the 南山 desk).
    // Held (within the day): branch 2 + 1 + 1 + 35 min; station the rest of 1, 2, 3
    // (4 min at 蛇口 included) and all day for 5.
    assert_eq!(
        report.tiers,
        [
            TierStats {
                tier: Tier::City,
                overdue: 0,
                held_secs: 0,
                letters_held: 0
            },
            TierStats {
                tier: Tier::Branch,
                overdue: 1,
                held_secs: 2_340,
                letters_held: 3
            },
            TierStats {
                tier: Tier::Station,
                overdue: 4,
                held_secs: 53_880 + 50_340 + 240 + 44_400 + 86_400,
                // 1, 2, 3 and 5 (3 at two stations counts once).
                letters_held: 4
            },
        ]
    );
    Ok(())
}

#[test]
fn a_deadline_not_reached_yet_is_not_scored() -> TestResult {
    let store = period_store()?;
    // Read at 03-01 11:45: 3's dispatch to 南头 (11:40, due 11:50) is still running and
    // not counted; 1 and 2 are. Letter 5's extended deadline (20:00) is still ahead.
    let report = store.statistics(
        cst("2026-03-01 00:00"),
        cst("2026-03-02 00:00"),
        cst("2026-03-01 11:45"),
    )?;
    let nantou = report
        .units
        .iter()
        .find(|u| u.unit_id == NANTOU)
        .map(|u| u.counts);
    assert_eq!(nantou, Some(counts((2, 1), (1, 1), (1, 1))));
    // An empty period.
    let empty = store.statistics(
        cst("2025-01-01 00:00"),
        cst("2025-02-01 00:00"),
        cst("2026-03-02 09:00"),
    )?;
    assert_eq!(empty.letters, 0);
    assert!(empty.units.is_empty() && empty.officers.is_empty());
    assert!(
        empty
            .tiers
            .iter()
            .all(|t| t.overdue == 0 && t.held_secs == 0)
    );
    Ok(())
}

#[test]
fn the_handover_lists_what_the_unit_left_open() -> TestResult {
    let mut store = period_store()?;
    let now = cst("2026-03-02 09:00");
    let report = store.handover_report(NANTOU, now, HANDOVER_SOON_SECS)?;
    let items: Vec<_> = report
        .items
        .iter()
        .map(|i| (i.kind, i.letter_id.0, i.clock, i.note.as_str()))
        .collect();
    assert_eq!(
        items,
        [
            // 3 was dispatched to 南头 and never signed for.
            (
                HandoverItemKind::NotSignedFor,
                3,
                Some(ClockKind::SignFor),
                ""
            ),
            (
                HandoverItemKind::NotContacted,
                2,
                Some(ClockKind::Contact),
                ""
            ),
            // Overdue apart from "about to breach"; most overdue first: 5 never gave its
            // first feedback (due 02-17).
            (
                HandoverItemKind::Overdue,
                5,
                Some(ClockKind::FirstFeedback),
                ""
            ),
            (HandoverItemKind::Overdue, 2, Some(ClockKind::Contact), ""),
            (HandoverItemKind::Overdue, 3, Some(ClockKind::Contact), ""),
            (HandoverItemKind::PromisedCallback, 2, None, "晚上七点再打"),
        ]
    );
    let callback = report.items.last().ok_or("an item")?;
    // No call-back time was promised; the attempt is when it happened.
    assert_eq!(
        (callback.due_at, callback.event_at),
        (None, Some(cst("2026-03-01 10:20")))
    );
    assert_eq!(report.server_now, now);
    assert_eq!(report.last_acknowledged_at, None);

    // The call-back made offline (still in the outbox) reaches the writer: letter 2
    // leaves "not contacted" and "call back".
    let version = store
        .letter_detail(LetterId(2), now)?
        .map(|d| d.status.version)
        .ok_or("letter 2")?;
    store.enqueue_action(
        LetterId(2),
        version,
        &Action::RecordContact {
            method: ContactMethod::Phone,
            outcome: ContactOutcome::Reached,
            contacted_at: now,
            note: String::new(),
            callback_at: None,
        },
        &fixtures::acting(&fixtures::me(8, NANTOU, &[Role::Officer]), now),
    )?;
    // (Its contact is met late; its first feedback is days away.)
    let report = store.handover_report(NANTOU, now, HANDOVER_SOON_SECS)?;
    assert!(
        report.items.iter().all(|i| i.letter_id != LetterId(2)),
        "{:?}",
        report.items
    );
    Ok(())
}

/// The lists the handover adds (issue 13 item 13): not signed for, chased and not
/// answered since, overdue apart from about to breach, and a call-back with its time.
/// Read at 03-02 09:00 at 南头 (station), below the 南山 desk.
/// - 10: chased by the 南山 supervisor at 08:00, nothing since: on 被催办.
/// - 11: chased at 08:00, the handler gave a first feedback at 08:30: answered.
/// - 13: chased at 06:00, answered 06:30, chased again at 08:20: on it, the 08:20 chase.
/// - 14: received 08:55, signed 08:58, contact due 09:25 (25 min; green until 09:15):
///   not contacted and about to breach (within 2 h; not with no "soon" window).
/// - 15: received 08:00, unreachable at 08:20 with a call-back promised for 10:00;
///   contact due 08:30: not contacted, overdue, call back at 10:00.
/// - 16: dispatched to 南头 at 08:55, not signed; sign-for due 09:05.
#[test]
fn the_handover_lists_chases_breaches_and_call_back_times() -> TestResult {
    const SUPERVISOR: (UserId, jsjb_core::org::UnitId) = (UserId(50), NANSHAN);
    const HANDLER: (UserId, jsjb_core::org::UnitId) = (UserId(7), NANTOU);
    let chased = |note: &str| EventPayload::Chased {
        note: note.to_owned(),
    };
    let feedback = || EventPayload::FirstFeedbackGiven {
        text: "已受理".to_owned(),
    };
    let handled = |id, at: &str| {
        with(
            LetterBuilder::received(id, cst(at))
                .dispatch_to(NANTOU, cst(at) + chrono::Duration::minutes(1))
                .sign_for(UserId(7), cst(at) + chrono::Duration::minutes(3)),
            contact("2026-03-01 09:10", ContactOutcome::Reached, ""),
        )
    };
    let ten = handled(10, "2026-03-01 09:00")
        .event_by(cst("2026-03-02 08:00"), SUPERVISOR, chased("请尽快办结"))
        .build();
    let eleven = handled(11, "2026-03-01 09:00")
        .event_by(cst("2026-03-02 08:00"), SUPERVISOR, chased("请反馈"))
        .event_by(cst("2026-03-02 08:30"), HANDLER, feedback())
        .build();
    let thirteen = handled(13, "2026-03-01 09:00")
        .event_by(cst("2026-03-02 06:00"), SUPERVISOR, chased("一催"))
        .event_by(cst("2026-03-02 06:30"), HANDLER, feedback())
        .event_by(cst("2026-03-02 08:20"), SUPERVISOR, chased("再催"))
        .build();
    let fourteen = LetterBuilder::received(14, cst("2026-03-02 08:55"))
        .dispatch_to(NANTOU, cst("2026-03-02 08:56"))
        .sign_for(UserId(8), cst("2026-03-02 08:58"))
        .build();
    let fifteen = LetterBuilder::received(15, cst("2026-03-02 08:00"))
        .dispatch_to(NANTOU, cst("2026-03-02 08:01"))
        .sign_for(UserId(8), cst("2026-03-02 08:03"))
        .event(
            cst("2026-03-02 08:20"),
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Unreachable,
                contacted_at: cst("2026-03-02 08:20"),
                note: "关机".to_owned(),
                callback_at: Some(cst("2026-03-02 10:00")),
            },
        )
        .build();
    let sixteen = LetterBuilder::received(16, cst("2026-03-02 08:55"))
        .dispatch_to(NANTOU, cst("2026-03-02 08:55"))
        .build();
    let mut store = Store::open_in_memory()?;
    store.set_me(&fixtures::me(8, NANTOU, &[Role::Officer]))?;
    store.apply_page(&page(
        1,
        cst("2026-03-02 09:00"),
        [ten, eleven, thirteen, fourteen, fifteen, sixteen]
            .into_iter()
            .map(upsert)
            .collect(),
    ))?;
    let now = cst("2026-03-02 09:00");
    let lines = |store: &Store, soon| -> Result<Vec<_>, Box<dyn Error>> {
        Ok(store
            .handover_items(NANTOU, now, soon)?
            .into_iter()
            .map(|i| (i.kind, i.letter_id.0, i.clock, i.due_at, i.event_at, i.note))
            .collect())
    };
    use HandoverItemKind as K;
    let at = |s: &str| Some(cst(s));
    assert_eq!(
        lines(&store, HANDOVER_SOON_SECS)?,
        [
            (
                K::NotSignedFor,
                16,
                Some(ClockKind::SignFor),
                at("2026-03-02 09:05"),
                None,
                String::new()
            ),
            (
                K::NotContacted,
                15,
                Some(ClockKind::Contact),
                at("2026-03-02 08:30"),
                None,
                String::new()
            ),
            (
                K::NotContacted,
                14,
                Some(ClockKind::Contact),
                at("2026-03-02 09:25"),
                None,
                String::new()
            ),
            (
                K::Chased,
                10,
                None,
                None,
                at("2026-03-02 08:00"),
                "请尽快办结".to_owned()
            ),
            (
                K::Chased,
                13,
                None,
                None,
                at("2026-03-02 08:20"),
                "再催".to_owned()
            ),
            (
                K::Overdue,
                15,
                Some(ClockKind::Contact),
                at("2026-03-02 08:30"),
                None,
                String::new()
            ),
            (
                K::AboutToBreach,
                16,
                Some(ClockKind::SignFor),
                at("2026-03-02 09:05"),
                None,
                String::new()
            ),
            (
                K::AboutToBreach,
                14,
                Some(ClockKind::Contact),
                at("2026-03-02 09:25"),
                None,
                String::new()
            ),
            (
                K::PromisedCallback,
                15,
                None,
                at("2026-03-02 10:00"),
                at("2026-03-02 08:20"),
                "关机".to_owned()
            ),
        ]
    );
    // With no "soon" window only clocks inside their warn window are about to breach:
    // 14's contact (25 min left, warned from 10 min) and 16's sign-for (5 min, from 3) are not.
    assert!(
        lines(&store, 0)?
            .iter()
            .all(|(kind, ..)| *kind != K::AboutToBreach)
    );

    // The handler answers the chase on 10 from this desktop (still queued): off the list.
    let version = store
        .letter_detail(LetterId(10), now)?
        .map(|d| d.status.version)
        .ok_or("letter 10")?;
    store.enqueue_action(
        LetterId(10),
        version,
        &Action::GiveFirstFeedback {
            text: "已受理".to_owned(),
        },
        &fixtures::acting(&fixtures::me(8, NANTOU, &[Role::Officer]), now),
    )?;
    let chased: Vec<_> = lines(&store, HANDOVER_SOON_SECS)?
        .into_iter()
        .filter(|(kind, ..)| *kind == K::Chased)
        .map(|(_, id, ..)| id)
        .collect();
    assert_eq!(chased, [13]);
    Ok(())
}

#[test]
fn an_acknowledgement_is_queued_then_recorded_once() -> TestResult {
    let mut store = period_store()?;
    let at = cst("2026-03-02 09:05");
    let request = HandoverAckRequest {
        unit_id: NANTOU,
        shift: "2026-03-02 白班".to_owned(),
        acknowledged_at: at,
        note: "已阅".to_owned(),
        counts: HandoverCounts {
            not_contacted: 1,
            about_to_breach: 3,
            promised_callback: 1,
            ..HandoverCounts::default()
        },
        letter_ids: vec![LetterId(2), LetterId(3), LetterId(5)],
        checked_ids: vec![LetterId(2), LetterId(5)],
        handed_over_by: Some(UserId(7)),
    };
    // The outgoing officer's name, while queued, is the directory's.
    store.set_directory(&[jsjb_proto::UserSummary {
        id: UserId(7),
        display_name: "民警7".to_owned(),
        unit_id: NANTOU,
        roles: vec![Role::Officer],
    }])?;
    let key = store.queue_handover_ack(UserId(8), "民警8", &request)?;
    let report = store.handover_report(NANTOU, cst("2026-03-02 09:06"), HANDOVER_SOON_SECS)?;
    assert_eq!(report.last_acknowledged_at, Some(at));
    assert_eq!(report.last_acknowledged_by.as_deref(), Some("民警8"));
    let queued = &report.acknowledgements[0];
    assert_eq!(queued.status, HandoverAckStatus::Pending);
    assert_eq!(
        (queued.handed_over_by, queued.handed_over_by_name.as_deref()),
        (Some(UserId(7)), Some("民警7"))
    );
    assert_eq!((queued.listed, queued.checked), (3, 2));
    assert_eq!(queued.note, "已阅");

    // Unreachable: stays queued.
    store.handover_ack_failed(&key, "server_unreachable", false)?;
    assert_eq!(
        store.pending_handover_acks()?,
        [(key.clone(), request.clone())]
    );

    // The server's copy (our answer, then the unit's list) replaces it, once.
    let recorded = HandoverAck {
        id: 41,
        unit_id: NANTOU,
        user_id: UserId(8),
        user_name: "民警8".to_owned(),
        shift: request.shift.clone(),
        acknowledged_at: at,
        recorded_at: at,
        note: request.note.clone(),
        counts: request.counts,
        letter_ids: request.letter_ids.clone(),
        checked_ids: request.checked_ids.clone(),
        handed_over_by: request.handed_over_by,
        handed_over_by_name: Some("王七".to_owned()),
        workstation: Some("ws-1".to_owned()),
        idempotency_key: key,
    };
    let colleague = HandoverAck {
        id: 40,
        user_id: UserId(7),
        user_name: "民警7".to_owned(),
        acknowledged_at: cst("2026-03-01 21:00"),
        idempotency_key: "key-0".to_owned(),
        ..recorded.clone()
    };
    store.record_handover_acks(std::slice::from_ref(&recorded))?;
    store.record_handover_acks(&[recorded, colleague])?;
    assert!(store.pending_handover_acks()?.is_empty());
    let acks = store.handover_acks(NANTOU, 10)?;
    let seen: Vec<_> = acks
        .iter()
        .map(|a| (a.user_name.as_str(), a.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("民警8", HandoverAckStatus::Recorded),
            ("民警7", HandoverAckStatus::Recorded)
        ]
    );
    // Recorded, the name is the server's.
    assert_eq!(acks[0].handed_over_by_name.as_deref(), Some("王七"));
    assert_eq!((acks[0].listed, acks[0].checked), (3, 2));

    // A refusal is final and not shown as the last acknowledgement.
    let refused = store.queue_handover_ack(
        UserId(8),
        "民警8",
        &HandoverAckRequest {
            acknowledged_at: cst("2026-03-02 10:00"),
            ..request
        },
    )?;
    store.handover_ack_failed(&refused, "forbidden", true)?;
    assert!(store.pending_handover_acks()?.is_empty());
    let report = store.handover_report(NANTOU, cst("2026-03-02 10:01"), HANDOVER_SOON_SECS)?;
    assert_eq!(report.acknowledgements[0].status, HandoverAckStatus::Failed);
    assert_eq!(report.last_acknowledged_at, Some(at));
    Ok(())
}

#[test]
fn the_handover_lists_are_listed_in_the_order_the_report_sorts_them() {
    let mut sorted = HandoverItemKind::ALL;
    sorted.sort();
    assert_eq!(sorted, HandoverItemKind::ALL);
}

/// The handover reads the columns the view derives at write time (issue 15 item 3); the
/// fold of every open letter's history at `now` is the reference. A mix of every list
/// (unsigned, not contacted, breached and about to breach at several readings, chases
/// answered and not, call-backs with and without a promised time), letters that moved
/// to another unit, and actions still in the outbox (a contact recorded here answers a
/// chase and settles a call-back), read at many `now`s: the two agree item for item.
#[test]
fn the_handover_from_columns_agrees_with_folding_each_history() -> TestResult {
    const SUPERVISOR: (UserId, jsjb_core::org::UnitId) = (UserId(50), NANSHAN);
    let start = cst("2026-03-01 08:00");
    let minutes = chrono::Duration::minutes;
    let letter = |i: i64| {
        let received = start + minutes(i * 37 % 2000);
        let mut b = LetterBuilder::received(i, received)
            .subject(&format!("来信{i}"))
            .category(Category::ALL[usize::try_from(i).unwrap_or(0) % Category::ALL.len()]);
        if i % 7 != 0 {
            let to = if i % 5 == 0 { SHEKOU } else { NANTOU };
            b = b.dispatch_to(to, received + minutes(2));
        }
        if i % 7 != 0 && i % 3 != 0 {
            b = b.sign_for(UserId(7 + i % 3), received + minutes(4 + i % 20));
        }
        if i % 7 != 0 && i % 3 != 0 && i % 4 != 0 {
            let outcome = if i % 2 == 0 {
                ContactOutcome::Unreachable
            } else {
                ContactOutcome::Reached
            };
            let at = received + minutes(10 + i % 40);
            b = b.event(
                at,
                EventPayload::ContactRecorded {
                    method: ContactMethod::Phone,
                    outcome,
                    contacted_at: at,
                    note: format!("第{i}次联系"),
                    callback_at: (i % 6 == 2).then(|| at + minutes(90)),
                },
            );
        }
        if i % 11 == 1 {
            b = b.event_by(
                received + minutes(60),
                SUPERVISOR,
                EventPayload::Chased {
                    note: format!("催办{i}"),
                },
            );
        }
        if i % 22 == 1 && i % 3 != 0 && i % 7 != 0 {
            b = b.event_by(
                received + minutes(70),
                (UserId(7), NANTOU),
                EventPayload::FirstFeedbackGiven {
                    text: "已受理".to_owned(),
                },
            );
        }
        b.build()
    };
    let mut store = Store::open_in_memory()?;
    let me = fixtures::officer();
    store.set_me(&me)?;
    store.apply_page(&page(
        1,
        cst("2026-03-02 20:00"),
        (1..=300).map(|i| upsert(letter(i))).collect(),
    ))?;
    // Contacts recorded here and not yet on the server, on letters with an unreachable
    // attempt or a chase.
    for i in (1..=300).filter(|i| i % 13 == 2 || i % 13 == 1) {
        let Some(detail) = store.letter_detail(LetterId(i), cst("2026-03-02 20:00"))? else {
            continue;
        };
        if detail.status.handler.is_none() || detail.status.unit != NANTOU {
            continue;
        }
        let at = cst("2026-03-02 20:00");
        store.enqueue_action(
            LetterId(i),
            detail.status.version,
            &Action::RecordContact {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: at,
                note: "已回拨".to_owned(),
                callback_at: None,
            },
            &fixtures::acting(&me, at),
        )?;
    }
    let mut compared = 0;
    for hours in [-3, 0, 1, 2, 5, 12, 30, 40, 60, 200] {
        let now = start + chrono::Duration::hours(hours) + minutes(7);
        for unit in [NANTOU, SHEKOU, NANSHAN] {
            for soon in [0, HANDOVER_SOON_SECS, 24 * 3600] {
                let from_columns = store.handover_items(unit, now, soon)?;
                assert_eq!(
                    from_columns,
                    store.handover_items_folded(unit, now, soon)?,
                    "{unit:?} at {now}, soon {soon}"
                );
                compared += from_columns.len();
            }
        }
    }
    // Every list is exercised.
    let kinds: std::collections::BTreeSet<_> = [cst("2026-03-01 09:00"), cst("2026-03-02 12:00")]
        .into_iter()
        .map(|now| store.handover_items(NANTOU, now, HANDOVER_SOON_SECS))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .map(|i| i.kind)
        .collect();
    assert_eq!(kinds.len(), HandoverItemKind::ALL.len(), "{kinds:?}");
    assert!(compared > 1000, "{compared} items compared");
    Ok(())
}

/// The statistics skip letters done with before the period (`counts_until`) and still
/// give exactly what folding every letter gives, for periods before, across and after
/// a history of four months with letters closed early, closed late after an
/// extension, and still open.
#[test]
fn the_statistics_skipping_finished_letters_agree_with_folding_them_all() -> TestResult {
    let start = cst("2026-01-01 08:00");
    let days = chrono::Duration::days;
    let minutes = chrono::Duration::minutes;
    let letter = |i: i64| {
        let received = start + days(i % 120) + minutes(i * 7 % 600);
        let mut b = LetterBuilder::received(i, received)
            .category(Category::ALL[usize::try_from(i).unwrap_or(0) % Category::ALL.len()])
            .dispatch_to(
                if i % 5 == 0 { SHEKOU } else { NANTOU },
                received + minutes(2),
            );
        if i % 4 != 0 {
            b = b.sign_for(UserId(7 + i % 3), received + minutes(4 + i % 15));
        }
        if i % 4 != 0 && i % 3 != 0 {
            b = with(b, contact_at(received + minutes(20)));
            if i % 2 == 0 {
                b = b.event(
                    received + days(3),
                    EventPayload::ExtensionDecided {
                        approve: true,
                        new_due: Some(received + days(40)),
                        note: String::new(),
                    },
                );
            }
            let closed = received + days(if i % 2 == 0 { 35 } else { 5 + i % 9 });
            b = b
                .event(
                    closed - minutes(60),
                    EventPayload::FeedbackFormSubmitted {
                        summary: "已处理".to_owned(),
                        result: "已解决".to_owned(),
                        reply: "您好".to_owned(),
                    },
                )
                .event(
                    closed,
                    EventPayload::FeedbackFormDecided {
                        decision: FormDecision::Approve,
                        opinion: String::new(),
                    },
                );
            if i % 6 == 1 {
                b = b.event(
                    closed + days(2),
                    EventPayload::ReturnVisitRecorded {
                        resolved: Some(true),
                        satisfaction: Satisfaction::Satisfied,
                        note: String::new(),
                        method: None,
                    },
                );
            }
        }
        b.build()
    };
    let mut store = Store::open_in_memory()?;
    store.set_me(&fixtures::me(8, NANSHAN, &[Role::Dispatcher]))?;
    store.apply_page(&page(
        1,
        start + days(130),
        (1..=360).map(letter).map(upsert).collect(),
    ))?;
    let now = start + days(130);
    let mut skipped_somewhere = false;
    for (from_day, length) in [
        (-10, 30),
        (0, 7),
        (20, 30),
        (45, 30),
        (90, 30),
        (100, 40),
        (125, 10),
        (140, 30),
    ] {
        let (from, to) = (start + days(from_day), start + days(from_day + length));
        let skipped: i64 = store.connection().query_row(
            "SELECT count(*) FROM letters WHERE received_at < ?1 AND counts_until < ?2",
            [to.timestamp_micros(), from.timestamp_micros()],
            |r| r.get(0),
        )?;
        skipped_somewhere |= skipped > 0;
        assert_eq!(
            store.statistics(from, to, now)?,
            store.statistics_folding_every_letter(from, to, now)?,
            "from day {from_day} for {length} days ({skipped} letters skipped)"
        );
    }
    assert!(skipped_somewhere, "some period skips finished letters");
    Ok(())
}

fn contact_at(at: DateTime<Utc>) -> (DateTime<Utc>, EventPayload) {
    (
        at,
        EventPayload::ContactRecorded {
            method: ContactMethod::Phone,
            outcome: ContactOutcome::Reached,
            contacted_at: at,
            note: String::new(),
            callback_at: None,
        },
    )
}
