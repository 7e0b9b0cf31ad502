//! What the PostgreSQL tests share: a database of their own on the test server, the
//! real server binary on it, and a desktop's view through the HTTP API.

#![allow(dead_code)] // Each test binary uses a different part.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use jsjb_proto::{Change, LetterRecord, SyncPage};
use jsjb_server::demo::DEMO_PASSWORD;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_jsjb-server");

/// A database of its own on the test server, dropped with the guard.
pub use jsjb_storage_postgres::testing::TestDatabase as Database;

/// A port no one listens on, for a child server to bind. Taken from below Linux's
/// ephemeral range (32768 and up), where the tests' own outgoing connections get their
/// ports, and in turn per test process, so two calls never name the same port and a
/// client's connection cannot take it between this check and the child's bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // A start of its own per process (tests of several binaries run at once).
    let base = 20_000 + (std::process::id() % 1_000) as u16 * 10;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (base - 20_000 + offset) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The server binary on PostgreSQL with `args` (a subcommand and its flags).
pub fn server(db: &Database, dir: &Path, port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("JSJB_DB", &db.url)
        .env("JSJB_BLOB_DIR", dir.join("blobs"))
        .env("JSJB_AUDIT_KEY", dir.join("audit-key.pem"))
        .env("JSJB_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .args(["--argon2-memory-kib", "256"])
        .args(args);
    cmd
}

/// A child process, killed with SIGKILL when dropped (a server node's crash).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child process stopped with SIGTERM when dropped, and SIGKILL only if it has not
/// ended within 5 s: nginx's master stops its workers on SIGTERM, while SIGKILL would
/// leave a worker holding the port.
pub struct Stopping(pub Child);

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(std::process::Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn wait_healthy(base: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        if let Ok(res) = client.get(format!("{base}/healthz")).send().await
            && res.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the server at {base} did not become healthy within {within:?}");
}

pub async fn login(base: &str, user: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": DEMO_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 200, "{user}");
    res.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// Every letter the token's scope sees, by paging the sync from 0; and the last cursor.
pub async fn synced(base: &str, token: &str) -> (Vec<LetterRecord>, i64) {
    let client = reqwest::Client::new();
    let (mut cursor, mut letters) = (0, std::collections::BTreeMap::new());
    loop {
        let page: SyncPage = client
            .get(format!("{base}/api/v1/sync?cursor={cursor}&limit=500"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sync")
            .json()
            .await
            .expect("page");
        for change in page.changes {
            match change {
                Change::Letter { letter } => {
                    letters.insert(letter.id, *letter);
                }
                Change::Removed { letter_id } => {
                    letters.remove(&letter_id);
                }
            }
        }
        cursor = page.next_cursor;
        if !page.has_more {
            return (letters.into_values().collect(), cursor);
        }
    }
}
