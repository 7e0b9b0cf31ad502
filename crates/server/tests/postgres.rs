//! The server on PostgreSQL, through the real binary on a real port: the demo city
//! seeded and served on PostgreSQL, an officer's action acknowledged and kept across a
//! `kill -9`, the audit chain verified after it; and a platform kept in SQLite moved to
//! PostgreSQL whole by `admin migrate-from-sqlite`.
//!
//! Needs `JSJB_TEST_POSTGRES` (a server whose user may create databases), which
//! `cargo xtask test` sets; each test makes a database of its own.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jsjb_core::org::UnitId;
use jsjb_proto::{Change, LetterRecord};
use jsjb_server::Config;
use jsjb_server::demo::{self, DemoOptions};
use jsjb_server::time::ManualTime;
use jsjb_storage::Storage;
use serde_json::{Value, json};

mod pg_support;

use pg_support::{Database, Running, free_port, login, server, synced, wait_healthy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_city_runs_on_postgres_and_keeps_what_it_acknowledged_through_a_kill() {
    let db = Database::create("demo").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let demo = Running(
        server(
            &db,
            dir.path(),
            port,
            &["demo", "--days", "3", "--per-day", "20"],
        )
        .env("JSJB_DEMO_ARRIVAL_SECS", "1")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the demo on PostgreSQL"),
    );
    wait_healthy(&base, Duration::from_secs(180)).await;

    let officer = login(&base, "futian.liu").await;
    let (letters, _) = synced(&base, &officer).await;
    assert!(!letters.is_empty(), "the station sees its letters");
    // The city desk takes a letter by phone; the retry under the same key gets the
    // same letter, not a second one.
    let city = login(&base, "shiju.li").await;
    let intake = || {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/letters"))
            .bearer_auth(&city)
            .header("Idempotency-Key", "pg-demo-phone-letter-1")
            .json(
                &json!({"category": "help", "subject": "电话来信：楼道灯坏了",
                          "body": "居民来电反映楼道灯坏了一周", "writer_name": "王五",
                          "writer_phone": "13712345678"}),
            )
            .send()
    };
    let first = intake().await.expect("intake");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("receipt");
    let again: Value = intake()
        .await
        .expect("retry")
        .json()
        .await
        .expect("receipt");
    assert_eq!(first["id"], again["id"], "a retry is the same letter");
    let taken = first["id"].as_i64().expect("id");

    // Letters keep arriving (every second); kill the server in the middle of it.
    let (before_kill, _) = synced(&base, &city).await;
    assert!(before_kill.iter().any(|l| l.id.0 == taken));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(demo); // SIGKILL
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _served = Running(
        server(&db, dir.path(), port, &["serve"])
            .stdout(Stdio::null())
            .spawn()
            .expect("restart on PostgreSQL"),
    );
    wait_healthy(&base, Duration::from_secs(60)).await;
    let city = login(&base, "shiju.li").await;
    let (after, _) = synced(&base, &city).await;
    for seen in &before_kill {
        let kept = after
            .iter()
            .find(|l| l.id == seen.id)
            .expect("every letter the desk saw is still there");
        assert!(kept.version >= seen.version, "letter {}", seen.id.0);
    }
    assert!(
        after.iter().any(|l| l.id.0 == taken),
        "the acknowledged intake"
    );

    let verify = server(&db, dir.path(), free_port(), &["admin", "audit-verify"])
        .output()
        .expect("audit-verify");
    assert!(
        verify.status.success(),
        "the chain verifies after the kill: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// Every letter of every unit, straight from a store (the city's scope is every unit).
async fn every_letter(store: &dyn Storage) -> Vec<LetterRecord> {
    let scope: Vec<UnitId> = store
        .units()
        .await
        .expect("units")
        .into_iter()
        .map(|u| u.id)
        .collect();
    let (mut cursor, mut letters) = (0, std::collections::BTreeMap::new());
    loop {
        let batch = store
            .sync_page(scope.clone(), cursor, 500)
            .await
            .expect("page");
        for change in batch.changes {
            if let Change::Letter { letter } = change {
                letters.insert(letter.id, *letter);
            }
        }
        cursor = batch.next_cursor;
        if !batch.has_more {
            return letters.into_values().collect();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_kept_in_sqlite_moves_to_postgres_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = dir.path().join("city.sqlite3");
    let mut config = Config::new(sqlite.clone(), dir.path().join("blobs"));
    config.argon2_memory_kib = 256;
    let state = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            jsjb_server::open_with_time(config, Arc::new(ManualTime::new(Utc::now())))
        })
        .await
        .expect("open task")
        .expect("open SQLite")
    };
    let summary = demo::seed(
        &state,
        &DemoOptions {
            days: 4,
            per_day: 25,
            arrival_every: Duration::ZERO,
            ..DemoOptions::default()
        },
    )
    .await
    .expect("seed");
    assert!(summary.letters > 50);
    let units = state.store.units().await.expect("units");
    let users = state.store.users().await.expect("users");
    let letters = every_letter(state.store.as_ref()).await;
    let latest = state.store.latest_change_seq().await.expect("latest");
    let (tip, _) = state.store.audit_tip(None).await.expect("tip");
    drop(state);
    // A name locked out as it was typed (SQLite keys lock-outs without case): on
    // PostgreSQL, which looks them up by lower(username), it is still locked.
    let locked_until = Utc::now() + chrono::Duration::minutes(30);
    rusqlite::Connection::open(&sqlite)
        .expect("sqlite")
        .execute(
            "INSERT INTO login_lockouts (username, failures, lockouts, locked_until, last_failure_at)
             VALUES ('Futian.LIU', 0, 1, ?1, ?2)",
            [
                jsjb_storage::time::to_db(locked_until),
                jsjb_storage::time::to_db(Utc::now()),
            ],
        )
        .expect("a lock-out");

    let db = Database::create("import").await;
    let run = |db: &Database| {
        server(
            db,
            dir.path(),
            free_port(),
            &["admin", "migrate-from-sqlite", "--from"],
        )
        .arg(&sqlite)
        .output()
        .expect("migrate-from-sqlite")
    };
    let out = run(&db);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("audit chain verified on PostgreSQL"),
        "{stdout}"
    );

    let pg = jsjb_storage_postgres::PgStore::open(&db.url)
        .await
        .expect("open PostgreSQL");
    assert_eq!(pg.units().await.expect("units"), units);
    assert_eq!(pg.users().await.expect("users"), users);
    assert_eq!(pg.latest_change_seq().await.expect("latest"), latest);
    assert_eq!(pg.audit_tip(None).await.expect("tip").0, tip);
    assert!(
        pg.login_lock("futian.liu", Utc::now())
            .await
            .expect("lock")
            .is_some(),
        "the lock-out carried over"
    );
    let moved = every_letter(&pg).await;
    assert_eq!(moved.len(), letters.len());
    for (a, b) in moved.iter().zip(&letters) {
        assert_eq!(a, b, "letter {} is the same on both sides", b.id.0);
    }
    // New rows continue after the copied ids: a new letter gets a new id and change.
    let created = pg
        .create_letter(
            jsjb_storage::NewLetter {
                tracking_code: "PGIMPORT0001".to_owned(),
                channel: jsjb_core::letter::Channel::Web,
                category: jsjb_core::letter::Category::Help,
                problem_tags: Vec::new(),
                subject: "迁移后的第一封信".to_owned(),
                body: "迁移后新来信".to_owned(),
                writer_name: "张三".to_owned(),
                writer_phone: "13800000000".to_owned(),
                writer_extra: json!({}),
                received_at: Utc::now(),
                unit: None,
                attachments: Vec::new(),
                idempotency: None,
            },
            jsjb_storage::Actor::cli(),
        )
        .await
        .expect("a new letter after the import");
    assert!(created.id.0 > letters.iter().map(|l| l.id.0).max().unwrap_or(0));
    assert!(created.change_seq > latest);
    drop(pg);

    // Only into an empty database.
    let again = run(&db);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a platform"));

    // A platform whose chain was tampered with in the middle (its last entry intact, so
    // the counts and the tip agree) is refused whole: nothing is committed.
    let tampered = dir.path().join("tampered.sqlite3");
    std::fs::copy(&sqlite, &tampered).expect("copy");
    let conn = rusqlite::Connection::open(&tampered).expect("sqlite");
    // The append-only trigger guards the table; whoever tampers drops it first.
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_log_append_only_u;
         UPDATE audit_log SET payload = replace(payload, '\"', '\" ') WHERE seq = 3;",
    )
    .expect("tamper");
    drop(conn);
    let clean = Database::create("import_tampered").await;
    let refused = server(
        &clean,
        dir.path(),
        free_port(),
        &["admin", "migrate-from-sqlite", "--from"],
    )
    .arg(&tampered)
    .output()
    .expect("migrate-from-sqlite");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("does not verify"), "{said}");
    let pg = jsjb_storage_postgres::PgStore::open(&clean.url)
        .await
        .expect("open PostgreSQL");
    assert!(
        pg.units().await.expect("units").is_empty(),
        "nothing was kept"
    );
}

/// Reads the event stream until a poke names a cursor above `above`; its cursor.
async fn next_poke_above(stream: &mut reqwest::Response, above: i64, within: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no poke above {above} within {within:?}: {text}"))
            .expect("stream")
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        for event in text.split("\n\n") {
            if let Some(data) = event
                .lines()
                .any(|l| l == "event: poke")
                .then(|| event.lines().find_map(|l| l.strip_prefix("data: ")))
                .flatten()
            {
                let cursor = serde_json::from_str::<Value>(data).expect("poke json")["cursor"]
                    .as_i64()
                    .expect("cursor");
                if cursor > above {
                    return cursor;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_poke_each_others_desktops() {
    let db = Database::create("nodes").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (port_a, port_b) = (free_port(), free_port());
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let _node_a = Running(
        server(
            &db,
            dir.path(),
            port_a,
            &["demo", "--days", "2", "--per-day", "10"],
        )
        .env("JSJB_DEMO_ARRIVAL_SECS", "0")
        .stdout(Stdio::null())
        .spawn()
        .expect("node A"),
    );
    wait_healthy(&a, Duration::from_secs(180)).await;
    let _node_b = Running(
        server(&db, dir.path(), port_b, &["serve"])
            .stdout(Stdio::null())
            .spawn()
            .expect("node B"),
    );
    wait_healthy(&b, Duration::from_secs(60)).await;

    // The city desk's desktop is connected to node B; another desk takes a letter on A.
    let on_b = login(&b, "shiju.li").await;
    let (before, cursor) = synced(&b, &on_b).await;
    let mut stream = reqwest::Client::new()
        .get(format!("{b}/api/v1/sync/stream?cursor={cursor}"))
        .bearer_auth(&on_b)
        .send()
        .await
        .expect("stream on B");
    assert_eq!(stream.status(), 200);
    let on_a = login(&a, "shiju.li").await;
    let res = reqwest::Client::new()
        .post(format!("{a}/api/v1/letters"))
        .bearer_auth(&on_a)
        .header("Idempotency-Key", "pg-two-nodes-1")
        .json(
            &json!({"category": "inquiry", "subject": "两个节点", "body": "在节点甲录入的来信",
                      "writer_name": "赵六", "writer_phone": "13612345678"}),
        )
        .send()
        .await
        .expect("intake on A");
    assert_eq!(res.status(), 201);
    let taken = res.json::<Value>().await.expect("receipt")["id"]
        .as_i64()
        .expect("id");

    let poked = next_poke_above(&mut stream, cursor, Duration::from_secs(10)).await;
    let (after, at) = synced(&b, &on_b).await;
    assert!(at >= poked);
    assert_eq!(after.len(), before.len() + 1);
    assert!(
        after.iter().any(|l| l.id.0 == taken),
        "B's desktop fetches A's letter"
    );
}

/// What a node caches from the database follows a change made on another node: a
/// station moved to another branch on node A is in that branch's scope on node B, so
/// B's desktop of the new branch is poked when the station's letters change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_moved_on_one_node_is_in_its_new_branch_on_the_other() {
    let db = Database::create("moved").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (port_a, port_b) = (free_port(), free_port());
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let _node_a = Running(
        server(
            &db,
            dir.path(),
            port_a,
            &["demo", "--days", "1", "--per-day", "4"],
        )
        .env("JSJB_DEMO_ARRIVAL_SECS", "3600")
        .stdout(Stdio::null())
        .spawn()
        .expect("node A"),
    );
    wait_healthy(&a, Duration::from_secs(180)).await;
    let _node_b = Running(
        server(&db, dir.path(), port_b, &["serve"])
            .stdout(Stdio::null())
            .spawn()
            .expect("node B"),
    );
    wait_healthy(&b, Duration::from_secs(60)).await;
    let client = reqwest::Client::new();

    // A station of 罗湖分局, about to be moved under 福田分局.
    let admin = login(&a, "admin").await;
    let units: Value = client
        .get(format!("{a}/api/v1/admin/units"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("units")
        .json()
        .await
        .expect("units json");
    let units = units["units"].as_array().expect("units").clone();
    let id_of = |name: &str| {
        units
            .iter()
            .find(|u| u["name"] == name)
            .and_then(|u| u["id"].as_i64())
            .unwrap_or_else(|| panic!("no unit {name}"))
    };
    let (futian, luohu) = (id_of("福田分局"), id_of("罗湖分局"));
    let station = units
        .iter()
        .find(|u| u["parent_id"] == luohu)
        .and_then(|u| u["id"].as_i64())
        .expect("a station of 罗湖分局");

    // 福田分局's desk is connected to node B (which learns the tree as it stands).
    let desk = login(&b, "futianfj.desk").await;
    let (_, cursor) = synced(&b, &desk).await;
    let mut stream = client
        .get(format!("{b}/api/v1/sync/stream?cursor={cursor}"))
        .bearer_auth(&desk)
        .send()
        .await
        .expect("stream on B");
    assert_eq!(stream.status(), 200);

    let res = client
        .post(format!("{a}/api/v1/admin/units/{station}/parent"))
        .bearer_auth(&admin)
        .json(&json!({"parent_id": futian, "reason": "辖区调整"}))
        .send()
        .await
        .expect("move on A");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    // Whatever the move itself pokes settles first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, cursor) = synced(&b, &desk).await;

    // The city desk takes a letter on A and sends it to the moved station.
    let city = login(&a, "shiju.li").await;
    let res = client
        .post(format!("{a}/api/v1/letters"))
        .bearer_auth(&city)
        .header("Idempotency-Key", "pg-moved-intake")
        .json(
            &json!({"category": "help", "subject": "辖区调整后", "body": "调整后第一封",
                      "writer_name": "赵六", "writer_phone": "13612345678"}),
        )
        .send()
        .await
        .expect("intake on A");
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.expect("receipt");
    let (id, version) = (
        receipt["id"].as_i64().expect("id"),
        receipt["version"].as_i64().unwrap_or(1),
    );
    let res = client
        .post(format!("{a}/api/v1/letters/{id}/actions"))
        .bearer_auth(&city)
        .header("Idempotency-Key", "pg-moved-dispatch")
        .json(
            &json!({"expected_version": version, "action": {"action": "dispatch", "to": station}}),
        )
        .send()
        .await
        .expect("dispatch on A");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);

    let poked = next_poke_above(&mut stream, cursor, Duration::from_secs(10)).await;
    let (letters, at) = synced(&b, &desk).await;
    assert!(at >= poked);
    assert!(
        letters
            .iter()
            .any(|l| l.id.0 == id && l.unit_id == UnitId(station)),
        "福田分局's desk on B sees the letter at the station moved to it on A"
    );
}
