//! Failover with nothing lost (issue 16 item 5): two server nodes (the real binary) on
//! one PostgreSQL behind nginx, twenty desktops running the real sync engine and cache
//! through it, a desk typing in letters and citizens writing in through the portal's API
//! (SMS code, ticket, letter) all the while. One node is killed with
//! SIGKILL and started again mid-push; later PostgreSQL itself is restarted mid-push.
//! After each: every acknowledged letter (desk's or citizen's) is there exactly once, every queued action was
//! applied exactly once, every desktop's cache equals what the server says its user
//! sees, and the audit chain verifies.
//!
//! Needs `JSJB_TEST_POSTGRES` and, for the restart, `JSJB_TEST_POSTGRES_CTL` (the cluster's
//! `pg_ctl -D …`), which `cargo xtask test` sets; and nginx (setup installs it).

mod pg_support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use jsjb_core::letter::LetterId;
use jsjb_core::letter::{ContactMethod, ContactOutcome};
use jsjb_core::org::{Role, Tier};
use jsjb_core::workflow::{Action, Actor as DeskActor};
use jsjb_proto::{LetterRecord, LoginRequest};
use jsjb_server::admin::{self, CreateUnitRequest, CreateUserRequest};
use jsjb_server::time::SystemTime;
use jsjb_storage::Actor;
use jsjb_store::{ActionContext, InboxQuery, Store, StoreHandle};
use jsjb_sync::{ClientConfig, ServerClient, SyncConfig, SyncEngine, SyncHandle, SystemClock};
use pg_support::{Database, Running, Stopping, free_port, server, wait_healthy};
use serde_json::{Value, json};

const PASSWORD: &str = "failover-password-1";
const STATIONS: usize = 10;
const OFFICERS_PER_STATION: usize = 2;
/// Contacts each desktop records on each of its letters, per phase.
const CONTACTS: usize = 6;

fn nginx_binary() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nginx"))
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|p| p.is_file())
        .expect("nginx (cargo xtask setup installs it)")
}

/// nginx balancing `nodes` round-robin on `port`: a node that refuses connections is
/// skipped for the next (idempotent requests are retried there; the desktops and the
/// desk retry the rest under their idempotency keys), the event stream unbuffered.
fn start_nginx(dir: &Path, port: u16, nodes: &[u16]) -> Stopping {
    let temp = dir.join("nginx-temp");
    std::fs::create_dir_all(&temp).expect("temp");
    // Run as root (a container), nginx's worker is `nobody`: it must reach its paths.
    for d in [dir, temp.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("mode");
    }
    let upstream: String = nodes
        .iter()
        .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    let p = |name: &str| dir.join(name).display().to_string();
    let conf = format!(
        "daemon off;\nworker_processes 1;\npid {pid};\nerror_log {err} info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  proxy_temp_path {t}/proxy;\n  \
         fastcgi_temp_path {t}/fastcgi;\n  uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n  \
         upstream jsjb_nodes {{\n{upstream}  }}\n  \
         server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 1m;\n    \
         location /api/v1/sync/stream {{\n      proxy_pass http://jsjb_nodes;\n      \
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      \
         proxy_buffering off;\n      proxy_read_timeout 1h;\n    }}\n    \
         location / {{\n      proxy_pass http://jsjb_nodes;\n      proxy_http_version 1.1;\n      \
         proxy_set_header Connection \"\";\n      proxy_next_upstream error timeout;\n      \
         proxy_connect_timeout 2s;\n    }}\n  }}\n}}\n",
        pid = p("nginx.pid"),
        err = p("nginx-error.log"),
        t = temp.display(),
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start nginx");
    Stopping(child)
}

fn node(db: &Database, dir: &Path, port: u16) -> Running {
    // Appended: a restarted node keeps its predecessor's lines (the SMS codes in them).
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("node-{port}.log")))
        .expect("log");
    Running(
        server(db, dir, port, &["serve"])
            .env("JSJB_LOGIN_IP_LIMIT", "10000")
            // The log SMS sender writes each code here (no gateway in a test).
            .env("RUST_LOG", "warn,jsjb::sms=info")
            // Every citizen comes through nginx's one address.
            .env("JSJB_RATE_IP_BURST", "100000")
            .env("JSJB_RATE_IP_PER_MINUTE", "100000")
            // A code asked for again after a lost answer counts for the phone too.
            .env("JSJB_RATE_PHONE_BURST", "1000")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a node"),
    )
}

/// The code the log SMS sender sent to `phone`, from any node's log in `dir`.
fn code_sent_to(dir: &Path, phone: &str) -> Option<String> {
    let masked = format!("{}****{}", &phone[..3], &phone[phone.len() - 4..]);
    let mut found = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("node-") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains(&masked)) {
            if let Some(at) = line.find("验证码是 ") {
                found = Some(line[at + "验证码是 ".len()..].chars().take(6).collect());
            }
        }
    }
    found
}

/// A citizen's whole way in through nginx: a code by SMS, the ticket, the letter. Each
/// step is repeated until it is answered (a node may be dying under it); the tracking
/// code once the letter is acknowledged (`201`), or `None` when the ticket turned out
/// used by an attempt whose answer was lost (the letter may then be in, unacknowledged).
async fn citizen_letter(base: &str, dir: &Path, phone: &str) -> Option<String> {
    let http = reqwest::Client::new();
    let send = |path: &'static str, body: Value| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            loop {
                if let Ok(res) = http.post(&url).json(&body).send().await
                    && res.status().as_u16() < 500
                {
                    let status = res.status().as_u16();
                    return (status, res.json::<Value>().await.unwrap_or(Value::Null));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let ticket = 'verified: loop {
        let (status, body) = send(
            "/api/v1/public/verification",
            json!({"phone": phone, "consent": true}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        for _ in 0..50 {
            if let Some(code) = code_sent_to(dir, phone) {
                let (status, body) = send(
                    "/api/v1/public/verification/code",
                    json!({"phone": phone, "code": code}),
                )
                .await;
                if status == 200 {
                    break 'verified body["ticket"].as_str().expect("ticket").to_owned();
                }
                // The code in the log is an older one, or was used by a lost answer.
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let letter = json!({"category": "help", "problem_tags": [], "subject": format!("网上来信 {phone}"),
                        "body": "小区门口路灯坏了，晚上很黑。", "writer_name": "李四"});
    loop {
        let res = http
            .post(format!("{base}/api/v1/public/letters"))
            .header("x-jsjb-ticket", &ticket)
            .multipart(reqwest::multipart::Form::new().text("letter", letter.to_string()))
            .send()
            .await;
        match res {
            Ok(res) if res.status() == 201 => {
                let body: Value = res.json().await.expect("receipt");
                return Some(body["tracking_code"].as_str().expect("code").to_owned());
            }
            Ok(res) if res.status().as_u16() < 500 => return None,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Citizens writing in one after another until told to stop; the tracking codes of
/// the letters acknowledged.
fn keep_writing_in(
    base: String,
    dir: PathBuf,
    phase: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let phone = format!("139{phase:04}{n:04}");
            if let Some(code) = citizen_letter(&base, &dir, &phone).await {
                acknowledged.push(code);
            }
            n += 1;
        }
        acknowledged
    })
}

struct Org {
    branches: Vec<i64>,
    stations: Vec<i64>,
}

/// The city, two branches, ten stations with two officers each, and the desks.
async fn seed(db: &Database, dir: &Path) -> Org {
    let mut config = jsjb_server::Config::new(db.url.clone().into(), dir.join("blobs"));
    config.audit_key = Some(dir.join("audit-key.pem"));
    config.argon2_memory_kib = 256;
    let state = jsjb_server::open_async(config, Arc::new(SystemTime))
        .await
        .expect("open on PostgreSQL");
    let (store, time) = (state.store.as_ref(), state.time.as_ref());
    let unit = |parent: Option<i64>, tier: Tier, name: String| CreateUnitRequest {
        parent_id: parent,
        tier,
        name,
    };
    let user = |unit_id: i64, username: String, roles: Vec<Role>| CreateUserRequest {
        unit_id,
        display_name: username.clone(),
        username,
        roles,
        password: PASSWORD.to_owned(),
    };
    let city = admin::create_unit(
        store,
        time,
        unit(None, Tier::City, "深圳市公安局".into()),
        Actor::cli(),
    )
    .await
    .expect("city")
    .id;
    admin::create_user(
        store,
        &state.config,
        time,
        user(city, "city.desk".into(), vec![Role::Dispatcher]),
        Actor::cli(),
    )
    .await
    .expect("city desk");
    let mut org = Org {
        branches: Vec::new(),
        stations: Vec::new(),
    };
    for b in 0..2 {
        let branch = admin::create_unit(
            store,
            time,
            unit(Some(city), Tier::Branch, format!("分局{b}")),
            Actor::cli(),
        )
        .await
        .expect("branch")
        .id;
        admin::create_user(
            store,
            &state.config,
            time,
            user(branch, format!("branch{b}.desk"), vec![Role::Dispatcher]),
            Actor::cli(),
        )
        .await
        .expect("branch desk");
        org.branches.push(branch);
    }
    for s in 0..STATIONS {
        let branch = org.branches[s % 2];
        let station = admin::create_unit(
            store,
            time,
            unit(Some(branch), Tier::Station, format!("派出所{s}")),
            Actor::cli(),
        )
        .await
        .expect("station")
        .id;
        for o in 0..OFFICERS_PER_STATION {
            admin::create_user(
                store,
                &state.config,
                time,
                user(station, officer_name(s, o), vec![Role::Officer]),
                Actor::cli(),
            )
            .await
            .expect("officer");
        }
        org.stations.push(station);
    }
    org
}

fn officer_name(station: usize, n: usize) -> String {
    format!("officer{station}-{n}")
}

/// A desk working through the HTTP API (through nginx): every request retried under the
/// same idempotency key until it is answered, as the app does.
struct Desk {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Desk {
    async fn login(base: &str, username: &str) -> Desk {
        let http = reqwest::Client::new();
        let token = loop {
            let res = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"username": username, "password": PASSWORD}))
                .send()
                .await;
            if let Ok(res) = res
                && res.status() == 200
            {
                break res.json::<Value>().await.expect("json")["token"]
                    .as_str()
                    .expect("token")
                    .to_owned();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Desk {
            http,
            base: base.to_owned(),
            token,
        }
    }

    /// POSTs `body` under `key` until a final answer (not a connection error or 5xx).
    async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        for _ in 0..300 {
            let res = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
                .await;
            if let Ok(res) = res
                && res.status().as_u16() < 500
            {
                let status = res.status().as_u16();
                return (status, res.json().await.unwrap_or(Value::Null));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} was never answered");
    }

    async fn get(&self, path: &str) -> Value {
        for _ in 0..300 {
            if let Ok(res) = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                && res.status() == 200
            {
                return res.json().await.expect("json");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("GET {path} was never answered");
    }

    /// Types in a letter by phone; its id.
    async fn intake(&self, key: &str) -> i64 {
        let (status, body) = self
            .post(
                "/api/v1/letters",
                key,
                &json!({"category": "help", "subject": format!("来电 {key}"),
                        "body": "来电反映夜间施工噪音，请处理。", "writer_name": "张三",
                        "writer_phone": "13812345678"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().expect("id")
    }

    async fn dispatch(&self, id: i64, to: i64) {
        let version = self.get(&format!("/api/v1/letters/{id}")).await["version"]
            .as_i64()
            .expect("version");
        let (status, body) = self
            .post(
                &format!("/api/v1/letters/{id}/actions"),
                &format!("dispatch-{id}-{to}"),
                &json!({"expected_version": version, "action": {"action": "dispatch", "to": to}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Every letter the desk's scope holds, by paging the sync.
    async fn all_letters(&self) -> Vec<LetterRecord> {
        let (mut cursor, mut out) = (0, BTreeMap::new());
        loop {
            let page: jsjb_proto::SyncPage = serde_json::from_value(
                self.get(&format!("/api/v1/sync?cursor={cursor}&limit=500"))
                    .await,
            )
            .expect("page");
            for change in page.changes {
                match change {
                    jsjb_proto::Change::Letter { letter } => {
                        out.insert(letter.id, *letter);
                    }
                    jsjb_proto::Change::Removed { letter_id } => {
                        out.remove(&letter_id);
                    }
                }
            }
            cursor = page.next_cursor;
            if !page.has_more {
                return out.into_values().collect();
            }
        }
    }
}

/// A workstation: the real cache and the real sync engine, talking to nginx.
struct Workstation {
    name: String,
    store: StoreHandle,
    handle: SyncHandle,
}

impl Workstation {
    async fn start(base: &str, name: &str, path: PathBuf) -> Workstation {
        let client = ServerClient::new(base, ClientConfig::default()).expect("client");
        let login = loop {
            match client
                .login(&LoginRequest {
                    username: name.to_owned(),
                    password: PASSWORD.to_owned(),
                    workstation: Some(format!("{name}-ws")),
                })
                .await
            {
                Ok(login) => break login,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let store = StoreHandle::spawn(Store::open(&path).expect("cache")).expect("store");
        let config = SyncConfig {
            page_limit: 100,
            poll_interval: Duration::from_millis(500),
            safety_interval: Duration::from_secs(5),
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_millis(500),
            stream_idle_timeout: Duration::from_secs(20),
        };
        let (engine, handle) = SyncEngine::new(
            client.with_token(login.token),
            store.clone(),
            Arc::new(SystemClock),
            config,
        )
        .await
        .expect("engine");
        engine.spawn();
        Workstation {
            name: name.to_owned(),
            store,
            handle,
        }
    }

    async fn has(&self, id: i64) -> bool {
        self.store
            .call(move |s| s.letter(LetterId(id)))
            .await
            .expect("store")
            .expect("read")
            .is_some()
    }

    /// Queues `action` as the officer would, at the cached version.
    async fn enqueue(&self, id: i64, action: Action) {
        let now = self.handle.server_now();
        self.store
            .call(move |s| {
                let me = s.me().cloned().expect("signed in");
                let version = s
                    .inbox(&InboxQuery::default(), now)
                    .expect("inbox")
                    .rows
                    .into_iter()
                    .find(|r| r.id == LetterId(id))
                    .expect("cached")
                    .version;
                let ctx = ActionContext {
                    actor: DeskActor {
                        user: me.user_id,
                        unit: me.unit_id,
                        roles: me.roles.clone(),
                    },
                    workstation: Some("failover-ws".into()),
                    now,
                };
                s.enqueue_action(LetterId(id), version, &action, &ctx)
            })
            .await
            .expect("store")
            .expect("enqueue");
    }

    /// Actions still in the cache's outbox (the cache's own word, not the status's).
    async fn pending(&self) -> usize {
        self.store
            .call(|s| s.pending_actions())
            .await
            .expect("store")
            .expect("pending")
            .len()
    }

    async fn letters(&self) -> Vec<LetterRecord> {
        self.store
            .call(|s| {
                let ids: Vec<i64> = s
                    .connection()
                    .prepare("SELECT id FROM letters ORDER BY id")
                    .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
                    .expect("ids");
                ids.into_iter()
                    .map(|id| s.letter(LetterId(id)).expect("read").expect("cached"))
                    .collect()
            })
            .await
            .expect("store")
    }
}

fn contact(phase: usize, n: usize) -> Action {
    Action::RecordContact {
        method: ContactMethod::Phone,
        outcome: ContactOutcome::Reached,
        contacted_at: Utc::now(),
        note: format!("第{phase}轮第{n}次联系"),
        callback_at: None,
    }
}

async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not within {secs} s: {what}");
}

/// Counts in the database itself.
async fn count(db: &Database, sql: &str) -> i64 {
    for _ in 0..100 {
        if let Ok((client, conn)) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            if let Ok(row) = client.query_one(sql, &[]).await {
                return row.get(0);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("cannot count: {sql}");
}

/// A desk typing in letters until told to stop; the ids acknowledged, by key.
fn keep_typing(
    desk: Arc<Desk>,
    tag: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeMap<String, i64>> {
    tokio::spawn(async move {
        let mut taken = BTreeMap::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("{tag}-{n}");
            let id = desk.intake(&key).await;
            taken.insert(key, id);
            n += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        taken
    })
}

/// One phase: each officer records [`CONTACTS`] contacts on each of their letters through
/// their desktop while the desk types in letters, and `fault` strikes once the push is
/// under way; then everything is checked.
#[allow(clippy::too_many_arguments)]
async fn phase(
    phase_no: usize,
    base: &str,
    dir: &Path,
    db: &Database,
    desks: &[Workstation],
    mine: &BTreeMap<String, Vec<i64>>,
    city: &Arc<Desk>,
    viewers: &BTreeMap<String, Desk>,
    fault: impl std::future::Future<Output = ()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let typing = keep_typing(
        Arc::clone(city),
        if phase_no == 1 { "p1" } else { "p2" },
        Arc::clone(&stop),
    );
    let writing = keep_writing_in(base.to_owned(), dir.to_owned(), phase_no, Arc::clone(&stop));
    for desk in desks {
        for &id in &mine[&desk.name] {
            for n in 0..CONTACTS {
                desk.enqueue(id, contact(phase_no, n)).await;
            }
        }
    }
    let expected = (phase_no * CONTACTS) as i64
        * desks
            .iter()
            .map(|d| mine[&d.name].len() as i64)
            .sum::<i64>();
    let started = count(
        db,
        "SELECT count(*) FROM letter_events WHERE kind = 'contact_recorded'",
    )
    .await;
    eventually(60, "the push is under way", || async {
        count(
            db,
            "SELECT count(*) FROM letter_events WHERE kind = 'contact_recorded'",
        )
        .await
            >= started + 20
    })
    .await;
    let at_fault = count(
        db,
        "SELECT count(*) FROM letter_events WHERE kind = 'contact_recorded'",
    )
    .await;
    fault.await;
    eprintln!("phase {phase_no}: the fault struck at {at_fault} of {expected} contacts");
    assert!(
        at_fault < expected,
        "the fault struck in the middle of the push"
    );
    eventually(120, "every outbox drains", || async {
        for d in desks {
            if d.pending().await > 0 {
                return false;
            }
        }
        true
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let typed = typing.await.expect("typing");
    let written = writing.await.expect("citizens");
    assert!(!written.is_empty(), "citizens wrote in during the phase");
    // Every letter a citizen was told was received is there, once.
    for code in &written {
        assert_eq!(
            count(
                db,
                &format!("SELECT count(*) FROM letters WHERE tracking_code = '{code}'")
            )
            .await,
            1,
            "{code}"
        );
    }
    eprintln!(
        "phase {phase_no}: {} desk letters and {} citizens' letters acknowledged",
        typed.len(),
        written.len()
    );
    for desk in desks {
        assert_eq!(desk.handle.status().failed_actions, 0, "{}", desk.name);
    }
    // Every queued action once: the contacts are distinct by their note.
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM letter_events WHERE kind = 'contact_recorded'"
        )
        .await,
        expected
    );
    assert_eq!(
        count(db, "SELECT count(DISTINCT (letter_id, payload::jsonb ->> 'note')) FROM letter_events WHERE kind = 'contact_recorded'").await,
        expected,
        "no contact twice"
    );
    // Every acknowledged letter once.
    let ids: BTreeSet<i64> = typed.values().copied().collect();
    assert_eq!(ids.len(), typed.len(), "one letter per key");
    let tag = if phase_no == 1 {
        "来电 p1-%"
    } else {
        "来电 p2-%"
    };
    assert_eq!(
        count(
            db,
            &format!("SELECT count(*) FROM letters WHERE subject LIKE '{tag}'")
        )
        .await,
        typed.len() as i64,
        "each acknowledged letter is there exactly once"
    );
    // Every desktop's cache is what the server says its user sees.
    for desk in desks {
        let viewer = &viewers[&desk.name];
        eventually(60, &format!("{} converges", desk.name), || async {
            desk.letters().await == viewer.all_letters().await
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_behind_nginx_lose_nothing_when_a_node_or_postgres_dies() {
    let db = Database::create("failover").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let org = seed(&db, dir.path()).await;
    let (port_a, port_b, port_lb) = (free_port(), free_port(), free_port());
    let mut node_a = Some(node(&db, dir.path(), port_a));
    let _node_b = node(&db, dir.path(), port_b);
    wait_healthy(
        &format!("http://127.0.0.1:{port_a}"),
        Duration::from_secs(60),
    )
    .await;
    wait_healthy(
        &format!("http://127.0.0.1:{port_b}"),
        Duration::from_secs(60),
    )
    .await;
    let _nginx = start_nginx(dir.path(), port_lb, &[port_a, port_b]);
    let base = format!("http://127.0.0.1:{port_lb}");
    wait_healthy(&base, Duration::from_secs(30)).await;

    // Two letters for each officer, sent down to their station.
    let city = Arc::new(Desk::login(&base, "city.desk").await);
    let branch_desks = [
        Desk::login(&base, "branch0.desk").await,
        Desk::login(&base, "branch1.desk").await,
    ];
    let mut mine: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for s in 0..STATIONS {
        for o in 0..OFFICERS_PER_STATION {
            for k in 0..2 {
                let id = city.intake(&format!("setup-{s}-{o}-{k}")).await;
                city.dispatch(id, org.branches[s % 2]).await;
                branch_desks[s % 2].dispatch(id, org.stations[s]).await;
                mine.entry(officer_name(s, o)).or_default().push(id);
            }
        }
    }

    // Twenty desktops through nginx; each signs for its letters.
    let mut desks = Vec::new();
    let mut viewers = BTreeMap::new();
    for s in 0..STATIONS {
        for o in 0..OFFICERS_PER_STATION {
            let name = officer_name(s, o);
            desks.push(
                Workstation::start(&base, &name, dir.path().join(format!("{name}.sqlite3"))).await,
            );
            viewers.insert(name.clone(), Desk::login(&base, &name).await);
        }
    }
    for desk in &desks {
        for &id in &mine[&desk.name] {
            eventually(60, "the letter reaches its desktop", || desk.has(id)).await;
            desk.enqueue(id, Action::SignFor).await;
        }
    }

    // Phase 1: node A is killed (SIGKILL) in the middle of the push, and comes back.
    phase(
        1,
        &base,
        dir.path(),
        &db,
        &desks,
        &mine,
        &city,
        &viewers,
        async {
            drop(node_a.take()); // SIGKILL, and reaped
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Back on its own port, as a service manager restarts it.
            node_a = Some(node(&db, dir.path(), port_a));
        },
    )
    .await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM letter_events WHERE kind = 'signed_for'"
        )
        .await,
        (STATIONS * OFFICERS_PER_STATION * 2) as i64,
        "every sign-for once"
    );

    // Phase 2: PostgreSQL itself restarts in the middle of the push.
    let ctl = std::env::var("JSJB_TEST_POSTGRES_CTL").expect(
        "JSJB_TEST_POSTGRES_CTL must be the cluster's `pg_ctl -D <data>` (cargo xtask test sets it)",
    );
    phase(
        2,
        &base,
        dir.path(),
        &db,
        &desks,
        &mine,
        &city,
        &viewers,
        async {
            let mut parts = ctl.split_whitespace();
            let program = parts.next().expect("a command");
            let status = Command::new(program)
                .args(parts)
                .args(["-m", "fast", "-w", "restart"])
                // The cluster's owner (another user, as root) may not enter the test's folder.
                .current_dir("/")
                .stdout(Stdio::null())
                .status()
                .expect("pg_ctl restart");
            assert!(status.success(), "PostgreSQL restarted");
        },
    )
    .await;

    let verify = server(&db, dir.path(), free_port(), &["admin", "audit-verify"])
        .output()
        .expect("audit-verify");
    assert!(
        verify.status.success(),
        "the chain verifies: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
