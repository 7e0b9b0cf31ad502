//! The real command wiring (`build_app_with` + the app's own context and capabilities),
//! driven through Tauri's mock runtime — no window system needed — against the REAL
//! server (`jsjb_server::serve` on 127.0.0.1:0, seeded with a small demo city) and real
//! cache files in a temporary app-data folder. Only the audio is fake. The harness is in
//! `support/`, shared with `signing.rs`.

use std::sync::{Arc, Mutex};

use jsjb_desk::app_state::AppState;
use jsjb_server::demo::DEMO_PASSWORD;
use serde_json::{Value, json};
use tauri::Manager;
use tauri::test::mock_builder;

mod support;
use support::*;

// ---------------------------------------------------------------------------------------
// The shell.

#[test]
fn app_info_reports_product_version_and_disconnected() {
    let app = app();
    let answer = app.ok("app_info", json!({}));
    assert_eq!(
        answer,
        json!({
            "productName": "接诉即办工作台",
            "version": env!("CARGO_PKG_VERSION"),
            "connection": { "state": "disconnected" },
        })
    );
}

/// The statistics' CSV goes into the folder the user picked (given by the builder here:
/// the mock runtime has no dialog), under its sanitised name, never over a file.
#[test]
fn an_export_is_written_only_into_the_folder_the_user_picked() {
    let app = app();
    let picked = export_folder(&app.data_dir);
    let args = json!({"fileName": "../../三率.csv", "content": "a,b\n", "dialogTitle": "导出"});
    let first = std::path::PathBuf::from(
        app.ok("save_export", args.clone())["path"]
            .as_str()
            .expect("path"),
    );
    assert_eq!(first.parent(), Some(picked.as_path()), "{first:?}");
    assert_eq!(std::fs::read_to_string(&first).expect("read"), "a,b\n");
    let second = app.ok("save_export", args)["path"]
        .as_str()
        .expect("path")
        .to_owned();
    assert_ne!(second, first.display().to_string(), "never over the first");
}

#[test]
fn commands_are_refused_to_a_window_without_the_capability() {
    let app = app();
    let other = window(&app.app, "not-in-any-capability");
    for cmd in ["app_info", "session", "inbox", "login"] {
        let refusal = invoke_on(&other, cmd, json!({})).expect_err("capabilities are enforced");
        assert!(
            refusal.to_string().contains("not allowed"),
            "unexpected refusal of {cmd}: {refusal}"
        );
    }
}

#[test]
fn the_main_window_may_listen_to_the_apps_events() {
    let app = app();
    let listen = json!({"event": "sync-status", "target": {"kind": "Any"}, "handler": 7});
    let id = app
        .invoke("plugin:event|listen", listen.clone())
        .expect("the UI listens to sync-status, letters-changed, …");
    app.invoke(
        "plugin:event|unlisten",
        json!({"event": "sync-status", "eventId": id}),
    )
    .expect("and stops listening");
    let other = window(&app.app, "not-in-any-capability");
    assert!(invoke_on(&other, "plugin:event|listen", listen).is_err());
}

#[test]
fn unknown_commands_are_refused() {
    let app = app();
    assert!(app.invoke("no_such_command", json!({})).is_err());
}

// ---------------------------------------------------------------------------------------
// Signing in and out.

#[test]
fn login_refuses_wrong_password_unreachable_server_and_bad_url() {
    let app = app();
    let code = app.err_code(
        "login",
        json!({"serverUrl": server().url(), "username": "futian.liu", "password": "wrong"}),
    );
    assert_eq!(code, "invalid_credentials");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let code = app.err_code(
        "login",
        json!({"serverUrl": format!("http://127.0.0.1:{closed}"), "username": "futian.liu", "password": DEMO_PASSWORD}),
    );
    assert_eq!(code, "unreachable");

    let code = app.err_code(
        "login",
        json!({"serverUrl": "ftp://example", "username": "futian.liu", "password": DEMO_PASSWORD}),
    );
    assert_eq!(code, "invalid_url");

    assert_eq!(app.ok("session", json!({})), Value::Null);
    assert_eq!(app.err_code("inbox", json!({"query": {}})), "not_signed_in");
}

#[test]
fn logout_then_another_user_sees_none_of_the_first_users_letters() {
    let app = app();
    let first = app.login("huafu.ma");
    let huafu = first["me"]["unit_id"].as_i64().expect("unit");
    assert_eq!(first["me"]["username"], "huafu.ma");
    assert_eq!(
        first["serverUrl"],
        server().url(),
        "the URL comes back normalised"
    );
    let ours = dispatch_new_letter("futianfj.desk", huafu, "华富：噪音扰民");
    app.wait_synced();
    let seen_first = wait_for("the new letter in huafu's inbox", || {
        let ids = app.inbox_ids();
        ids.contains(&ours).then_some(ids)
    });
    assert_eq!(app.ok("session", json!({}))["me"]["username"], "huafu.ma");

    app.ok("logout", json!({}));
    assert_eq!(app.ok("session", json!({})), Value::Null);
    assert_eq!(app.err_code("inbox", json!({"query": {}})), "not_signed_in");
    assert_eq!(
        app.ok("resume_session", json!({})),
        Value::Null,
        "logout forgets the token"
    );

    let second = app.login("lianhua.guo");
    assert_ne!(second["me"]["unit_id"].as_i64(), Some(huafu));
    app.wait_synced();
    let seen_second = app.inbox_ids();
    let leaked: Vec<_> = seen_second
        .iter()
        .filter(|id| seen_first.contains(id))
        .collect();
    assert!(
        leaked.is_empty(),
        "letters of the first user leaked: {leaked:?}"
    );
    assert_eq!(
        app.err_code("letter_detail", json!({"id": ours})),
        "not_found"
    );

    // One cache per server + user.
    let caches = std::fs::read_dir(&app.data_dir)
        .expect("data dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sqlite3"))
        .count();
    assert_eq!(caches, 2);
}

#[test]
fn a_kept_token_resumes_the_session_in_a_new_app() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let first = app_in(dir.path());
        first.login("futian.huang");
        first.wait_synced();
    }
    let second = app_in(dir.path());
    let resumed = second.ok("resume_session", json!({}));
    assert_eq!(resumed["me"]["username"], "futian.huang");
    second.wait_synced();
    assert!(!second.inbox_ids().is_empty() || second.unsigned() == 0);
}

// ---------------------------------------------------------------------------------------
// Reading, acting, the alarm.

#[test]
fn arrival_rings_inbox_is_by_urgency_and_sign_for_is_pending_then_synced() {
    let app = app();
    let arrived = app.record("letters-arrived");
    let changed = app.record("letters-changed");
    let statuses = app.record("sync-status");
    let me = app.login("futian.liu");
    let station = me["me"]["unit_id"].as_i64().expect("unit");
    app.wait_synced();
    assert!(
        !statuses.lock().expect("lock").is_empty(),
        "sync-status is pushed"
    );

    // The inbox in the order of docs/design.md: the savable sign-for and contact clocks,
    // the other running clocks, the overdue ones, then the finished ones; by due time
    // within each group with a clock (soonest, or longest overdue, first).
    let view = app.inbox(json!({"limit": 500}));
    assert!(view["serverNow"].is_string());
    let rows = view["page"]["rows"].as_array().expect("rows").clone();
    assert!(!rows.is_empty(), "the demo city gives the station letters");
    const GROUPS: [&str; 4] = ["savable", "live", "overdue", "done"];
    let rank = |r: &serde_json::Value| {
        GROUPS
            .iter()
            .position(|g| r["group"] == json!(g))
            .expect("a known group")
    };
    let ranks: Vec<usize> = rows.iter().map(rank).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "groups in order: {ranks:?}"
    );
    for (group, name) in GROUPS.iter().enumerate().skip(1).take(2) {
        let due_times: Vec<chrono::DateTime<chrono::Utc>> = rows
            .iter()
            .filter(|r| rank(r) == group)
            .map(|r| {
                r["due_at"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .expect("RFC 3339")
            })
            .collect();
        assert!(
            due_times.windows(2).all(|w| w[0] <= w[1]),
            "{name}: most urgent first: {due_times:?}"
        );
    }
    assert!(
        rows.iter()
            .filter(|r| rank(r) == 3)
            .all(|r| r["due_at"].is_null()),
        "letters with no running clock come last"
    );

    // A letter arrives: the chime rings and the UI hears of it.
    let before = app.audio.count();
    let id = dispatch_new_letter("futianfj.desk", station, "福田：求助");
    wait_for("letters-arrived with the new letter", || {
        arrived
            .lock()
            .expect("lock")
            .iter()
            .any(|p| {
                p["ids"]
                    .as_array()
                    .is_some_and(|ids| ids.contains(&json!(id)))
            })
            .then_some(())
    });
    wait_for("the chime", || (app.audio.count() > before).then_some(()));
    assert!(changed.lock().expect("lock").iter().any(|p| {
        p["ids"]
            .as_array()
            .is_some_and(|ids| ids.contains(&json!(id)))
    }));

    // Sign for it (and for anything else still waiting): pending at once, the alarm stops.
    let view = app.detail(id);
    assert!(
        view["availableActions"]
            .as_array()
            .expect("actions")
            .contains(&json!("sign_for")),
        "{}",
        view["availableActions"]
    );
    let waiting = app.inbox(json!({"states": ["dispatched"], "unit": station, "limit": 500}));
    for row in waiting["page"]["rows"].as_array().expect("rows") {
        let entry = app.ok(
            "take_action",
            json!({"letterId": row["id"], "expectedVersion": row["version"], "action": {"action": "sign_for"}}),
        );
        assert_eq!(entry["status"], "pending");
    }
    let pending = app.detail(id);
    assert_eq!(pending["detail"]["status"]["state"], "handling");
    assert_eq!(
        pending["detail"]["pending"].as_array().map(Vec::len),
        Some(1),
        "shown as pending until the server accepts it"
    );
    assert_eq!(app.unsigned(), 0, "signing stops the alarm at once");
    assert_eq!(app.app.state::<AppState>().alarm().next_due(), None);

    // Then the server has it.
    wait_for("the sign-for to be accepted", || {
        let d = app.detail(id);
        (d["detail"]["pending"].as_array().is_some_and(Vec::is_empty)
            && d["detail"]["record"]["state"] == "handling")
            .then_some(())
    });
    assert_eq!(app.ok("failed_actions", json!({})), json!([]));

    // A stale view is refused locally with its code.
    let code = app.err_code(
        "take_action",
        json!({"letterId": id, "expectedVersion": 1, "action": {"action": "sign_for"}}),
    );
    assert_eq!(code, "stale_view");
    let current = app.detail(id)["detail"]["status"]["version"].clone();
    let code = app.err_code(
        "take_action",
        json!({"letterId": id, "expectedVersion": current, "action": {"action": "sign_for"}}),
    );
    assert_eq!(code, "wrong_state");

    // The rest of the reading side.
    app.ok("mark_seen", json!({"id": id}));
    assert_eq!(app.detail(id)["detail"]["seen"], true);
    let writer = app.ok("reveal_writer", json!({"letterId": id}));
    assert_eq!(writer["masked"], false);
    assert_eq!(writer["phone"], "13800138000");
    let directory = app.ok("directory", json!({}));
    assert!(directory.as_array().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        app.err_code("letter_detail", json!({"id": 999_999})),
        "not_found"
    );
    assert_eq!(
        app.err_code("attachment", json!({"sha256": "00"})),
        "not_found"
    );
    app.ok("sync_now", json!({}));
    assert_eq!(app.ok("test_chime", json!({})), json!({"played": true}));
}

/// Issue 12 item 1: a letter `received` at a desk (here a new phone letter typed in by a
/// colleague at the city desk) rings, counts and is announced exactly as a dispatched
/// letter is at a station, once per arrival; dispatching it on stops it.
#[test]
fn an_arrival_at_a_desk_rings_counts_and_stops_when_dispatched() {
    let app = app();
    let arrived = app.record("letters-arrived");
    let waiting = app.record("waiting-changed");
    let me = app.login("shiju.li");
    let city = me["me"]["unit_id"].as_i64().expect("unit");
    let branch = me["me"]["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["tier"] == "branch" && u["parent"] == json!(city))
        .and_then(|u| u["id"].as_i64())
        .expect("a branch below the city");
    app.wait_synced();
    let count_before = app.unsigned();
    let status = app.ok("waiting_status", json!({}));
    assert_eq!(status["soundAvailable"], true);
    assert_eq!(
        status["ids"].as_array().map(Vec::len),
        Some(count_before),
        "the title's count and the alarm's are one"
    );

    let before = app.audio.count();
    let id = receive_letter("shiju.zhang", "市局：新来信");
    let arrivals_of = |id: i64| {
        arrived
            .lock()
            .expect("lock")
            .iter()
            .filter(|p| {
                p["ids"]
                    .as_array()
                    .is_some_and(|ids| ids.contains(&json!(id)))
            })
            .count()
    };
    wait_for("letters-arrived at the desk", || {
        (arrivals_of(id) > 0).then_some(())
    });
    wait_for("the chime at the desk", || {
        (app.audio.count() > before).then_some(())
    });
    assert_eq!(app.unsigned(), count_before + 1, "the desk counts it");
    let status = app.ok("waiting_status", json!({}));
    assert!(
        status["ids"].as_array().expect("ids").contains(&json!(id)),
        "{status}"
    );
    wait_for("waiting-changed with the letter", || {
        waiting
            .lock()
            .expect("lock")
            .iter()
            .any(|p| {
                p["ids"]
                    .as_array()
                    .is_some_and(|ids| ids.contains(&json!(id)))
            })
            .then_some(())
    });
    // The desk's clock is the policy's 10 minutes from receipt: the alarm's cadence runs
    // on it (a next ring exists and is within the window).
    let next = app.app.state::<AppState>().alarm().next_due();
    assert!(next.is_some(), "the alarm keeps reminding the desk");

    // Another sync (a letter received at a branch desk below, in the city's sight but not
    // the city's to dispatch) is neither a second arrival of the first nor one of its own.
    let other = receive_letter("futianfj.desk", "福田：分局来信");
    wait_for("the other letter synced", || {
        app.detail_opt(other).then_some(())
    });
    app.ok("sync_now", json!({}));
    app.wait_synced();
    assert_eq!(
        arrivals_of(id),
        1,
        "one arrival rings once, not once per sync"
    );
    assert_eq!(
        arrivals_of(other),
        0,
        "another desk's letter does not wait for this one"
    );
    assert_eq!(app.unsigned(), count_before + 1);

    // The desk dispatches it: it no longer waits for the desk.
    dispatch_letter("shiju.zhang", id, branch);
    wait_for("the dispatch to stop the desk's alarm", || {
        (app.unsigned() == count_before).then_some(())
    });
    let status = app.ok("waiting_status", json!({}));
    assert!(!status["ids"].as_array().expect("ids").contains(&json!(id)));
}

/// Issue 12 item 1: a contact or first-feedback clock about to breach rings the softer
/// sound, once per clock however many syncs report it, and not at all when muted.
#[test]
fn a_clock_about_to_breach_rings_the_softer_sound_once() {
    use jsjb_chime::{AlarmSettings, Sound};
    use jsjb_core::clock::ClockKind;
    use jsjb_core::letter::LetterId;
    use jsjb_desk::alarm::{ArrivalAlarm, SharedAudio};

    let audio = Arc::new(FakeAudio::default());
    let shared: SharedAudio = audio.clone();
    let alarm = ArrivalAlarm::new(AlarmSettings::default(), shared, None).expect("alarm");
    let now = chrono::Utc::now();
    let soon = now + chrono::TimeDelta::minutes(5);
    let contact = (LetterId(1), ClockKind::Contact);
    let feedback = (LetterId(1), ClockKind::FirstFeedback);
    alarm.update_warnings(&[(contact, Some(now)), (feedback, Some(soon))]);
    assert_eq!(alarm.tick_warnings(now), vec![contact]);
    assert_eq!(audio.count_of(Sound::Warning), 1);
    assert_eq!(audio.count_of(Sound::Arrival), 0, "not the arrival chime");
    // A re-sync reports the same clocks: no second ring.
    alarm.update_warnings(&[(contact, Some(now)), (feedback, Some(soon))]);
    assert!(alarm.tick_warnings(now).is_empty());
    assert_eq!(audio.count_of(Sound::Warning), 1);
    // Met before its warn time: the first-feedback clock never rings.
    alarm.update_warnings(&[(feedback, None)]);
    assert!(alarm.tick_warnings(soon).is_empty());
    // Muted: no sound, and the clock is still consumed (unmuting does not replay it).
    let muted = AlarmSettings {
        muted: true,
        ..AlarmSettings::default()
    };
    alarm.set_settings(muted).expect("valid");
    let other = (LetterId(2), ClockKind::Contact);
    alarm.update_warnings(&[(other, Some(now))]);
    assert_eq!(alarm.tick_warnings(now), vec![other]);
    assert_eq!(audio.count_of(Sound::Warning), 1);
}

#[test]
fn the_window_title_carries_the_count() {
    use jsjb_desk::alerts::window_title;
    assert_eq!(window_title(0, "接诉即办工作台"), "接诉即办工作台");
    assert_eq!(window_title(2, "接诉即办工作台"), "(2) 接诉即办工作台");
    assert_eq!(
        window_title(31, "Jiesu Jiban Desk"),
        "(31) Jiesu Jiban Desk"
    );
}

#[test]
fn the_badged_tray_icon_has_a_red_dot_top_right_and_is_otherwise_the_icon() {
    let (w, h) = (32_u32, 32_u32);
    let plain = vec![0x20_u8; (w * h * 4) as usize];
    let badged = jsjb_desk::alerts::badged_rgba(&plain, w, h);
    assert_eq!(badged.len(), plain.len());
    let px = |x: u32, y: u32| {
        let i = ((y * w + x) * 4) as usize;
        badged[i..i + 4].to_vec()
    };
    // Near the top-right corner: the badge's red.
    assert_eq!(px(w - 7, 6), vec![0xd0, 0x30, 0x30, 0xff]);
    // The rest of the icon is untouched.
    assert_eq!(px(4, h - 4), vec![0x20; 4]);
    assert_eq!(px(w / 2, h - 2), vec![0x20; 4]);
}

// ---------------------------------------------------------------------------------------
// Settings.

#[test]
fn settings_are_validated_and_kept() {
    let app = app();
    let defaults = app.ok("settings", json!({}));
    assert_eq!(defaults["locale"], "zh-CN");
    assert_eq!(defaults["autostart"], false);
    assert_eq!(defaults["chime"]["muted"], false);

    let with = |patch: Value| {
        let mut s = defaults.clone();
        for (k, v) in patch.as_object().expect("object") {
            s[k] = v.clone();
        }
        json!({ "settings": s })
    };
    assert_eq!(
        app.err_code(
            "save_settings",
            with(json!({"chime": {"muted": false, "volume": 1.5, "repeat": true}}))
        ),
        "invalid_settings"
    );
    assert_eq!(
        app.err_code("save_settings", with(json!({"locale": "fr"}))),
        "invalid_settings"
    );
    assert_eq!(
        app.err_code("save_settings", with(json!({"serverUrl": "ftp://x"}))),
        "invalid_url"
    );
    let saved = app.ok(
        "save_settings",
        with(json!({
            "serverUrl": " http://127.0.0.1:8080/ ",
            "locale": "en",
            "chime": {"muted": true, "volume": 0.5, "repeat": false},
        })),
    );
    assert_eq!(saved["serverUrl"], "http://127.0.0.1:8080");
    assert_eq!(app.ok("settings", json!({})), saved);

    // Kept across restarts.
    let again = app_in(&app.data_dir);
    assert_eq!(again.ok("settings", json!({})), saved);
}

/// An officer cannot move a signed-in desktop to another server from 设置: the address
/// changes only at sign-in, after signing out (with the warning the screen shows).
#[test]
fn the_server_address_does_not_change_while_signed_in() {
    let app = app();
    app.login("futian.liu");
    let mut settings = app.ok("settings", json!({}));
    assert_eq!(
        settings["serverUrl"],
        server().url(),
        "remembered at sign-in"
    );
    settings["serverUrl"] = json!("http://10.0.0.9:8080");
    assert_eq!(
        app.err_code("save_settings", json!({ "settings": settings.clone() })),
        "sign_out_first"
    );
    assert_eq!(app.ok("settings", json!({}))["serverUrl"], server().url());
    // Other settings still save while signed in.
    settings["serverUrl"] = json!(server().url());
    settings["locale"] = json!("en");
    assert_eq!(
        app.ok("save_settings", json!({ "settings": settings }))["locale"],
        "en"
    );
    app.ok("logout", json!({}));
    let mut settings = app.ok("settings", json!({}));
    settings["serverUrl"] = json!("http://10.0.0.9:8080");
    assert_eq!(
        app.ok("save_settings", json!({ "settings": settings }))["serverUrl"],
        "http://10.0.0.9:8080"
    );
}

// ---------------------------------------------------------------------------------------
// Connection, statistics, shift handover, the tray.

#[test]
fn app_info_follows_the_connection() {
    let app = app();
    assert_eq!(
        app.ok("app_info", json!({}))["connection"],
        json!({"state": "disconnected"})
    );
    app.login("lianhua.chen");
    app.wait_synced();
    let connection = app.ok("app_info", json!({}))["connection"].clone();
    assert_eq!(connection["state"], "online", "{connection}");
    assert!(connection["live"].is_boolean());
    app.ok("logout", json!({}));
    assert_eq!(
        app.ok("app_info", json!({}))["connection"],
        json!({"state": "disconnected"})
    );
}

#[test]
fn statistics_come_from_the_cache_in_the_users_scope() {
    let app = app();
    assert_eq!(
        app.err_code(
            "statistics",
            json!({"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"})
        ),
        "not_signed_in"
    );
    app.login("futianfj.desk");
    app.wait_synced();
    let now = chrono::Utc::now();
    let from = (now - chrono::TimeDelta::days(30)).to_rfc3339();
    let to = (now + chrono::TimeDelta::days(1)).to_rfc3339();
    let report = app.ok("statistics", json!({"from": from, "to": to}));
    assert!(
        report["letters"].as_u64().is_some_and(|n| n > 0),
        "the demo branch received letters: {report}"
    );
    let tiers: Vec<&str> = report["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .map(|t| t["tier"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(tiers, ["city", "branch", "station"]);
    let units = report["units"].as_array().expect("units");
    assert!(!units.is_empty());
    for u in units {
        // The rate counts sit flat beside the unit id, as the UI reads them.
        assert!(
            u["unit_id"].is_number() && u["dispatched"].is_number(),
            "{u}"
        );
        assert!(u["signed_on_time"].as_u64() <= u["dispatched"].as_u64());
        assert!(u["closed_on_time"].as_u64() <= u["due"].as_u64());
        assert!(u["satisfied"].as_u64() <= u["visits"].as_u64());
    }
    let categories: u64 = report["by_category"]
        .as_array()
        .expect("categories")
        .iter()
        .map(|c| c["count"].as_u64().unwrap_or_default())
        .sum();
    assert_eq!(Some(categories), report["letters"].as_u64());
    assert_eq!(
        app.err_code("statistics", json!({"from": to, "to": from})),
        "invalid_input"
    );
}

#[test]
fn the_handover_lists_open_work_and_its_acknowledgement_is_synced() {
    let app = app();
    let me = app.login("xiangmihu.liang");
    let station = me["me"]["unit_id"].as_i64().expect("unit");
    let id = dispatch_new_letter("futianfj.desk", station, "香蜜湖：求助");
    wait_for("the new letter", || {
        app.inbox_ids().contains(&id).then_some(())
    });
    let version = app.detail(id)["detail"]["status"]["version"].clone();
    app.ok(
        "take_action",
        json!({"letterId": id, "expectedVersion": version, "action": {"action": "sign_for"}}),
    );
    let items_of = |report: &Value| -> Vec<(String, Option<String>, String)> {
        report["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| i["letter_id"] == json!(id))
            .map(|i| {
                (
                    i["kind"].as_str().unwrap_or_default().to_owned(),
                    i["clock"].as_str().map(str::to_owned),
                    i["note"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let report = app.ok("handover", json!({}));
    assert!(report["serverNow"].is_string());
    assert_eq!(
        items_of(&report),
        [
            (
                "not_contacted".to_owned(),
                Some("contact".to_owned()),
                String::new()
            ),
            (
                "about_to_breach".to_owned(),
                Some("contact".to_owned()),
                String::new()
            ),
        ],
        "signed for (still pending) and not contacted; the 30-minute contact clock is due soon"
    );

    // The writer does not answer: a call-back is promised, at a time (约定回拨).
    let version = app.detail(id)["detail"]["status"]["version"].clone();
    let now = chrono::Utc::now();
    let callback =
        (now + chrono::Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    app.ok(
        "take_action",
        json!({"letterId": id, "expectedVersion": version, "action": {
            "action": "record_contact", "method": "phone", "outcome": "unreachable",
            "contacted_at": now.to_rfc3339(), "note": "无人接听，两小时后再打",
            "callback_at": callback}}),
    );
    let report = app.ok("handover", json!({}));
    assert!(
        items_of(&report).contains(&(
            "promised_callback".to_owned(),
            None,
            "无人接听，两小时后再打".to_owned()
        )),
        "{report}"
    );
    let promised = report["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|i| i["letter_id"] == json!(id) && i["kind"] == "promised_callback")
        })
        .expect("the call-back");
    assert_eq!(promised["due_at"], json!(callback), "{promised}");

    // Acknowledged, handed over by a colleague (杨芳), this letter ticked: recorded on
    // the server and shown as the last acknowledgement.
    let colleague = app
        .ok("directory", json!({}))
        .as_array()
        .and_then(|people| {
            people
                .iter()
                .find(|p| p["display_name"] == "杨芳")
                .map(|p| p["id"].clone())
        })
        .expect("a colleague in the directory");
    assert_eq!(
        app.ok(
            "acknowledge_handover",
            json!({"note": " 已接班 ", "handedOverBy": colleague, "checkedIds": [id, 999_999]})
        ),
        Value::Null
    );
    let report = app.ok("handover", json!({}));
    assert_eq!(report["last_acknowledged_by"], me["me"]["display_name"]);
    let ack = &report["acknowledgements"][0];
    assert_eq!(ack["status"], "recorded", "{report}");
    assert_eq!(ack["note"], "已接班");
    assert_eq!(ack["handed_over_by"], colleague);
    assert_eq!(ack["handed_over_by_name"], "杨芳");
    // The id no longer (or never) listed is not a tick.
    assert_eq!(ack["checked"], 1, "{ack}");

    // The server has it, with the letters the officer saw.
    let base = format!("{}/api/v1", server().url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listed: Value = rt.block_on(async {
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": "futianfj.desk", "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        http.get(format!("{base}/handovers?unit={station}"))
            .bearer_auth(login["token"].as_str().expect("token"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json")
    });
    let recorded = &listed[0];
    assert_eq!(recorded["note"], "已接班");
    assert!(
        recorded["letter_ids"]
            .as_array()
            .is_some_and(|ids| ids.contains(&json!(id))),
        "{recorded}"
    );
    assert_eq!(recorded["counts"]["promised_callback"], 1, "{recorded}");
    assert_eq!(recorded["checked_ids"], json!([id]), "{recorded}");
    assert_eq!(recorded["handed_over_by"], colleague);
}

/// A fresh app (not yet set up) that closes its main window as soon as it is ready,
/// run until it exits. Returns whether the window was still there (hidden) after the
/// close was handled.
fn close_main_window(hides_to_tray: bool) -> bool {
    use tauri::RunEvent;
    let dir = tempfile::tempdir().expect("temp dir");
    let audio = Arc::new(FakeAudio::default());
    let app = jsjb_desk::build_app_with(mock_builder(), options(dir.path(), audio))
        .build(jsjb_desk::context())
        .expect("the app builds on the mock runtime");
    if hides_to_tray {
        // The mock runtime cannot build a real tray (GTK): mark it as `create_tray` does.
        app.manage(jsjb_desk::alerts::HidesToTray);
    }
    let survived = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&survived);
    let mut close_handled = false;
    // Returns when the last window is gone.
    app.run(move |handle, event| {
        jsjb_desk::on_run_event(handle, &event);
        match event {
            RunEvent::Ready => {
                let main = handle.get_webview_window("main").expect("the main window");
                main.close().expect("ask to close");
            }
            RunEvent::WindowEvent {
                event: tauri::WindowEvent::CloseRequested { .. },
                ..
            } => close_handled = true,
            RunEvent::MainEventsCleared if close_handled => {
                let mut seen = seen.lock().expect("lock");
                if seen.is_none() {
                    let window = handle.get_webview_window("main");
                    *seen = Some(window.is_some());
                    // Now really end the app (what "quit" in the tray menu does).
                    if let Some(window) = window {
                        window.destroy().expect("destroy");
                    }
                }
            }
            _ => {}
        }
    });
    let survived = *survived.lock().expect("lock");
    survived.unwrap_or(false)
}

#[test]
fn closing_the_window_quits_without_a_tray() {
    assert!(!close_main_window(false));
}

#[test]
fn closing_the_window_hides_it_to_the_tray_when_there_is_one() {
    assert!(close_main_window(true));
}

/// Issue 12 item 5 (逐级上报): a sign-for clock breached at a station is told to the
/// branch desk that dispatched it there — the softer sound once, for the notification —
/// read from a real cache through the alarm's own `waiting`; the station's signature
/// ends it, and a desk of another branch is never told.
#[test]
fn a_breach_below_is_told_to_the_desk_above_once() {
    use jsjb_chime::{AlarmSettings, Sound};
    use jsjb_core::clock::ClockKind;
    use jsjb_core::letter::LetterId;
    use jsjb_core::org::{Role, UserId};
    use jsjb_desk::alarm::{self, ArrivalAlarm, Recipient, SharedAudio};
    use jsjb_store::Store;
    use jsjb_store::fixtures::{FUTIAN, LetterBuilder, NANSHAN, NANTOU, cst, me, page, upsert};

    let mut store = Store::open_in_memory().expect("cache");
    store
        .set_me(&me(40, NANSHAN, &[Role::Dispatcher]))
        .expect("signed in");
    let unsigned = || {
        LetterBuilder::received(2, cst("2026-03-02 08:59"))
            .dispatch_to(NANTOU, cst("2026-03-02 09:00"))
    };
    store
        .apply_page(&page(
            1,
            cst("2026-03-02 09:30"),
            vec![upsert(unsigned().build())],
        ))
        .expect("synced");
    let now = cst("2026-03-02 09:30");
    let desk = Recipient {
        unit: NANSHAN,
        roles: vec![Role::Dispatcher],
    };
    let view = alarm::all_waiting(&store, &desk, now).expect("read");
    let key = (LetterId(2), ClockKind::SignFor);
    assert!(
        view.escalations
            .contains(&(key, Some(cst("2026-03-02 09:10")))),
        "{:?}",
        view.escalations
    );
    assert!(
        view.waiting.iter().all(|(_, due)| due.is_none()),
        "the branch does not sign for the station"
    );

    let audio = Arc::new(FakeAudio::default());
    let shared: SharedAudio = audio.clone();
    let alarm = ArrivalAlarm::new(AlarmSettings::default(), shared, None).expect("alarm");
    alarm.update_escalations(&view.escalations);
    let told = alarm.tick_escalations(now);
    assert!(told.contains(&key), "{told:?}");
    assert_eq!(audio.count_of(Sound::Warning), 1, "the softer sound");
    assert_eq!(audio.count_of(Sound::Arrival), 0);
    // Another sync reports the same breach: told once.
    alarm.update_escalations(
        &alarm::all_waiting(&store, &desk, now)
            .expect("read")
            .escalations,
    );
    assert!(alarm.tick_escalations(now).is_empty());

    // Another branch's desk is not on the letter's dispatch chain.
    let other = Recipient {
        unit: FUTIAN,
        roles: vec![Role::Dispatcher],
    };
    let view = alarm::waiting(&store, &other, &[LetterId(2)], now).expect("read");
    assert!(view.escalations.iter().all(|(_, at)| at.is_none()));

    // The station signs for it: the sign-for breach no longer concerns anyone above.
    let signed = unsigned()
        .sign_for(UserId(8), cst("2026-03-02 09:31"))
        .build();
    store
        .apply_page(&page(2, cst("2026-03-02 09:31"), vec![upsert(signed)]))
        .expect("synced");
    let view = alarm::waiting(&store, &desk, &[LetterId(2)], now).expect("read");
    assert!(view.escalations.contains(&(key, None)));
}

/// Issue 12 item 7: a desk's phone letter carries the writer's photo. The file is picked
/// and read by Rust (the webview gets a token, a name and a size, never a path), sent as
/// multipart, and the letter synced back has it; a token not held is refused.
#[test]
fn a_phone_letter_carries_the_files_the_desk_picked() {
    let app = app();
    app.login("futianfj.desk");
    app.wait_synced();
    // A file picked and then removed from the form is let go at the next pick (`keep`).
    let removed = app.ok(
        "pick_letter_files",
        json!({"dialogTitle": "选择附件", "keep": []}),
    );
    let removed_token = removed[0]["token"].clone();
    let picked = app.ok(
        "pick_letter_files",
        json!({"dialogTitle": "选择附件", "keep": []}),
    );
    let files = picked.as_array().expect("files");
    assert_eq!(files.len(), 1, "{picked}");
    assert_eq!(files[0]["name"], "现场照片.png");
    assert!(files[0]["size"].as_u64().is_some_and(|s| s > 0));
    assert!(
        files[0].get("path").is_none(),
        "no path reaches the webview"
    );
    let token = files[0]["token"].clone();
    let input = json!({
        "category": "complaint",
        "problem_tags": ["噪音扰民"],
        "subject": "来电反映：工地夜间施工（附照片）",
        "body": "工地每晚十点后仍在施工，来电人已发来现场照片。",
        "writer_name": "陈先生",
        "writer_phone": "13923456780",
        "writer_contact": null,
    });
    assert_eq!(
        app.err_code(
            "type_in_letter",
            json!({"idempotencyKey": "b3c1d7e2-0000-4000-8000-000000000001", "input": input, "files": ["not-held"]}),
        ),
        "invalid_input"
    );
    let receipt = app.ok(
        "type_in_letter",
        json!({"idempotencyKey": "b3c1d7e2-0000-4000-8000-000000000002", "input": input, "files": [token]}),
    );
    let id = receipt["id"].as_i64().expect("id");
    wait_for("the letter in the cache", || {
        app.detail_opt(id).then_some(())
    });
    let detail = app.detail(id);
    let attachments = detail["detail"]["record"]["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attachments.len(), 1, "{detail}");
    assert_eq!(attachments[0]["mime"], "image/png");
    assert_eq!(
        app.err_code(
            "type_in_letter",
            json!({"idempotencyKey": "b3c1d7e2-0000-4000-8000-000000000004", "input": input, "files": [removed_token]}),
        ),
        "invalid_input",
        "a removed file is no longer held"
    );
    // Sent: the file is let go, so the same token cannot send it again.
    assert_eq!(
        app.err_code(
            "type_in_letter",
            json!({"idempotencyKey": "b3c1d7e2-0000-4000-8000-000000000003", "input": input, "files": [token]}),
        ),
        "invalid_input"
    );
}

/// Once synced, the desktop counts with the server's clock rules and says which: the
/// version the server serves (`GET /api/v1/rules`), not the built-in rules.
#[test]
fn the_desktop_names_the_servers_rules_once_synced() {
    let app = app();
    assert_eq!(app.err_code("clock_rules", json!({})), "not_signed_in");
    app.login("futian.liu");
    app.wait_synced();
    let rules = wait_for("the served rules adopted", || {
        let rules = app.ok("clock_rules", json!({}));
        rules["version"].is_string().then_some(rules)
    });
    let served = jsjb_server::clock_rules::version(
        &jsjb_core::rules::Rules::shenzhen(),
        &jsjb_server::reference::default_problem_classes(),
    );
    assert_eq!(rules["version"], served.as_str());
    assert_eq!(rules["calendarYears"], json!([2025, 2026, 2027]));
    assert_eq!(rules["provisionalYears"], json!([2027]));
    assert!(rules["nextChangeAt"].is_null());
}
