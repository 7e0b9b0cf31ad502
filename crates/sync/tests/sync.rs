//! The sync engine against the real server (in-process, real HTTP on 127.0.0.1) and
//! real cache files: convergence, catching up, a server killed mid-push, an app killed
//! mid-sync, a wrong workstation clock, and a letter leaving the scope.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use jsjb_core::clock::Band;
use jsjb_core::letter::{ContactMethod, ContactOutcome, LetterId, LetterState};
use jsjb_core::workflow::{Action, Actor};
use jsjb_store::{ActionContext, InboxQuery, OutboxEntry};
use jsjb_sync::{AuditAlarm, ConnectionState, SkewedClock, SyncEvent};
use serde_json::json;
use support::*;
use tempfile::TempDir;

struct Env {
    dir: TempDir,
    server: Option<ServerProc>,
    org: Org,
    city: Api,
    branch: Api,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let org = seed(dir.path()).await;
        let server = ServerProc::start(dir.path(), 0);
        let url = server.url();
        Env {
            city: Api::login(&url, "city.desk").await,
            branch: Api::login(&url, "branch.desk").await,
            server: Some(server),
            org,
            dir,
        }
    }

    fn url(&self) -> String {
        self.server.as_ref().expect("server running").url()
    }

    async fn desk(&self, username: &str) -> Desk {
        let path = self.dir.path().join(format!("{username}.cache.sqlite3"));
        Desk::sign_in(&self.url(), username, path).await
    }

    async fn letter_at(&self, station: i64, n: usize) -> i64 {
        letter_at(&self.city, &self.branch, station, &self.org, n).await
    }
}

/// Queues `action` on `desk`'s cache as its signed-in user would, at the view's version.
async fn enqueue(desk: &Desk, letter: i64, action: Action) -> OutboxEntry {
    let now = desk
        .engine
        .as_ref()
        .map_or_else(chrono::Utc::now, |(h, _)| h.server_now());
    desk.store
        .call(move |s| {
            let me = s.me().cloned().expect("signed in");
            let version = s
                .inbox(&InboxQuery::default(), now)
                .expect("inbox")
                .rows
                .into_iter()
                .find(|r| r.id == LetterId(letter))
                .expect("letter cached")
                .version;
            let ctx = ActionContext {
                actor: Actor {
                    user: me.user_id,
                    unit: me.unit_id,
                    roles: me.roles.clone(),
                },
                workstation: Some("test-ws".into()),
                now,
            };
            s.enqueue_action(LetterId(letter), version, &action, &ctx)
        })
        .await
        .expect("store")
        .expect("enqueue")
}

fn contact(n: usize) -> Action {
    Action::RecordContact {
        method: ContactMethod::Phone,
        outcome: ContactOutcome::Reached,
        contacted_at: chrono::Utc::now(),
        note: format!("第{n}次联系"),
        callback_at: None,
    }
}

async fn online(desk: &Desk) {
    let handle = desk.handle().clone();
    eventually(10, "the desk is online", || {
        let s = handle.status();
        async move { s.state == ConnectionState::Online }
    })
    .await;
}

async fn has_letter(desk: &Desk, id: i64) -> bool {
    desk.letter(id).await.is_some()
}

fn arrived(events: &[SyncEvent]) -> BTreeSet<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Arrived { ids } => Some(ids.iter().map(|i| i.0)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The desk's cache holds exactly what the server says its user sees.
async fn converged(desk: &Desk, api: &Api) -> bool {
    desk.letters().await == api.all_letters().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_desktops_of_one_unit_converge() {
    let env = Env::new().await;
    let mut one = env.desk("a.officer").await;
    let mut two = env.desk("a.officer2").await;
    one.start().await;
    two.start().await;
    online(&one).await;
    online(&two).await;

    let first = env.letter_at(env.org.station_a, 1).await;
    let second = env.letter_at(env.org.station_a, 2).await;
    let mut events_one = Vec::new();
    let mut events_two = Vec::new();
    eventually(10, "both desks hear of both arrivals", || {
        events_one.extend(one.drain_events());
        events_two.extend(two.drain_events());
        let done = [&events_one, &events_two]
            .iter()
            .all(|e| arrived(e).is_superset(&BTreeSet::from([first, second])));
        async move { done }
    })
    .await;

    // Desk one signs for the first letter; desk two sees it through the SSE poke.
    enqueue(&one, first, Action::SignFor).await;
    one.handle().push_now();
    eventually(10, "desk two sees the first letter signed for", || async {
        two.letter(first)
            .await
            .is_some_and(|l| l.state == LetterState::Handling)
    })
    .await;

    // Desk two, offline, signs for the second letter; desk one does so first online.
    two.stop().await;
    enqueue(&two, second, Action::SignFor).await;
    enqueue(&one, second, Action::SignFor).await;
    one.handle().push_now();
    eventually(10, "desk one's sign-for is accepted", || async {
        one.handle().status().pending_actions == 0
            && one
                .letter(second)
                .await
                .is_some_and(|l| l.state == LetterState::Handling)
    })
    .await;
    two.start().await;
    let mut refused = Vec::new();
    eventually(10, "desk two's late sign-for is refused", || {
        refused.extend(two.drain_events());
        let status = two.handle().status();
        let seen = refused.iter().any(
            |e| matches!(e, SyncEvent::ActionRefused { letter_id, .. } if letter_id.0 == second),
        );
        async move { seen && status.failed_actions == 1 && status.pending_actions == 0 }
    })
    .await;
    let code = refused.iter().find_map(|e| match e {
        SyncEvent::ActionRefused { code, .. } => Some(code.clone()),
        _ => None,
    });
    assert!(
        matches!(code.as_deref(), Some("stale_version" | "wrong_state")),
        "{code:?}"
    );

    // Both caches equal the server's word, and desk two's view is the server's again.
    let api = Api::login(&env.url(), "a.officer").await;
    eventually(10, "both caches converge on the server", || async {
        converged(&one, &api).await && converged(&two, &api).await
    })
    .await;
    let me_one = one
        .store
        .call(|s| s.me().map(|m| m.user_id))
        .await
        .expect("store");
    let (row_handler, row_pending) = two
        .store
        .call(move |s| {
            let rows = s
                .inbox(&InboxQuery::default(), chrono::Utc::now())
                .expect("inbox")
                .rows;
            let row = rows
                .into_iter()
                .find(|r| r.id == LetterId(second))
                .expect("row");
            (row.handler_id, row.pending)
        })
        .await
        .expect("store");
    assert_eq!(row_handler, me_one);
    assert!(!row_pending);
    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_desktop_offline_for_a_day_catches_up_in_pages() {
    let env = Env::new().await;
    let mut desk = env.desk("a.officer").await;
    desk.config.page_limit = 20;
    desk.start().await;
    online(&desk).await;
    desk.stop().await;

    // A day's traffic while the desk is off: letters for this station and its sibling.
    let mut ours = BTreeSet::new();
    for n in 0..90 {
        let station = if n % 3 == 2 {
            env.org.station_b
        } else {
            env.org.station_a
        };
        let id = env.letter_at(station, n).await;
        if station == env.org.station_a {
            ours.insert(id);
        }
    }

    desk.start().await;
    let api = Api::login(&env.url(), "a.officer").await;
    eventually(20, "the desk catches up", || converged(&desk, &api)).await;
    let events = desk.drain_events();
    let pages = events
        .iter()
        .filter(|e| matches!(e, SyncEvent::LettersChanged { .. }))
        .count();
    assert!(pages >= 3, "60 letters come in pages of 20: {pages} pages");
    assert_eq!(
        arrived(&events),
        ours,
        "every new letter of the station rings once"
    );
    assert_eq!(desk.letters().await.len(), ours.len());
    let status = desk.handle().status();
    assert!(status.last_synced_at.is_some());
    assert_eq!(status.last_error_code, None);
    assert_eq!(
        status.catch_up_percent, None,
        "caught up: no progress shown"
    );
    desk.stop().await;

    // What the progress is made of: each page with more behind it says how far the
    // server's changes go (never behind its own cursor); the last page does not.
    let (mut cursor, mut pages) = (0, Vec::new());
    loop {
        let page = api.sync(cursor, 20).await;
        pages.push((page.next_cursor, page.has_more, page.latest_cursor));
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    // The cursor a caught-up desk ends at: every page before said the server goes at
    // least that far.
    let final_cursor = pages.last().map(|p| p.0).expect("a page");
    for (next, has_more, latest_cursor) in &pages {
        match (has_more, latest_cursor) {
            (true, Some(l)) => assert!(*l >= *next && *l >= final_cursor, "{pages:?}"),
            (false, None) => {}
            _ => panic!("latest_cursor on exactly the pages with more: {pages:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_push_receives_every_action_exactly_once() {
    let mut env = Env::new().await;
    let port = env.server.as_ref().expect("server").addr.port();
    let id = env.letter_at(env.org.station_a, 1).await;
    let mut desk = env.desk("a.officer").await;
    desk.start().await;
    eventually(10, "the letter reaches the desk", || has_letter(&desk, id)).await;
    desk.stop().await;

    // An officer's afternoon of work taken offline: sign for, then many contacts.
    const CONTACTS: usize = 120;
    enqueue(&desk, id, Action::SignFor).await;
    for n in 0..CONTACTS {
        enqueue(&desk, id, contact(n)).await;
    }
    let keys: BTreeSet<String> = desk
        .store
        .call(|s| s.pending_actions())
        .await
        .expect("store")
        .expect("pending")
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert_eq!(keys.len(), CONTACTS + 1, "one key per action");

    desk.start().await;
    let dir = env.dir.path().to_owned();
    eventually(20, "the push is under way", || {
        let n = server_events(&dir, id, "contact_recorded");
        async move { n >= 10 }
    })
    .await;
    env.server.take().expect("server").kill();
    let at_kill = server_events(&dir, id, "contact_recorded");
    assert!(
        (at_kill as usize) < CONTACTS,
        "killed in the middle: {at_kill} of {CONTACTS} arrived"
    );
    let handle = desk.handle().clone();
    eventually(10, "the desk notices", || {
        let s = handle.status();
        async move { matches!(s.state, ConnectionState::Offline { .. }) && s.pending_actions > 0 }
    })
    .await;

    // The server comes back on the same database and address; the desk resumes.
    env.server = Some(ServerProc::start(&dir, port));
    eventually(30, "the outbox drains", || {
        let s = handle.status();
        async move { s.pending_actions == 0 && s.state == ConnectionState::Online }
    })
    .await;
    assert_eq!(handle.status().failed_actions, 0);
    assert_eq!(server_events(&dir, id, "signed_for"), 1);
    assert_eq!(server_events(&dir, id, "contact_recorded"), CONTACTS as i64);
    let conn = rusqlite::Connection::open(dir.join("server.sqlite3")).expect("db");
    let distinct: i64 = conn
        .query_row(
            "SELECT count(DISTINCT payload) FROM letter_events
             WHERE letter_id = ?1 AND kind = 'contact_recorded'",
            [id],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(distinct, CONTACTS as i64, "no contact twice, none lost");
    let api = Api::login(&env.url(), "a.officer").await;
    eventually(10, "the cache equals the server", || converged(&desk, &api)).await;
    desk.stop().await;
}

/// 立即同步 tells the officer what the exchange did: actions sent, letters changed, or
/// why it failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_now_reports_what_the_exchange_did() {
    let mut env = Env::new().await;
    // No stream and no poll for a minute: the only exchanges are the first and ours.
    let proxy = LossyProxy::start(env.server.as_ref().expect("server").addr).await;
    proxy.block_stream(true);
    let path = env.dir.path().join("report.cache.sqlite3");
    let mut desk = Desk::sign_in(&proxy.url(), "a.officer", path).await;
    desk.config.poll_interval = Duration::from_secs(60);
    desk.config.safety_interval = Duration::from_secs(60);
    desk.start().await;
    online(&desk).await;
    let handle = desk.handle().clone();

    let id = env.letter_at(env.org.station_a, 1).await;
    assert!(!has_letter(&desk, id).await, "nothing pulled it yet");
    let report = handle.sync_and_report().await;
    assert_eq!(report.error_code, None, "{report:?}");
    assert_eq!(report.letters_changed, 1, "{report:?}");
    assert!(has_letter(&desk, id).await);

    enqueue(&desk, id, Action::SignFor).await;
    enqueue(&desk, id, contact(1)).await;
    let report = handle.sync_and_report().await;
    assert_eq!(
        (
            report.error_code.as_deref(),
            report.actions_sent,
            report.pending_actions
        ),
        (None, 2, 0),
        "{report:?}"
    );
    assert_eq!(handle.status().pending_actions, 0);

    // The server is gone: the report says so instead of pretending it synced.
    enqueue(&desk, id, contact(2)).await;
    env.server.take().expect("server").kill();
    let report = handle.sync_and_report().await;
    assert!(report.error_code.is_some(), "{report:?}");
    assert_eq!((report.actions_sent, report.pending_actions), (0, 1));
    desk.stop().await;
    // A stopped engine answers at once.
    let stopped = handle.sync_and_report().await;
    assert_eq!(stopped.error_code.as_deref(), Some("engine_stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_killed_mid_sync_keeps_a_consistent_cache_and_resumes() {
    let env = Env::new().await;
    for n in 0..80 {
        env.letter_at(env.org.station_a, n).await;
    }
    let api = Api::login(&env.url(), "a.officer").await;
    let mut desk = env.desk("a.officer").await;
    desk.config.page_limit = 5;

    let mut cursors = Vec::new();
    for round in 0..8u64 {
        desk.start().await;
        tokio::time::sleep(Duration::from_millis(15 + 20 * round)).await;
        // The app dies wherever the engine happens to be: mid-request, mid-apply.
        desk.stop().await;
        let cursor = desk.cursor().await;
        cursors.push(cursor);
        // Consistent: the cache holds exactly the letters of the whole pages up to its
        // cursor — walking the server's pages from 0 lands on the cursor exactly.
        let mut walked = 0;
        let mut expected = BTreeSet::new();
        while walked < cursor {
            let page = api.sync(walked, desk.config.page_limit).await;
            for change in page.changes {
                if let jsjb_proto::Change::Letter { letter } = change {
                    expected.insert(letter.id.0);
                }
            }
            walked = page.next_cursor;
        }
        assert_eq!(
            walked, cursor,
            "round {round}: the cursor is a page boundary"
        );
        let cached: BTreeSet<i64> = desk.letters().await.iter().map(|l| l.id.0).collect();
        assert_eq!(cached, expected, "round {round}: no partial page");
    }
    assert!(
        cursors.windows(2).all(|w| w[0] <= w[1]),
        "never goes back: {cursors:?}"
    );
    desk.start().await;
    eventually(20, "the sync resumes to the end", || converged(&desk, &api)).await;
    assert_eq!(desk.letters().await.len(), 80);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workstation_clock_fifteen_minutes_off_still_colours_correctly() {
    let env = Env::new().await;
    let mut desk = env.desk("a.officer").await;
    // Fast by 15 minutes: every 10-minute sign-for clock would look overdue.
    desk.clock = Arc::new(SkewedClock {
        skew: TimeDelta::minutes(15),
    });
    desk.start().await;
    let id = env.letter_at(env.org.station_a, 1).await;
    eventually(10, "the letter arrives", || has_letter(&desk, id)).await;

    let status = desk.handle().status();
    assert!(
        (status.clock_offset_ms + 900_000).abs() < 2_000,
        "measured offset {} ms",
        status.clock_offset_ms
    );
    let server_now = desk.handle().server_now();
    assert!((server_now - chrono::Utc::now()).num_milliseconds().abs() < 2_000);
    let local_now = chrono::Utc::now() + TimeDelta::minutes(15);

    let band_at = |now: chrono::DateTime<chrono::Utc>| {
        let store = desk.store.clone();
        async move {
            store
                .call(move |s| {
                    let rows = s.inbox(&InboxQuery::default(), now).expect("inbox").rows;
                    rows.into_iter()
                        .find(|r| r.id == LetterId(id))
                        .expect("row")
                        .band
                })
                .await
                .expect("store")
        }
    };
    // The server's clock is the system clock: its band is the band at the true time.
    let server_band = band_at(chrono::Utc::now()).await;
    assert_eq!(server_band, Band::Ok);
    assert_eq!(band_at(server_now).await, server_band);
    assert_eq!(
        band_at(local_now).await,
        Band::Overdue,
        "the raw local clock would be wrong"
    );

    // The offset survives a restart: an app started offline still colours correctly.
    desk.stop().await;
    let stored = desk
        .store
        .call(|s| s.sync_state())
        .await
        .expect("store")
        .expect("state")
        .clock_offset_ms;
    assert_eq!(stored, status.clock_offset_ms);
    desk.start().await;
    assert!(
        (desk.handle().server_now() - chrono::Utc::now())
            .num_milliseconds()
            .abs()
            < 2_000
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_letter_leaving_the_scope_disappears_locally() {
    let env = Env::new().await;
    let mut a = env.desk("a.officer").await;
    let mut b = env.desk("b.officer").await;
    a.start().await;
    b.start().await;
    let id = env.letter_at(env.org.station_a, 1).await;
    eventually(10, "station A has the letter", || has_letter(&a, id)).await;
    assert!(!has_letter(&b, id).await, "a sibling never sees it");

    // Station A returns it (from another workstation); the branch re-dispatches to B.
    let officer_a = Api::login(&env.url(), "a.officer").await;
    officer_a
        .act(
            id,
            json!({"action": "return_letter", "reason": "not_our_jurisdiction", "note": "不属本所辖区"}),
        )
        .await;
    env.branch
        .act(id, json!({"action": "dispatch", "to": env.org.station_b}))
        .await;

    eventually(10, "station A forgets it, station B has it", || async {
        !has_letter(&a, id).await && has_letter(&b, id).await
    })
    .await;
    let mut events = Vec::new();
    eventually(5, "station B's chime", || {
        events.extend(b.drain_events());
        let rang = arrived(&events).contains(&id);
        async move { rang }
    })
    .await;
    let changed_a = a
        .drain_events()
        .into_iter()
        .any(|e| matches!(e, SyncEvent::LettersChanged { ids } if ids.contains(&LetterId(id))));
    assert!(changed_a, "the UI of station A is told to re-query");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_action_whose_answer_is_lost_is_retried_and_applied_once() {
    let env = Env::new().await;
    let proxy = LossyProxy::start(env.server.as_ref().expect("server").addr).await;
    let id = env.letter_at(env.org.station_a, 1).await;
    let path = env.dir.path().join("lossy.cache.sqlite3");
    let mut desk = Desk::sign_in(&proxy.url(), "a.officer", path).await;
    desk.start().await;
    eventually(10, "the letter reaches the desk", || has_letter(&desk, id)).await;
    online(&desk).await;

    // The server applies the sign-for, but its answer never comes back.
    proxy.lose_answers(true);
    enqueue(&desk, id, Action::SignFor).await;
    desk.handle().push_now();
    let dir = env.dir.path().to_owned();
    let handle = desk.handle().clone();
    eventually(
        10,
        "the server applied it while the desk still waits",
        || {
            let applied = server_events(&dir, id, "signed_for") == 1;
            let s = handle.status();
            async move {
                applied
                    && s.pending_actions == 1
                    && s.last_error_code.as_deref() == Some("server_unreachable")
            }
        },
    )
    .await;
    // Let a few retries (all replays of the same key) get lost as well.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let attempts = desk
        .store
        .call(|s| s.pending_actions())
        .await
        .expect("store")
        .expect("pending")[0]
        .attempts;
    assert!(attempts >= 1, "the lost attempts are recorded: {attempts}");

    proxy.lose_answers(false);
    eventually(10, "the replayed answer is accepted", || {
        let s = handle.status();
        async move { s.pending_actions == 0 && s.state == ConnectionState::Online }
    })
    .await;
    assert_eq!(server_events(&dir, id, "signed_for"), 1, "applied once");
    assert_eq!(handle.status().failed_actions, 0);
    let cached = desk.letter(id).await.expect("cached");
    assert_eq!(cached.state, LetterState::Handling);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_session_is_reported_and_a_new_token_resumes() {
    let env = Env::new().await;
    let mut desk = env.desk("a.officer").await;
    desk.start().await;
    online(&desk).await;
    let handle = desk.handle().clone();

    // The session ends on the server (an admin, a timeout, a logout elsewhere).
    desk.client.logout().await.expect("logout");
    handle.sync_now();
    let mut events = Vec::new();
    eventually(10, "the desk reports the lost session", || {
        events.extend(desk.drain_events());
        let told = events.contains(&SyncEvent::SessionExpired);
        let s = handle.status();
        async move { told && matches!(s.state, ConnectionState::Offline { .. }) }
    })
    .await;
    assert!(handle.status().last_error_code.is_some());

    // Signing in again hands the engine a new token; sync carries on.
    let login = desk
        .client
        .login(&jsjb_proto::LoginRequest {
            username: "a.officer".into(),
            password: PASSWORD.into(),
            workstation: None,
        })
        .await
        .expect("login");
    handle.set_token(login.token);
    online(&desk).await;
    let id = env.letter_at(env.org.station_a, 1).await;
    eventually(10, "letters flow again", || has_letter(&desk, id)).await;
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_event_stream_the_desk_polls_and_reconnects_later() {
    let env = Env::new().await;
    let proxy = LossyProxy::start(env.server.as_ref().expect("server").addr).await;
    proxy.block_stream(true);
    let path = env.dir.path().join("polling.cache.sqlite3");
    let mut desk = Desk::sign_in(&proxy.url(), "a.officer", path).await;
    desk.start().await;
    online(&desk).await;
    let handle = desk.handle().clone();
    assert!(!handle.status().live, "no stream through this proxy");

    // Letters still arrive, by polling (every 300 ms in these tests).
    let id = env.letter_at(env.org.station_a, 1).await;
    eventually(5, "a polled letter arrives", || has_letter(&desk, id)).await;
    let status = handle.status();
    assert!(!status.live);
    assert!(
        !matches!(status.state, ConnectionState::Offline { .. }),
        "polling is online: {status:?}"
    );

    // The stream comes back after its backoff; the desk is live again.
    proxy.block_stream(false);
    eventually(10, "the desk is live again", || {
        let live = handle.status().live;
        async move { live }
    })
    .await;
    desk.stop().await;
}

async fn kept_head(desk: &Desk) -> Option<jsjb_proto::AuditHead> {
    desk.store
        .call(|s| s.audit_head())
        .await
        .expect("store")
        .expect("kept head")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_whose_audit_tail_was_deleted_is_reported_by_the_desk() {
    let env = Env::new().await;
    let id = env.letter_at(env.org.station_a, 1).await;
    let mut desk = env.desk("a.officer").await;
    desk.start().await;
    online(&desk).await;
    eventually(10, "the letter reaches the desk", || has_letter(&desk, id)).await;
    // The desk keeps the server's signed head, and follows it as the chain grows.
    let server_seq = |dir: std::path::PathBuf| {
        let conn = rusqlite::Connection::open(dir.join("server.sqlite3")).expect("db");
        conn.query_row("SELECT max(seq) FROM audit_log", [], |r| r.get::<_, i64>(0))
            .expect("seq")
    };
    let dir = env.dir.path().to_owned();
    let first = {
        let desk = &desk;
        let dir = dir.clone();
        eventually(10, "the desk keeps the server's head", move || {
            let dir = dir.clone();
            async move {
                kept_head(desk)
                    .await
                    .is_some_and(|h| h.seq == server_seq(dir))
            }
        })
        .await;
        kept_head(desk).await.expect("kept")
    };
    let _ = Api::login(&env.url(), "a.officer2").await;
    desk.handle().sync_now();
    eventually(10, "the kept head follows the chain", || async {
        kept_head(&desk).await.is_some_and(|h| h.seq > first.seq)
    })
    .await;
    let kept = kept_head(&desk).await.expect("kept");
    assert_eq!(desk.handle().status().audit_alarm, None);
    assert!(
        !desk
            .drain_events()
            .iter()
            .any(|e| matches!(e, SyncEvent::AuditMismatch { .. }))
    );

    // Someone with the server's file deletes the newest entries (the sign-ins).
    let conn = rusqlite::Connection::open(dir.join("server.sqlite3")).expect("db");
    conn.execute_batch(&format!(
        "DROP TRIGGER audit_log_append_only_d;
         DELETE FROM audit_log WHERE seq > {};",
        kept.seq - 2
    ))
    .expect("tamper");
    drop(conn);

    desk.handle().sync_now();
    let handle = desk.handle().clone();
    eventually(10, "the desk reports the shorter chain", || {
        let s = handle.status();
        async move { s.audit_alarm.is_some() }
    })
    .await;
    assert_eq!(
        handle.status().audit_alarm,
        Some(AuditAlarm::Truncated {
            kept: kept.reference(),
            server_seq: kept.seq - 2,
        })
    );
    let events = desk.drain_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, SyncEvent::AuditMismatch { .. }))
            .count(),
        1,
        "reported once, not at every pull: {events:?}"
    );
    // The evidence is kept, not overwritten by the shorter head; letters still sync.
    assert_eq!(kept_head(&desk).await, Some(kept.clone()));
    online(&desk).await;
    assert!(handle.status().audit_alarm.is_some(), "the banner stays");
    desk.stop().await;

    // After a restart of the app the alarm is raised again from the kept head.
    desk.start().await;
    let handle = desk.handle().clone();
    eventually(10, "the restarted desk reports it again", || {
        let s = handle.status();
        async move { matches!(s.audit_alarm, Some(AuditAlarm::Truncated { .. })) }
    })
    .await;
    desk.stop().await;
}

/// Issue 12 item 7: a desk types in a phone letter through the desktop's client; a retry
/// with the form's key is the same letter, a new key a new one, and the desk's own
/// desktop hears of it by sync, received at its unit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_letter_typed_in_at_the_desk_is_created_once_and_synced() {
    let env = Env::new().await;
    let mut desk = env.desk("branch.desk").await;
    desk.start().await;
    online(&desk).await;
    let input = jsjb_proto::LetterInput {
        category: jsjb_core::letter::Category::Complaint,
        problem_tags: vec!["噪音扰民".into()],
        subject: "来电反映：烧烤店深夜噪音".into(),
        body: "每晚十一点后仍有客人喧哗，影响休息。".into(),
        writer_name: "王女士".into(),
        writer_phone: "0755-83312345".into(),
        writer_contact: None,
    };
    let first = desk
        .client
        .post_desk_letter("phone-form-1", &input, &[])
        .await
        .expect("typed in");
    let retry = desk
        .client
        .post_desk_letter("phone-form-1", &input, &[])
        .await
        .expect("retried");
    assert_eq!(retry, first, "the same key is the same letter");
    let other = desk
        .client
        .post_desk_letter("phone-form-2", &input, &[])
        .await
        .expect("another");
    assert_ne!(other.id, first.id);
    assert_eq!(first.unit_id, env.org.branch);

    // With the writer's photo (issue 12 item 7): multipart, once per key, and the same key
    // with other files is another request.
    let photo = jsjb_sync::LetterFile {
        file_name: "现场照片.png".into(),
        bytes: PNG_1X1.to_vec(),
    };
    let with_photo = desk
        .client
        .post_desk_letter("phone-form-3", &input, std::slice::from_ref(&photo))
        .await
        .expect("typed in with a photo");
    let again = desk
        .client
        .post_desk_letter("phone-form-3", &input, std::slice::from_ref(&photo))
        .await
        .expect("retried with the photo");
    assert_eq!(again, with_photo);
    let reused = desk
        .client
        .post_desk_letter("phone-form-3", &input, &[])
        .await
        .expect_err("the same key without the photo is another request");
    assert_eq!(reused.code(), "idempotency_key_reused");
    let page = desk.client.sync(0, 500).await.expect("a page");
    let letter = page
        .changes
        .iter()
        .find_map(|c| match c {
            jsjb_proto::Change::Letter { letter } if letter.id.0 == with_photo.id => Some(letter),
            _ => None,
        })
        .expect("the letter with the photo");
    assert_eq!(letter.attachments.len(), 1);
    assert_eq!(letter.attachments[0].mime, "image/png");
    desk.handle().sync_now();
    eventually(
        10,
        "the desk's cache has the letter, received at its unit",
        || async {
            desk.letter(first.id).await.is_some_and(|l| {
                l.state == LetterState::Received
                    && l.unit_id.0 == env.org.branch
                    && l.channel == jsjb_core::letter::Channel::Phone
            })
        },
    )
    .await;
}

/// A real, minimal 1×1 PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// Issue 14 item 2: a desktop counts with the server's clock rules, never its compiled
/// defaults, and a connected desktop adopts the rules the server restarts with — here
/// the next year's State Council notice adding a day off inside a running working-day
/// clock, which moves the deadline in the cached inbox row (its colour and order) without
/// a new sign-in.
#[tokio::test(flavor = "multi_thread")]
async fn a_desktop_counts_with_the_servers_rules_and_adopts_new_ones_while_connected() {
    use jsjb_core::clock::{ClockRule, due_time};
    use jsjb_core::rules::Rules;

    let dir = tempfile::tempdir().expect("temp dir");
    let org = seed(dir.path()).await;
    let file = dir.path().join("rules.json");
    // 签收 within 1 working day (the built-in rule is 10 calendar minutes); 联系 and
    // 首次反馈 in working days after it, so that 签收 is the row's most urgent clock.
    let sign_for = ClockRule::working_days(1, 3_600);
    let mut doc = Rules::shenzhen().doc().clone();
    doc.eras[0].policy.sign_for = sign_for;
    doc.eras[0].policy.contact = ClockRule::working_days(2, 3_600);
    doc.eras[0].policy.first_feedback = ClockRule::working_days(3, 3_600);
    let first = Rules::new(doc.clone()).expect("valid");
    std::fs::write(&file, serde_json::to_vec(first.doc()).expect("json")).expect("write");
    let server = ServerProc::start_with_rules(dir.path(), 0, Some(file.clone()));
    let port = server.addr.port();
    let url = server.url();
    let city = Api::login(&url, "city.desk").await;
    let branch = Api::login(&url, "branch.desk").await;
    let id = letter_at(&city, &branch, org.station_a, &org, 1).await;

    let mut desk = Desk::sign_in(&url, "a.officer", dir.path().join("a.cache.sqlite3")).await;
    let store = desk.store.clone();
    // The cached inbox row's deadline (what colours and orders it), the dispatch it
    // counts from, and the rules version in use.
    let row_due = move || {
        let store = store.clone();
        async move {
            store
                .call(move |s| {
                    let now = chrono::Utc::now();
                    let row = s
                        .inbox(&InboxQuery::default(), now)
                        .ok()?
                        .rows
                        .into_iter()
                        .find(|r| r.id == LetterId(id))?;
                    let detail = s.letter_detail(LetterId(id), now).ok()??;
                    let dispatched = detail.status.clock_inputs.dispatches.last()?.dispatched_at;
                    Some((
                        s.rules_version().map(str::to_owned),
                        dispatched,
                        row.urgent_clock,
                        row.due_at?,
                    ))
                })
                .await
                .expect("store")
        }
    };
    desk.start().await;
    eventually(20, "the letter is cached under the server's rules", || {
        let read = row_due();
        async move { matches!(read.await, Some((Some(_), _, _, _))) }
    })
    .await;
    let (version, dispatched, clock, due) = row_due().await.expect("cached");
    assert_eq!(clock, Some(jsjb_core::clock::ClockKind::SignFor));
    assert_eq!(due, due_time(dispatched, &sign_for, first.calendar()));
    assert!(
        due > dispatched + TimeDelta::minutes(10),
        "not the compiled 10 minutes"
    );

    // The notice: the next working day becomes a day off (a future day, so the server
    // accepts it as a successor).
    let today = dispatched.with_timezone(&jsjb_core::CST).date_naive();
    let day_off = today
        .iter_days()
        .skip(1)
        .find(|d| first.calendar().is_working_day(*d))
        .expect("a working day");
    let year = doc
        .calendar
        .iter_mut()
        .find(|y| y.year == chrono::Datelike::year(&day_off))
        .expect("the year is covered");
    year.holidays.push(day_off);
    year.holidays.sort();
    let second = Rules::new(doc).expect("valid");
    std::fs::write(&file, serde_json::to_vec(second.doc()).expect("json")).expect("write");
    server.kill();
    let _server = ServerProc::start_with_rules(dir.path(), port, Some(file));

    let expected = due_time(dispatched, &sign_for, second.calendar());
    assert!(expected > due, "the day off moves the deadline on");
    eventually(30, "the desktop adopts the new rules", || {
        let read = row_due();
        async move { matches!(read.await, Some((_, _, _, d)) if d == expected) }
    })
    .await;
    let (new_version, _, _, _) = row_due().await.expect("cached");
    assert_ne!(new_version, version);
    let events = desk.drain_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SyncEvent::RulesChanged { .. })),
        "{events:?}"
    );
    desk.stop().await;

    // Restarted offline, the cache still counts with the server's rules.
    let reopened = jsjb_store::Store::open(dir.path().join("a.cache.sqlite3")).expect("open");
    assert_eq!(reopened.rules_version(), new_version.as_deref());
    assert_eq!(reopened.rules(), &second);
}
