//! The outbox: local application, order, idempotency keys, refusals, scope changes.

use std::error::Error;

use chrono::{DateTime, Utc};
use jsjb_core::letter::{ContactMethod, ContactOutcome, LetterId, LetterState};
use jsjb_core::org::UserId;
use jsjb_core::workflow::{Action, EventPayload};
use jsjb_proto::LetterRecord;
use jsjb_store::fixtures::{self, LetterBuilder, NANTOU, acting, cst, page, removed, upsert};
use jsjb_store::{InboxQuery, InboxRow, OutboxStatus, Store, StoreError};

type TestResult = Result<(), Box<dyn Error>>;

const ME: UserId = UserId(7);

fn dispatched() -> LetterBuilder {
    LetterBuilder::received(1, cst("2026-03-02 09:00")).dispatch_to(NANTOU, cst("2026-03-02 09:01"))
}

fn contact(at: DateTime<Utc>) -> Action {
    Action::RecordContact {
        method: ContactMethod::Phone,
        outcome: ContactOutcome::Reached,
        contacted_at: at,
        note: "已电话联系".to_owned(),
        callback_at: None,
    }
}

/// A store signed in as 南头's officer, with letter 1 dispatched to 南头 (version 2).
fn store_with_letter(store: &mut Store) -> Result<(), StoreError> {
    store.set_me(&fixtures::officer())?;
    store.apply_page(&page(
        1,
        cst("2026-03-02 09:02"),
        vec![upsert(dispatched().build())],
    ))?;
    Ok(())
}

fn row(store: &Store, id: i64) -> Result<InboxRow, Box<dyn Error>> {
    let page = store.inbox(&InboxQuery::default(), cst("2026-03-02 09:10"))?;
    Ok(page
        .rows
        .into_iter()
        .find(|r| r.id == LetterId(id))
        .ok_or("row")?)
}

#[test]
fn an_action_shows_at_once_and_waits_in_the_outbox() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store_with_letter(&mut store)?;
    let me = fixtures::officer();
    let entry = store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&me, cst("2026-03-02 09:03")),
    )?;
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.expected_version, 2);
    assert_eq!(
        uuid::Uuid::parse_str(&entry.idempotency_key)?.get_version_num(),
        4
    );

    let shown = row(&store, 1)?;
    assert_eq!(shown.state, LetterState::Handling);
    assert_eq!(shown.handler_id, Some(ME));
    assert_eq!(shown.version, 3);
    assert!(shown.pending);
    // The server's record is untouched.
    let server = store.letter(LetterId(1))?.ok_or("letter")?;
    assert_eq!(server.state, LetterState::Dispatched);
    assert_eq!(server.version, 2);

    let detail = store
        .letter_detail(LetterId(1), cst("2026-03-02 09:03"))?
        .ok_or("detail")?;
    assert_eq!(detail.status.state, LetterState::Handling);
    assert_eq!(detail.pending.len(), 1);
    assert!(matches!(
        detail.pending[0].event,
        Some(EventPayload::SignedFor { handler: ME, .. })
    ));
    // The sign-for clock is met by the local action.
    assert_eq!(
        detail.clocks.sign_for.as_ref().and_then(|c| c.met_at),
        Some(cst("2026-03-02 09:03"))
    );
    assert_eq!(store.next_pending()?, Some(entry.clone()));
    assert_eq!(entry.request().expected_version, 2);
    Ok(())
}

#[test]
fn actions_go_in_order_and_leave_when_accepted() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store_with_letter(&mut store)?;
    let me = fixtures::officer();
    let first = store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&me, cst("2026-03-02 09:03")),
    )?;
    let second = store.enqueue_action(
        LetterId(1),
        3,
        &contact(cst("2026-03-02 09:05")),
        &acting(&me, cst("2026-03-02 09:06")),
    )?;
    assert!(first.id < second.id);
    assert_eq!(row(&store, 1)?.version, 4);
    assert_eq!(store.next_pending()?.map(|e| e.id), Some(first.id));

    // The server accepted the first: its answer is the letter at version 3.
    let v3 = dispatched().sign_for(ME, cst("2026-03-02 09:03")).build();
    store.mark_sent(first.id, &v3)?;
    assert_eq!(store.next_pending()?.map(|e| e.id), Some(second.id));
    let shown = row(&store, 1)?;
    assert!(shown.pending);
    assert_eq!(shown.version, 4, "the second action is still shown");

    let v4 = dispatched()
        .sign_for(ME, cst("2026-03-02 09:03"))
        .event(
            cst("2026-03-02 09:06"),
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome: ContactOutcome::Reached,
                contacted_at: cst("2026-03-02 09:05"),
                note: "已电话联系".to_owned(),
                callback_at: None,
            },
        )
        .build();
    store.mark_sent(second.id, &v4)?;
    assert_eq!(store.next_pending()?, None);
    let shown = row(&store, 1)?;
    assert!(!shown.pending);
    assert_eq!(shown.version, 4);
    assert_eq!(store.letter(LetterId(1))?.map(|l| l.version), Some(4));
    // Sending the same entry twice is an error, not a second effect.
    assert!(matches!(
        store.mark_sent(first.id, &v4),
        Err(StoreError::OutboxEntryNotFound(_))
    ));
    Ok(())
}

#[test]
fn the_idempotency_key_survives_a_restart_and_retries() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    let key = {
        let mut store = Store::open(&path)?;
        store_with_letter(&mut store)?;
        let entry = store.enqueue_action(
            LetterId(1),
            2,
            &Action::SignFor,
            &acting(&fixtures::officer(), cst("2026-03-02 09:03")),
        )?;
        store.note_attempt_failed(entry.id, "network", "connection refused")?;
        entry.idempotency_key
    };
    let mut store = Store::open(&path)?;
    let entry = store
        .next_pending()?
        .ok_or("still pending after a restart")?;
    assert_eq!(entry.idempotency_key, key);
    assert_eq!(entry.attempts, 1);
    assert_eq!(
        entry.last_error.as_ref().map(|e| e.code.as_str()),
        Some("network")
    );
    store.note_attempt_failed(entry.id, "timeout", "no answer in 30 s")?;
    let entry = store.next_pending()?.ok_or("pending")?;
    assert_eq!(entry.idempotency_key, key);
    assert_eq!(entry.attempts, 2);
    assert_eq!(
        row(&store, 1)?.state,
        LetterState::Handling,
        "the view survives too"
    );
    Ok(())
}

#[test]
fn a_refused_action_returns_the_letter_to_the_servers_state() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store_with_letter(&mut store)?;
    let me = fixtures::officer();
    let entry = store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&me, cst("2026-03-02 09:03")),
    )?;
    // A colleague signed for it first; the 409 carries the letter as it is now.
    let current: LetterRecord = dispatched()
        .sign_for(UserId(8), cst("2026-03-02 09:02"))
        .build();
    store.mark_refused(
        entry.id,
        "stale_version",
        "the letter changed",
        Some(&current),
    )?;

    let shown = row(&store, 1)?;
    assert_eq!(shown.handler_id, Some(UserId(8)));
    assert!(!shown.pending);
    assert_eq!(store.next_pending()?, None);
    let failed = store.failed_actions()?;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, OutboxStatus::Failed);
    assert_eq!(failed[0].idempotency_key, entry.idempotency_key);
    assert_eq!(
        failed[0].last_error.as_ref().map(|e| e.code.as_str()),
        Some("stale_version")
    );
    let detail = store
        .letter_detail(LetterId(1), cst("2026-03-02 09:04"))?
        .ok_or("detail")?;
    assert_eq!(detail.failed.len(), 1);
    assert!(detail.pending.is_empty());
    store.dismiss_failed(entry.id)?;
    assert!(store.failed_actions()?.is_empty());
    assert!(matches!(
        store.dismiss_failed(entry.id),
        Err(StoreError::OutboxEntryNotFound(_))
    ));
    Ok(())
}

#[test]
fn a_refusal_without_the_current_letter_falls_back_to_the_cached_one() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store_with_letter(&mut store)?;
    let entry = store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&fixtures::officer(), cst("2026-03-02 09:03")),
    )?;
    store.mark_refused(entry.id, "forbidden", "403", None)?;
    let shown = row(&store, 1)?;
    assert_eq!(shown.state, LetterState::Dispatched);
    assert_eq!(shown.version, 2);
    assert!(!shown.pending);
    Ok(())
}

#[test]
fn core_refuses_locally_what_the_server_would_refuse() -> TestResult {
    let mut store = Store::open_in_memory()?;
    let ctx = acting(&fixtures::officer(), cst("2026-03-02 09:03"));
    assert!(matches!(
        store.enqueue_action(LetterId(1), 2, &Action::SignFor, &ctx),
        Err(StoreError::NotSignedIn)
    ));
    store_with_letter(&mut store)?;
    let form = Action::SubmitFeedbackForm {
        summary: "s".to_owned(),
        result: "r".to_owned(),
        reply: "r".to_owned(),
    };
    let refused = store.enqueue_action(LetterId(1), 2, &form, &ctx);
    assert!(
        matches!(&refused, Err(e @ StoreError::Refused(_)) if e.code() == "wrong_state"),
        "{refused:?}"
    );
    assert!(matches!(
        store.enqueue_action(LetterId(1), 1, &Action::SignFor, &ctx),
        Err(StoreError::StaleView {
            expected: 1,
            current: 2
        })
    ));
    assert!(matches!(
        store.enqueue_action(LetterId(2), 2, &Action::SignFor, &ctx),
        Err(StoreError::LetterNotFound(LetterId(2)))
    ));
    assert_eq!(store.next_pending()?, None);
    assert!(!row(&store, 1)?.pending);
    Ok(())
}

#[test]
fn a_sync_re_applies_pending_actions_on_the_newer_state() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store_with_letter(&mut store)?;
    let me = fixtures::officer();
    store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&me, cst("2026-03-02 09:03")),
    )?;
    // The server's letter gained an event of someone else's meanwhile.
    let chased = dispatched()
        .event(
            cst("2026-03-02 09:02:30"),
            EventPayload::Chased {
                note: "请尽快签收".to_owned(),
            },
        )
        .build();
    store.apply_page(&page(2, cst("2026-03-02 09:04"), vec![upsert(chased)]))?;
    let shown = row(&store, 1)?;
    assert_eq!(shown.state, LetterState::Handling);
    assert_eq!(shown.version, 4);

    // Then a colleague's signature arrives: our sign-for no longer applies; the view is
    // the server's and the detail says why our action is in conflict.
    let taken = dispatched()
        .sign_for(UserId(8), cst("2026-03-02 09:02:45"))
        .build();
    store.apply_page(&page(3, cst("2026-03-02 09:05"), vec![upsert(taken)]))?;
    let shown = row(&store, 1)?;
    assert_eq!(shown.handler_id, Some(UserId(8)));
    assert!(shown.pending, "still queued: the server decides");
    let detail = store
        .letter_detail(LetterId(1), cst("2026-03-02 09:05"))?
        .ok_or("detail")?;
    assert_eq!(detail.pending[0].conflict.as_deref(), Some("wrong_state"));
    assert_eq!(detail.pending[0].event, None);
    Ok(())
}

#[test]
fn a_letter_leaving_the_scope_fails_its_pending_actions() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store_with_letter(&mut store)?;
    let entry = store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&fixtures::officer(), cst("2026-03-02 09:03")),
    )?;
    store.apply_page(&page(2, cst("2026-03-02 09:04"), vec![removed(1)]))?;
    assert_eq!(store.next_pending()?, None);
    let failed = store.failed_actions()?;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, entry.id);
    assert_eq!(
        failed[0].last_error.as_ref().map(|e| e.code.as_str()),
        Some("out_of_scope")
    );
    assert!(
        store
            .letter_detail(LetterId(1), cst("2026-03-02 09:04"))?
            .is_none()
    );
    Ok(())
}

#[test]
fn a_signed_decision_keeps_its_signature_across_a_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    let signature = serde_json::json!({"key_id": 3, "signature_der_b64": "MEUCIQ=="});
    let id = {
        let mut store = Store::open(&path)?;
        store_with_letter(&mut store)?;
        let me = fixtures::officer();
        let entry = store.enqueue_signed_action(
            LetterId(1),
            2,
            &Action::SignFor,
            &signature,
            &acting(&me, cst("2026-03-02 09:03")),
        )?;
        assert_eq!(entry.request().signature.as_ref(), Some(&signature));
        entry.id
    };
    let store = Store::open(&path)?;
    let entry = store.next_pending()?.ok_or("pending")?;
    assert_eq!(entry.id, id);
    assert_eq!(entry.signature.as_ref(), Some(&signature));
    assert_eq!(entry.request().signature, Some(signature));
    // An ordinary action carries none.
    let mut plain = Store::open_in_memory()?;
    store_with_letter(&mut plain)?;
    let me = fixtures::officer();
    let entry = plain.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&me, cst("2026-03-02 09:03")),
    )?;
    assert_eq!(entry.request().signature, None);
    Ok(())
}

#[test]
fn a_user_moved_to_another_unit_starts_the_letters_over_and_keeps_the_outbox() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store_with_letter(&mut store)?;
    let me = fixtures::officer();
    store.enqueue_action(
        LetterId(1),
        2,
        &Action::SignFor,
        &acting(&me, cst("2026-03-02 09:03")),
    )?;
    // Signed in again at the same unit: nothing changes.
    store.set_me(&me)?;
    assert!(store.letter(LetterId(1))?.is_some());
    assert!(store.sync_state()?.cursor > 0);
    // An admin moved the officer to 蛇口: the old unit's letters go, the cursor starts
    // over, and the officer's action still waits to be sent (the server decides).
    let moved = fixtures::me(
        me.user_id.0,
        fixtures::SHEKOU,
        &[jsjb_core::org::Role::Officer],
    );
    store.set_me(&moved)?;
    assert!(store.letter(LetterId(1))?.is_none());
    assert_eq!(store.sync_state()?.cursor, 0);
    assert_eq!(store.sync_state()?.last_synced_at, None);
    assert_eq!(store.pending_actions()?.len(), 1);
    let page = store.inbox(&InboxQuery::default(), cst("2026-03-02 09:10"))?;
    assert!(page.rows.is_empty(), "{:?}", page.rows);
    // Its search text and both search indexes forgot it too (the forgetting is in bulk),
    // and the letter comes back whole when the new scope holds it again.
    let found = |store: &Store, text: &str| -> Result<Vec<LetterId>, Box<dyn Error>> {
        let q = InboxQuery {
            text: Some(text.to_owned()),
            ..InboxQuery::default()
        };
        Ok(store
            .inbox(&q, cst("2026-03-02 09:10"))?
            .rows
            .into_iter()
            .map(|r| r.id)
            .collect())
    };
    let subject = dispatched().build().subject;
    let short: String = subject.chars().take(2).collect();
    assert!(found(&store, &subject)?.is_empty());
    assert!(found(&store, &short)?.is_empty());
    let texts: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM letter_text", [], |r| r.get(0))?;
    assert_eq!(texts, 0);
    store.apply_page(&page_of(2, dispatched().build()))?;
    assert_eq!(found(&store, &subject)?, vec![LetterId(1)]);
    assert_eq!(found(&store, &short)?, vec![LetterId(1)]);
    store.connection().execute_batch(
        "INSERT INTO letters_fts (letters_fts) VALUES ('integrity-check');
         INSERT INTO letters_chars (letters_chars) VALUES ('integrity-check');",
    )?;
    Ok(())
}

fn page_of(cursor: i64, record: LetterRecord) -> jsjb_proto::SyncPage {
    page(cursor, cst("2026-03-02 09:05"), vec![upsert(record)])
}
