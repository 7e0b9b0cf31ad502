//! The conformance suite: what every backend of [`Storage`] must do, written once
//! against the trait. A backend runs it from its own tests with
//! [`conformance_suite!`](crate::conformance_suite), giving a function that opens an
//! empty, migrated store:
//!
//! ```ignore
//! async fn fresh() -> (tempfile::TempDir, Arc<dyn Storage>) { … }
//! jsjb_storage::conformance_suite!(fresh);
//! ```
//!
//! Each case starts from an empty store, builds the organisation it needs through the
//! trait, and checks behaviour the server relies on (errors by their `code`, replays,
//! scope, the cursor contract, the audit chain) rather than any backend's tables.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use jsjb_core::letter::{Category, Channel, LetterId, LetterState, Satisfaction};
use jsjb_core::org::{Role, Tier, UnitId, UserId};
use jsjb_core::workflow::EventPayload;
use jsjb_proto::{Change, HandoverAckRequest, HandoverCounts, NoticeKind};

use crate::citizen_tokens::{BucketRule, CodeCheck, NewCode, NewTicket, Take, TicketRecord};
use crate::handovers::{HandoverOutcome, NewHandover};
use crate::signoff::{NewDelegation, NewKey};
use crate::{
    ActionCommit, ActionOutcome, Actor, CreatedLetter, DecideFn, DraftEdit, DraftMessage,
    DraftOutcome, IdempotencyClaim, LockoutPolicy, LoginAttempt, NewLetter, NewSession, NewUnit,
    NewUser, Rating, Storage, StorageError, StoredAnswer, UserChange,
};

/// Runs every case of the suite as a test of the calling crate. `$fresh` is an async
/// function returning `(guard, Arc<dyn Storage>)`: an empty, migrated store, and
/// whatever must live as long as it (a temporary directory, a database to drop).
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@cases $fresh;
            organisation, accounts_and_notices, logins_and_lockout, letters_and_intake_idempotency,
            actions_and_idempotency, scope_removals, sync_cursor_contract, audit_chain,
            citizen_side, signing_keys_and_delegations, handovers, prune_idempotency,
            moves_and_user_changes, unit_deactivation, routing_rules_versions,
            citizen_codes, citizen_tickets, citizen_buckets, citizen_tokens_pruning,
            citizen_tokens_concurrency, intake_together, letters_from_sender,
            writer_notice_queue);
    };
    (@cases $fresh:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (guard, store) = $fresh().await;
                $crate::conformance::$case(store).await;
                drop(guard);
            }
        )*
    };
}

/// A fixed clock: stored times must come back to the microsecond.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

fn user_actor(user: UserId, unit: UnitId, role: Role) -> Actor {
    Actor {
        user: Some(user),
        unit: Some(unit),
        role: Some(role),
        label: format!("user:{}", user.0),
        workstation: Some("WS-01".to_owned()),
    }
}

fn code_of(result: Result<impl std::fmt::Debug, StorageError>) -> &'static str {
    match result {
        Err(StorageError::Conflict { code, .. }) => code,
        Err(StorageError::Invalid { field, .. }) => field,
        Err(StorageError::NotFound(_)) => "not_found",
        other => panic!("expected a conflict, invalid or not-found error, got {other:?}"),
    }
}

/// A city bureau, a branch with two stations, an admin pair, a desk, officers, a chief.
pub struct Org {
    pub city: UnitId,
    pub branch: UnitId,
    pub station_a: UnitId,
    pub station_b: UnitId,
    pub admin: UserId,
    pub admin2: UserId,
    pub city_desk: UserId,
    pub officer_a: UserId,
    pub officer_b: UserId,
    pub chief_a: UserId,
    pub deputy_a: UserId,
}

async fn unit(store: &dyn Storage, parent: Option<UnitId>, tier: Tier, name: &str) -> UnitId {
    store
        .create_unit(
            NewUnit {
                parent,
                tier,
                name: name.to_owned(),
            },
            Actor::cli(),
            t0(),
        )
        .await
        .expect("create unit")
        .id
}

async fn user(store: &dyn Storage, unit: UnitId, name: &str, roles: &[Role]) -> UserId {
    store
        .create_user(
            NewUser {
                unit_id: unit,
                username: name.to_owned(),
                display_name: format!("{name} 同志"),
                roles: roles.iter().copied().collect(),
                password_hash: format!("$argon2id$fake${name}"),
            },
            Actor::cli(),
            t0(),
        )
        .await
        .expect("create user")
        .id
}

pub async fn org(store: &dyn Storage) -> Org {
    let city = unit(store, None, Tier::City, "深圳市公安局").await;
    let branch = unit(store, Some(city), Tier::Branch, "福田分局").await;
    let station_a = unit(store, Some(branch), Tier::Station, "园岭派出所").await;
    let station_b = unit(store, Some(branch), Tier::Station, "莲花派出所").await;
    Org {
        city,
        branch,
        station_a,
        station_b,
        admin: user(store, city, "admin", &[Role::Admin]).await,
        admin2: user(store, city, "admin2", &[Role::Admin]).await,
        city_desk: user(store, city, "shiju.desk", &[Role::Dispatcher]).await,
        officer_a: user(store, station_a, "yuanling.wang", &[Role::Officer]).await,
        officer_b: user(store, station_b, "lianhua.zhao", &[Role::Officer]).await,
        chief_a: user(store, station_a, "yuanling.chief", &[Role::Chief]).await,
        deputy_a: user(store, station_a, "yuanling.deputy", &[Role::Officer]).await,
    }
}

fn new_letter(code: &str, unit: Option<UnitId>) -> NewLetter {
    NewLetter {
        tracking_code: code.to_owned(),
        channel: Channel::Web,
        category: Category::Help,
        problem_tags: vec!["噪音扰民".to_owned()],
        subject: "楼下夜间施工".to_owned(),
        body: "每晚十一点后仍在施工，请派人处理。".to_owned(),
        writer_name: "张三".to_owned(),
        writer_phone: "13800138000".to_owned(),
        writer_extra: serde_json::json!({}),
        received_at: t0(),
        unit,
        attachments: Vec::new(),
        idempotency: None,
    }
}

fn answer(status: u16, body: &str) -> StoredAnswer {
    StoredAnswer {
        status,
        body: body.to_owned(),
    }
}

fn commit(
    letter: LetterId,
    actor: Actor,
    key: Option<(&str, &str)>,
    at: DateTime<Utc>,
) -> ActionCommit {
    ActionCommit {
        letter,
        actor,
        at,
        idempotency: key.map(|(k, h)| (k.to_owned(), h.to_owned())),
        audit_action: "letter.test",
        history_full: answer(409, r#"{"code":"letter_history_full"}"#),
    }
}

fn decide(event: EventPayload) -> DecideFn {
    Box::new(move |_, _| Ok(event))
}

fn dispatch(from: UnitId, to: UnitId, to_tier: Tier) -> EventPayload {
    EventPayload::Dispatched {
        from,
        to,
        to_tier,
        note: "请核实处理".to_owned(),
        ruling: None,
        return_upheld: None,
    }
}

async fn applied(store: &dyn Storage, commit: ActionCommit, decide: DecideFn) -> i64 {
    match store
        .apply_action(commit, decide)
        .await
        .expect("apply action")
    {
        ActionOutcome::Applied { change_seq, .. } => change_seq,
        other => panic!("expected the action applied, got {other:?}"),
    }
}

/// Every change in `scope` after `cursor`, paging until the end; the new cursor.
async fn drain(store: &dyn Storage, scope: &[UnitId], cursor: &mut i64) -> Vec<Change> {
    let mut all = Vec::new();
    loop {
        let page = store
            .sync_page(scope.to_vec(), *cursor, 50)
            .await
            .expect("sync page");
        assert!(page.next_cursor >= *cursor, "a cursor never moves back");
        *cursor = page.next_cursor;
        all.extend(page.changes);
        if !page.has_more {
            return all;
        }
    }
}

fn letter_ids(changes: &[Change]) -> BTreeSet<i64> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Letter { letter } => Some(letter.id.0),
            Change::Removed { .. } => None,
        })
        .collect()
}

/// Units and users: the tree's rules, unique names, renames, (de)activation.
pub async fn organisation(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    assert_eq!(
        code_of(
            store
                .create_letter(new_letter("NOCITY01", None), Actor::public(Channel::Web))
                .await
        ),
        "no_city_unit",
        "a letter cannot land before there is a city unit"
    );
    let o = org(store).await;
    let units = store.units().await.expect("units");
    assert_eq!(units.len(), 4);
    // A second root, or a station directly under nothing, breaks the tree.
    assert!(matches!(
        store
            .create_unit(
                NewUnit {
                    parent: None,
                    tier: Tier::City,
                    name: "第二个市局".to_owned()
                },
                Actor::cli(),
                t0()
            )
            .await,
        Err(StorageError::Invalid { .. } | StorageError::Conflict { .. })
    ));
    let renamed = store
        .rename_unit(
            o.station_a,
            "园岭新派出所".to_owned(),
            "机构调整".to_owned(),
            Actor::cli(),
            t0(),
        )
        .await
        .expect("rename");
    assert_eq!(renamed.name, "园岭新派出所");
    assert_eq!(
        code_of(
            store
                .rename_unit(
                    UnitId(9_999),
                    "x".to_owned(),
                    "r".to_owned(),
                    Actor::cli(),
                    t0()
                )
                .await
        ),
        "not_found"
    );

    let taken = store
        .create_user(
            NewUser {
                unit_id: o.station_b,
                username: "admin".to_owned(),
                display_name: "重名".to_owned(),
                roles: BTreeSet::from([Role::Officer]),
                password_hash: "h".to_owned(),
            },
            Actor::cli(),
            t0(),
        )
        .await;
    assert_eq!(code_of(taken), "username_taken");
    // One chief per unit.
    let second_chief = store
        .create_user(
            NewUser {
                unit_id: o.station_a,
                username: "another.chief".to_owned(),
                display_name: "另一位所长".to_owned(),
                roles: BTreeSet::from([Role::Chief]),
                password_hash: "h".to_owned(),
            },
            Actor::cli(),
            t0(),
        )
        .await;
    assert_eq!(code_of(second_chief), "chief_exists");

    let officer = store
        .user(o.officer_a)
        .await
        .expect("user")
        .expect("exists");
    assert_eq!(officer.unit_id, o.station_a);
    assert!(officer.active && officer.roles.contains(&Role::Officer));
    assert!(store.user(UserId(9_999)).await.expect("user").is_none());
    assert_eq!(store.users().await.expect("users").len(), 7);

    let admin = user_actor(o.admin, o.city, Role::Admin);
    let off = store
        .set_user_active(o.officer_a, false, "调离".to_owned(), admin.clone(), t0())
        .await
        .expect("deactivate");
    assert!(!off.active);
    let on = store
        .set_user_active(o.officer_a, true, "返岗".to_owned(), admin, t0())
        .await
        .expect("reactivate");
    assert!(on.active);
}

fn session(token: &str, user: UserId, at: DateTime<Utc>) -> NewSession {
    NewSession {
        token_hash: token.to_owned(),
        user_id: user,
        created_at: at,
        expires_at: at + Duration::hours(12),
        ip: "10.0.0.5".to_owned(),
        workstation: Some("WS-01".to_owned()),
    }
}

fn attempt(username: &str, user: Option<UserId>, at: DateTime<Utc>) -> LoginAttempt {
    LoginAttempt {
        username: username.to_owned(),
        user,
        ip: "10.0.0.5".to_owned(),
        ip_bucket: "10.0.0.5".to_owned(),
        at,
    }
}

/// Passwords, sessions and the notices a user gets about their own account.
pub async fn accounts_and_notices(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let at = t0();
    for token in ["tok-1", "tok-2"] {
        let locked = store
            .record_login_success(
                attempt("yuanling.wang", Some(o.officer_a), at),
                session(token, o.officer_a, at),
            )
            .await
            .expect("login");
        assert!(locked.is_none());
    }
    let found = store
        .session("tok-1")
        .await
        .expect("session")
        .expect("open");
    assert_eq!(found.user.id, o.officer_a);
    assert!(!found.revoked);
    assert_eq!(found.expires_at, at + Duration::hours(12));
    let last = store.last_sign_ins().await.expect("last sign-ins");
    assert!(last.contains(&(o.officer_a, at)));

    // The user's own change keeps the caller's session and ends the others.
    let me = user_actor(o.officer_a, o.station_a, Role::Officer);
    store
        .change_own_password(
            o.officer_a,
            "new-hash".to_owned(),
            "tok-1".to_owned(),
            me.clone(),
            at,
        )
        .await
        .expect("change own password");
    assert!(
        !store
            .session("tok-1")
            .await
            .expect("session")
            .expect("kept")
            .revoked
    );
    assert!(
        store
            .session("tok-2")
            .await
            .expect("session")
            .expect("kept row")
            .revoked
    );
    assert_eq!(
        store
            .credentials("yuanling.wang")
            .await
            .expect("credentials")
            .expect("exists")
            .password_hash,
        "new-hash"
    );
    assert!(
        store
            .notices(o.officer_a)
            .await
            .expect("notices")
            .is_empty()
    );

    // An admin's reset: every session ends, the password must change, the user is told.
    let admin = user_actor(o.admin, o.city, Role::Admin);
    store
        .set_password(o.officer_a, "reset-hash".to_owned(), admin, at)
        .await
        .expect("reset");
    assert!(
        store
            .session("tok-1")
            .await
            .expect("session")
            .expect("row")
            .revoked
    );
    let creds = store
        .credentials("yuanling.wang")
        .await
        .expect("credentials")
        .expect("exists");
    assert!(creds.user.must_change_password);
    let notices = store.notices(o.officer_a).await.expect("notices");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::PasswordReset);
    assert_eq!(notices[0].by, Some(o.admin));
    // Somebody else's notices are not theirs to acknowledge.
    let other = user_actor(o.officer_b, o.station_b, Role::Officer);
    assert_eq!(
        store
            .acknowledge_notices(o.officer_b, notices[0].id, other, at)
            .await
            .expect("ack"),
        0
    );
    assert_eq!(
        store
            .acknowledge_notices(o.officer_a, notices[0].id, me, at)
            .await
            .expect("ack"),
        1
    );
    assert!(
        store
            .notices(o.officer_a)
            .await
            .expect("notices")
            .is_empty()
    );

    store
        .revoke_session("tok-1", Actor::cli(), at)
        .await
        .expect("revoke");
    assert!(store.session("nope").await.expect("session").is_none());
}

/// Lock-out by name (known or not), doubling, and the per-address count.
pub async fn logins_and_lockout(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let policy = LockoutPolicy {
        threshold: 3,
        first: Duration::minutes(5),
        longest: Duration::hours(1),
    };
    let at = t0();
    for (name, user) in [("yuanling.wang", Some(o.officer_a)), ("nobody.here", None)] {
        for i in 0..2 {
            let locked = store
                .record_login_failure(attempt(name, user, at + Duration::seconds(i)), true, policy)
                .await
                .expect("failure");
            assert!(locked.is_none(), "{name}: locked after {} failures", i + 1);
        }
        let locked = store
            .record_login_failure(attempt(name, user, at + Duration::seconds(2)), true, policy)
            .await
            .expect("failure")
            .expect("locked at the threshold");
        assert_eq!(
            locked,
            at + Duration::seconds(2) + Duration::minutes(5),
            "{name}"
        );
        assert_eq!(
            store
                .login_lock(name, at + Duration::minutes(1))
                .await
                .expect("lock"),
            Some(locked)
        );
        assert_eq!(
            store
                .login_lock(name, at + Duration::minutes(6))
                .await
                .expect("lock"),
            None
        );
    }
    // A success while locked opens nothing.
    let refused = store
        .record_login_success(
            attempt(
                "yuanling.wang",
                Some(o.officer_a),
                at + Duration::minutes(1),
            ),
            session("tok-locked", o.officer_a, at),
        )
        .await
        .expect("success");
    assert!(refused.is_some());
    assert!(
        store
            .session("tok-locked")
            .await
            .expect("session")
            .is_none()
    );
    assert!(store.ip_failures_since("10.0.0.5", at).await.expect("ip") >= 6);
    assert_eq!(
        store.ip_failures_since("10.9.9.9", at).await.expect("ip"),
        0
    );
    // A password set by an admin ends the lock.
    store
        .set_password(
            o.officer_a,
            "h2".to_owned(),
            user_actor(o.admin, o.city, Role::Admin),
            at + Duration::minutes(1),
        )
        .await
        .expect("reset");
    assert_eq!(
        store
            .login_lock("yuanling.wang", at + Duration::minutes(1))
            .await
            .expect("lock"),
        None
    );
}

/// Intake: stored, masked for desktops, its progress public; codes unique; retries of a
/// desk's submission under one key give the first letter.
pub async fn letters_and_intake_idempotency(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let created = store
        .create_letter(new_letter("WEB00001", None), Actor::public(Channel::Web))
        .await
        .expect("create");
    assert_eq!(
        created.unit, o.city,
        "a letter without a unit lands at the city bureau"
    );
    assert!(created.change_seq > 0 && !created.replayed);
    assert_eq!(
        store.latest_change_seq().await.expect("seq"),
        created.change_seq
    );
    let record = store
        .letter(created.id)
        .await
        .expect("letter")
        .expect("exists");
    assert_eq!(record.state, LetterState::Received);
    assert!(record.writer.masked, "desktops get the writer masked");
    assert_ne!(record.writer.phone, "13800138000");
    assert_eq!(record.events.len(), 1);
    assert!(
        store
            .letter(LetterId(9_999))
            .await
            .expect("letter")
            .is_none()
    );
    assert_eq!(
        code_of(
            store
                .create_letter(new_letter("WEB00001", None), Actor::public(Channel::Web))
                .await
        ),
        "tracking_code_taken"
    );
    let progress = store
        .progress("WEB00001")
        .await
        .expect("progress")
        .expect("exists");
    assert_eq!(progress.state, LetterState::Received);
    assert_eq!(progress.writer_phone, "13800138000");
    assert_eq!(progress.category, Category::Help);
    assert!(
        store
            .progress("NOSUCH01")
            .await
            .expect("progress")
            .is_none()
    );

    let claim = |hash: &str| IdempotencyClaim {
        user: o.city_desk,
        key: "desk-key-1".to_owned(),
        request_hash: hash.to_owned(),
    };
    let desk = user_actor(o.city_desk, o.city, Role::Dispatcher);
    let mut first = new_letter("PHN00001", Some(o.station_a));
    first.idempotency = Some(claim("h1"));
    let made = store
        .create_letter(first, desk.clone())
        .await
        .expect("desk letter");
    let mut again = new_letter("PHN00002", Some(o.station_a));
    again.idempotency = Some(claim("h1"));
    let replay = store
        .create_letter(again, desk.clone())
        .await
        .expect("replay");
    assert!(replay.replayed);
    assert_eq!((replay.id, replay.change_seq), (made.id, 0));
    let mut other = new_letter("PHN00003", Some(o.station_a));
    other.idempotency = Some(claim("h2"));
    assert_eq!(
        code_of(store.create_letter(other, desk).await),
        "idempotency_key_reused"
    );
    assert!(
        store
            .progress("PHN00002")
            .await
            .expect("progress")
            .is_none(),
        "a replay stores nothing"
    );

    // Revealing the writer gives the real details (and is audited: see audit_chain).
    let writer = store
        .reveal_writer(
            made.id,
            user_actor(o.officer_a, o.station_a, Role::Officer),
            t0(),
        )
        .await
        .expect("reveal");
    assert_eq!(
        (writer.name.as_str(), writer.phone.as_str(), writer.masked),
        ("张三", "13800138000", false)
    );
}

/// An action in one transaction: applied with a new version, refused without change,
/// replayed exactly under its key, a reused key refused.
pub async fn actions_and_idempotency(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let letter = store
        .create_letter(new_letter("ACT00001", None), Actor::public(Channel::Web))
        .await
        .expect("create")
        .id;
    let desk = user_actor(o.city_desk, o.city, Role::Dispatcher);
    let at = t0() + Duration::minutes(3);
    let outcome = store
        .apply_action(
            commit(letter, desk.clone(), Some(("k1", "hash-1")), at),
            decide(dispatch(o.city, o.station_a, Tier::Station)),
        )
        .await
        .expect("dispatch");
    let ActionOutcome::Applied {
        prev_unit,
        letter: record,
        answer: first,
        ..
    } = outcome
    else {
        panic!("expected applied, got {outcome:?}");
    };
    assert_eq!(prev_unit, o.city);
    assert_eq!(record.unit_id, o.station_a);
    assert_eq!(record.state, LetterState::Dispatched);
    assert_eq!(record.events.len(), 2);
    assert_eq!(first.status, 200);
    let stored = store.letter(letter).await.expect("letter").expect("exists");
    assert_eq!(
        (stored.version, stored.unit_id),
        (record.version, o.station_a)
    );

    // The same key and request: the first answer, nothing new.
    let replay = store
        .apply_action(
            commit(letter, desk.clone(), Some(("k1", "hash-1")), at),
            decide(dispatch(o.city, o.station_b, Tier::Station)),
        )
        .await
        .expect("replay");
    assert!(
        matches!(&replay, ActionOutcome::Replayed(a) if *a == first),
        "{replay:?}"
    );
    assert!(matches!(
        store
            .apply_action(
                commit(letter, desk.clone(), Some(("k1", "hash-2")), at),
                decide(dispatch(o.city, o.station_b, Tier::Station))
            )
            .await
            .expect("reuse"),
        ActionOutcome::KeyReused
    ));
    // A refusal changes nothing and is itself what a retry gets.
    let refusal = answer(409, r#"{"code":"not_allowed"}"#);
    let refused_by = {
        let refusal = refusal.clone();
        Box::new(
            move |_: &jsjb_proto::LetterRecord, _: &jsjb_core::workflow::LetterStatus| Err(refusal),
        ) as DecideFn
    };
    let outcome = store
        .apply_action(
            commit(letter, desk.clone(), Some(("k2", "hash-3")), at),
            refused_by,
        )
        .await
        .expect("refuse");
    assert!(matches!(&outcome, ActionOutcome::Refused(a) if *a == refusal));
    let replayed_refusal = store
        .apply_action(
            commit(letter, desk.clone(), Some(("k2", "hash-3")), at),
            decide(dispatch(o.city, o.station_b, Tier::Station)),
        )
        .await
        .expect("replay refusal");
    assert!(matches!(&replayed_refusal, ActionOutcome::Replayed(a) if *a == refusal));
    let after = store.letter(letter).await.expect("letter").expect("exists");
    assert_eq!(
        (after.version, after.unit_id),
        (stored.version, o.station_a)
    );
    // Keys are per user: another user's "k1" is a new action.
    let officer = user_actor(o.officer_a, o.station_a, Role::Officer);
    let signed = EventPayload::SignedFor {
        unit: o.station_a,
        handler: o.officer_a,
    };
    applied(
        store,
        commit(letter, officer, Some(("k1", "hash-9")), at),
        decide(signed),
    )
    .await;
    let signed = store.letter(letter).await.expect("letter").expect("exists");
    assert_eq!(
        (signed.state, signed.handler_id),
        (LetterState::Handling, Some(o.officer_a))
    );
    // A letter that does not exist.
    assert!(matches!(
        store
            .apply_action(
                commit(LetterId(9_999), desk, Some(("k3", "h")), at),
                decide(dispatch(o.city, o.station_a, Tier::Station))
            )
            .await,
        Err(StorageError::NotFound(_))
    ));
}

/// A letter that leaves a unit is removed from that unit's desktops; the unit it
/// reaches gets it whole; units above see both moves.
pub async fn scope_removals(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let letter = store
        .create_letter(new_letter("MOV00001", None), Actor::public(Channel::Web))
        .await
        .expect("create")
        .id;
    let (mut a, mut b, mut branch, mut city) = (0, 0, 0, 0);
    assert!(
        drain(store, &[o.station_a], &mut a).await.is_empty(),
        "a station sees nothing at the city desk"
    );
    assert_eq!(
        letter_ids(
            &drain(
                store,
                &[o.city, o.branch, o.station_a, o.station_b],
                &mut city
            )
            .await
        ),
        BTreeSet::from([letter.0])
    );
    let desk = user_actor(o.city_desk, o.city, Role::Dispatcher);
    applied(
        store,
        commit(letter, desk.clone(), Some(("m1", "h1")), t0()),
        decide(dispatch(o.city, o.station_a, Tier::Station)),
    )
    .await;
    assert_eq!(
        letter_ids(&drain(store, &[o.station_a], &mut a).await),
        BTreeSet::from([letter.0])
    );
    assert_eq!(
        letter_ids(&drain(store, &[o.branch, o.station_a, o.station_b], &mut branch).await),
        BTreeSet::from([letter.0])
    );
    assert!(drain(store, &[o.station_b], &mut b).await.is_empty());
    let latest = store.latest_change_seq().await.expect("seq");
    assert_eq!(
        store
            .latest_change_in_scope(vec![o.station_a], 0)
            .await
            .expect("in scope"),
        Some(latest)
    );
    assert_eq!(
        store
            .latest_change_in_scope(vec![o.station_b], 0)
            .await
            .expect("in scope"),
        None
    );
    assert_eq!(
        store
            .latest_change_in_scope(vec![o.station_a], latest)
            .await
            .expect("in scope"),
        None
    );

    // 退单 to the city, then re-dispatched to station B: A forgets it, B gets it.
    let officer = user_actor(o.officer_a, o.station_a, Role::Officer);
    let returned = EventPayload::Returned {
        from: o.station_a,
        to: o.city,
        to_tier: Tier::City,
        reason: jsjb_core::letter::ReturnReason::NotOurJurisdiction,
        note: "不属本所辖区".to_owned(),
    };
    applied(
        store,
        commit(letter, officer, Some(("m2", "h2")), t0()),
        decide(returned),
    )
    .await;
    let gone = drain(store, &[o.station_a], &mut a).await;
    assert!(
        matches!(gone.as_slice(), [Change::Removed { letter_id }] if *letter_id == letter),
        "the station that returned it must be told to forget it: {gone:?}"
    );
    applied(
        store,
        commit(letter, desk, Some(("m3", "h3")), t0()),
        decide(dispatch(o.city, o.station_b, Tier::Station)),
    )
    .await;
    assert_eq!(
        letter_ids(&drain(store, &[o.station_b], &mut b).await),
        BTreeSet::from([letter.0])
    );
    assert!(
        drain(store, &[o.station_a], &mut a).await.is_empty(),
        "nothing more for A"
    );
    // The branch saw it leave and come back under it: still a letter, never a removal.
    let seen = drain(store, &[o.branch, o.station_a, o.station_b], &mut branch).await;
    assert!(
        seen.iter()
            .any(|c| matches!(c, Change::Letter { letter: l } if l.unit_id == o.station_b)),
        "{seen:?}"
    );
    // A sync from 0 for A (a new desktop) never receives it.
    let mut fresh = 0;
    assert!(letter_ids(&drain(store, &[o.station_a], &mut fresh).await).is_empty());
}

const WRITERS: usize = 4;
const LETTERS_PER_WRITER: usize = 300;
const READERS: usize = 3;

/// The cursor contract (see [`Storage::sync_page`]): under concurrent writers, readers
/// paging as fast as they can must end up with every letter.
pub async fn sync_cursor_contract(store: Arc<dyn Storage>) {
    let o = org(store.as_ref()).await;
    let scope = vec![o.station_a];
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let (store, scope, done) = (Arc::clone(&store), scope.clone(), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            let mut cursor = 0;
            let mut seen = BTreeSet::new();
            // Most pages come back empty while the writers write: exactly when a
            // `next_cursor` from a second snapshot would skip a change.
            while !done.load(Ordering::Acquire) {
                seen.extend(letter_ids(
                    &drain(store.as_ref(), &scope, &mut cursor).await,
                ));
            }
            seen.extend(letter_ids(
                &drain(store.as_ref(), &scope, &mut cursor).await,
            ));
            seen
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        let station = o.station_a;
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..LETTERS_PER_WRITER {
                let mut letter = new_letter(
                    &format!("CUR{:06}", w * LETTERS_PER_WRITER + i),
                    Some(station),
                );
                letter.received_at = Utc::now();
                ids.push(
                    store
                        .create_letter(letter, Actor::cli())
                        .await
                        .expect("create")
                        .id
                        .0,
                );
            }
            ids
        }));
    }
    let mut written = BTreeSet::new();
    for writer in writers {
        written.extend(writer.await.expect("writer"));
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        let seen = reader.await.expect("reader");
        let missed: Vec<_> = written.difference(&seen).collect();
        assert!(
            missed.is_empty(),
            "a reader skipped {} of {} letters for good: {:?}",
            missed.len(),
            written.len(),
            &missed[..missed.len().min(10)]
        );
    }
}

/// Every write appends to one hash chain that verifies, with every letter event
/// matched; a desktop's kept head is checked against it.
pub async fn audit_chain(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let letter = store
        .create_letter(new_letter("AUD00001", None), Actor::public(Channel::Web))
        .await
        .expect("create")
        .id;
    applied(
        store,
        commit(
            letter,
            user_actor(o.city_desk, o.city, Role::Dispatcher),
            Some(("a1", "h")),
            t0(),
        ),
        decide(dispatch(o.city, o.station_a, Tier::Station)),
    )
    .await;
    let (tip, none) = store.audit_tip(None).await.expect("tip");
    assert!(none.is_none());
    // Units, users, the letter and the dispatch: at least 13 entries.
    assert!(tip.seq >= 13, "every write is audited: {tip:?}");
    let (_, first) = store.audit_tip(Some(1)).await.expect("tip");
    let first = first.expect("entry 1");
    assert_eq!(first.seq, 1);
    store
        .reveal_writer(
            letter,
            user_actor(o.officer_a, o.station_a, Role::Officer),
            t0(),
        )
        .await
        .expect("reveal");
    let (after, _) = store.audit_tip(None).await.expect("tip");
    assert_eq!(after.seq, tip.seq + 1, "a reveal is audited");
    assert_ne!(after.hash, tip.hash);

    let report = store
        .verify_audit(vec![tip.clone(), first.clone()])
        .await
        .expect("verify");
    assert!(report.ok, "{:?}", report.failure());
    assert_eq!(report.entries, u64::try_from(after.seq).unwrap_or_default());
    assert!(report.events >= 2);
    assert_eq!(report.heads.len(), 2);
    assert!(report.heads.iter().all(|h| h.ok));
    // A head the chain does not contain (a fork) fails the verification.
    let forged = jsjb_proto::AuditEntryHash {
        seq: tip.seq,
        hash: "ab".repeat(32),
    };
    let report = store.verify_audit(vec![forged]).await.expect("verify");
    assert!(!report.ok);
    assert!(!report.heads[0].ok && report.heads[0].reason.is_some());
    // A head beyond the chain's end (a truncation) fails too.
    let beyond = jsjb_proto::AuditEntryHash {
        seq: after.seq + 100,
        hash: "cd".repeat(32),
    };
    assert!(!store.verify_audit(vec![beyond]).await.expect("verify").ok);
}

/// The writer's side: duplicates, ratings only of closed letters and once, drafts with
/// redelivery, limits and submission.
pub async fn citizen_side(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let created = store
        .create_letter(
            new_letter("CIT00001", Some(o.station_a)),
            Actor::public(Channel::Web),
        )
        .await
        .expect("create");
    let dup = store
        .recent_duplicate(
            "13800138000",
            "每晚十一点后仍在施工，请派人处理。",
            t0() - Duration::hours(1),
        )
        .await
        .expect("dup")
        .expect("found");
    assert_eq!(dup, ("CIT00001".to_owned(), t0()));
    assert!(
        store
            .recent_duplicate("13800138000", "别的内容", t0() - Duration::hours(1))
            .await
            .expect("dup")
            .is_none()
    );
    assert!(
        store
            .recent_duplicate(
                "13800138000",
                "每晚十一点后仍在施工，请派人处理。",
                t0() + Duration::hours(1)
            )
            .await
            .expect("dup")
            .is_none()
    );

    let rating = Rating {
        satisfaction: Satisfaction::Satisfied,
        comment: "处理及时".to_owned(),
        rated_at: t0(),
    };
    let public = Actor::public(Channel::Web);
    assert_eq!(
        code_of(
            store
                .rate_letter("CIT00001", rating.clone(), public.clone())
                .await
        ),
        "not_closed"
    );
    assert_eq!(
        code_of(
            store
                .rate_letter("NOSUCH01", rating.clone(), public.clone())
                .await
        ),
        "not_found"
    );
    let close = EventPayload::FeedbackFormDecided {
        decision: jsjb_core::letter::FormDecision::Approve,
        opinion: "同意结案".to_owned(),
    };
    applied(
        store,
        commit(
            created.id,
            user_actor(o.chief_a, o.station_a, Role::Chief),
            Some(("c1", "h")),
            t0(),
        ),
        decide(close),
    )
    .await;
    assert_eq!(
        store
            .letter(created.id)
            .await
            .expect("letter")
            .expect("exists")
            .state,
        LetterState::Closed
    );
    store
        .rate_letter("CIT00001", rating.clone(), public.clone())
        .await
        .expect("rate");
    assert_eq!(
        store.rating("CIT00001").await.expect("rating"),
        Some(rating.clone())
    );
    assert_eq!(
        code_of(store.rate_letter("CIT00001", rating, public).await),
        "already_rated"
    );

    let message = |id: &str, edit: DraftEdit| DraftMessage {
        channel: Channel::Wechat,
        sender: "oOPENID123".to_owned(),
        sender_name: "微信用户".to_owned(),
        msg_id: Some(id.to_owned()),
        at: t0(),
        fresh_since: t0() - Duration::hours(2),
        edit,
    };
    let text = |t: &str| DraftEdit::AppendText {
        text: t.to_owned(),
        max_chars: 20,
    };
    assert_eq!(
        store
            .apply_message(message("m1", text("小区门口")))
            .await
            .expect("m1"),
        DraftOutcome::Applied { was_new: true }
    );
    assert_eq!(
        store
            .apply_message(message("m1", text("小区门口")))
            .await
            .expect("m1 again"),
        DraftOutcome::Redelivery
    );
    assert!(
        store
            .message_seen(Channel::Wechat, "m1")
            .await
            .expect("seen")
    );
    assert!(
        !store
            .message_seen(Channel::Wechat, "m9")
            .await
            .expect("seen")
    );
    assert_eq!(
        store
            .apply_message(message("m2", text("有人乱停车")))
            .await
            .expect("m2"),
        DraftOutcome::Applied { was_new: false }
    );
    assert_eq!(
        store
            .apply_message(message("m3", text("这一行会让正文超过二十个字的上限")))
            .await
            .expect("m3"),
        DraftOutcome::TooLong
    );
    assert!(
        store
            .message_seen(Channel::Wechat, "m3")
            .await
            .expect("seen"),
        "a refused message is noted too"
    );
    assert_eq!(
        store
            .apply_message(message("m4", DraftEdit::SetPhone("13900139000".to_owned())))
            .await
            .expect("m4"),
        DraftOutcome::Applied { was_new: false }
    );
    let draft = store
        .draft(Channel::Wechat, "oOPENID123")
        .await
        .expect("draft")
        .expect("exists");
    assert_eq!(draft.body, "小区门口\n有人乱停车");
    assert_eq!(draft.phone.as_deref(), Some("13900139000"));
    assert!(
        store
            .draft(Channel::Weibo, "oOPENID123")
            .await
            .expect("draft")
            .is_none(),
        "drafts are per channel"
    );
    // Submitted as read: the draft goes.
    assert_eq!(
        store
            .apply_message(message("m5", DraftEdit::Submitted(draft)))
            .await
            .expect("m5"),
        DraftOutcome::Applied { was_new: false }
    );
    assert!(
        store
            .draft(Channel::Wechat, "oOPENID123")
            .await
            .expect("draft")
            .is_none()
    );
}

fn new_key(user: UserId, unit: UnitId, fingerprint: &str) -> NewKey {
    NewKey {
        user,
        unit,
        public_key_pem: format!(
            "-----BEGIN PUBLIC KEY-----\n{fingerprint}\n-----END PUBLIC KEY-----\n"
        ),
        fingerprint: fingerprint.to_owned(),
        label: "所长 USB Key".to_owned(),
    }
}

/// Signing keys under dual control, and delegations (代签).
pub async fn signing_keys_and_delegations(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let signoff = store.signoff();
    let chief = user_actor(o.chief_a, o.station_a, Role::Chief);
    let key = signoff
        .register_key(new_key(o.chief_a, o.station_a, "fp-1"), chief.clone(), t0())
        .await
        .expect("register");
    assert_eq!(key.state, jsjb_proto::KeyState::Pending);
    assert_eq!(
        code_of(
            signoff
                .register_key(new_key(o.chief_a, o.station_a, "fp-1"), chief.clone(), t0())
                .await
        ),
        "key_exists"
    );
    let admin = user_actor(o.admin, o.city, Role::Admin);
    let admin2 = user_actor(o.admin2, o.city, Role::Admin);
    assert_eq!(
        code_of(signoff.approve_key(key.id, chief.clone(), t0()).await),
        "own_key"
    );
    let half = signoff
        .approve_key(key.id, admin.clone(), t0())
        .await
        .expect("first approval");
    assert_eq!(
        (half.key.state, half.approvals.clone()),
        (jsjb_proto::KeyState::Pending, vec![o.admin])
    );
    assert_eq!(
        code_of(signoff.approve_key(key.id, admin.clone(), t0()).await),
        "already_approved",
        "one admin cannot approve twice"
    );
    assert_eq!(
        code_of(signoff.approve_key(key.id, Actor::cli(), t0()).await),
        "approver_unknown"
    );
    let active = signoff
        .approve_key(key.id, admin2, t0())
        .await
        .expect("second approval");
    assert_eq!(active.key.state, jsjb_proto::KeyState::Active);
    assert_eq!(
        signoff.key_approvals(key.id).await.expect("approvals"),
        vec![o.admin, o.admin2]
    );
    assert_eq!(signoff.keys().await.expect("keys").len(), 1);
    let kinds: Vec<_> = store
        .notices(o.chief_a)
        .await
        .expect("notices")
        .iter()
        .map(|n| n.kind)
        .collect();
    assert!(
        kinds.contains(&NoticeKind::KeyActivated),
        "the chief is told their key became active: {kinds:?}"
    );

    // An admin whose password the owner set is not independent of them.
    let second = signoff
        .register_key(new_key(o.chief_a, o.station_a, "fp-2"), chief.clone(), t0())
        .await
        .expect("register 2");
    store
        .set_password(o.admin2, "h".to_owned(), chief.clone(), t0())
        .await
        .expect("chief sets admin2's password");
    assert_eq!(
        code_of(
            signoff
                .approve_key(second.id, user_actor(o.admin2, o.city, Role::Admin), t0())
                .await
        ),
        "approver_not_independent"
    );

    let revoked = signoff
        .revoke_key(key.id, "钥匙遗失".to_owned(), admin, t0())
        .await
        .expect("revoke");
    assert_eq!(revoked.state, jsjb_proto::KeyState::Revoked);
    assert_eq!(
        signoff
            .key(key.id)
            .await
            .expect("key")
            .expect("exists")
            .state,
        jsjb_proto::KeyState::Revoked
    );
    assert!(signoff.key(9_999).await.expect("key").is_none());

    let grant = signoff
        .grant_delegation(
            NewDelegation {
                unit: o.station_a,
                chief: o.chief_a,
                deputy: o.deputy_a,
                valid_from: t0(),
                valid_until: t0() + Duration::days(7),
                category: None,
                note: "出差期间".to_owned(),
            },
            chief.clone(),
            t0(),
        )
        .await
        .expect("grant");
    assert_eq!(
        signoff.delegations().await.expect("delegations"),
        vec![grant.clone()]
    );
    let ended = signoff
        .revoke_delegation(grant.id, chief, t0() + Duration::days(1))
        .await
        .expect("revoke delegation");
    assert_eq!(ended.revoked_at, Some(t0() + Duration::days(1)));
    assert!(
        signoff
            .stored_answer(o.chief_a, "nokey".to_owned())
            .await
            .expect("answer")
            .is_none()
    );
    assert!(
        signoff
            .signed_form_bytes(LetterId(9_999), 1)
            .await
            .expect("form")
            .is_none()
    );
}

fn handover(unit: UnitId, user: UserId, key: &str, hash: &str, note: &str) -> NewHandover {
    NewHandover {
        request: HandoverAckRequest {
            unit_id: unit,
            shift: "夜班".to_owned(),
            acknowledged_at: t0(),
            note: note.to_owned(),
            counts: HandoverCounts::default(),
            letter_ids: Vec::new(),
            checked_ids: Vec::new(),
            handed_over_by: None,
        },
        user,
        recorded_at: t0(),
        idempotency_key: key.to_owned(),
        request_hash: hash.to_owned(),
    }
}

/// Shift handovers: recorded once per key, listed newest first per unit.
pub async fn handovers(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let officer = user_actor(o.officer_a, o.station_a, Role::Officer);
    let handovers = store.handovers();
    let HandoverOutcome::Recorded(first) = handovers
        .record_handover(
            handover(o.station_a, o.officer_a, "h1", "x", "一切正常"),
            officer.clone(),
        )
        .await
        .expect("record")
    else {
        panic!("expected recorded");
    };
    assert!(matches!(
        handovers.record_handover(handover(o.station_a, o.officer_a, "h1", "x", "一切正常"), officer.clone()).await.expect("replay"),
        HandoverOutcome::Replayed(ack) if ack == first
    ));
    assert!(matches!(
        handovers
            .record_handover(
                handover(o.station_a, o.officer_a, "h1", "y", "不同内容"),
                officer.clone()
            )
            .await
            .expect("reuse"),
        HandoverOutcome::KeyReused
    ));
    assert_eq!(
        (first.handed_over_by, &first.handed_over_by_name),
        (None, &None)
    );
    assert!(first.checked_ids.is_empty());
    // Handed over by the chief of the station, two of three letters ticked.
    let mut named = handover(o.station_a, o.officer_a, "h2", "z", "第二班");
    named.request.letter_ids = vec![LetterId(1), LetterId(2), LetterId(3)];
    named.request.checked_ids = vec![LetterId(1), LetterId(3)];
    named.request.handed_over_by = Some(o.chief_a);
    let HandoverOutcome::Recorded(second) = handovers
        .record_handover(named, officer)
        .await
        .expect("record 2")
    else {
        panic!("expected recorded");
    };
    let chief = store.user(o.chief_a).await.expect("user").expect("exists");
    assert_eq!(second.handed_over_by, Some(o.chief_a));
    assert_eq!(second.handed_over_by_name, Some(chief.display_name));
    assert_eq!(second.checked_ids, vec![LetterId(1), LetterId(3)]);
    let listed = handovers.handovers(o.station_a, 10).await.expect("list");
    assert_eq!(
        listed.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![second.id, first.id]
    );
    assert_eq!(listed[1].note, "一切正常");
    assert_eq!(listed[0], second);
    assert_eq!(
        handovers
            .handovers(o.station_a, 1)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(
        handovers
            .handovers(o.station_b, 10)
            .await
            .expect("list")
            .is_empty()
    );
}

/// Old idempotency answers go in bounded batches; a pruned key is a new action.
pub async fn prune_idempotency(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let letter = store
        .create_letter(new_letter("PRU00001", None), Actor::public(Channel::Web))
        .await
        .expect("create")
        .id;
    let desk = user_actor(o.city_desk, o.city, Role::Dispatcher);
    for i in 0..5 {
        let key = format!("p{i}");
        let chase = EventPayload::Chased {
            note: format!("催办 {i}"),
        };
        applied(
            store,
            commit(
                letter,
                desk.clone(),
                Some((&key, "h")),
                t0() + Duration::minutes(i),
            ),
            decide(chase),
        )
        .await;
    }
    assert!(store.accepting_writes());
    // Nothing is old enough yet and each user keeps up to 100.
    assert_eq!(
        store
            .prune_idempotency(t0() - Duration::days(1), 100, 10)
            .await
            .expect("prune"),
        0
    );
    // Keep each user's newest 2: three go, at most 2 per batch.
    assert_eq!(
        store
            .prune_idempotency(t0() - Duration::days(1), 2, 2)
            .await
            .expect("prune"),
        2
    );
    assert_eq!(
        store
            .prune_idempotency(t0() - Duration::days(1), 2, 2)
            .await
            .expect("prune"),
        1
    );
    assert_eq!(
        store
            .prune_idempotency(t0() - Duration::days(1), 2, 2)
            .await
            .expect("prune"),
        0
    );
    let again = store
        .apply_action(
            commit(letter, desk.clone(), Some(("p4", "h")), t0()),
            decide(EventPayload::Chased {
                note: "重复".to_owned(),
            }),
        )
        .await
        .expect("kept key");
    assert!(
        matches!(again, ActionOutcome::Replayed(_)),
        "the newest keys stay: {again:?}"
    );
    // Everything older than a later moment goes.
    assert_eq!(
        store
            .prune_idempotency(t0() + Duration::days(1), 100, 100)
            .await
            .expect("prune"),
        2
    );
    let fresh = store
        .apply_action(
            commit(letter, desk, Some(("p4", "h")), t0()),
            decide(EventPayload::Chased {
                note: "新的".to_owned(),
            }),
        )
        .await
        .expect("pruned key");
    assert!(matches!(fresh, ActionOutcome::Applied { .. }), "{fresh:?}");
}

/// An admin moves a station to another branch and changes users: the desktops of both
/// branches follow the move through the change feed; a chief who leaves the post loses
/// every signing right; one chief per unit holds.
pub async fn moves_and_user_changes(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let branch2 = unit(store, Some(o.city), Tier::Branch, "罗湖分局").await;
    let letter = store
        .create_letter(
            new_letter("MOVE0001", Some(o.station_a)),
            Actor::public(Channel::Web),
        )
        .await
        .expect("create")
        .id;
    let (mut old_branch, mut new_branch) = (0, 0);
    let old_scope = [o.branch, o.station_a, o.station_b];
    assert_eq!(
        letter_ids(&drain(store, &old_scope, &mut old_branch).await),
        BTreeSet::from([letter.0])
    );
    assert!(drain(store, &[branch2], &mut new_branch).await.is_empty());
    let admin = user_actor(o.admin, o.city, Role::Admin);

    // The tree rules hold: no station under a station, the root stays, no idle move.
    assert_eq!(
        code_of(
            store
                .move_unit(o.station_a, o.station_b, "x".into(), admin.clone(), t0())
                .await
        ),
        "parent_id"
    );
    assert_eq!(
        code_of(
            store
                .move_unit(o.city, o.branch, "x".into(), admin.clone(), t0())
                .await
        ),
        "unit"
    );
    assert_eq!(
        code_of(
            store
                .move_unit(o.station_a, o.branch, "x".into(), admin.clone(), t0())
                .await
        ),
        "already_done"
    );
    assert_eq!(
        code_of(
            store
                .move_unit(UnitId(999), o.branch, "x".into(), admin.clone(), t0())
                .await
        ),
        "not_found"
    );
    let moved = store
        .move_unit(o.station_a, branch2, "辖区调整".into(), admin.clone(), t0())
        .await
        .expect("move");
    assert_eq!((moved.from, moved.unit.parent), (o.branch, Some(branch2)));
    assert!(moved.last_change_seq.is_some(), "the station had a letter");
    let units = store.units().await.expect("units");
    let station = units.iter().find(|u| u.id == o.station_a).expect("station");
    assert_eq!(station.parent, Some(branch2));
    // The old branch's desktop forgets the letter; the new branch's fetches it, though
    // its cursor is past the letter's own changes.
    let removed = drain(store, &[o.branch, o.station_b], &mut old_branch).await;
    assert!(
        matches!(removed.as_slice(), [Change::Removed { letter_id }] if *letter_id == letter),
        "{removed:?}"
    );
    assert_eq!(
        letter_ids(&drain(store, &[branch2, o.station_a], &mut new_branch).await),
        BTreeSet::from([letter.0])
    );
    // A station without letters moves without appending changes.
    let empty = unit(store, Some(o.branch), Tier::Station, "空派出所").await;
    let quiet = store
        .move_unit(empty, branch2, "辖区调整".into(), admin.clone(), t0())
        .await
        .expect("move empty");
    assert_eq!(quiet.last_change_seq, None);

    // Users: one chief per unit, nothing idle, and a chief who leaves loses the keys
    // and delegations.
    let officer_to_chief = UserChange {
        roles: Some(BTreeSet::from([Role::Chief])),
        ..UserChange::default()
    };
    assert_eq!(
        code_of(
            store
                .update_user(
                    o.officer_a,
                    officer_to_chief,
                    "x".into(),
                    admin.clone(),
                    t0()
                )
                .await
        ),
        "chief_exists"
    );
    assert_eq!(
        code_of(
            store
                .update_user(
                    o.officer_a,
                    UserChange::default(),
                    "x".into(),
                    admin.clone(),
                    t0()
                )
                .await
        ),
        "already_done"
    );
    assert_eq!(
        code_of(
            store
                .update_user(
                    o.officer_a,
                    UserChange {
                        roles: Some(BTreeSet::new()),
                        ..UserChange::default()
                    },
                    "x".into(),
                    admin.clone(),
                    t0()
                )
                .await
        ),
        "roles"
    );
    let chief = user_actor(o.chief_a, o.station_a, Role::Chief);
    let signoff = store.signoff();
    signoff
        .register_key(
            new_key(o.chief_a, o.station_a, "fp-move"),
            chief.clone(),
            t0(),
        )
        .await
        .expect("register");
    signoff
        .grant_delegation(
            NewDelegation {
                unit: o.station_a,
                chief: o.chief_a,
                deputy: o.deputy_a,
                valid_from: t0(),
                valid_until: t0() + Duration::days(7),
                category: None,
                note: "出差期间".to_owned(),
            },
            chief,
            t0(),
        )
        .await
        .expect("grant");
    let changed = store
        .update_user(
            o.chief_a,
            UserChange {
                roles: Some(BTreeSet::from([Role::Officer])),
                display_name: Some("原所长".to_owned()),
                unit_id: None,
            },
            "岗位调整".into(),
            admin.clone(),
            t0(),
        )
        .await
        .expect("update");
    assert_eq!(changed.user.roles, BTreeSet::from([Role::Officer]));
    assert_eq!(changed.user.display_name, "原所长");
    assert_eq!((changed.keys_revoked, changed.delegations_revoked), (1, 1));
    let keys = signoff.keys().await.expect("keys");
    assert!(
        keys.iter()
            .all(|k| k.state == jsjb_proto::KeyState::Revoked)
    );
    assert!(
        signoff
            .delegations()
            .await
            .expect("delegations")
            .iter()
            .all(|d| d.revoked_at.is_some())
    );
    let notices = store.notices(o.chief_a).await.expect("notices");
    assert!(notices.iter().any(|n| n.kind == NoticeKind::KeyRevoked));
    // Now the unit has no chief: the officer may become it; and may move units.
    let promoted = store
        .update_user(
            o.officer_a,
            UserChange {
                roles: Some(BTreeSet::from([Role::Chief, Role::Officer])),
                unit_id: Some(o.station_a),
                display_name: None,
            },
            "任命".into(),
            admin.clone(),
            t0(),
        )
        .await
        .expect("promote");
    assert!(promoted.user.roles.contains(&Role::Chief));
    assert_eq!(
        code_of(
            store
                .update_user(
                    o.officer_a,
                    UserChange {
                        unit_id: Some(UnitId(999)),
                        ..UserChange::default()
                    },
                    "x".into(),
                    admin,
                    t0()
                )
                .await
        ),
        "unit_id"
    );
    let verification = store.verify_audit(Vec::new()).await.expect("verify");
    assert!(verification.ok, "{verification:?}");
}

/// A unit is deactivated only when nothing depends on it; it keeps its letters; no unit,
/// user or move goes into it; it comes back only under an active parent.
pub async fn unit_deactivation(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let admin = user_actor(o.admin, o.city, Role::Admin);
    let off = |unit: UnitId| store.set_unit_active(unit, false, "撤并".into(), admin.clone(), t0());
    assert_eq!(code_of(off(o.city).await), "unit");
    // Station A has users: in use. Moving them away and closing nothing is not enough
    // while a letter is open there.
    assert_eq!(code_of(off(o.station_a).await), "unit_in_use");
    let letter = store
        .create_letter(
            new_letter("DEAC0001", Some(o.station_b)),
            Actor::public(Channel::Web),
        )
        .await
        .expect("create")
        .id;
    store
        .set_user_active(o.officer_b, false, "调离".into(), admin.clone(), t0())
        .await
        .expect("officer b off");
    assert_eq!(
        code_of(off(o.station_b).await),
        "unit_in_use",
        "an open letter"
    );
    let desk = user_actor(o.city_desk, o.city, Role::Dispatcher);
    applied(
        store,
        commit(letter, desk, Some(("d1", "h1")), t0()),
        decide(dispatch(o.station_b, o.branch, Tier::Branch)),
    )
    .await;
    let closed_station = off(o.station_b).await.expect("deactivate");
    assert!(!closed_station.active);
    assert_eq!(code_of(off(o.station_b).await), "already_done");
    let units = store.units().await.expect("units");
    assert!(units.iter().any(|u| u.id == o.station_b && !u.active));
    // Nothing goes into it.
    assert_eq!(
        code_of(
            store
                .create_unit(
                    NewUnit {
                        parent: Some(o.station_b),
                        tier: Tier::Station,
                        name: "x".into()
                    },
                    admin.clone(),
                    t0()
                )
                .await
        ),
        "parent_id"
    );
    assert_eq!(
        code_of(
            store
                .create_user(
                    NewUser {
                        unit_id: o.station_b,
                        username: "late.comer".into(),
                        display_name: "x".into(),
                        roles: BTreeSet::from([Role::Officer]),
                        password_hash: "$argon2id$fake".into(),
                    },
                    admin.clone(),
                    t0()
                )
                .await
        ),
        "unit_id"
    );
    assert_eq!(
        code_of(
            store
                .update_user(
                    o.officer_a,
                    UserChange {
                        unit_id: Some(o.station_b),
                        ..UserChange::default()
                    },
                    "x".into(),
                    admin.clone(),
                    t0()
                )
                .await
        ),
        "unit_id"
    );
    // A branch above a deactivated station: the station comes back only under an
    // active parent.
    let lone = unit(store, Some(o.city), Tier::Branch, "撤并分局").await;
    let lone_station = unit(store, Some(lone), Tier::Station, "撤并派出所").await;
    off(lone_station).await.expect("station off");
    off(lone).await.expect("branch off");
    assert_eq!(
        code_of(
            store
                .set_unit_active(lone_station, true, "恢复".into(), admin.clone(), t0())
                .await
        ),
        "parent_inactive"
    );
    assert_eq!(
        code_of(
            store
                .move_unit(o.station_a, lone, "x".into(), admin.clone(), t0())
                .await
        ),
        "parent_id"
    );
    store
        .set_unit_active(lone, true, "恢复".into(), admin.clone(), t0())
        .await
        .expect("branch on");
    assert!(
        store
            .set_unit_active(lone_station, true, "恢复".into(), admin, t0())
            .await
            .expect("station on")
            .active
    );
    let verification = store.verify_audit(Vec::new()).await.expect("verify");
    assert!(verification.ok, "{verification:?}");
}

/// Routing rules saved by admins: numbered versions, the newest in force, a save over a
/// version someone else replaced refused, each save in the audit chain.
pub async fn routing_rules_versions(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let admin = user_actor(o.admin, o.city, Role::Admin);
    assert_eq!(store.routing_rules().await.expect("read"), None);
    let first = store
        .save_routing_rules(
            r#"{"rules":[]}"#.into(),
            0,
            "初始".into(),
            admin.clone(),
            t0(),
        )
        .await
        .expect("save 1");
    assert_eq!((first.version, first.saved_by), (1, Some(o.admin)));
    assert_eq!(
        code_of(
            store
                .save_routing_rules(r#"{"rules":[]}"#.into(), 0, "x".into(), admin.clone(), t0())
                .await
        ),
        "stale_version"
    );
    let second = store
        .save_routing_rules(
            r#"{"rules":[{"name":"a","keywords":["b"],"to_unit":3}]}"#.into(),
            1,
            "华富辖区".into(),
            admin,
            t0() + Duration::minutes(1),
        )
        .await
        .expect("save 2");
    assert_eq!(second.version, 2);
    let now = store.routing_rules().await.expect("read").expect("saved");
    assert_eq!(now, second);
    assert!(now.rules_json.contains("to_unit"));
    assert_eq!(now.reason, "华富辖区");
    let verification = store.verify_audit(Vec::new()).await.expect("verify");
    assert!(verification.ok, "{verification:?}");
}

// --- the citizen side's codes, tickets and buckets (`citizen_tokens`) ---------------

fn new_code(key: &str, hash: &str, at: DateTime<Utc>) -> NewCode {
    NewCode {
        key: key.to_owned(),
        code_hash: hash.to_owned(),
        expires_at: at + Duration::minutes(5),
        attempts: 5,
    }
}

/// Codes: one live code per key, a right one used once, a wrong one costing a guess,
/// void after the last guess, gone once expired; none of it in the audit chain or the
/// changes.
pub async fn citizen_codes(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    // An organisation, so that the chain has entries to stay unchanged.
    org(store).await;
    let tip = store.audit_tip(None).await.expect("tip").0;
    let codes = store.citizen_tokens();
    let key = "letter:13800138000";
    let check = |hash: &'static str, at: DateTime<Utc>| async move {
        codes.check_code(key, hash, at).await.expect("check")
    };
    assert_eq!(check("right", t0()).await, CodeCheck::NoCode);

    codes
        .issue_code(new_code(key, "right", t0()))
        .await
        .expect("issue");
    assert_eq!(check("wrong", t0()).await, CodeCheck::Wrong { left: 4 });
    assert_eq!(check("right", t0()).await, CodeCheck::Right);
    assert_eq!(check("right", t0()).await, CodeCheck::NoCode, "single use");

    // Valid up to its expiry, to the microsecond; past it, expired once and then gone.
    codes
        .issue_code(new_code(key, "right", t0()))
        .await
        .expect("issue");
    let expiry = t0() + Duration::minutes(5);
    assert_eq!(
        check("wrong", expiry).await,
        CodeCheck::Wrong { left: 4 },
        "not past its expiry yet"
    );
    let late = expiry + Duration::microseconds(1);
    assert_eq!(check("right", late).await, CodeCheck::Expired);
    assert_eq!(check("right", late).await, CodeCheck::NoCode);

    // A new code replaces the outstanding one, with its guesses afresh.
    codes
        .issue_code(new_code(key, "first", t0()))
        .await
        .expect("issue");
    assert_eq!(check("wrong", t0()).await, CodeCheck::Wrong { left: 4 });
    codes
        .issue_code(new_code(key, "second", t0()))
        .await
        .expect("issue again");
    assert_eq!(
        check("first", t0()).await,
        CodeCheck::Wrong { left: 4 },
        "the replaced code no longer works, and the guesses started over"
    );
    assert_eq!(check("second", t0()).await, CodeCheck::Right);

    // Four wrong guesses count down, the fifth voids the code: even the right one is
    // refused then, until a new code is sent.
    codes
        .issue_code(new_code(key, "right", t0()))
        .await
        .expect("issue");
    for left in (1..=4).rev() {
        assert_eq!(check("wrong", t0()).await, CodeCheck::Wrong { left });
    }
    assert_eq!(check("wrong", t0()).await, CodeCheck::TooManyTries);
    assert_eq!(check("right", t0()).await, CodeCheck::TooManyTries);
    assert_eq!(check("right", t0()).await, CodeCheck::TooManyTries);
    codes
        .issue_code(new_code(key, "right", t0()))
        .await
        .expect("issue");
    assert_eq!(check("right", t0()).await, CodeCheck::Right);

    // Keys are apart: a code for rating a letter is not one for writing, and back.
    let rate = "rate:CIT00001";
    codes
        .issue_code(new_code(rate, "rating", t0()))
        .await
        .expect("issue");
    assert_eq!(check("rating", t0()).await, CodeCheck::NoCode);
    assert_eq!(
        codes.check_code(rate, "rating", t0()).await.expect("check"),
        CodeCheck::Right
    );

    assert_eq!(store.audit_tip(None).await.expect("tip").0, tip);
    assert_eq!(store.latest_change_seq().await.expect("seq"), 0);
    let verification = store.verify_audit(Vec::new()).await.expect("verify");
    assert!(verification.ok, "{verification:?}");
}

/// Tickets: found while not past their expiry (to the microsecond), as often as asked,
/// until used up.
pub async fn citizen_tickets(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let tickets = store.citizen_tokens();
    let expires_at = t0() + Duration::minutes(60) + Duration::microseconds(123);
    assert_eq!(tickets.ticket("t1", t0()).await.expect("read"), None);
    tickets
        .issue_ticket(NewTicket {
            ticket_hash: "t1".to_owned(),
            phone: "13800138000".to_owned(),
            name: "张三".to_owned(),
            expires_at,
        })
        .await
        .expect("issue");
    let record = TicketRecord {
        phone: "13800138000".to_owned(),
        name: "张三".to_owned(),
        expires_at,
    };
    for at in [t0(), t0(), expires_at] {
        assert_eq!(
            tickets.ticket("t1", at).await.expect("read"),
            Some(record.clone()),
            "at {at}"
        );
    }
    assert_eq!(
        tickets
            .ticket("t1", expires_at + Duration::microseconds(1))
            .await
            .expect("read"),
        None,
        "expired"
    );
    assert_eq!(tickets.ticket("t2", t0()).await.expect("read"), None);
    assert_eq!(
        tickets.take_ticket("t1", t0()).await.expect("take"),
        Some(record.clone()),
        "taking gives what the ticket stood for"
    );
    assert_eq!(tickets.ticket("t1", t0()).await.expect("read"), None);
    assert_eq!(
        tickets.take_ticket("t1", t0()).await.expect("take"),
        None,
        "a ticket is taken once"
    );
    // An expired ticket is not given, and is gone after.
    let mut late = NewTicket {
        ticket_hash: "t3".to_owned(),
        phone: "13800138000".to_owned(),
        name: "张三".to_owned(),
        expires_at,
    };
    tickets.issue_ticket(late.clone()).await.expect("issue");
    let after = expires_at + Duration::microseconds(1);
    assert_eq!(tickets.take_ticket("t3", after).await.expect("take"), None);
    late.expires_at = after + Duration::minutes(1);
    tickets
        .issue_ticket(late)
        .await
        .expect("the expired ticket was removed, so its digest can be issued again");
}

/// Buckets: the burst at once, then a token per refill interval; keys apart; a refund
/// given back, never beyond the capacity; a clock behind adds nothing.
pub async fn citizen_buckets(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let buckets = store.citizen_tokens();
    let rule = BucketRule::new(3, 1.0 / 60.0);
    let take = |key: &'static str, at: DateTime<Utc>| async move {
        buckets.take_token(key, rule, at).await.expect("take")
    };
    let empty = |retry_after_secs| Take::Empty { retry_after_secs };
    for _ in 0..3 {
        assert_eq!(take("a", t0()).await, Take::Taken);
    }
    assert_eq!(take("a", t0()).await, empty(60));
    assert_eq!(take("b", t0()).await, Take::Taken, "another key");
    assert_eq!(take("a", t0() + Duration::seconds(30)).await, empty(30));
    assert_eq!(take("a", t0() + Duration::seconds(61)).await, Take::Taken);
    assert!(matches!(
        take("a", t0() + Duration::seconds(62)).await,
        Take::Empty { .. }
    ));
    // A clock behind the last take refills nothing.
    for _ in 0..3 {
        assert_eq!(take("g", t0() + Duration::seconds(10)).await, Take::Taken);
    }
    assert_eq!(take("g", t0()).await, empty(60));
    // Nor does it move the bucket's time back: the refill still counts from the later
    // take, so the one behind gave no token's worth of time away.
    assert!(matches!(
        take("g", t0() + Duration::seconds(10 + 59)).await,
        Take::Empty { .. }
    ));
    assert_eq!(
        take("g", t0() + Duration::seconds(10 + 60)).await,
        Take::Taken
    );

    // A refunded token can be taken again at once.
    for _ in 0..3 {
        assert_eq!(take("c", t0()).await, Take::Taken);
    }
    assert_eq!(take("c", t0()).await, empty(60));
    buckets.refund_token("c", rule).await.expect("refund");
    assert_eq!(take("c", t0()).await, Take::Taken);
    assert_eq!(take("c", t0()).await, empty(60));
    // A refund to a full bucket is lost: the burst stays the capacity.
    assert_eq!(take("d", t0()).await, Take::Taken);
    for _ in 0..3 {
        buckets.refund_token("d", rule).await.expect("refund");
    }
    for _ in 0..3 {
        assert_eq!(take("d", t0()).await, Take::Taken);
    }
    assert_eq!(take("d", t0()).await, empty(60));
    // A refund for a key never seen does nothing.
    buckets.refund_token("e", rule).await.expect("refund");

    // A token every 500 ms: not there after 499, there after 500.
    let fast = BucketRule::new(1, 2.0);
    let fast_take = |key: &'static str, ms: i64| async move {
        let at = t0() + Duration::hours(1) + Duration::milliseconds(ms);
        buckets.take_token(key, fast, at).await.expect("take")
    };
    assert_eq!(fast_take("f", 0).await, Take::Taken);
    assert_eq!(fast_take("f", 499).await, empty(1));
    assert_eq!(fast_take("h", 0).await, Take::Taken);
    assert_eq!(fast_take("h", 500).await, Take::Taken);
}

/// Pruning: expired codes and tickets and idle buckets go, in batches; live ones stay.
pub async fn citizen_tokens_pruning(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let tokens = store.citizen_tokens();
    let later = t0() + Duration::hours(2);
    for (key, at) in [("old1", t0()), ("old2", t0()), ("live", later)] {
        tokens
            .issue_code(new_code(key, "right", at))
            .await
            .expect("issue");
    }
    for (hash, at) in [("old", t0()), ("live", later)] {
        tokens
            .issue_ticket(NewTicket {
                ticket_hash: hash.to_owned(),
                phone: "13800138000".to_owned(),
                name: String::new(),
                expires_at: at + Duration::hours(1),
            })
            .await
            .expect("issue");
    }
    let rule = BucketRule::new(2, 1.0);
    for (key, at) in [("idle1", t0()), ("idle2", t0()), ("busy", later)] {
        tokens.take_token(key, rule, at).await.expect("take");
    }
    // Cut-offs: codes and tickets that expired before `later` (t0 + 5 min, t0 + 1 h),
    // buckets untouched since before it.
    let prune = |batch| tokens.prune_citizen_tokens(later, later, batch);
    assert_eq!(prune(3).await.expect("prune"), 3);
    assert_eq!(prune(3).await.expect("prune"), 2);
    assert_eq!(prune(3).await.expect("prune"), 0);
    for key in ["old1", "old2"] {
        assert_eq!(
            tokens.check_code(key, "right", t0()).await.expect("check"),
            CodeCheck::NoCode
        );
    }
    assert_eq!(
        tokens
            .check_code("live", "right", later)
            .await
            .expect("check"),
        CodeCheck::Right
    );
    assert_eq!(tokens.ticket("old", t0()).await.expect("read"), None);
    assert!(tokens.ticket("live", later).await.expect("read").is_some());
    // The busy bucket kept its state (one token taken, none refilled yet); a pruned one
    // starts full, as it would have been.
    assert_eq!(
        tokens.take_token("busy", rule, later).await.expect("take"),
        Take::Taken
    );
    assert!(matches!(
        tokens.take_token("busy", rule, later).await.expect("take"),
        Take::Empty { .. }
    ));
    for _ in 0..2 {
        assert_eq!(
            tokens.take_token("idle1", rule, later).await.expect("take"),
            Take::Taken
        );
    }
}

/// Concurrent requests, as from several server nodes at once: every wrong guess costs
/// its own attempt, a right code is used by one request only, a bucket gives each token
/// to one request only.
pub async fn citizen_tokens_concurrency(store: Arc<dyn Storage>) {
    let key = "letter:13800138000";
    store
        .citizen_tokens()
        .issue_code(new_code(key, "right", t0()))
        .await
        .expect("issue");
    let guesses: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .citizen_tokens()
                    .check_code(key, "wrong", t0())
                    .await
                    .expect("check")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for guess in guesses {
        outcomes.push(guess.await.expect("task"));
    }
    let mut lefts: Vec<u32> = outcomes
        .iter()
        .filter_map(|c| match c {
            CodeCheck::Wrong { left } => Some(*left),
            _ => None,
        })
        .collect();
    lefts.sort_unstable();
    assert_eq!(lefts, vec![1, 2, 3, 4], "{outcomes:?}");
    let void = outcomes
        .iter()
        .filter(|c| **c == CodeCheck::TooManyTries)
        .count();
    assert_eq!(void, 16, "{outcomes:?}");
    assert_eq!(
        store
            .citizen_tokens()
            .check_code(key, "right", t0())
            .await
            .expect("check"),
        CodeCheck::TooManyTries
    );

    // The right code, sent twenty times at once: one request uses it.
    store
        .citizen_tokens()
        .issue_code(new_code(key, "right", t0()))
        .await
        .expect("issue");
    let rights: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .citizen_tokens()
                    .check_code(key, "right", t0())
                    .await
                    .expect("check")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for right in rights {
        outcomes.push(right.await.expect("task"));
    }
    let used = outcomes.iter().filter(|c| **c == CodeCheck::Right).count();
    let gone = outcomes.iter().filter(|c| **c == CodeCheck::NoCode).count();
    assert_eq!((used, gone), (1, 19), "{outcomes:?}");

    // A bucket of 5, taken from twenty times at once: five get a token.
    let rule = BucketRule::new(5, 1.0 / 3600.0);
    let takes: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .citizen_tokens()
                    .take_token("ip:192.0.2.1", rule, t0())
                    .await
                    .expect("take")
            })
        })
        .collect();
    let mut taken = 0;
    for take in takes {
        if take.await.expect("task") == Take::Taken {
            taken += 1;
        }
    }
    assert_eq!(taken, 5);

    // One ticket sent with twenty letters at once (two nodes, say): one letter gets it.
    store
        .citizen_tokens()
        .issue_ticket(NewTicket {
            ticket_hash: "shared".to_owned(),
            phone: "13800138000".to_owned(),
            name: "张三".to_owned(),
            expires_at: t0() + Duration::minutes(60),
        })
        .await
        .expect("issue");
    let takers: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .citizen_tokens()
                    .take_ticket("shared", t0())
                    .await
                    .expect("take")
            })
        })
        .collect();
    let mut got = 0;
    for taker in takers {
        if taker.await.expect("task").is_some() {
            got += 1;
        }
    }
    assert_eq!(got, 1, "one ticket, one letter");
}

/// Many letters at once (a backend may write them together, as PostgreSQL's batches
/// do): each is answered as if it came alone. Ten under one idempotency key make one
/// letter and nine replays of it; five with one tracking code make one letter and four
/// refusals; five for a unit that does not exist fail alone. Every letter is stored
/// once, with its own change, and the audit chain verifies.
pub async fn intake_together(store: Arc<dyn Storage>) {
    let o = org(store.as_ref()).await;
    let before = store.latest_change_seq().await.expect("seq");
    let desk = user_actor(o.city_desk, o.city, Role::Dispatcher);
    let mut letters: Vec<(&'static str, NewLetter, Actor)> = Vec::new();
    for i in 0..40 {
        letters.push((
            "plain",
            new_letter(&format!("TOG{i:05}"), None),
            Actor::public(Channel::Web),
        ));
    }
    for i in 0..10 {
        let mut letter = new_letter(&format!("KEY{i:05}"), Some(o.station_a));
        letter.idempotency = Some(IdempotencyClaim {
            user: o.city_desk,
            key: "together".to_owned(),
            request_hash: "same".to_owned(),
        });
        letters.push(("keyed", letter, desk.clone()));
    }
    for _ in 0..5 {
        letters.push((
            "same code",
            new_letter("TOGDUP01", None),
            Actor::public(Channel::Web),
        ));
    }
    for i in 0..5 {
        letters.push((
            "no unit",
            new_letter(&format!("BAD{i:05}"), Some(UnitId(999_999))),
            Actor::public(Channel::Web),
        ));
    }
    let tasks: Vec<_> = letters
        .into_iter()
        .map(|(kind, letter, actor)| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { (kind, store.create_letter(letter, actor).await) })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    let of = |kind: &'static str| {
        answers
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, a)| a)
    };
    let plain: Vec<&CreatedLetter> = of("plain")
        .map(|a| a.as_ref().expect("a plain letter"))
        .collect();
    assert!(plain.iter().all(|c| !c.replayed && c.unit == o.city));
    let keyed: Vec<&CreatedLetter> = of("keyed")
        .map(|a| a.as_ref().expect("a keyed letter"))
        .collect();
    let first: Vec<&&CreatedLetter> = keyed.iter().filter(|c| !c.replayed).collect();
    assert_eq!(first.len(), 1, "one letter under the key");
    assert!(
        keyed.iter().all(|c| c.id == first[0].id),
        "nine replays of it"
    );
    let same_code: Vec<_> = of("same code").collect();
    assert_eq!(same_code.iter().filter(|a| a.is_ok()).count(), 1);
    for refused in same_code.iter().filter(|a| a.is_err()) {
        assert!(
            matches!(
                refused,
                Err(StorageError::Conflict {
                    code: "tracking_code_taken",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    assert!(
        of("no unit").all(|a| a.is_err()),
        "a letter for no unit fails"
    );

    // Each letter once, each with a change of its own.
    let created: Vec<&CreatedLetter> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok())
        .filter(|c| !c.replayed)
        .collect();
    assert_eq!(created.len(), 40 + 1 + 1);
    let seqs: BTreeSet<i64> = created.iter().map(|c| c.change_seq).collect();
    assert_eq!(seqs.len(), created.len(), "a change each");
    assert_eq!(
        store.latest_change_seq().await.expect("seq"),
        before + i64::try_from(created.len()).unwrap_or_default()
    );
    for c in &created {
        let record = store.letter(c.id).await.expect("letter").expect("stored");
        assert_eq!(record.tracking_code, c.tracking_code);
        assert_eq!(record.events.len(), 1);
    }
    let report = store.verify_audit(Vec::new()).await.expect("verify");
    assert!(report.ok, "{:?}", report.failure());
}

/// 「进度」 in a chat: the letters a WeChat or Weibo sender wrote, newest first, and
/// nobody else's (another sender, another channel, the same id under the other key).
pub async fn letters_from_sender(store: Arc<dyn Storage>) {
    let store = store.as_ref();
    let o = org(store).await;
    let letters = [
        (
            "SND00001",
            Channel::Wechat,
            serde_json::json!({"wechat_openid": "oA"}),
            0,
        ),
        (
            "SND00002",
            Channel::Wechat,
            serde_json::json!({"wechat_openid": "oB"}),
            1,
        ),
        (
            "SND00003",
            Channel::Wechat,
            serde_json::json!({"wechat_openid": "oA"}),
            2,
        ),
        (
            "SND00004",
            Channel::Weibo,
            serde_json::json!({"weibo_uid": "oA"}),
            3,
        ),
        (
            "SND00005",
            Channel::Web,
            serde_json::json!({"wechat_openid": "oA"}),
            4,
        ),
        (
            "SND00006",
            Channel::Wechat,
            serde_json::json!({"wechat_openid": "oA"}),
            5,
        ),
    ];
    for (code, channel, extra, minutes) in letters {
        let mut letter = new_letter(code, Some(o.station_a));
        letter.channel = channel;
        letter.writer_extra = extra;
        letter.received_at = t0() + Duration::minutes(minutes);
        store
            .create_letter(letter, Actor::public(channel))
            .await
            .expect("create");
    }
    let of = |channel, sender: &'static str, limit| async move {
        store
            .letters_from_sender(channel, sender, limit)
            .await
            .expect("letters")
    };
    assert_eq!(
        of(Channel::Wechat, "oA", 10).await,
        ["SND00006", "SND00003", "SND00001"]
    );
    assert_eq!(of(Channel::Wechat, "oA", 2).await, ["SND00006", "SND00003"]);
    assert_eq!(of(Channel::Wechat, "oB", 10).await, ["SND00002"]);
    assert_eq!(of(Channel::Weibo, "oA", 10).await, ["SND00004"]);
    assert!(of(Channel::Wechat, "o", 10).await.is_empty());
    assert!(of(Channel::Wechat, "oA' OR '1'='1", 10).await.is_empty());
    assert!(of(Channel::Web, "oA", 10).await.is_empty());
}

/// The notices to writers: fed at most once each with a cursor that only moves forward,
/// claimed under a lease (two claims at once take different notices), each try recorded
/// once with a change row, and carried by the letter for the desks.
pub async fn writer_notice_queue(store: Arc<dyn Storage>) {
    use crate::writer_notices::{NewWriterNotice, NoticeAttempt};
    use jsjb_core::letter::{NoticeRoute, NoticeState, NoticeStep};
    let o = org(store.as_ref()).await;
    let created = store
        .create_letter(
            new_letter("NTC00001", Some(o.station_a)),
            Actor::public(Channel::Web),
        )
        .await
        .expect("create");
    let letter = created.id;
    let (start, since) = store.writer_notice_feed().await.expect("feed");
    // The queue began on a platform with no change: every step is news.
    assert_eq!(since, None);
    let notice = |step, trigger_seq| NewWriterNotice {
        letter,
        step,
        trigger_seq,
        route: NoticeRoute::Sms,
        text: format!("{step} 的告知"),
    };
    let first = vec![
        notice(NoticeStep::Receipt, 1),
        notice(NoticeStep::FirstFeedback, 4),
    ];
    let recorded = store
        .enqueue_writer_notices(first.clone(), start + 5, t0())
        .await
        .expect("enqueue");
    assert_eq!(
        recorded.len(),
        1,
        "one change for the one letter that gained notices"
    );
    assert_eq!(recorded[0].unit, o.station_a);
    // The same notices again, from a node that read an older page: nothing twice, and
    // the cursor does not move back.
    let again = store
        .enqueue_writer_notices(first, start + 3, t0())
        .await
        .expect("enqueue");
    assert!(again.is_empty());
    assert_eq!(
        store.writer_notice_feed().await.expect("feed"),
        (start + 5, None)
    );
    let record = store.letter(letter).await.expect("letter").expect("found");
    let steps: Vec<(NoticeStep, NoticeState, u32)> = record
        .writer_notices
        .iter()
        .map(|n| (n.step, n.state, n.attempts))
        .collect();
    assert_eq!(
        steps,
        [
            (NoticeStep::Receipt, NoticeState::Pending, 0),
            (NoticeStep::FirstFeedback, NoticeState::Pending, 0)
        ]
    );
    assert_eq!(record.version, 1, "notices never move the letter's version");

    let lease = t0() + Duration::minutes(2);
    let claimed = store
        .claim_writer_notices(t0(), lease, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        claimed[0].writer_phone, "13800138000",
        "the real phone, for the sender"
    );
    assert_eq!(claimed[0].tracking_code, "NTC00001");
    assert!(claimed[0].wechat_openid.is_none());
    assert!(
        store
            .claim_writer_notices(t0(), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased: no other node takes them"
    );
    let (receipt, feedback) = (claimed[0].id, claimed[1].id);
    let cursor = store.latest_change_seq().await.expect("seq");
    let sent = store
        .record_writer_notice(
            receipt,
            NoticeAttempt::Sent {
                route: NoticeRoute::Sms,
            },
            t0(),
        )
        .await
        .expect("record")
        .expect("pending");
    assert!(sent.change_seq > cursor);
    assert!(
        store
            .record_writer_notice(
                receipt,
                NoticeAttempt::Failed {
                    route: NoticeRoute::Sms,
                    error: "late".into()
                },
                t0()
            )
            .await
            .expect("record")
            .is_none(),
        "a try is recorded once"
    );
    let retry_at = t0() + Duration::hours(1);
    store
        .record_writer_notice(
            feedback,
            NoticeAttempt::Retry {
                route: NoticeRoute::Sms,
                error: "isv.BUSINESS_LIMIT_CONTROL".into(),
                next_try_at: retry_at,
            },
            t0(),
        )
        .await
        .expect("record")
        .expect("pending");
    assert!(
        store
            .claim_writer_notices(
                retry_at - Duration::seconds(1),
                retry_at + Duration::minutes(2),
                10
            )
            .await
            .expect("claim")
            .is_empty()
    );
    let retried = store
        .claim_writer_notices(retry_at, retry_at + Duration::minutes(2), 10)
        .await
        .expect("claim");
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempts), (feedback, 1));
    store
        .record_writer_notice(
            feedback,
            NoticeAttempt::Failed {
                route: NoticeRoute::Sms,
                error: "isv.MOBILE_NUMBER_ILLEGAL".into(),
            },
            retry_at,
        )
        .await
        .expect("record")
        .expect("pending");
    let record = store.letter(letter).await.expect("letter").expect("found");
    let states: Vec<(NoticeState, u32, Option<&str>)> = record
        .writer_notices
        .iter()
        .map(|n| (n.state, n.attempts, n.last_error.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            (NoticeState::Sent, 1, None),
            (NoticeState::Failed, 2, Some("isv.MOBILE_NUMBER_ILLEGAL"))
        ]
    );
    // The desks hear of each try: the letter is in the changes after the cursor.
    let changed = drain(store.as_ref(), &[o.station_a], &mut cursor.clone()).await;
    assert!(
        changed
            .iter()
            .all(|c| matches!(c, Change::Letter { letter: l } if l.id == letter))
    );
    assert!(!changed.is_empty());

    // Two nodes claiming at once take different notices.
    let many: Vec<NewWriterNotice> = (10..40)
        .map(|seq| notice(NoticeStep::Unreachable, seq))
        .collect();
    store
        .enqueue_writer_notices(many, start + 6, t0())
        .await
        .expect("enqueue");
    let later = t0() + Duration::hours(3);
    let (a, b) = tokio::join!(
        store.claim_writer_notices(later, later + Duration::minutes(2), 20),
        store.claim_writer_notices(later, later + Duration::minutes(2), 20)
    );
    let (a, b) = (a.expect("claim a"), b.expect("claim b"));
    assert_eq!(a.len() + b.len(), 30);
    assert!(
        a.iter().all(|x| b.iter().all(|y| x.id != y.id)),
        "no notice taken twice"
    );
}
