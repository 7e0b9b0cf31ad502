//! The wall board (各单位实时态势) and the candidates for escalation upward (issue 12
//! items 5–6), read from the cache.

use std::error::Error;

use jsjb_core::clock::ClockKind;
use jsjb_core::letter::{ContactMethod, ContactOutcome};
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_core::workflow::EventPayload;
use jsjb_store::fixtures::{
    CITY, FUTIAN, LetterBuilder, NANSHAN, NANTOU, SHEKOU, cst, me, page, upsert,
};
use jsjb_store::{BoardRow, Store};

type TestResult = Result<(), Box<dyn Error>>;

/// Around 2026-03-02 10:00, as seen from the 南山 desk:
/// - 1: at 南头 since 09:58, unsigned (签收 due 10:08: running);
/// - 2: at 南头 since 09:00, unsigned (签收 and 联系 breached);
/// - 3: at 蛇口, signed 09:05 and contacted (nothing breached);
/// - 4: at the 南山 desk itself, received 09:55 (待派发);
fn board_store() -> Result<Store, Box<dyn Error>> {
    let mut store = Store::open_in_memory()?;
    let fresh = LetterBuilder::received(1, cst("2026-03-02 09:57"))
        .dispatch_to(NANTOU, cst("2026-03-02 09:58"))
        .build();
    let late = LetterBuilder::received(2, cst("2026-03-02 08:59"))
        .dispatch_to(NANTOU, cst("2026-03-02 09:00"))
        .build();
    let handled = LetterBuilder::received(3, cst("2026-03-02 09:00"))
        .dispatch_to(SHEKOU, cst("2026-03-02 09:01"))
        .sign_for(UserId(8), cst("2026-03-02 09:05"))
        .event(
            cst("2026-03-02 09:10"),
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: cst("2026-03-02 09:10"),
                note: String::new(),
                callback_at: None,
            },
        )
        .build();
    let at_desk = LetterBuilder::received(4, cst("2026-03-02 09:55")).build();
    let changes = [fresh, late, handled, at_desk]
        .into_iter()
        .map(upsert)
        .collect();
    store.apply_page(&page(1, cst("2026-03-02 10:00"), changes))?;
    Ok(store)
}

fn row(rows: &[BoardRow], unit: UnitId) -> Result<&BoardRow, Box<dyn Error>> {
    rows.iter()
        .find(|r| r.unit_id == unit)
        .ok_or_else(|| format!("no row for {unit:?}").into())
}

/// Each station below the desk has its row; what each holds is counted by clock.
#[test]
fn the_branch_board_counts_each_station() -> TestResult {
    let mut store = board_store()?;
    store.set_me(&me(40, NANSHAN, &[Role::Dispatcher]))?;
    let now = cst("2026-03-02 10:00");
    let board = store.wall_board(Some(cst("2026-03-02 00:00")), now)?;
    let units: Vec<UnitId> = board.rows.iter().map(|r| r.unit_id).collect();
    assert_eq!(
        units,
        vec![NANSHAN, NANTOU, SHEKOU],
        "own unit first, then below"
    );

    let own = row(&board.rows, NANSHAN)?;
    assert!(own.own);
    assert_eq!((own.load.open, own.load.to_dispatch), (1, 1));

    let nantou = row(&board.rows, NANTOU)?;
    assert_eq!((nantou.load.open, nantou.load.to_sign), (2, 2));
    assert_eq!(nantou.load.sign_for_overdue, 1, "only letter 2 is late");
    assert_eq!(nantou.load.contact_overdue, 1);
    assert!(nantou.load.any_overdue());

    let shekou = row(&board.rows, SHEKOU)?;
    assert_eq!((shekou.load.open, shekou.load.to_sign), (1, 0));
    assert!(!shekou.load.any_overdue());
    // Today's dispatches whose outcome is known: letter 3 signed in time.
    let today = shekou.today.ok_or("the rates were asked for")?;
    assert_eq!((today.dispatched, today.signed_on_time), (1, 1));
    // Without the rates (the live refresh), the same counts and no rates.
    let counts = store.wall_board(None, now)?;
    assert!(counts.rows.iter().all(|r| r.today.is_none()));
    assert_eq!(row(&counts.rows, NANTOU)?.load, nantou.load);

    assert_eq!(board.total.load.open, 4);
    assert_eq!(board.total.load.to_sign, 2);
    Ok(())
}

/// The city's board sums each branch's subtree.
#[test]
fn the_city_board_sums_each_branch() -> TestResult {
    let mut store = board_store()?;
    store.set_me(&me(41, CITY, &[Role::Dispatcher]))?;
    let board = store.wall_board(Some(cst("2026-03-02 00:00")), cst("2026-03-02 10:00"))?;
    let units: Vec<UnitId> = board.rows.iter().map(|r| r.unit_id).collect();
    assert_eq!(units, vec![CITY, NANSHAN, FUTIAN]);
    let nanshan = row(&board.rows, NANSHAN)?;
    assert_eq!(nanshan.load.open, 4, "the branch and its two stations");
    assert_eq!(nanshan.load.sign_for_overdue, 1);
    Ok(())
}

/// A letter signed for leaves 待签收 and its breach stops counting; the candidates for
/// escalation are the letters below with an unmet clock.
#[test]
fn signing_for_clears_the_count_and_the_candidate() -> TestResult {
    let mut store = board_store()?;
    store.set_me(&me(40, NANSHAN, &[Role::Dispatcher]))?;
    let kinds = [ClockKind::SignFor];
    let mut candidates = store.escalation_candidates(NANSHAN, &kinds)?;
    candidates.sort();
    assert_eq!(
        candidates.iter().map(|id| id.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let late = LetterBuilder::received(2, cst("2026-03-02 08:59"))
        .dispatch_to(NANTOU, cst("2026-03-02 09:00"))
        .sign_for(UserId(8), cst("2026-03-02 10:01"))
        .build();
    store.apply_page(&page(2, cst("2026-03-02 10:01"), vec![upsert(late)]))?;
    let board = store.wall_board(None, cst("2026-03-02 10:02"))?;
    let nantou = row(&board.rows, NANTOU)?;
    assert_eq!((nantou.load.to_sign, nantou.load.sign_for_overdue), (1, 0));
    let candidates = store.escalation_candidates(NANSHAN, &kinds)?;
    assert_eq!(
        candidates.iter().map(|id| id.0).collect::<Vec<_>>(),
        vec![1]
    );
    assert!(store.escalation_candidates(NANSHAN, &[])?.is_empty());
    Ok(())
}
