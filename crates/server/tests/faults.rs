//! Faults and hostile clients against a real server: a panicking write job, a dead
//! writer, clients that stall in the headers or the body, a letter whose history is
//! full, and the pruning of idempotency answers.

mod support;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use jsjb_server::blobs::BlobStore;
use jsjb_server::time::ManualTime;
use jsjb_server::{AppState, Config};
use jsjb_storage::{Storage, StorageError};
use jsjb_storage_sqlite::{Db, SqliteStore};
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection or `within` passes. Returns what was
/// read, and whether the connection was closed (EOF or reset) in time.
async fn read_until_closed(stream: &mut TcpStream, within: StdDuration) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn status_line(response: &[u8]) -> String {
    String::from_utf8_lossy(response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_panicking_write_job_is_rolled_back_alone_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite3")).expect("open"));
    store
        .write(|c| {
            c.execute_batch("CREATE TABLE probe (x INTEGER NOT NULL)")
                .db()
        })
        .await
        .expect("create");

    // Jobs queued together go into one group: the panicking one among them must not
    // take the others' commit (or the thread) with it.
    let mut jobs = tokio::task::JoinSet::new();
    for i in 0..20_i64 {
        let store = Arc::clone(&store);
        jobs.spawn(async move {
            let result = store
                .write(move |c| {
                    c.execute("INSERT INTO probe (x) VALUES (?1)", [i]).db()?;
                    if i == 7 {
                        panic!("a bug inside a write job");
                    }
                    Ok(())
                })
                .await;
            (i, result)
        });
    }
    while let Some(joined) = jobs.join_next().await {
        let (i, result) = joined.expect("task");
        if i == 7 {
            assert!(
                matches!(result, Err(StorageError::Commit(ref why)) if why.contains("panicked")),
                "{result:?}"
            );
        } else {
            assert!(result.is_ok(), "job {i}: {result:?}");
        }
    }

    // The writer is still there, and the panicking job left nothing behind.
    store
        .write(|c| c.execute("INSERT INTO probe (x) VALUES (100)", []).db())
        .await
        .expect("a later write");
    let rows: Vec<i64> = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT x FROM probe ORDER BY x").db()?;
            let rows = stmt.query_map([], |r| r.get(0)).db()?;
            rows.collect::<Result<_, _>>().db()
        })
        .await
        .expect("read");
    let mut expected: Vec<i64> = (0..20).filter(|i| *i != 7).collect();
    expected.push(100);
    assert_eq!(rows, expected);
    assert!(store.accepting_writes());
}

#[tokio::test]
async fn healthz_answers_503_once_the_writer_is_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(dir.path().join("db.sqlite3"), dir.path().join("blobs"));
    config.argon2_memory_kib = 256;
    let store = Arc::new(SqliteStore::open(&config.db).expect("open"));
    let blobs = BlobStore::open(&config.blob_dir).expect("blobs");
    let witness =
        jsjb_server::witness::Witness::load_or_create(&config.audit_key_path()).expect("audit key");
    let state = AppState::new(
        store.clone(),
        blobs,
        config,
        Arc::new(ManualTime::new(Utc::now())),
        Arc::new(witness),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(jsjb_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/healthz");

    let ok = client.get(&url).send().await.expect("healthz");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.expect("json")["status"], "ok");

    store.stop_writer();
    // Reads still work, so only the writer's own liveness can tell.
    let deadline = Instant::now() + StdDuration::from_secs(5);
    loop {
        let res = client.get(&url).send().await.expect("healthz");
        if res.status() == 503 {
            let body = problem(res, 503, "unhealthy").await;
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("writer"))
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "healthz still says {}",
            res.status()
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn a_client_stalling_in_its_headers_is_cut_and_so_is_an_idle_connection() {
    let s = TestServer::start_with(|c| c.limits.header_timeout_secs = 1).await;

    let started = Instant::now();
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let (_, closed) = read_until_closed(&mut stream, StdDuration::from_secs(5)).await;
    assert!(closed, "the half-sent request is still held open");
    assert!(started.elapsed() < StdDuration::from_secs(4));

    // A kept-alive connection that sends nothing more is closed after the same time.
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (response, closed) = read_until_closed(&mut stream, StdDuration::from_secs(5)).await;
    assert!(status_line(&response).contains(" 200 "), "{response:?}");
    assert!(closed, "the idle keep-alive connection is still open");

    // The server still serves everyone else.
    assert_eq!(s.get("/healthz", None).await.status(), 200);
}

#[tokio::test]
async fn a_stalled_upload_is_answered_408_and_holds_nothing() {
    let s = TestServer::start_with(|c| {
        c.limits.body_idle_timeout_secs = 1;
        c.limits.request_timeout_secs = 60;
    })
    .await;

    // The citizen intake: headers and the start of a multipart body, then silence.
    let boundary = "XyZzY";
    // A verified writer (the ticket is checked before the body is read).
    let ticket = s.public_ticket("13812345678").await;
    let head = format!(
        "POST /api/v1/public/letters HTTP/1.1\r\nHost: x\r\nX-Jsjb-Ticket: {ticket}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 200000\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\n"
    );
    let started = Instant::now();
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(PNG_1X1).await.expect("write");
    let (response, closed) = read_until_closed(&mut stream, StdDuration::from_secs(6)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(status_line(&response).contains(" 408 "), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(closed, "the stalled upload's connection is still open");
    assert!(started.elapsed() < StdDuration::from_secs(5));

    // A JSON route the same way.
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\": \"adm",
        )
        .await
        .expect("write");
    let (response, _) = read_until_closed(&mut stream, StdDuration::from_secs(6)).await;
    assert!(status_line(&response).contains(" 408 "), "{response:?}");

    // Nothing was stored and the writer is free: a whole letter goes through at once.
    let letters: i64 = s
        .raw_db()
        .query_row("SELECT count(*) FROM letters", [], |r| r.get(0))
        .expect("count");
    assert_eq!(letters, 0);
    let res = s.post_public_letter(&letter_json(), vec![]).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_dropped() {
    let s = TestServer::start_with(|c| c.limits.write_timeout_secs = 1).await;
    // A letter with a 9 MB attachment (a PNG header is all the sniffing needs).
    const SIZE: usize = 9 * 1024 * 1024;
    let mut image = PNG_1X1.to_vec();
    image.resize(SIZE, 0);
    let res = s
        .post_public_letter(&letter_json(), vec![("big.png", image)])
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let sha: String = s
        .raw_db()
        .query_row("SELECT sha256 FROM attachments", [], |r| r.get(0))
        .expect("attachment");
    let admin = s.admin_token().await;

    // Ask for it through a tiny receive window, then read nothing for a while: more
    // than the kernel buffers hold stays unsent, and the server's write stalls.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut stream = socket.connect(s.addr).await.expect("connect");
    stream
        .write_all(
            format!(
                "GET /api/v1/attachments/{sha} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    tokio::time::sleep(StdDuration::from_secs(4)).await;
    let (response, closed) = read_until_closed(&mut stream, StdDuration::from_secs(10)).await;
    assert!(status_line(&response).contains(" 200 "));
    assert!(closed, "the connection was kept");
    assert!(
        response.len() < SIZE,
        "the whole response ({} bytes) waited for the client",
        response.len()
    );
}

#[tokio::test]
async fn a_dripping_request_is_bounded_in_total_but_a_stream_is_not() {
    let s = TestServer::start_with(|c| {
        c.limits.body_idle_timeout_secs = 30;
        c.limits.request_timeout_secs = 1;
    })
    .await;

    // One byte every 200 ms never trips the idle limit; the total limit ends it.
    let started = Instant::now();
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n",
        )
        .await
        .expect("write");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < StdDuration::from_secs(5) {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        match tokio::time::timeout(StdDuration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => response.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if !response.is_empty() {
            break;
        }
    }
    assert!(status_line(&response).contains(" 408 "), "{response:?}");
    assert!(started.elapsed() < StdDuration::from_secs(4));

    // The SSE stream outlives the request timeout: it is bounded only to its head.
    let admin = s.admin_token().await;
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    stream
        .write_all(
            format!(
                "GET /api/v1/sync/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let (response, closed) = read_until_closed(&mut stream, StdDuration::from_secs(3)).await;
    assert!(status_line(&response).contains(" 200 "), "{response:?}");
    assert!(String::from_utf8_lossy(&response).contains("text/event-stream"));
    assert!(!closed, "the stream was cut by the request timeout");
}

/// A city desk (the admin), a branch with its desk, a station, and one letter at the
/// city bureau.
struct Desks {
    s: TestServer,
    city_desk: String,
    branch_desk: String,
    branch: i64,
    station: i64,
    letter: i64,
}

async fn desks(s: TestServer) -> Desks {
    let admin = s.admin_token().await;
    let branch = s.unit(&admin, s.city, "branch", "福田分局").await;
    let station = s.unit(&admin, branch, "station", "福田派出所").await;
    s.user(&admin, branch, "branch.desk", &["dispatcher"]).await;
    let branch_desk = s.token("branch.desk", PASSWORD).await;
    let res = s.post_public_letter(&letter_json(), vec![]).await;
    assert_eq!(res.status(), 201);
    let letter: i64 = s
        .raw_db()
        .query_row("SELECT id FROM letters", [], |r| r.get(0))
        .expect("letter");
    Desks {
        s,
        city_desk: admin,
        branch_desk,
        branch,
        station,
        letter,
    }
}

impl Desks {
    async fn dispatch(&self, token: &str, key: &str, version: i64, to: i64) -> reqwest::Response {
        self.s
            .client
            .post(
                self.s
                    .url(&format!("/api/v1/letters/{}/actions", self.letter)),
            )
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"expected_version": version,
                          "action": {"action": "dispatch", "to": to, "note": "转办"}}))
            .send()
            .await
            .expect("action")
    }

    fn events(&self) -> i64 {
        self.s
            .raw_db()
            .query_row(
                "SELECT count(*) FROM letter_events WHERE letter_id = ?1",
                [self.letter],
                |r| r.get(0),
            )
            .expect("count")
    }
}

#[tokio::test]
async fn a_letter_with_a_full_history_refuses_further_actions() {
    let d = desks(TestServer::start().await).await;
    let first = d.dispatch(&d.city_desk, "key-first", 1, d.branch).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");

    // A history grown to the cap (as a runaway client would have made it, action by
    // action): copies of the letter's dispatch, and the version that goes with them.
    let cap = jsjb_storage::MAX_EVENTS_PER_LETTER;
    {
        let db = d.s.raw_db();
        db.execute_batch("BEGIN").expect("begin");
        for seq in 3..=cap {
            db.execute(
                "INSERT INTO letter_events (letter_id, seq, at, actor_user_id, actor_unit_id,
                     actor_role, actor, workstation, kind, payload)
                 SELECT letter_id, ?2, at, actor_user_id, actor_unit_id, actor_role, actor,
                     workstation, kind, payload
                 FROM letter_events WHERE letter_id = ?1 AND seq = 2",
                [d.letter, seq],
            )
            .expect("event");
        }
        db.execute(
            "UPDATE letters SET version = ?2 WHERE id = ?1",
            [d.letter, cap],
        )
        .expect("version");
        db.execute_batch("COMMIT").expect("commit");
    }
    assert_eq!(d.events(), cap);

    // The branch desk's dispatch would be accepted on any other letter.
    let refused = d.dispatch(&d.branch_desk, "key-over", cap, d.station).await;
    let body = problem(refused, 422, "letter_history_full").await;
    assert!(body["detail"].as_str().is_some_and(|t| t.contains("500")));
    assert_eq!(d.events(), cap);
    // Its retry gets the same refusal; an earlier action's retry still replays.
    problem(
        d.dispatch(&d.branch_desk, "key-over", cap, d.station).await,
        422,
        "letter_history_full",
    )
    .await;
    let replay = d.dispatch(&d.city_desk, "key-first", 1, d.branch).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.expect("json"), first);
    assert_eq!(d.events(), cap);
}

#[tokio::test]
async fn idempotency_answers_are_forgotten_after_the_retention_and_beyond_the_cap() {
    let d = desks(
        TestServer::start_with(|c| {
            c.limits.maintenance_interval_secs = 1;
            c.limits.idempotency_retention_days = 7;
            c.limits.idempotency_per_user = 100;
            // The sessions must outlive the eight days the test moves the clock.
            c.session_ttl_minutes = 30 * 24 * 60;
            c.session_idle_minutes = 30 * 24 * 60;
        })
        .await,
    )
    .await;
    let keys = |s: &TestServer| -> Vec<String> {
        let db = s.raw_db();
        let mut stmt = db
            .prepare("SELECT key FROM idempotency_keys WHERE key LIKE 'key-%' ORDER BY key")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };

    let old = d.dispatch(&d.city_desk, "key-old", 1, d.branch).await;
    assert_eq!(old.status(), 200);
    d.s.advance(Duration::days(8));
    let recent = d.dispatch(&d.branch_desk, "key-recent", 2, d.station).await;
    assert_eq!(recent.status(), 200);
    let recent: Value = recent.json().await.expect("json");

    // The old answer goes with the next maintenance run; the recent one stays.
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while keys(&d.s) != ["key-recent"] {
        assert!(Instant::now() < deadline, "still kept: {:?}", keys(&d.s));
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    // A retry within the retention still replays its first answer…
    let replay = d.dispatch(&d.branch_desk, "key-recent", 2, d.station).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.expect("json"), recent);
    // …and one after it is not applied twice: the version it was based on is gone.
    problem(
        d.dispatch(&d.city_desk, "key-old", 1, d.branch).await,
        409,
        "stale_version",
    )
    .await;
    assert_eq!(d.events(), 3);

    // A user with more answers than the cap keeps only the newest: the 409 just
    // remembered under `key-old`, and the flood's newest 99.
    let user: i64 =
        d.s.raw_db()
            .query_row("SELECT id FROM users WHERE username = 'admin'", [], |r| {
                r.get(0)
            })
            .expect("user");
    {
        let db = d.s.raw_db();
        let now = d.s.state.time.now();
        db.execute_batch("BEGIN").expect("begin");
        for i in 0..150 {
            let at = jsjb_storage::time::to_db(now - Duration::minutes(150 - i));
            db.execute(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status,
                     response_body, created_at) VALUES (?1, ?2, 'h', 200, '{}', ?3)",
                rusqlite::params![user, format!("flood-{i:03}"), at],
            )
            .expect("insert");
        }
        db.execute_batch("COMMIT").expect("commit");
    }
    let deadline = Instant::now() + StdDuration::from_secs(10);
    loop {
        let (total, flood, oldest_flood): (i64, i64, Option<String>) =
            d.s.raw_db()
                .query_row(
                    "SELECT count(*), count(*) FILTER (WHERE key LIKE 'flood-%'),
                        min(key) FILTER (WHERE key LIKE 'flood-%')
                 FROM idempotency_keys WHERE user_id = ?1",
                    [user],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .expect("count");
        if total == 100 {
            assert_eq!(flood, 99);
            assert_eq!(oldest_flood.as_deref(), Some("flood-051"));
            assert_eq!(keys(&d.s), ["key-old", "key-recent"]);
            break;
        }
        assert!(Instant::now() < deadline, "{total} answers kept");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}
