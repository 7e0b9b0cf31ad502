//! The cache file: schema, settings, sync pages, crash safety, reopening.

use std::error::Error;

use jsjb_core::letter::{LetterId, LetterState};
use jsjb_core::org::UserId;
use jsjb_core::workflow::EventPayload;
use jsjb_proto::{AttachmentKind, AttachmentMeta};
use jsjb_store::fixtures::{self, LetterBuilder, NANTOU, SHEKOU, cst, page, removed, upsert};
use jsjb_store::{InboxQuery, MIGRATIONS, Store, StoreError, cache_file_name};
use sha2::{Digest, Sha256};

type TestResult = Result<(), Box<dyn Error>>;

fn dispatched(id: i64, to: jsjb_core::org::UnitId) -> jsjb_proto::LetterRecord {
    LetterBuilder::received(id, cst("2026-03-02 09:00"))
        .dispatch_to(to, cst("2026-03-02 09:01"))
        .build()
}

fn count(store: &Store, sql: &str) -> Result<i64, Box<dyn Error>> {
    Ok(store.connection().query_row(sql, [], |r| r.get(0))?)
}

/// FTS5's own check that its index matches the text it was given.
fn fts_is_consistent(store: &Store) -> Result<(), Box<dyn Error>> {
    store.connection().execute(
        "INSERT INTO letters_fts (letters_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )?;
    Ok(())
}

#[test]
fn migrations_validate() -> TestResult {
    MIGRATIONS.validate()?;
    Ok(())
}

#[test]
fn a_file_cache_is_wal_full_sync_with_foreign_keys() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("cache.sqlite3"))?;
    let conn = store.connection();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "FULL");
    assert_eq!(fk, 1);
    assert_eq!(version, 14, "every migration applied");
    Ok(())
}

#[test]
fn a_cache_from_a_newer_app_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    drop(Store::open(&path)?);
    let conn = rusqlite::Connection::open(&path)?;
    conn.pragma_update(None, "user_version", 99)?;
    drop(conn);
    assert!(matches!(Store::open(&path), Err(StoreError::Migration(_))));
    Ok(())
}

#[test]
fn cache_file_names_are_safe_stable_and_distinct() {
    let a = cache_file_name("https://jsjb.sz.gov.cn:8443/", "zhang.san");
    assert_eq!(
        a,
        cache_file_name("https://jsjb.sz.gov.cn:8443", "zhang.san")
    );
    assert!(a.starts_with("jsjb-sz-gov-cn-8443_zhang-san_"), "{a}");
    assert!(a.ends_with(".sqlite3"));
    assert_ne!(
        a,
        cache_file_name("https://jsjb.sz.gov.cn:8443", "zhang-san")
    );
    assert_ne!(a, cache_file_name("https://other.example", "zhang.san"));
    let odd = cache_file_name("http://[::1]:3000/api", "../../etc/张三");
    assert!(
        odd.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "{odd}"
    );
    assert!(!odd.contains(".."), "{odd}");
}

#[test]
fn pages_upsert_remove_and_advance_the_cursor() -> TestResult {
    let mut store = Store::open_in_memory()?;
    assert_eq!(store.sync_state()?.cursor, 0);
    let first = page(
        10,
        cst("2026-03-02 10:00"),
        vec![
            upsert(dispatched(1, NANTOU)),
            upsert(dispatched(2, NANTOU)),
            upsert(dispatched(3, SHEKOU)),
        ],
    );
    let outcome = store.apply_page(&first)?;
    assert_eq!((outcome.upserted, outcome.removed), (3, 0));
    let state = store.sync_state()?;
    assert_eq!(state.cursor, 10);
    assert_eq!(state.last_synced_at, Some(cst("2026-03-02 10:00")));
    assert_eq!(store.letter_count()?, 3);
    assert_eq!(count(&store, "SELECT count(*) FROM events")?, 6);
    assert_eq!(count(&store, "SELECT count(*) FROM letter_text")?, 3);
    fts_is_consistent(&store)?;

    let signed = LetterBuilder::received(2, cst("2026-03-02 09:00"))
        .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
        .sign_for(UserId(8), cst("2026-03-02 09:05"))
        .build();
    let second = page(
        12,
        cst("2026-03-02 10:05"),
        vec![upsert(signed), removed(3)],
    );
    let outcome = store.apply_page(&second)?;
    assert_eq!((outcome.upserted, outcome.removed), (1, 1));
    assert_eq!(store.sync_state()?.cursor, 12);
    assert_eq!(store.letter_count()?, 2);
    assert!(store.letter(LetterId(3))?.is_none());
    let two = store.letter(LetterId(2))?.ok_or("letter 2")?;
    assert_eq!(two.state, LetterState::Handling);
    assert_eq!(
        count(&store, "SELECT count(*) FROM events WHERE letter_id = 2")?,
        3
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM events WHERE letter_id = 3")?,
        0
    );
    assert_eq!(count(&store, "SELECT count(*) FROM letter_text")?, 2);
    fts_is_consistent(&store)?;
    // Removing what is not there is not an error (a replayed page).
    let outcome = store.apply_page(&page(13, cst("2026-03-02 10:06"), vec![removed(3)]))?;
    assert_eq!(outcome.removed, 0);
    Ok(())
}

/// The pages of a first sync commit without waiting for the disk (they can be fetched
/// again); nothing else may: after each page, and after a page that failed, every commit
/// is synced again (`synchronous = FULL`, 2) with the WAL checkpointed automatically,
/// and the page that catches up leaves the WAL checkpointed into the file.
#[test]
fn only_the_first_sync_s_own_pages_commit_unsynced() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path().join("cache.sqlite3"))?;
    let commits = |store: &Store| -> Result<(i64, i64), Box<dyn Error>> {
        let conn = store.connection();
        Ok((
            conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
            conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?,
        ))
    };
    assert_eq!(commits(&store)?, (2, 1000));
    let mut first = page(
        1,
        cst("2026-03-02 10:00"),
        vec![upsert(dispatched(1, NANTOU))],
    );
    first.has_more = true;
    store.apply_page(&first)?;
    assert_eq!(
        commits(&store)?,
        (2, 1000),
        "restored after a first-sync page"
    );
    let mut malformed = dispatched(9, NANTOU);
    malformed.events.remove(0);
    let mut bad = page(2, cst("2026-03-02 10:00"), vec![upsert(malformed)]);
    bad.has_more = true;
    assert!(store.apply_page(&bad).is_err());
    assert_eq!(commits(&store)?, (2, 1000), "restored after a failed page");
    store.apply_page(&page(
        2,
        cst("2026-03-02 10:00"),
        vec![upsert(dispatched(2, NANTOU))],
    ))?;
    let (busy, wal_pages, _): (i64, i64, i64) =
        store
            .connection()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
    assert_eq!(
        (busy, wal_pages),
        (0, 0),
        "caught up: the WAL is in the file"
    );
    assert_eq!(store.letter_count()?, 2);
    Ok(())
}

#[test]
fn a_failure_mid_page_keeps_nothing_of_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    let mut store = Store::open(&path)?;
    store.apply_page(&page(
        5,
        cst("2026-03-02 10:00"),
        vec![upsert(dispatched(1, NANTOU))],
    ))?;

    // A record whose history does not start with its receipt cannot be folded.
    let mut malformed = dispatched(9, NANTOU);
    malformed.events.remove(0);
    let signed = LetterBuilder::received(1, cst("2026-03-02 09:00"))
        .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
        .sign_for(UserId(8), cst("2026-03-02 09:05"))
        .build();
    let bad = page(
        8,
        cst("2026-03-02 10:05"),
        vec![
            upsert(dispatched(4, NANTOU)),
            upsert(signed),
            removed(1),
            upsert(malformed),
        ],
    );
    assert!(matches!(
        store.apply_page(&bad),
        Err(StoreError::InvalidRecord(LetterId(9)))
    ));
    drop(store);

    let store = Store::open(&path)?;
    assert_eq!(store.sync_state()?.cursor, 5, "the cursor did not move");
    assert_eq!(store.letter_count()?, 1);
    assert!(store.letter(LetterId(4))?.is_none());
    let one = store
        .letter(LetterId(1))?
        .ok_or("letter 1 is still there")?;
    assert_eq!(one.state, LetterState::Dispatched);
    assert_eq!(count(&store, "SELECT count(*) FROM letter_text")?, 1);
    fts_is_consistent(&store)?;
    Ok(())
}

#[test]
fn a_reopened_file_has_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir
        .path()
        .join(cache_file_name("https://jsjb.example", "user7"));
    let me = fixtures::officer();
    {
        let mut store = Store::open(&path)?;
        store.set_me(&me)?;
        store.set_clock_offset_ms(-900_000)?;
        store.set_setting("chime_volume", &0.7)?;
        store.apply_page(&page(
            3,
            cst("2026-03-02 10:00"),
            vec![upsert(dispatched(1, NANTOU))],
        ))?;
    }
    let store = Store::open(&path)?;
    assert_eq!(store.me(), Some(&me));
    assert_eq!(store.sync_state()?.cursor, 3);
    assert_eq!(store.sync_state()?.clock_offset_ms, -900_000);
    assert_eq!(store.setting::<f64>("chime_volume")?, Some(0.7));
    assert_eq!(store.setting::<f64>("missing")?, None);
    assert_eq!(store.letter(LetterId(1))?.map(|l| l.unit_id), Some(NANTOU));
    Ok(())
}

#[test]
fn arrivals_for_my_unit_are_reported_once_and_stay_unseen_until_opened() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store.set_me(&fixtures::officer())?;
    let at_desk = LetterBuilder::received(3, cst("2026-03-02 09:00")).build();
    let outcome = store.apply_page(&page(
        1,
        cst("2026-03-02 10:00"),
        vec![
            upsert(dispatched(1, NANTOU)),
            upsert(dispatched(2, SHEKOU)),
            upsert(at_desk),
        ],
    ))?;
    // Even on the first sync: a letter waiting for us must ring.
    assert_eq!(outcome.newly_dispatched_to_unit, vec![LetterId(1)]);
    let now = cst("2026-03-02 10:00");
    let seen = |store: &Store, id: i64| -> Result<bool, StoreError> {
        Ok(store
            .letter_detail(LetterId(id), now)?
            .map(|d| d.seen)
            .unwrap_or_default())
    };
    assert!(!seen(&store, 1)?);
    assert!(
        seen(&store, 2)?,
        "history from the first sync is not highlighted"
    );

    // The same letter again is no arrival; a letter dispatched to us now is.
    let outcome = store.apply_page(&page(
        2,
        cst("2026-03-02 10:01"),
        vec![upsert(dispatched(1, NANTOU)), upsert(dispatched(3, NANTOU))],
    ))?;
    assert_eq!(outcome.newly_dispatched_to_unit, vec![LetterId(3)]);
    store.mark_seen(LetterId(1))?;
    assert!(seen(&store, 1)?);

    // Returned by us and dispatched to us again: a new sign-for clock, a new alarm.
    let again = LetterBuilder::received(1, cst("2026-03-02 09:00"))
        .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
        .event(
            cst("2026-03-02 09:20"),
            EventPayload::Returned {
                from: NANTOU,
                to: fixtures::NANSHAN,
                to_tier: jsjb_core::org::Tier::Branch,
                reason: jsjb_core::letter::ReturnReason::Other,
                note: "非本所".to_owned(),
            },
        )
        .dispatch_to(NANTOU, cst("2026-03-02 10:30"))
        .build();
    let outcome = store.apply_page(&page(3, cst("2026-03-02 10:31"), vec![upsert(again)]))?;
    assert_eq!(outcome.newly_dispatched_to_unit, vec![LetterId(1)]);
    assert!(!seen(&store, 1)?);
    // A brand-new letter after the first sync is highlighted even when not for us.
    store.apply_page(&page(
        4,
        cst("2026-03-02 10:40"),
        vec![upsert(dispatched(5, SHEKOU))],
    ))?;
    assert!(!seen(&store, 5)?);
    Ok(())
}

/// Issue 12 item 4: a chase (催办) of a case our unit handles is reported once, marks
/// the row (badge and highlight until opened), and is not news for another unit.
#[test]
fn a_chase_of_our_case_is_reported_once_and_badges_the_row() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store.set_me(&fixtures::officer())?;
    let signed = |id: i64| {
        LetterBuilder::received(id, cst("2026-03-02 09:00"))
            .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
            .sign_for(UserId(7), cst("2026-03-02 09:05"))
    };
    let elsewhere = || {
        LetterBuilder::received(2, cst("2026-03-02 09:00"))
            .dispatch_to(SHEKOU, cst("2026-03-02 09:01"))
            .sign_for(UserId(9), cst("2026-03-02 09:05"))
    };
    store.apply_page(&page(
        1,
        cst("2026-03-02 10:00"),
        vec![upsert(signed(1).build()), upsert(elsewhere().build())],
    ))?;
    store.mark_seen(LetterId(1))?;
    let chase = |letter: LetterBuilder, at: &str| {
        letter.event(
            cst(at),
            EventPayload::Chased {
                note: "请今天内答复来信人".to_owned(),
            },
        )
    };
    let outcome = store.apply_page(&page(
        2,
        cst("2026-03-02 11:00"),
        vec![
            upsert(chase(signed(1), "2026-03-02 11:00").build()),
            upsert(chase(elsewhere(), "2026-03-02 11:00").build()),
        ],
    ))?;
    assert_eq!(
        outcome.newly_chased,
        vec![LetterId(1)],
        "only our unit's case"
    );
    let now = cst("2026-03-02 11:01");
    let row = |store: &Store, id: i64| -> Result<jsjb_store::InboxRow, Box<dyn Error>> {
        Ok(store
            .inbox(&InboxQuery::default(), now)?
            .rows
            .into_iter()
            .find(|r| r.id == LetterId(id))
            .ok_or("row")?)
    };
    let chased = row(&store, 1)?;
    assert_eq!(chased.chased_at, Some(cst("2026-03-02 11:00")));
    assert!(!chased.seen, "highlighted until opened");
    // The same chase again is no news; a second one is.
    let outcome = store.apply_page(&page(
        3,
        cst("2026-03-02 11:05"),
        vec![upsert(chase(signed(1), "2026-03-02 11:00").build())],
    ))?;
    assert!(outcome.newly_chased.is_empty());
    let twice = chase(chase(signed(1), "2026-03-02 11:00"), "2026-03-02 15:00").build();
    let outcome = store.apply_page(&page(4, cst("2026-03-02 15:00"), vec![upsert(twice)]))?;
    assert_eq!(outcome.newly_chased, vec![LetterId(1)]);
    assert_eq!(row(&store, 1)?.chased_at, Some(cst("2026-03-02 15:00")));
    Ok(())
}

/// Issue 12 item 3: a feedback form newly waiting at our unit is news for its chief only,
/// once, and the row stays highlighted until opened.
#[test]
fn a_form_waiting_for_the_chief_is_reported_to_the_chief_once() -> TestResult {
    let submitted = |id: i64| {
        LetterBuilder::received(id, cst("2026-03-02 09:00"))
            .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
            .sign_for(UserId(7), cst("2026-03-02 09:05"))
            .event(
                cst("2026-03-02 09:30"),
                EventPayload::FirstFeedbackGiven {
                    text: "已受理".to_owned(),
                },
            )
            .event(
                cst("2026-03-02 11:00"),
                EventPayload::FeedbackFormSubmitted {
                    summary: "已处理".to_owned(),
                    result: "已解决".to_owned(),
                    reply: "您好".to_owned(),
                },
            )
    };
    for (roles, expected) in [
        (vec![jsjb_core::org::Role::Chief], vec![LetterId(1)]),
        (vec![jsjb_core::org::Role::Officer], vec![]),
    ] {
        let mut store = Store::open_in_memory()?;
        store.set_me(&fixtures::me(3, NANTOU, &roles))?;
        let handling = LetterBuilder::received(1, cst("2026-03-02 09:00"))
            .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
            .sign_for(UserId(7), cst("2026-03-02 09:05"))
            .build();
        store.apply_page(&page(1, cst("2026-03-02 10:00"), vec![upsert(handling)]))?;
        let outcome = store.apply_page(&page(
            2,
            cst("2026-03-02 11:00"),
            vec![upsert(submitted(1).build())],
        ))?;
        assert_eq!(outcome.newly_to_sign, expected, "{roles:?}");
        // The same state again is no news.
        let outcome = store.apply_page(&page(
            3,
            cst("2026-03-02 11:01"),
            vec![upsert(submitted(1).build())],
        ))?;
        assert!(outcome.newly_to_sign.is_empty());
    }
    Ok(())
}

/// The whole first sync is history, however many pages it takes: no letter of it is
/// highlighted as new; after it caught up, a letter new to the cache is.
#[test]
fn a_first_sync_in_several_pages_highlights_nothing() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store.set_me(&fixtures::officer())?;
    let mut first = page(
        1,
        cst("2026-03-02 10:00"),
        vec![upsert(dispatched(2, SHEKOU))],
    );
    first.has_more = true;
    store.apply_page(&first)?;
    store.apply_page(&page(
        2,
        cst("2026-03-02 10:00"),
        vec![upsert(dispatched(3, SHEKOU))],
    ))?;
    let now = cst("2026-03-02 10:01");
    let seen = |store: &Store, id: i64| -> Result<bool, StoreError> {
        Ok(store
            .letter_detail(LetterId(id), now)?
            .map(|d| d.seen)
            .unwrap_or_default())
    };
    assert!(seen(&store, 2)?);
    assert!(
        seen(&store, 3)?,
        "the first sync's second page is history too"
    );
    store.apply_page(&page(
        3,
        cst("2026-03-02 10:02"),
        vec![upsert(dispatched(4, SHEKOU))],
    ))?;
    assert!(!seen(&store, 4)?, "after catching up, a new letter is news");
    Ok(())
}

/// A user moved to another unit starts the letters over: the new scope's first sync is
/// history too, not a cache full of highlighted "new" letters.
#[test]
fn the_first_sync_after_a_change_of_unit_highlights_nothing() -> TestResult {
    let mut store = Store::open_in_memory()?;
    store.set_me(&fixtures::officer())?;
    store.apply_page(&page(
        1,
        cst("2026-03-02 10:00"),
        vec![upsert(dispatched(2, NANTOU))],
    ))?;
    store.set_me(&fixtures::me(7, SHEKOU, &[jsjb_core::org::Role::Officer]))?;
    store.apply_page(&page(
        1,
        cst("2026-03-02 10:05"),
        vec![upsert(dispatched(5, NANTOU))],
    ))?;
    let seen = store
        .letter_detail(LetterId(5), cst("2026-03-02 10:06"))?
        .ok_or("letter 5")?
        .seen;
    assert!(seen, "history of the new scope is not highlighted");
    Ok(())
}

#[test]
fn an_older_version_never_overwrites_a_newer_one() -> TestResult {
    let mut store = Store::open_in_memory()?;
    let signed = LetterBuilder::received(1, cst("2026-03-02 09:00"))
        .dispatch_to(NANTOU, cst("2026-03-02 09:01"))
        .sign_for(UserId(8), cst("2026-03-02 09:05"))
        .build();
    store.apply_page(&page(2, cst("2026-03-02 10:00"), vec![upsert(signed)]))?;
    let outcome = store.apply_page(&page(
        3,
        cst("2026-03-02 10:01"),
        vec![upsert(dispatched(1, NANTOU))],
    ))?;
    assert_eq!((outcome.upserted, outcome.skipped_stale), (0, 1));
    assert_eq!(store.letter(LetterId(1))?.map(|l| l.version), Some(3));
    assert_eq!(store.sync_state()?.cursor, 3);
    Ok(())
}

#[test]
fn a_removed_letter_takes_its_attachments_and_unshared_bytes() -> TestResult {
    let mut store = Store::open_in_memory()?;
    let bytes = b"\x89PNG fake photo".to_vec();
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let meta = AttachmentMeta {
        sha256: sha.clone(),
        kind: AttachmentKind::Image,
        mime: "image/png".to_owned(),
        size: u64::try_from(bytes.len())?,
    };
    let with_photo = LetterBuilder::received(1, cst("2026-03-02 09:00"))
        .attachment(meta)
        .build();
    store.apply_page(&page(1, cst("2026-03-02 10:00"), vec![upsert(with_photo)]))?;
    store.put_blob(&sha, &bytes)?;
    assert_eq!(count(&store, "SELECT count(*) FROM attachments")?, 1);
    assert_eq!(store.get_blob(&sha)?, Some(bytes));
    store.apply_page(&page(2, cst("2026-03-02 10:01"), vec![removed(1)]))?;
    assert_eq!(count(&store, "SELECT count(*) FROM attachments")?, 0);
    assert_eq!(store.get_blob(&sha)?, None);
    Ok(())
}

fn audit_head(seq: i64, hash: &str) -> jsjb_proto::AuditHead {
    jsjb_proto::AuditHead {
        seq,
        hash: hash.repeat(64),
        signed_at: cst("2026-03-02 10:00"),
        public_key_pem: "-----BEGIN PUBLIC KEY-----".into(),
        key_fingerprint: "f".repeat(64),
        signature: "c2ln".into(),
    }
}

#[test]
fn the_kept_audit_head_survives_a_restart_and_never_moves_backwards() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("cache.sqlite3");
    {
        let mut store = Store::open(&path)?;
        assert_eq!(store.audit_head()?, None);
        assert!(store.keep_audit_head(&audit_head(5, "a"))?);
        assert!(store.keep_audit_head(&audit_head(9, "b"))?);
    }
    let mut store = Store::open(&path)?;
    assert_eq!(store.audit_head()?, Some(audit_head(9, "b")));
    // A shorter head is exactly what must not overwrite the evidence.
    assert!(!store.keep_audit_head(&audit_head(3, "c"))?);
    assert_eq!(store.audit_head()?.map(|h| h.seq), Some(9));
    Ok(())
}
