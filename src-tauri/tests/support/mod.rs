//! The harness the IPC test binaries share: one demo server per binary (real
//! `jsjb_server`, seeded with a small demo city, on its own thread and runtime) and
//! the real app on Tauri's mock runtime with a temporary app-data folder. Only the
//! audio is fake.

// Each test binary uses part of the harness.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jsjb_chime::{Audio, AudioError, Sound};
use jsjb_desk::app_state::AppState;
use jsjb_desk::{ExportFolder, KeyringMode, Options};
use jsjb_server::Config;
use jsjb_server::demo::{self, DEMO_PASSWORD, DemoOptions};
use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, Manager, WebviewWindow, WebviewWindowBuilder};

// ---------------------------------------------------------------------------------------
// The server: one demo city for the whole test binary, on its own thread and runtime.

pub struct DemoServer {
    pub addr: SocketAddr,
    pub _dir: tempfile::TempDir,
}

impl DemoServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub fn server() -> &'static DemoServer {
    static SERVER: OnceLock<DemoServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path().join("server.sqlite3"), dir.path().join("blobs"));
        // Cheap password hashes keep the seeding fast.
        config.argon2_memory_kib = 256;
        config.login_ip_limit = 1_000;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let state = jsjb_server::open(config).expect("open the server");
                let opts = DemoOptions {
                    days: 2,
                    per_day: 8,
                    arrival_every: Duration::ZERO,
                    seed: 11,
                };
                demo::seed(&state, &opts).await.expect("seed the demo city");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr"))
                    .expect("report the address");
                // Serves until the test binary exits.
                let _ = jsjb_server::serve(listener, state, std::future::pending()).await;
            });
        });
        let addr = rx.recv().expect("the server started");
        DemoServer { addr, _dir: dir }
    })
}

/// What a dispatch desk does: types in a phone letter and dispatches it to `station`.
/// Returns the letter's id.
pub fn dispatch_new_letter(desk_user: &str, station: i64, subject: &str) -> i64 {
    let id = receive_letter(desk_user, subject);
    dispatch_letter(desk_user, id, station);
    id
}

fn desk_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn desk_login(http: &reqwest::Client, base: &str, desk_user: &str) -> String {
    let login: Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": desk_user, "password": DEMO_PASSWORD}))
        .send()
        .await
        .expect("desk login")
        .json()
        .await
        .expect("login json");
    login["token"].as_str().expect("token").to_owned()
}

/// A desk types in a phone letter: it is `received` at the desk's unit. Returns its id.
pub fn receive_letter(desk_user: &str, subject: &str) -> i64 {
    let base = format!("{}/api/v1", server().url());
    desk_runtime().block_on(async {
        let http = reqwest::Client::new();
        let token = desk_login(&http, &base, desk_user).await;
        let receipt: Value = http
            .post(format!("{base}/letters"))
            .bearer_auth(&token)
            .json(&json!({
                "category": "help",
                "subject": subject,
                "body": "楼下商铺深夜噪音扰民，请派人处理。",
                "writer_name": "张三",
                "writer_phone": "13800138000",
            }))
            .send()
            .await
            .expect("desk letter")
            .json()
            .await
            .expect("receipt json");
        receipt["id"].as_i64().expect("letter id")
    })
}

/// A desk dispatches letter `id` to unit `to`.
pub fn dispatch_letter(desk_user: &str, id: i64, to: i64) {
    let base = format!("{}/api/v1", server().url());
    desk_runtime().block_on(async {
        let http = reqwest::Client::new();
        let token = desk_login(&http, &base, desk_user).await;
        let letter: Value = http
            .get(format!("{base}/letters/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get letter")
            .json()
            .await
            .expect("letter json");
        let version = letter["version"].as_u64().expect("version");
        let res = http
            .post(format!("{base}/letters/{id}/actions"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("test-dispatch-{id}-{to}"))
            .json(&json!({
                "expected_version": version,
                "action": {"action": "dispatch", "to": to, "note": ""},
            }))
            .send()
            .await
            .expect("dispatch");
        assert!(res.status().is_success(), "dispatch: {}", res.status());
    })
}

// ---------------------------------------------------------------------------------------
// The app.

/// Records what the alarm played: the audio boundary, and nothing more, is fake.
#[derive(Default)]
pub struct FakeAudio {
    pub played: Mutex<Vec<(Sound, f32)>>,
}

impl FakeAudio {
    /// How many arrival chimes played (not the softer "about to breach" sound).
    pub fn count(&self) -> usize {
        self.count_of(Sound::Arrival)
    }

    pub fn count_of(&self, sound: Sound) -> usize {
        self.played
            .lock()
            .expect("lock")
            .iter()
            .filter(|(s, _)| *s == sound)
            .count()
    }
}

impl Audio for FakeAudio {
    fn play(&self, sound: Sound, volume: f32) -> Result<(), AudioError> {
        self.played.lock().expect("lock").push((sound, volume));
        Ok(())
    }
}

pub struct TestApp {
    pub app: App<MockRuntime>,
    pub main: WebviewWindow<MockRuntime>,
    pub audio: Arc<FakeAudio>,
    pub data_dir: PathBuf,
    pub _dir: Option<tempfile::TempDir>,
}

/// Where the tests' exports go: the mock runtime has no folder picker, so the folder
/// the user would pick is given here (in Rust, as only the app's builder can).
pub fn export_folder(data_dir: &Path) -> PathBuf {
    data_dir.join("picked-folder")
}

/// The file the mock runtime's "file picker" picks for a phone letter: a real 1×1 PNG.
pub fn picked_photo(data_dir: &Path) -> PathBuf {
    data_dir.join("现场照片.png")
}

const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

pub fn options(data_dir: &Path, audio: Arc<FakeAudio>) -> Options {
    std::fs::create_dir_all(export_folder(data_dir)).expect("export folder");
    std::fs::write(picked_photo(data_dir), PNG_1X1).expect("the photo to pick");
    Options {
        data_dir: Some(data_dir.to_path_buf()),
        // CI has no Secret Service; the fallback is what runs there.
        keyring: KeyringMode::File,
        audio: Some(audio),
        autologin: None,
        desktop: false,
        export_folder: ExportFolder::Fixed(export_folder(data_dir)),
        pin_policy: jsjb_signoff::PinPolicy::default(),
        file_picker: jsjb_desk::letter_files::FilePicker::Fixed(vec![picked_photo(data_dir)]),
    }
}

pub fn app_in(data_dir: &Path) -> TestApp {
    let audio = Arc::new(FakeAudio::default());
    let mut app = jsjb_desk::build_app_with(mock_builder(), options(data_dir, Arc::clone(&audio)))
        .build(jsjb_desk::context())
        .expect("the app builds on the mock runtime");
    // `setup` runs on the event loop's first iteration.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    // The first iteration also created the configured `main` window.
    let main = match app.get_webview_window("main") {
        Some(main) => main,
        None => window(&app, "main"),
    };
    TestApp {
        app,
        main,
        audio,
        data_dir: data_dir.to_path_buf(),
        _dir: None,
    }
}

pub fn app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = app_in(dir.path());
    app._dir = Some(dir);
    app
}

pub fn window(app: &App<MockRuntime>, label: &str) -> WebviewWindow<MockRuntime> {
    WebviewWindowBuilder::new(app, label, Default::default())
        .build()
        .expect("a mock window")
}

pub fn invoke_on(
    window: &WebviewWindow<MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: tauri::ipc::CallbackFn(0),
        error: tauri::ipc::CallbackFn(1),
        url: if cfg!(windows) {
            "http://tauri.localhost"
        } else {
            "tauri://localhost"
        }
        .parse()
        .expect("a valid URL"),
        body: tauri::ipc::InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(window, request)
        .map(|body| body.deserialize::<Value>().expect("the response is JSON"))
}

impl TestApp {
    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        invoke_on(&self.main, cmd, args)
    }

    pub fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    pub fn err_code(&self, cmd: &str, args: Value) -> String {
        let e = self
            .invoke(cmd, args)
            .expect_err(&format!("{cmd} should fail"));
        e["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn login(&self, user: &str) -> Value {
        self.ok(
            "login",
            json!({"serverUrl": server().url(), "username": user, "password": DEMO_PASSWORD}),
        )
    }

    /// Waits until the sync engine is online, has applied a page, and has nothing queued.
    pub fn wait_synced(&self) -> Value {
        wait_for("sync to settle", || {
            let status = self.ok("sync_status", json!({}));
            (status["state"]["kind"] == "online"
                && !status["last_synced_at"].is_null()
                && status["pending_actions"] == 0)
                .then_some(status)
        })
    }

    pub fn inbox(&self, query: Value) -> Value {
        self.ok("inbox", json!({ "query": query }))
    }

    pub fn inbox_ids(&self) -> Vec<i64> {
        self.inbox(json!({"limit": 500}))["page"]["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    }

    pub fn detail(&self, id: i64) -> Value {
        self.ok("letter_detail", json!({ "id": id }))
    }

    /// Whether the cache holds the letter (and the user may read it).
    pub fn detail_opt(&self, id: i64) -> bool {
        self.invoke("letter_detail", json!({ "id": id })).is_ok()
    }

    pub fn unsigned(&self) -> usize {
        self.app.state::<AppState>().alarm().unsigned()
    }

    /// Collects the payloads of an event.
    pub fn record(&self, event: &'static str) -> Arc<Mutex<Vec<Value>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        self.app.listen_any(event, move |e| {
            let payload = serde_json::from_str(e.payload()).unwrap_or(Value::Null);
            sink.lock().expect("lock").push(payload);
        });
        seen
    }
}

pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
