//! A real server on 127.0.0.1:0 with a fresh SQLite file, shut down on drop.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{Duration, Utc};
use jsjb_core::org::{Role, Tier};
use jsjb_server::admin::{self, CreateUnitRequest, CreateUserRequest};
use jsjb_server::time::ManualTime;
use jsjb_server::{AppState, Config};
use jsjb_storage::Actor;
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "officer-password-1";

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub time: Arc<ManualTime>,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub city: i64,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with a city bureau (unit 1) and an admin `admin` there.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path().join("jsjb.sqlite3"), dir.path().join("blobs"));
        // Cheap hashes keep the tests fast; production uses the OWASP minimum.
        config.argon2_memory_kib = 256;
        config.lockout_threshold = 3;
        config.login_ip_limit = 50;
        // Tests send the same letter from the same phone again and again: duplicate
        // detection and the citizen rate limits are off unless a test turns them on.
        config.citizen.duplicate_minutes = 0;
        config.citizen.rate_ip_burst = 100_000;
        config.citizen.rate_phone_burst = 100_000;
        // The notices to writers run when a test calls writer_notices::run_once, never
        // behind its back.
        config.citizen.notice_poll_secs = 0;
        tweak(&mut config);
        let time = Arc::new(ManualTime::new(Utc::now()));
        let state = jsjb_server::open_with_time(config, time.clone()).expect("open state");

        let city = admin::create_unit(
            state.store.as_ref(),
            state.time.as_ref(),
            CreateUnitRequest {
                parent_id: None,
                tier: Tier::City,
                name: "深圳市公安局".into(),
            },
            Actor::cli(),
        )
        .await
        .expect("city");
        admin::create_user(
            state.store.as_ref(),
            &state.config,
            state.time.as_ref(),
            CreateUserRequest {
                unit_id: city.id,
                username: "admin".into(),
                display_name: "管理员".into(),
                roles: vec![Role::Admin, Role::Dispatcher],
                password: ADMIN_PASSWORD.into(),
            },
            Actor::cli(),
        )
        .await
        .expect("admin");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            let _ = jsjb_server::serve(listener, serving, async {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            addr,
            client: reqwest::Client::new(),
            time,
            state,
            dir,
            city: city.id,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn advance(&self, by: Duration) {
        self.time.advance(by);
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            None,
            &json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let res = self.login(username, password).await;
        assert_eq!(res.status(), 200, "login of {username}");
        let body: Value = res.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD).await
    }

    /// Creates a unit through the admin API and returns its id.
    pub async fn unit(&self, admin: &str, parent: i64, tier: &str, name: &str) -> i64 {
        let res = self
            .post_json(
                "/api/v1/admin/units",
                Some(admin),
                &json!({"parent_id": parent, "tier": tier, "name": name}),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    }

    /// Creates a user through the admin API with [`PASSWORD`] and returns its id.
    pub async fn user(&self, admin: &str, unit: i64, username: &str, roles: &[&str]) -> i64 {
        let res = self
            .post_json(
                "/api/v1/admin/users",
                Some(admin),
                &json!({"unit_id": unit, "username": username, "display_name": username, "roles": roles, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    }

    /// A ticket for one public letter from `phone`, by the public API's SMS
    /// verification (the code read back from the log sender, as the demo's writer would).
    pub async fn public_ticket(&self, phone: &str) -> String {
        let res = self
            .post_json(
                "/api/v1/public/verification",
                None,
                &json!({"phone": phone, "consent": true}),
            )
            .await;
        assert_eq!(res.status(), 202, "{:?}", res.text().await);
        let sms = self.state.citizen.sms().last_sent(phone).expect("an SMS");
        let start = sms.find("验证码是 ").expect("a code") + "验证码是 ".len();
        let code: String = sms[start..].chars().take(6).collect();
        let res = self
            .post_json(
                "/api/v1/public/verification/code",
                None,
                &json!({"phone": phone, "code": code}),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let body: Value = res.json().await.expect("json");
        body["ticket"].as_str().expect("ticket").to_owned()
    }

    /// Posts `letter` to the public API as its writer: the letter's `writer_phone` is
    /// verified first and taken out of the `letter` part (the ticket carries it).
    pub async fn post_public_letter(
        &self,
        letter: &Value,
        files: Vec<(&str, Vec<u8>)>,
    ) -> reqwest::Response {
        let mut letter = letter.clone();
        let phone = letter
            .as_object_mut()
            .and_then(|o| o.remove("writer_phone"))
            .and_then(|p| p.as_str().map(str::to_owned))
            .unwrap_or_else(|| "13812345678".to_owned());
        let ticket = self.public_ticket(&phone).await;
        self.client
            .post(self.url("/api/v1/public/letters"))
            .header("x-jsjb-ticket", ticket)
            .multipart(intake_form(&letter, files))
            .send()
            .await
            .expect("public intake")
    }

    /// Creates a user with the admin CLI (as whoever holds the database file does), with
    /// [`PASSWORD`]; returns its id. Unlike [`Self::user`], no admin chose its password, so
    /// it counts as independent of every other admin (dual control of signing keys).
    pub async fn cli_user(&self, unit: i64, username: &str, roles: &[Role]) -> i64 {
        admin::create_user(
            self.state.store.as_ref(),
            &self.state.config,
            self.state.time.as_ref(),
            CreateUserRequest {
                unit_id: unit,
                username: username.into(),
                display_name: username.into(),
                roles: roles.to_vec(),
                password: PASSWORD.into(),
            },
            Actor::cli(),
        )
        .await
        .expect("cli user")
        .id
    }

    /// The letter with this tracking code, as the city desk's sync shows it.
    pub async fn desk_letter(&self, code: &str) -> Value {
        let admin = self.admin_token().await;
        let page: Value = self
            .get("/api/v1/sync?cursor=0&limit=500", Some(&admin))
            .await
            .json()
            .await
            .expect("json");
        page["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| c["letter"].clone())
            .find(|l| l["tracking_code"] == code)
            .unwrap_or_else(|| panic!("letter {code} reached the desk: {page}"))
    }

    /// Raw access to the database file, as someone holding the file could do.
    pub fn raw_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.state.config.db).expect("open raw db")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts a problem document with `status` and `code`; returns it.
pub async fn problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(ct, "application/problem+json", "content type of {body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| t.ends_with(code)));
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// A real, minimal 1×1 PNG.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

pub fn letter_json() -> Value {
    json!({
        "category": "help",
        "problem_tags": ["噪音扰民"],
        "subject": "小区夜间施工噪音",
        "body": "每晚十一点后仍有施工噪音，影响休息，请处理。",
        "writer_name": "张三丰",
        "writer_phone": "13812345678",
    })
}

pub fn intake_form(letter: &Value, files: Vec<(&str, Vec<u8>)>) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new().text("letter", letter.to_string());
    for (name, bytes) in files {
        form = form.part(
            "files",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    form
}
