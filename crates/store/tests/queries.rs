//! The inbox (urgency order, colour bands at a given `now`, filters, paging) and the
//! Chinese full-text search.

use std::error::Error;

use chrono::{DateTime, Utc};
use jsjb_core::clock::{Band, ClockKind};
use jsjb_core::letter::{
    Category, Channel, ContactMethod, ContactOutcome, FormDecision, LetterId, LetterState,
};
use jsjb_core::org::UserId;
use jsjb_core::workflow::EventPayload;
use jsjb_store::fixtures::{LetterBuilder, NANTOU, SHEKOU, cst, page, upsert};
use jsjb_store::{InboxGroup, InboxQuery, Store};

type TestResult = Result<(), Box<dyn Error>>;

/// The five letters of the urgency tests, around T0 = 2026-03-02 09:00:
/// - 1: dispatched to 南头 at T0+1 (签收 due T0+11, amber from T0+8);
/// - 2: received T0−20, waiting at the desk (联系 due T0+10, amber from T0);
/// - 3: received T0−60 (联系 due T0−30: overdue);
/// - 4: closed (grey);
/// - 5: signed, contacted and answered (办结 due in 15 days: green).
fn urgency_store() -> Result<Store, Box<dyn Error>> {
    let mut store = Store::open_in_memory()?;
    let t0 = "2026-03-02 09:00";
    let one = LetterBuilder::received(1, cst(t0))
        .subject("电动车")
        .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
        .build();
    let two = LetterBuilder::received(2, cst("2026-03-02 08:40"))
        .category(Category::Complaint)
        .build();
    let three = LetterBuilder::received(3, cst("2026-03-02 08:00"))
        .channel(Channel::Wechat)
        .build();
    let done = handled(
        LetterBuilder::received(4, cst("2026-03-01 09:00")),
        "2026-03-01",
    )
    .event(
        cst("2026-03-01 12:00"),
        EventPayload::FeedbackFormSubmitted {
            summary: "已处理".to_owned(),
            result: "已解决".to_owned(),
            reply: "您好".to_owned(),
        },
    )
    .event(
        cst("2026-03-01 13:00"),
        EventPayload::FeedbackFormDecided {
            decision: FormDecision::Approve,
            opinion: String::new(),
        },
    )
    .build();
    let five = handled(LetterBuilder::received(5, cst(t0)), "2026-03-02").build();
    store.apply_page(&page(
        1,
        cst(t0),
        vec![
            upsert(one),
            upsert(two),
            upsert(three),
            upsert(done),
            upsert(five),
        ],
    ))?;
    Ok(store)
}

/// Dispatched to 南头, signed by user 8, contacted and answered on `day` before 10:00.
fn handled(letter: LetterBuilder, day: &str) -> LetterBuilder {
    let at = |hm: &str| cst(&format!("{day} {hm}"));
    letter
        .dispatch_to(NANTOU, at("09:02"))
        .sign_for(UserId(8), at("09:03"))
        .event(
            at("09:10"),
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: at("09:10"),
                note: String::new(),
                callback_at: None,
            },
        )
        .event(
            at("09:30"),
            EventPayload::FirstFeedbackGiven {
                text: "已受理".to_owned(),
            },
        )
}

fn ids(store: &Store, query: &InboxQuery, now: DateTime<Utc>) -> Result<Vec<i64>, Box<dyn Error>> {
    Ok(store
        .inbox(query, now)?
        .rows
        .iter()
        .map(|r| r.id.0)
        .collect())
}

fn bands(list: &[Band]) -> InboxQuery {
    InboxQuery {
        bands: list.to_vec(),
        ..InboxQuery::default()
    }
}

#[test]
fn the_inbox_is_sorted_by_urgency_with_done_letters_last() -> TestResult {
    let store = urgency_store()?;
    let now = cst("2026-03-02 09:05");
    let page = store.inbox(&InboxQuery::default(), now)?;
    let order: Vec<i64> = page.rows.iter().map(|r| r.id.0).collect();
    // Savable contact (2, due 09:10) and sign-for (1, due 09:11) clocks first, then the
    // running closure clock (5), then the lost contact clock (3), the closed letter last.
    assert_eq!(order, vec![2, 1, 5, 3, 4]);
    let groups: Vec<InboxGroup> = page.rows.iter().map(|r| r.group).collect();
    assert_eq!(
        groups,
        vec![
            InboxGroup::Savable,
            InboxGroup::Savable,
            InboxGroup::Live,
            InboxGroup::Overdue,
            InboxGroup::Done
        ]
    );
    assert_eq!(page.total, 5);
    let by_id = |id: i64| page.rows.iter().find(|r| r.id.0 == id).ok_or("row");
    let three = by_id(3)?;
    assert_eq!(
        (three.band, three.urgent_clock),
        (Band::Overdue, Some(ClockKind::Contact))
    );
    assert_eq!(three.remaining_secs, Some(-35 * 60));
    let one = by_id(1)?;
    assert_eq!(
        (one.band, one.urgent_clock),
        (Band::Ok, Some(ClockKind::SignFor))
    );
    assert_eq!(one.remaining_secs, Some(6 * 60));
    assert_eq!(one.due_at, Some(cst("2026-03-02 09:11")));
    assert_eq!(by_id(5)?.urgent_clock, Some(ClockKind::Closure));
    assert_eq!(
        (by_id(4)?.band, by_id(4)?.remaining_secs),
        (Band::Done, None)
    );
    Ok(())
}

#[test]
fn every_row_is_coloured_as_core_colours_the_letter() -> TestResult {
    let store = urgency_store()?;
    for now in [
        "2026-03-02 08:59",
        "2026-03-02 09:05",
        "2026-03-02 09:08",
        "2026-03-02 09:10",
        "2026-03-02 09:11",
        "2026-03-02 09:11:01",
        "2026-03-06 09:00",
        "2026-03-20 09:00",
    ] {
        let now = cst(now);
        for row in store.inbox(&InboxQuery::default(), now)?.rows {
            let detail = store.letter_detail(row.id, now)?.ok_or("detail")?;
            let core = detail.clocks.most_urgent_reading();
            assert_eq!(
                row.urgent_clock,
                core.map(|r| r.kind),
                "{} at {now}",
                row.id.0
            );
            assert_eq!(
                row.band,
                core.map_or(Band::Done, |r| r.band),
                "{} at {now}",
                row.id.0
            );
            assert_eq!(row.remaining_secs, core.map(|r| r.remaining_secs));
        }
    }
    Ok(())
}

#[test]
fn bands_are_filtered_at_the_given_now() -> TestResult {
    let store = urgency_store()?;
    let now = cst("2026-03-02 09:05");
    assert_eq!(ids(&store, &bands(&[Band::Overdue]), now)?, vec![3]);
    assert_eq!(ids(&store, &bands(&[Band::Warning]), now)?, vec![2]);
    assert_eq!(ids(&store, &bands(&[Band::Ok]), now)?, vec![1, 5]);
    assert_eq!(ids(&store, &bands(&[Band::Done]), now)?, vec![4]);
    assert_eq!(
        ids(&store, &bands(&[Band::Overdue, Band::Warning]), now)?,
        vec![2, 3]
    );
    // Later: the sign-for clock of 1 turns amber at 09:08, and 2 is overdue after 09:10.
    let later = cst("2026-03-02 09:10:30");
    assert_eq!(ids(&store, &bands(&[Band::Warning]), later)?, vec![1]);
    assert_eq!(ids(&store, &bands(&[Band::Overdue]), later)?, vec![3, 2]);
    // At exactly the due time a clock still runs; one microsecond later it is overdue.
    let due = cst("2026-03-02 09:11");
    assert_eq!(ids(&store, &bands(&[Band::Warning]), due)?, vec![1]);
    let after = due + chrono::TimeDelta::microseconds(1);
    // 1's sign-for clock is lost, but its contact clock (due 09:30) can still be saved.
    assert_eq!(ids(&store, &bands(&[Band::Overdue]), after)?, vec![1, 3, 2]);
    Ok(())
}

#[test]
fn filters_counts_and_paging() -> TestResult {
    let store = urgency_store()?;
    let now = cst("2026-03-02 09:05");
    let query = |f: &dyn Fn(&mut InboxQuery)| {
        let mut q = InboxQuery::default();
        f(&mut q);
        q
    };
    let q = query(&|q| q.states = vec![LetterState::Received]);
    let page = store.inbox(&q, now)?;
    assert_eq!(
        page.rows.iter().map(|r| r.id.0).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(page.total, 2);
    let count = |s: LetterState| {
        page.state_counts
            .iter()
            .find(|c| c.state == s)
            .map_or(0, |c| c.count)
    };
    // The tabs count every state under the other filters.
    assert_eq!(count(LetterState::Received), 2);
    assert_eq!(count(LetterState::Dispatched), 1);
    assert_eq!(count(LetterState::Handling), 1);
    assert_eq!(count(LetterState::Closed), 1);

    assert_eq!(
        ids(
            &store,
            &query(&|q| q.categories = vec![Category::Complaint]),
            now
        )?,
        vec![2]
    );
    assert_eq!(
        ids(&store, &query(&|q| q.channels = vec![Channel::Wechat]), now)?,
        vec![3]
    );
    assert_eq!(
        ids(&store, &query(&|q| q.handler = Some(UserId(8))), now)?,
        vec![5, 4]
    );
    assert_eq!(
        ids(&store, &query(&|q| q.unit = Some(NANTOU)), now)?,
        vec![1, 5, 4]
    );
    assert_eq!(
        ids(&store, &query(&|q| q.unit = Some(SHEKOU)), now)?,
        Vec::<i64>::new()
    );
    let q = query(&|q| {
        q.offset = 1;
        q.limit = 2;
    });
    let page = store.inbox(&q, now)?;
    assert_eq!(
        page.rows.iter().map(|r| r.id.0).collect::<Vec<_>>(),
        vec![1, 5]
    );
    assert_eq!(page.total, 5);
    Ok(())
}

fn search_store() -> Result<Store, Box<dyn Error>> {
    let mut store = Store::open_in_memory()?;
    let letter = |id: i64, subject: &str, body: &str, writer: &str| {
        upsert(
            LetterBuilder::received(id, cst("2026-03-02 09:00"))
                .subject(subject)
                .body(body)
                .writer(writer)
                .build(),
        )
    };
    store.apply_page(&page(
        1,
        cst("2026-03-02 09:00"),
        vec![
            letter(
                1,
                "楼道电动车充电",
                "楼道里有人给电动车充电，存在火灾隐患。",
                "王五",
            ),
            letter(2, "夜间噪音扰民", "楼下烧烤店凌晨还很吵。", "李四"),
            letter(3, "自行车被盗", "小区车棚的自行车被盗了。", "张三"),
            letter(4, "优惠100%返现？", "有人说充值返现100%，是否诈骗", "赵六"),
            letter(5, "账号a_b被封", "我的账号 a_b 无法登录", "钱七"),
            letter(6, "咨询户籍", "办理居住证需要什么材料", "孙八"),
        ],
    ))?;
    Ok(store)
}

fn search(store: &Store, text: &str) -> Result<Vec<i64>, Box<dyn Error>> {
    let mut found = ids(
        store,
        &InboxQuery {
            text: Some(text.to_owned()),
            ..InboxQuery::default()
        },
        cst("2026-03-02 09:00"),
    )?;
    found.sort_unstable();
    Ok(found)
}

#[test]
fn chinese_search_by_trigrams() -> TestResult {
    let store = search_store()?;
    assert_eq!(search(&store, "电动车")?, vec![1]);
    assert_eq!(search(&store, "火灾隐患")?, vec![1]);
    assert_eq!(
        search(&store, "电动车 火灾")?,
        vec![1],
        "every word must occur"
    );
    assert_eq!(search(&store, "电动车 噪音")?, Vec::<i64>::new());
    assert_eq!(search(&store, "SZ00000003")?, vec![3], "tracking code");
    assert_eq!(
        search(&store, "sz0000000")?,
        (1..=6).collect::<Vec<_>>(),
        "any case"
    );
    assert_eq!(
        search(&store, "\"引号\"")?,
        Vec::<i64>::new(),
        "quotes are literal"
    );
    Ok(())
}

#[test]
fn one_and_two_character_words_are_found_by_the_character_index() -> TestResult {
    let store = search_store()?;
    assert_eq!(search(&store, "噪音")?, vec![2]);
    assert_eq!(search(&store, "返现")?, vec![4]);
    assert_eq!(
        search(&store, "电充")?,
        Vec::<i64>::new(),
        "two characters must be adjacent and in order"
    );
    assert_eq!(
        search(&store, "Sz")?,
        (1..=6).collect::<Vec<_>>(),
        "any case"
    );
    assert_eq!(search(&store, "0%")?, vec![4], "punctuation: by LIKE");
    assert_eq!(search(&store, "盗")?, vec![3]);
    assert_eq!(search(&store, "李四")?, vec![2], "writer's name");
    assert_eq!(
        search(&store, "盗 车棚")?,
        vec![3],
        "a short and a long word"
    );
    Ok(())
}

#[test]
fn wildcards_in_a_query_are_literal() -> TestResult {
    let store = search_store()?;
    assert_eq!(search(&store, "%")?, vec![4]);
    assert_eq!(search(&store, "_")?, vec![5]);
    assert_eq!(search(&store, "a_b")?, vec![5]);
    assert_eq!(search(&store, "100%")?, vec![4]);
    assert_eq!(search(&store, "0%")?, vec![4]);
    assert_eq!(search(&store, "\\")?, Vec::<i64>::new());
    Ok(())
}

#[test]
fn search_combines_with_the_other_filters() -> TestResult {
    let store = search_store()?;
    let query = InboxQuery {
        text: Some("自行车".to_owned()),
        states: vec![LetterState::Received],
        ..InboxQuery::default()
    };
    let page = store.inbox(&query, cst("2026-03-02 09:00"))?;
    assert_eq!(
        page.rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![LetterId(3)]
    );
    assert_eq!(page.total, 1);
    Ok(())
}

#[test]
fn the_kept_state_counts_match_a_recount() -> TestResult {
    use jsjb_core::workflow::Action;
    use jsjb_store::fixtures::{acting, officer, removed};
    let mut store = urgency_store()?;
    store.set_me(&officer())?;
    // A state change by a local action, a server update and a removal.
    store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&officer(), cst("2026-03-02 09:03")),
    )?;
    let signed_elsewhere = LetterBuilder::received(2, cst("2026-03-02 08:40"))
        .dispatch_to(SHEKOU, cst("2026-03-02 09:04"))
        .build();
    store.apply_page(&page(
        2,
        cst("2026-03-02 09:05"),
        vec![upsert(signed_elsewhere), removed(3)],
    ))?;
    let mut kept: Vec<(String, u64)> = store
        .inbox(&InboxQuery::default(), cst("2026-03-02 09:05"))?
        .state_counts
        .iter()
        .map(|c| (c.state.as_str().to_owned(), c.count))
        .collect();
    kept.sort();
    let mut stmt = store
        .connection()
        .prepare("SELECT state, count(*) FROM letters GROUP BY state ORDER BY state")?;
    let recount: Vec<(String, u64)> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .map(|r| r.map(|(s, n)| (s, u64::try_from(n).unwrap_or(0))))
        .collect::<Result<_, _>>()?;
    assert_eq!(kept, recount);
    assert_eq!(
        kept,
        vec![
            ("closed".to_owned(), 1),
            ("dispatched".to_owned(), 1),
            ("handling".to_owned(), 2)
        ]
    );
    Ok(())
}

/// Issue 13.1: 30 cases whose closure deadline passed days ago, one letter with minutes
/// left to sign for, one whose sign-for is lost but whose contact clock still runs, and
/// one with a first-feedback clock running: the savable clocks are on top, soonest
/// first, then the running one, then the lost ones, longest overdue first.
fn overdue_pile() -> Result<Store, Box<dyn Error>> {
    let mut store = Store::open_in_memory()?;
    let mut changes = Vec::new();
    for i in 0..30 {
        // Received over the first days of January: closure long overdue on 2026-03-02.
        let day = format!("2026-01-{:02}", 1 + i % 20);
        changes.push(upsert(
            handled(
                LetterBuilder::received(100 + i, cst(&format!("{day} 09:00"))),
                &day,
            )
            .build(),
        ));
    }
    // Received 09:00, dispatched 09:01: sign-for due 09:11, contact 09:30.
    changes.push(upsert(
        LetterBuilder::received(1, cst("2026-03-02 09:00"))
            .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
            .build(),
    ));
    // Received 08:50, dispatched 08:52: sign-for lost at 09:02, contact due 09:20.
    changes.push(upsert(
        LetterBuilder::received(2, cst("2026-03-02 08:50"))
            .dispatch_to(NANTOU, cst("2026-03-02 08:52"))
            .build(),
    ));
    // Signed and contacted this morning: first feedback still running.
    changes.push(upsert(
        LetterBuilder::received(3, cst("2026-03-02 08:00"))
            .dispatch_to(NANTOU, cst("2026-03-02 08:01"))
            .sign_for(UserId(8), cst("2026-03-02 08:03"))
            .event(
                cst("2026-03-02 08:10"),
                EventPayload::ContactRecorded {
                    method: ContactMethod::Phone,
                    outcome: ContactOutcome::Reached,
                    contacted_at: cst("2026-03-02 08:10"),
                    note: String::new(),
                    callback_at: None,
                },
            )
            .build(),
    ));
    store.apply_page(&page(1, cst("2026-03-02 09:00"), changes))?;
    Ok(store)
}

#[test]
fn a_savable_clock_is_never_below_the_lost_ones() -> TestResult {
    let store = overdue_pile()?;
    let now = cst("2026-03-02 09:05");
    let page = store.inbox(
        &InboxQuery {
            limit: 5,
            ..InboxQuery::default()
        },
        now,
    )?;
    let order: Vec<i64> = page.rows.iter().map(|r| r.id.0).collect();
    // 1 (sign-for 09:11) before 2 (contact 09:20), then 3, then the first lost case.
    assert_eq!(&order[..3], &[1, 2, 3]);
    assert_eq!(page.rows[0].group, InboxGroup::Savable);
    assert_eq!(page.rows[1].group, InboxGroup::Savable);
    // 2 shows its most urgent clock as it is: the lost sign-for, in red.
    assert_eq!(
        (page.rows[1].urgent_clock, page.rows[1].band),
        (Some(ClockKind::SignFor), Band::Overdue)
    );
    assert_eq!(page.rows[2].group, InboxGroup::Live);
    assert_eq!(page.rows[3].group, InboxGroup::Overdue);

    // The lost ones: longest overdue first.
    let all = store.inbox(&InboxQuery::default(), now)?;
    let lost: Vec<_> = all
        .rows
        .iter()
        .filter(|r| r.group == InboxGroup::Overdue)
        .collect();
    assert_eq!(lost.len(), 30);
    assert!(
        lost.windows(2)
            .all(|w| w[0].remaining_secs <= w[1].remaining_secs),
        "longest overdue first"
    );

    // At exactly the due time the sign-for still runs; a microsecond later it is lost
    // and 1 ranks by its contact clock (09:30), after 2's (09:20).
    let due = cst("2026-03-02 09:11");
    assert_eq!(&ids(&store, &InboxQuery::default(), due)?[..3], &[1, 2, 3]);
    let after = due + chrono::TimeDelta::microseconds(1);
    assert_eq!(
        &ids(&store, &InboxQuery::default(), after)?[..3],
        &[2, 1, 3]
    );
    // Once 2's contact clock is lost too, 2 joins the overdue group.
    let later = cst("2026-03-02 09:25");
    let rows = store.inbox(&InboxQuery::default(), later)?.rows;
    assert_eq!((rows[0].id.0, rows[0].group), (1, InboxGroup::Savable));
    assert_eq!((rows[1].id.0, rows[1].group), (3, InboxGroup::Live));
    let two = rows.iter().find(|r| r.id.0 == 2).ok_or("row 2")?;
    assert_eq!(two.group, InboxGroup::Overdue);
    Ok(())
}

#[test]
fn the_order_holds_under_filters_and_paging() -> TestResult {
    let store = overdue_pile()?;
    let now = cst("2026-03-02 09:05");
    let all = ids(&store, &InboxQuery::default(), now)?;
    let mut paged = Vec::new();
    for offset in (0..33).step_by(7) {
        paged.extend(ids(
            &store,
            &InboxQuery {
                offset,
                limit: 7,
                ..InboxQuery::default()
            },
            now,
        )?);
    }
    assert_eq!(paged, all);
    let dispatched = InboxQuery {
        states: vec![LetterState::Dispatched],
        text: Some("电".to_owned()),
        ..InboxQuery::default()
    };
    // A filter's parameters and the order's `now` do not get mixed up.
    let filtered = ids(&store, &dispatched, now)?;
    assert!(filtered.iter().all(|id| [1, 2].contains(id)));
    Ok(())
}

/// A cache written before the savable-clock columns existed is ranked right as soon as
/// it is opened, not only after the next change to each letter.
#[test]
fn an_older_cache_gets_its_savable_clocks_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite");
    {
        let mut store = Store::open(&path)?;
        store.apply_page(&page(
            1,
            cst("2026-03-02 09:00"),
            vec![
                upsert(
                    LetterBuilder::received(1, cst("2026-03-02 09:00"))
                        .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
                        .build(),
                ),
                upsert(
                    handled(
                        LetterBuilder::received(9, cst("2026-01-05 09:00")),
                        "2026-01-05",
                    )
                    .build(),
                ),
            ],
        ))?;
        // As a version-4 cache left them.
        as_left_by_version(&store, 4)?;
    }
    let store = Store::open(&path)?;
    assert_eq!(
        ids(&store, &InboxQuery::default(), cst("2026-03-02 09:05"))?,
        vec![1, 9]
    );
    Ok(())
}

/// Undoes the migrations after `version` (`PRAGMA user_version` included), so that the
/// next open runs them on a cache as that version left it.
fn as_left_by_version(store: &Store, version: i64) -> Result<(), Box<dyn Error>> {
    // Newest first: each migration's columns and indexes.
    let undo: [(i64, &str); 10] = [
        (14, "ALTER TABLE letters DROP COLUMN counts_until;"),
        (13, "ALTER TABLE letters DROP COLUMN problem_tags;"),
        (
            12,
            "ALTER TABLE letters DROP COLUMN chase_owed_at;
             ALTER TABLE letters DROP COLUMN chase_note;
             ALTER TABLE letters DROP COLUMN callback_attempt_at;
             ALTER TABLE letters DROP COLUMN callback_at;
             ALTER TABLE letters DROP COLUMN callback_note;",
        ),
        (
            11,
            "DROP TABLE letters_chars;
             CREATE INDEX letters_extension_pending ON letters (urgency_key, id)
                 WHERE extension_pending = 1;
             CREATE INDEX letters_extended ON letters (urgency_key, id) WHERE extended = 1;
             CREATE INDEX letters_visit_due ON letters (urgency_key, id) WHERE visit_due = 1;
             CREATE INDEX letters_by_supervisor ON letters (supervisor_id, urgency_key, id)
                 WHERE supervisor_id IS NOT NULL;",
        ),
        (
            10,
            "ALTER TABLE handover_acks DROP COLUMN handed_over_by_name;",
        ),
        (9, "DROP INDEX letters_open_board;"),
        (
            8,
            "ALTER TABLE letters DROP COLUMN feedback_due;
             ALTER TABLE letters DROP COLUMN closure_due;
             ALTER TABLE letters DROP COLUMN above_unit;",
        ),
        (
            7,
            "ALTER TABLE sync_state DROP COLUMN caught_up;
             DROP INDEX letters_extension_pending;
             DROP INDEX letters_extended;
             DROP INDEX letters_visit_due;",
        ),
        (
            6,
            "DROP INDEX letters_by_supervisor;
             ALTER TABLE letters DROP COLUMN supervisor_id;
             ALTER TABLE letters DROP COLUMN chased_at;
             ALTER TABLE letters DROP COLUMN extension_pending;
             ALTER TABLE letters DROP COLUMN extended;
             ALTER TABLE letters DROP COLUMN visit_due;",
        ),
        (
            5,
            "ALTER TABLE letters DROP COLUMN sign_for_due;
             ALTER TABLE letters DROP COLUMN contact_due;",
        ),
    ];
    for (migration, sql) in undo {
        if migration > version {
            store.connection().execute_batch(sql)?;
        }
    }
    store
        .connection()
        .execute_batch(&format!("PRAGMA user_version = {version};"))?;
    Ok(())
}

/// A version-10 cache (before the character index) finds its short words once opened.
#[test]
fn an_older_cache_gets_its_character_index_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    {
        let mut store = Store::open(&path)?;
        let letter = LetterBuilder::received(4, cst("2026-03-02 08:00"))
            .subject("夜间噪音扰民")
            .build();
        store.apply_page(&page(1, cst("2026-03-02 08:00"), vec![upsert(letter)]))?;
        as_left_by_version(&store, 10)?;
    }
    let store = Store::open(&path)?;
    assert_eq!(search(&store, "噪音")?, vec![4]);
    Ok(())
}

/// A version-12 cache (before the problem-tags column) counts its letters by tag once
/// opened.
#[test]
fn an_older_cache_gets_its_problem_tags_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    {
        let mut store = Store::open(&path)?;
        let mut letter = LetterBuilder::received(4, cst("2026-03-02 08:00")).build();
        letter.problem_tags = vec!["噪音扰民".to_owned()];
        store.apply_page(&page(1, cst("2026-03-02 08:00"), vec![upsert(letter)]))?;
        as_left_by_version(&store, 12)?;
    }
    let store = Store::open(&path)?;
    let report = store.statistics(
        cst("2026-03-02 00:00"),
        cst("2026-03-03 00:00"),
        cst("2026-03-02 09:00"),
    )?;
    let tags: Vec<(String, u32)> = report
        .by_problem
        .into_iter()
        .map(|t| (t.key, t.count))
        .collect();
    assert_eq!(tags, [("噪音扰民".to_owned(), 1)]);
    Ok(())
}

/// A version-13 cache (before the statistics' `counts_until`) has it filled once opened:
/// a closed letter is known to be done with, an open one to count until now.
#[test]
fn an_older_cache_learns_which_letters_the_statistics_may_skip_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    {
        let mut store = Store::open(&path)?;
        let closed = handled(
            LetterBuilder::received(4, cst("2026-03-01 08:00")),
            "2026-03-01",
        )
        .event(
            cst("2026-03-01 12:00"),
            EventPayload::FeedbackFormSubmitted {
                summary: "已处理".to_owned(),
                result: "已解决".to_owned(),
                reply: "您好".to_owned(),
            },
        )
        .event(
            cst("2026-03-01 13:00"),
            EventPayload::FeedbackFormDecided {
                decision: FormDecision::Approve,
                opinion: String::new(),
            },
        )
        .build();
        let open = handled(
            LetterBuilder::received(5, cst("2026-03-01 08:00")),
            "2026-03-01",
        )
        .build();
        store.apply_page(&page(
            1,
            cst("2026-03-02 08:00"),
            vec![upsert(closed), upsert(open)],
        ))?;
        as_left_by_version(&store, 13)?;
    }
    let store = Store::open(&path)?;
    let until = |id: i64| -> Result<Option<i64>, Box<dyn Error>> {
        Ok(store.connection().query_row(
            "SELECT counts_until FROM letters WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?)
    };
    assert!(until(4)?.is_some_and(|u| u >= cst("2026-03-01 13:00").timestamp_micros()));
    assert_eq!(until(5)?, None);
    Ok(())
}

/// A version-5 cache (before the worklist columns) gets them filled when it is opened.
#[test]
fn an_older_cache_gets_its_worklists_on_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    {
        let mut store = Store::open(&path)?;
        let followed = handled(
            LetterBuilder::received(7, cst("2026-03-02 08:00")),
            "2026-03-02",
        )
        .event(
            cst("2026-03-02 10:00"),
            EventPayload::SupervisorAssigned {
                supervisor: UserId(30),
                note: String::new(),
            },
        )
        .build();
        store.apply_page(&page(1, cst("2026-03-02 10:00"), vec![upsert(followed)]))?;
        as_left_by_version(&store, 5)?;
    }
    let store = Store::open(&path)?;
    let mine = InboxQuery {
        supervisor: Some(UserId(30)),
        ..InboxQuery::default()
    };
    assert_eq!(ids(&store, &mine, cst("2026-03-02 10:05"))?, vec![7]);
    Ok(())
}

/// The deciders' worklists (issue 12): 延期待审批, 已延期, 我的盯办 and 待回访 select
/// exactly their letters, and follow each letter as its events change it.
#[test]
fn the_worklists_select_their_letters() -> TestResult {
    use jsjb_core::letter::Satisfaction;
    let mut store = Store::open_in_memory()?;
    let day = "2026-03-02";
    let at = |hm: &str| cst(&format!("{day} {hm}"));
    let asked = |letter: LetterBuilder| {
        letter.event(
            at("11:00"),
            EventPayload::ExtensionRequested {
                reason: "需要调取监控".to_owned(),
                legal_basis: "《信访工作条例》第三十五条".to_owned(),
                requested_due: cst("2026-03-27 18:00"),
                current_due: cst("2026-03-17 09:00"),
            },
        )
    };
    let closed = |letter: LetterBuilder| {
        letter
            .event(
                at("12:00"),
                EventPayload::FeedbackFormSubmitted {
                    summary: "已处理".to_owned(),
                    result: "已解决".to_owned(),
                    reply: "您好".to_owned(),
                },
            )
            .event(
                at("13:00"),
                EventPayload::FeedbackFormDecided {
                    decision: FormDecision::Approve,
                    opinion: String::new(),
                },
            )
    };
    let pending = asked(handled(LetterBuilder::received(1, at("09:00")), day)).build();
    let granted = asked(handled(LetterBuilder::received(2, at("09:00")), day))
        .event(
            at("11:30"),
            EventPayload::ExtensionDecided {
                approve: true,
                new_due: Some(cst("2026-03-27 18:00")),
                note: String::new(),
            },
        )
        .build();
    let followed = handled(LetterBuilder::received(3, at("09:00")), day)
        .event(
            at("11:00"),
            EventPayload::SupervisorAssigned {
                supervisor: UserId(30),
                note: "请跟进".to_owned(),
            },
        )
        .build();
    let visit_due = closed(handled(LetterBuilder::received(4, at("09:00")), day)).build();
    let visited = closed(handled(LetterBuilder::received(5, at("09:00")), day))
        .event(
            at("15:00"),
            EventPayload::ReturnVisitRecorded {
                resolved: Some(true),
                satisfaction: Satisfaction::Satisfied,
                note: String::new(),
                method: None,
            },
        )
        .build();
    let plain = handled(LetterBuilder::received(6, at("09:00")), day).build();
    store.apply_page(&page(
        1,
        at("16:00"),
        [
            pending,
            granted,
            followed,
            visit_due,
            visited,
            plain.clone(),
        ]
        .into_iter()
        .map(upsert)
        .collect(),
    ))?;
    let now = at("16:00");
    let only = |q: InboxQuery| ids(&store, &q, now);
    assert_eq!(
        only(InboxQuery {
            extension_pending: true,
            ..InboxQuery::default()
        })?,
        vec![1]
    );
    assert_eq!(
        only(InboxQuery {
            extended: true,
            ..InboxQuery::default()
        })?,
        vec![2]
    );
    assert_eq!(
        only(InboxQuery {
            supervisor: Some(UserId(30)),
            ..InboxQuery::default()
        })?,
        vec![3]
    );
    assert!(
        only(InboxQuery {
            supervisor: Some(UserId(31)),
            ..InboxQuery::default()
        })?
        .is_empty()
    );
    assert_eq!(
        only(InboxQuery {
            visit_due: true,
            ..InboxQuery::default()
        })?,
        vec![4]
    );

    // The row follows its letter: a supervisor assigned later puts it on their list.
    let now_followed = LetterBuilder::received(6, at("09:00"));
    let now_followed = handled(now_followed, day)
        .event(
            at("16:30"),
            EventPayload::SupervisorAssigned {
                supervisor: UserId(30),
                note: String::new(),
            },
        )
        .build();
    assert_ne!(plain.version, now_followed.version);
    store.apply_page(&page(2, at("16:30"), vec![upsert(now_followed)]))?;
    let mut mine = ids(
        &store,
        &InboxQuery {
            supervisor: Some(UserId(30)),
            ..InboxQuery::default()
        },
        at("16:31"),
    )?;
    mine.sort_unstable();
    assert_eq!(mine, vec![3, 6]);
    Ok(())
}

/// The inbox answers from an in-memory index of the `letters` table (issue 15 item 3).
/// After every kind of write — a sync page with an update and a removal, a local action,
/// a letter opened, a raw update, a raw update rolled back, a page too big to read again
/// row by row — it answers exactly as a cache opened afresh on the same file, which
/// reads the table whole.
#[test]
fn the_inbox_index_never_drifts_from_the_table() -> TestResult {
    use jsjb_core::workflow::Action;
    use jsjb_store::fixtures::{acting, officer, removed};
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    let mut store = Store::open(&path)?;
    store.set_me(&officer())?;
    let t0 = cst("2026-03-02 09:00");
    let letters: Vec<_> = (1..=40)
        .map(|i| {
            let b = LetterBuilder::received(i, t0 - chrono::TimeDelta::minutes(i * 7)).subject(
                if i % 3 == 0 {
                    "电动车充电"
                } else {
                    "噪音"
                },
            );
            let b = if i % 2 == 0 {
                b.dispatch_to(NANTOU, t0 - chrono::TimeDelta::minutes(i * 7 - 2))
            } else {
                b
            };
            upsert(if i % 4 == 0 {
                b.sign_for(UserId(8), t0).build()
            } else {
                b.build()
            })
        })
        .collect();
    store.apply_page(&page(1, t0, letters))?;
    let now = cst("2026-03-02 09:05");
    let queries = [
        InboxQuery::default(),
        InboxQuery {
            states: vec![LetterState::Dispatched, LetterState::Handling],
            ..InboxQuery::default()
        },
        bands(&[Band::Warning, Band::Overdue]),
        InboxQuery {
            handler: Some(UserId(8)),
            ..InboxQuery::default()
        },
        InboxQuery {
            offset: 3,
            limit: 7,
            ..InboxQuery::default()
        },
        InboxQuery {
            text: Some("电动车".to_owned()),
            ..InboxQuery::default()
        },
    ];
    let same_as_afresh = |store: &Store, step: &str| -> TestResult {
        let afresh = Store::open(&path)?;
        for q in &queries {
            assert_eq!(store.inbox(q, now)?, afresh.inbox(q, now)?, "{step}: {q:?}");
        }
        Ok(())
    };
    same_as_afresh(&store, "first page")?;

    store.enqueue_action(
        LetterId(2),
        2,
        &Action::SignFor,
        &acting(&officer(), cst("2026-03-02 09:03")),
    )?;
    same_as_afresh(&store, "a local action")?;

    let moved = LetterBuilder::received(6, t0 - chrono::TimeDelta::minutes(42))
        .dispatch_to(SHEKOU, cst("2026-03-02 09:04"))
        .build();
    store.apply_page(&page(2, now, vec![upsert(moved), removed(7), removed(8)]))?;
    same_as_afresh(&store, "an update and removals")?;

    store.mark_seen(LetterId(10))?;
    store
        .connection()
        .execute("UPDATE letters SET handler_id = 8 WHERE id = 11", [])?;
    same_as_afresh(&store, "a raw update")?;

    store.connection().execute_batch(
        "BEGIN; UPDATE letters SET handler_id = 8, state = 'closed' WHERE id = 12; ROLLBACK;",
    )?;
    same_as_afresh(&store, "a rolled-back update")?;

    let many: Vec<_> = (100..2_600)
        .map(|i| upsert(LetterBuilder::received(i, t0).subject("电动车").build()))
        .collect();
    store.apply_page(&page(3, now, many))?;
    same_as_afresh(&store, "a page of 2,500 letters")?;

    // Another connection to the same file (a second instance), which the update hook of
    // this one never sees.
    rusqlite::Connection::open(&path)?
        .execute("UPDATE letters SET handler_id = 8 WHERE id = 13", [])?;
    same_as_afresh(&store, "a write by another connection")?;
    Ok(())
}
