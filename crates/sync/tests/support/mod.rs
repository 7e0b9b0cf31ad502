//! The real server in-process (on its own thread and runtime, so a test can kill it
//! abruptly), real cache files, and desktops running the real engine.

#![allow(dead_code)] // Each test uses a different part of the harness.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsjb_core::letter::LetterId;
use jsjb_core::org::{Role, Tier};
use jsjb_proto::{LetterRecord, LoginRequest, SyncPage};
use jsjb_server::Config;
use jsjb_server::admin::{self, CreateUnitRequest, CreateUserRequest};
use jsjb_storage::Actor;
use jsjb_store::{Store, StoreHandle};
use jsjb_sync::{
    ClientConfig, LocalClock, ServerClient, SyncConfig, SyncEngine, SyncEvent, SyncHandle,
    SystemClock,
};
use serde_json::{Value, json};
use tokio::sync::broadcast;

pub const PASSWORD: &str = "officer-password-1";

/// A server process: its own thread and tokio runtime over a database file that
/// outlives it, so it can be killed mid-request and started again on the same file.
pub struct ServerProc {
    pub addr: SocketAddr,
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn config(dir: &Path) -> Config {
    let mut config = Config::new(dir.join("server.sqlite3"), dir.join("blobs"));
    // Cheap hashes keep the tests fast.
    config.argon2_memory_kib = 256;
    config.login_ip_limit = 1_000;
    // No notices to writers: their change rows would move the page boundaries these
    // tests walk (the notices have their own tests on the server side).
    config.citizen.notice_poll_secs = 0;
    config
}

impl ServerProc {
    /// Starts the server over `dir`'s database on `port` (0: any free port).
    pub fn start(dir: &Path, port: u16) -> ServerProc {
        Self::start_with_rules(dir, port, None)
    }

    /// [`ServerProc::start`] under the clock rules of a `JSJB_RULES` file.
    pub fn start_with_rules(dir: &Path, port: u16, rules: Option<PathBuf>) -> ServerProc {
        let mut config = config(dir);
        config.rules = rules;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            let addr = rt.block_on(async {
                let state = jsjb_server::open(config).expect("open server state");
                let listener = bind_retrying(port).await;
                let addr = listener.local_addr().expect("addr");
                tokio::spawn(async move {
                    let _ = jsjb_server::serve(listener, state, std::future::pending()).await;
                });
                addr
            });
            ready_tx.send(addr).expect("report the address");
            // Blocks this thread until the test kills the server.
            let _ = kill_rx.recv();
            // Abrupt: every task (connections, handlers mid-request) is dropped where it
            // stands, as when the process dies. Blocking database work already started
            // finishes or not on its own thread, as the OS would leave it.
            rt.shutdown_background();
        });
        let addr = ready_rx.recv().expect("server started");
        ServerProc {
            addr,
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the server abruptly.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn bind_retrying(port: u16) -> tokio::net::TcpListener {
    // The previous server on this port may still be letting go of it.
    for _ in 0..100 {
        if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot bind port {port}");
}

/// The organisation of the tests: 市局 → 福田分局 → 福田派出所 (A), 华富派出所 (B).
pub struct Org {
    pub city: i64,
    pub branch: i64,
    pub station_a: i64,
    pub station_b: i64,
}

/// Builds the org and its users through the server's admin storage API, before the
/// server serves.
pub async fn seed(dir: &Path) -> Org {
    let state = jsjb_server::open(config(dir)).expect("open state");
    let unit = |parent: Option<i64>, tier: Tier, name: &str| {
        let state = state.clone();
        let name = name.to_owned();
        async move {
            admin::create_unit(
                state.store.as_ref(),
                state.time.as_ref(),
                CreateUnitRequest {
                    parent_id: parent,
                    tier,
                    name,
                },
                Actor::cli(),
            )
            .await
            .expect("unit")
            .id
        }
    };
    let city = unit(None, Tier::City, "深圳市公安局").await;
    let branch = unit(Some(city), Tier::Branch, "福田分局").await;
    let station_a = unit(Some(branch), Tier::Station, "福田派出所").await;
    let station_b = unit(Some(branch), Tier::Station, "华富派出所").await;
    let users: [(i64, &str, Vec<Role>); 6] = [
        (city, "city.desk", vec![Role::Dispatcher]),
        (branch, "branch.desk", vec![Role::Dispatcher]),
        (station_a, "a.officer", vec![Role::Officer]),
        (station_a, "a.officer2", vec![Role::Officer]),
        (station_a, "a.chief", vec![Role::Chief]),
        (station_b, "b.officer", vec![Role::Officer]),
    ];
    for (unit_id, username, roles) in users {
        admin::create_user(
            state.store.as_ref(),
            &state.config,
            state.time.as_ref(),
            CreateUserRequest {
                unit_id,
                username: username.into(),
                display_name: username.into(),
                roles,
                password: PASSWORD.into(),
            },
            Actor::cli(),
        )
        .await
        .expect("user");
    }
    Org {
        city,
        branch,
        station_a,
        station_b,
    }
}

/// A person acting on the server directly (not through a desktop): the desks upstream.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub async fn login(base: &str, username: &str) -> Api {
        let http = reqwest::Client::new();
        let res = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200, "login of {username}");
        let body: Value = res.json().await.expect("json");
        Api {
            http,
            base: base.to_owned(),
            token: body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// A letter typed in by this desk (the real intake route); returns its id.
    pub async fn intake(&self, n: usize) -> i64 {
        let res = self
            .http
            .post(format!("{}/api/v1/letters", self.base))
            .bearer_auth(&self.token)
            .json(&json!({
                "category": "help",
                "subject": format!("来电反映夜间施工噪音 {n}"),
                "body": "每晚十一点后仍有施工噪音，影响休息，请处理。",
                "writer_name": "张三丰",
                "writer_phone": "13812345678",
            }))
            .send()
            .await
            .expect("intake");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().expect("id")
    }

    pub async fn letter(&self, id: i64) -> Value {
        let res = self
            .http
            .get(format!("{}/api/v1/letters/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("letter");
        res.json().await.expect("json")
    }

    /// Takes an action at the letter's current version; panics unless accepted.
    pub async fn act(&self, id: i64, action: Value) -> Value {
        let version = self.letter(id).await["version"].as_i64().expect("version");
        let res = self
            .http
            .post(format!("{}/api/v1/letters/{id}/actions", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"expected_version": version, "action": action}))
            .send()
            .await
            .expect("action");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, 200, "{action} → {body}");
        body["letter"].clone()
    }

    pub async fn sync(&self, cursor: i64, limit: u32) -> SyncPage {
        self.http
            .get(format!(
                "{}/api/v1/sync?cursor={cursor}&limit={limit}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("sync")
            .json()
            .await
            .expect("page")
    }

    /// Every letter in this user's scope as the server has it now.
    pub async fn all_letters(&self) -> Vec<LetterRecord> {
        let mut cursor = 0;
        let mut out = std::collections::BTreeMap::new();
        loop {
            let page = self.sync(cursor, 500).await;
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

/// City desk → branch → station: a letter waiting for `station` to sign for it.
pub async fn letter_at(city: &Api, branch: &Api, station: i64, org: &Org, n: usize) -> i64 {
    let id = city.intake(n).await;
    city.act(id, json!({"action": "dispatch", "to": org.branch}))
        .await;
    branch
        .act(id, json!({"action": "dispatch", "to": station}))
        .await;
    id
}

/// Engine settings that make tests fast: short waits everywhere.
pub fn fast() -> SyncConfig {
    SyncConfig {
        page_limit: 50,
        poll_interval: Duration::from_millis(300),
        safety_interval: Duration::from_secs(5),
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(400),
        stream_idle_timeout: Duration::from_secs(20),
    }
}

/// A workstation: a cache file, a session, and (while running) its engine.
pub struct Desk {
    pub path: PathBuf,
    pub store: StoreHandle,
    pub client: ServerClient,
    pub clock: Arc<dyn LocalClock>,
    pub config: SyncConfig,
    pub engine: Option<(SyncHandle, broadcast::Receiver<SyncEvent>)>,
}

impl Desk {
    /// Signs `username` in at `base` and opens its cache at `path` (engine not started).
    pub async fn sign_in(base: &str, username: &str, path: PathBuf) -> Desk {
        let client = ServerClient::new(base, ClientConfig::default()).expect("client");
        let login = client
            .login(&LoginRequest {
                username: username.into(),
                password: PASSWORD.into(),
                workstation: Some(format!("{username}-ws")),
            })
            .await
            .expect("login");
        let store = StoreHandle::spawn(Store::open(&path).expect("open cache")).expect("spawn");
        Desk {
            path,
            store,
            client: client.with_token(login.token),
            clock: Arc::new(SystemClock),
            config: fast(),
            engine: None,
        }
    }

    pub async fn start(&mut self) -> &SyncHandle {
        let (engine, handle) = SyncEngine::new(
            self.client.clone(),
            self.store.clone(),
            self.clock.clone(),
            self.config,
        )
        .await
        .expect("engine");
        let events = handle.subscribe();
        engine.spawn();
        self.engine = Some((handle, events));
        &self.engine.as_ref().expect("just set").0
    }

    pub fn handle(&self) -> &SyncHandle {
        &self.engine.as_ref().expect("engine running").0
    }

    pub async fn stop(&mut self) {
        if let Some((handle, _)) = self.engine.take() {
            handle.shutdown().await;
        }
    }

    /// Every event received so far.
    pub fn drain_events(&mut self) -> Vec<SyncEvent> {
        let mut out = Vec::new();
        if let Some((_, rx)) = self.engine.as_mut() {
            while let Ok(e) = rx.try_recv() {
                out.push(e);
            }
        }
        out
    }

    pub async fn letters(&self) -> Vec<LetterRecord> {
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

    pub async fn letter(&self, id: i64) -> Option<LetterRecord> {
        self.store
            .call(move |s| s.letter(LetterId(id)))
            .await
            .expect("store")
            .expect("read")
    }

    pub async fn cursor(&self) -> i64 {
        self.store
            .call(|s| s.sync_state())
            .await
            .expect("store")
            .expect("state")
            .cursor
    }
}

/// Waits until `check` holds, polling; fails the test with `what` after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Server events of a letter, counted in the server's own database.
pub fn server_events(dir: &Path, letter: i64, kind: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("server.sqlite3")).expect("open server db");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy");
    conn.query_row(
        "SELECT count(*) FROM letter_events WHERE letter_id = ?1 AND kind = ?2",
        rusqlite::params![letter, kind],
        |r| r.get(0),
    )
    .expect("count")
}

/// A TCP proxy in front of the server that can lose every answer on the way back, as
/// a flaky station link does: the server does the work, the desk never hears of it.
pub struct LossyProxy {
    pub addr: SocketAddr,
    pub lose_answers: Arc<std::sync::atomic::AtomicBool>,
    /// Refuses the SSE stream (a proxy that buffers or forbids event streams).
    pub block_stream: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl LossyProxy {
    pub async fn start(target: SocketAddr) -> LossyProxy {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let lose_answers = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let block_stream = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = lose_answers.clone();
        let block = block_stream.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                let block = block.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let down = tokio::spawn(async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            match server_read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                // Losing the answer: cut the connection instead.
                                Ok(_) if flag.load(Ordering::SeqCst) => break,
                                Ok(n) => {
                                    if client_write.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    });
                    // Every request on the connection (keep-alive reuses it) is looked
                    // at, so a blocked stream request is cut wherever it comes.
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let text = String::from_utf8_lossy(&buf[..n]);
                                if block.load(Ordering::SeqCst) && text.contains("/sync/stream") {
                                    break;
                                }
                                if server_write.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    down.abort();
                });
            }
        });
        LossyProxy {
            addr,
            lose_answers,
            block_stream,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn block_stream(&self, block: bool) {
        self.block_stream
            .store(block, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn lose_answers(&self, lose: bool) {
        self.lose_answers
            .store(lose, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
