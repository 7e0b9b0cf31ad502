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
/// - 3: 03-01 11:00, to 蛇口 11:01, returned unsigned 11:05 (before its due 11:11: not
///   late, but not signed), at the 南山 desk until re-dispatched to 南头 11:40, never
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
    // 蛇口: 3's first dispatch, returned unsigned.
    assert_eq!(unit(SHEKOU), Some(counts((1, 0), (0, 0), (0, 0))));
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
            (
                HandoverItemKind::NotContacted,
                2,
                Some(ClockKind::Contact),
                ""
            ),
            // Most overdue first: 5 never gave its first feedback (due 02-17).
            (
                HandoverItemKind::AboutToBreach,
                5,
                Some(ClockKind::FirstFeedback),
                ""
            ),
            (
                HandoverItemKind::AboutToBreach,
                2,
                Some(ClockKind::Contact),
                ""
            ),
            (
                HandoverItemKind::AboutToBreach,
                3,
                Some(ClockKind::Contact),
                ""
            ),
            (HandoverItemKind::PromisedCallback, 2, None, "晚上七点再打"),
        ]
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
    let report = store.handover_report(NANTOU, now, HANDOVER_SOON_SECS)?;
    assert!(
        report
            .items
            .iter()
            .all(|i| i.letter_id != LetterId(2) || i.kind == HandoverItemKind::AboutToBreach),
        "{:?}",
        report.items
    );
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
        },
        letter_ids: vec![LetterId(2), LetterId(3), LetterId(5)],
    };
    let key = store.queue_handover_ack(UserId(8), "民警8", &request)?;
    let report = store.handover_report(NANTOU, cst("2026-03-02 09:06"), HANDOVER_SOON_SECS)?;
    assert_eq!(report.last_acknowledged_at, Some(at));
    assert_eq!(report.last_acknowledged_by.as_deref(), Some("民警8"));
    assert_eq!(
        report.acknowledgements[0].status,
        HandoverAckStatus::Pending
    );

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
