//! Backups on real parts: a real `jsjb-server` process serving a real SQLite file and
//! blob store, `admin backup` run beside it while it writes, `admin restore --verify`
//! on the result, damaged backups, and a server killed (SIGKILL) in the middle of its
//! scheduled backup.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, intake_form, letter_json};

const BIN: &str = env!("CARGO_BIN_EXE_jsjb-server");

/// A server's files in a temporary folder: the database, blobs, audit key, backups.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    /// A database with the city bureau and an admin, made with the admin CLI.
    fn new() -> Site {
        let site = Site {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let out = site
            .cli()
            .args([
                "admin",
                "create-unit",
                "--name",
                "深圳市公安局",
                "--tier",
                "city",
            ])
            .output()
            .expect("create-unit");
        assert!(out.status.success(), "{out:?}");
        let out = site
            .cli()
            .env("JSJB_NEW_PASSWORD", ADMIN_PASSWORD)
            .args([
                "admin",
                "create-user",
                "--username",
                "admin",
                "--display-name",
                "管理员",
                "--unit",
                "1",
                "--role",
                "admin,dispatcher",
            ])
            .output()
            .expect("create-user");
        assert!(out.status.success(), "{out:?}");
        site
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn backups(&self) -> PathBuf {
        self.path("backups")
    }

    /// `jsjb-server` on this site's files.
    fn cli(&self) -> Command {
        files_cli(&self.path("jsjb.sqlite3"), &self.path("blobs"))
    }

    /// `admin backup --to <site>/backups`; returns its JSON answer.
    fn backup(&self) -> Value {
        let out = self
            .cli()
            .args(["admin", "backup", "--to"])
            .arg(self.backups())
            .output()
            .expect("admin backup");
        assert!(out.status.success(), "{}", text(&out));
        answer(&out)
    }
}

/// `jsjb-server` on a database and blob folder, with cheap password hashes.
fn files_cli(db: &Path, blobs: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--db")
        .arg(db)
        .arg("--blob-dir")
        .arg(blobs)
        .args(["--argon2-memory-kib", "256"])
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// The JSON `admin backup` prints (after any log lines, which may share stdout).
fn answer(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let start = stdout
        .lines()
        .position(|l| l == "{")
        .unwrap_or_else(|| panic!("no JSON answer in {stdout}"));
    let json: Vec<&str> = stdout.lines().skip(start).collect();
    serde_json::from_str(&json.join("\n")).expect("backup answer")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `admin restore --verify <backup> --into <into>`.
fn restore_verify(backup: &Path, into: &Path) -> Output {
    Command::new(BIN)
        .args(["admin", "restore", "--verify"])
        .arg(backup)
        .arg("--into")
        .arg(into)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("admin restore")
}

/// The complete backups in `root`, oldest first.
fn complete(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("backups")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("jsjb-backup-"))
        })
        .collect();
    found.sort();
    found
}

fn partials(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .map(|d| {
            d.map(|e| e.expect("entry").path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(".partial-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A running `jsjb-server serve`, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    log: PathBuf,
}

impl Server {
    async fn start(mut cmd: Command, log: PathBuf, extra: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .args(["--listen", &listen])
            .args(extra)
            .arg("serve")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start jsjb-server");
        let server = Server {
            child,
            base: format!("http://{listen}"),
            client: reqwest::Client::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = server.client.get(server.url("/healthz")).send().await {
                if res.status().is_success() {
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not come up: {}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn token(&self) -> String {
        let res = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// A letter typed in by the desk with `files`; returns the attachments' SHA-256.
    async fn letter(&self, token: &str, files: Vec<Vec<u8>>) -> Vec<String> {
        let named: Vec<(&str, Vec<u8>)> = files.into_iter().map(|f| ("现场.png", f)).collect();
        let res = self
            .client
            .post(self.url("/api/v1/letters"))
            .bearer_auth(token)
            .multipart(intake_form(&letter_json(), named))
            .send()
            .await
            .expect("post letter");
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let receipt: Value = res.json().await.expect("receipt");
        let id = receipt["id"].as_i64().expect("id");
        let res = self
            .client
            .get(self.url(&format!("/api/v1/letters/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("letter");
        let letter: Value = res.json().await.expect("letter json");
        letter["attachments"]
            .as_array()
            .expect("attachments")
            .iter()
            .map(|a| a["sha256"].as_str().expect("sha").to_owned())
            .collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PNG-looking file of `len` bytes, different for each `seed`.
fn png(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = support::PNG_1X1[..16].to_vec();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < len {
        // xorshift64: cheap bytes that do not repeat.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

#[tokio::test]
async fn a_backup_taken_while_the_server_writes_restores_verifies_and_serves() {
    let site = Site::new();
    let server = Server::start(site.cli(), site.path("server.log"), &[]).await;
    let token = server.token().await;
    let mut shas = Vec::new();
    for i in 0..3 {
        shas.extend(
            server
                .letter(&token, vec![png(40_000, i), png(7_000, 100 + i)])
                .await,
        );
    }

    // Letters keep arriving while the backup runs beside the server.
    let writing = {
        let (client, base, token) = (server.client.clone(), server.base.clone(), token.clone());
        tokio::spawn(async move {
            for i in 0..20_u64 {
                let files = vec![("现场.png", png(5_000, 1_000 + i))];
                let res = client
                    .post(format!("{base}/api/v1/letters"))
                    .bearer_auth(&token)
                    .multipart(intake_form(&letter_json(), files))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(res.status(), 201);
            }
        })
    };
    let made = tokio::task::spawn_blocking({
        let cmd_site = site.path("");
        move || {
            let out = files_cli(&cmd_site.join("jsjb.sqlite3"), &cmd_site.join("blobs"))
                .args(["admin", "backup", "--to"])
                .arg(cmd_site.join("backups"))
                .output()
                .expect("admin backup");
            assert!(out.status.success(), "{}", text(&out));
            answer(&out)
        }
    })
    .await
    .expect("backup task");
    writing.await.expect("writes");

    let path = PathBuf::from(made["path"].as_str().expect("path"));
    assert_eq!(complete(&site.backups()), std::slice::from_ref(&path));
    assert!(partials(&site.backups()).is_empty());
    // Every file is in the manifest with its size and digest; the first six blobs
    // were stored before the backup began, so they are certainly in it.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(path.join("manifest.json")).expect("manifest"))
            .expect("manifest json");
    assert_eq!(manifest["format"], "jsjb-backup-v1");
    assert_eq!(manifest["server_version"], env!("CARGO_PKG_VERSION"));
    assert!(manifest["latest_change_seq"].as_i64().expect("seq") >= 3);
    assert_eq!(manifest["audit_head"], made["audit_head"]);
    let files = manifest["files"].as_array().expect("files");
    assert_eq!(files[0]["path"], "jsjb.sqlite3");
    for sha in &shas {
        let entry = files
            .iter()
            .find(|f| f["sha256"] == sha.as_str())
            .unwrap_or_else(|| panic!("blob {sha} is in the manifest"));
        assert_eq!(entry["path"], format!("blobs/{}/{sha}", &sha[..2]));
    }
    assert_eq!(made["files"].as_u64(), Some(files.len() as u64));

    let scratch = site.path("scratch");
    let out = restore_verify(&path, &scratch);
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("letter events verify"), "{report}");
    assert!(report.trim_end().ends_with("OK"), "{report}");
    // The blobs the restored database names are exactly those in the manifest.
    assert!(
        report.contains(&format!("the {} blobs the database names", files.len() - 1)),
        "{report}"
    );
    // Restoring over something is refused.
    let again = restore_verify(&path, &scratch);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // A server on the restored files (with the kept audit key) serves the same letters
    // and the same attachment bytes.
    let mut cmd = files_cli(&scratch.join("jsjb.sqlite3"), &scratch.join("blobs"));
    cmd.arg("--audit-key")
        .arg(site.path("jsjb.sqlite3.audit-key.pem"));
    let restored = Server::start(cmd, site.path("restored.log"), &[]).await;
    let token = restored.token().await;
    let res = restored
        .client
        .get(restored.url(&format!("/api/v1/attachments/{}", shas[0])))
        .bearer_auth(&token)
        .send()
        .await
        .expect("attachment");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.bytes().await.expect("bytes").as_ref(),
        png(40_000, 0).as_slice()
    );
}

/// Rewrites the manifest entry of `path` to the file's current size and digest, as
/// someone who knows the format could: the hashes then pass, the deeper checks do not.
fn rehash_in_manifest(backup: &Path, path: &str) {
    use sha2::Digest;
    let bytes = std::fs::read(backup.join(path)).expect("file");
    let at = backup.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&at).expect("manifest")).expect("json");
    for f in manifest["files"].as_array_mut().expect("files") {
        if f["path"] == path {
            f["size"] = json!(bytes.len());
            f["sha256"] = json!(hex::encode(sha2::Sha256::digest(&bytes)));
        }
    }
    std::fs::write(&at, serde_json::to_vec(&manifest).expect("json")).expect("write");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[tokio::test]
async fn a_damaged_backup_is_refused_naming_the_first_fault() {
    let site = Site::new();
    let server = Server::start(site.cli(), site.path("server.log"), &[]).await;
    let token = server.token().await;
    let shas = server.letter(&token, vec![png(30_000, 7)]).await;
    let made = site.backup();
    drop(server);
    let good = PathBuf::from(made["path"].as_str().expect("path"));
    let blob = format!("blobs/{}/{}", &shas[0][..2], shas[0]);

    // Each damage on its own copy of the good backup.
    let case = |name: &str, damage: &dyn Fn(&Path)| -> String {
        let copy = site.path(&format!("case-{name}"));
        copy_tree(&good, &copy);
        damage(&copy);
        let out = restore_verify(&copy, &site.path(&format!("scratch-{name}")));
        assert!(!out.status.success(), "{name}: {}", text(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    let flipped = case("flip", &|b| {
        let at = b.join(&blob);
        let mut bytes = std::fs::read(&at).expect("blob");
        bytes[20_000] ^= 0x01;
        std::fs::write(&at, bytes).expect("write");
    });
    assert!(
        flipped.contains(&blob) && flipped.contains("SHA-256"),
        "{flipped}"
    );

    let truncated = case("truncate", &|b| {
        let at = b.join("jsjb.sqlite3");
        let bytes = std::fs::read(&at).expect("db");
        std::fs::write(&at, &bytes[..bytes.len() / 2]).expect("write");
    });
    assert!(truncated.contains("jsjb.sqlite3 is"), "{truncated}");

    let missing = case("missing", &|b| {
        std::fs::remove_file(b.join(&blob)).expect("rm");
    });
    assert!(missing.contains(&format!("{blob} is missing")), "{missing}");

    let no_manifest = case("no-manifest", &|b| {
        std::fs::remove_file(b.join("manifest.json")).expect("rm");
    });
    assert!(
        no_manifest.contains("not a complete backup"),
        "{no_manifest}"
    );

    // The hashes are made to match a rewritten audit entry: --verify still catches it.
    let rewritten = case("audit", &|b| {
        let db = rusqlite::Connection::open(b.join("jsjb.sqlite3")).expect("db");
        db.execute_batch(
            "DROP TRIGGER audit_log_append_only_u;
             UPDATE audit_log SET payload = '{\"username\":\"mallory\"}' WHERE seq = 2;",
        )
        .expect("tamper");
        drop(db);
        rehash_in_manifest(b, "jsjb.sqlite3");
    });
    assert!(
        rewritten.contains("audit chain broken at entry 2"),
        "{rewritten}"
    );

    // A blob left out of the manifest (and the backup) that the database names.
    let left_out = case("left-out", &|b| {
        std::fs::remove_file(b.join(&blob)).expect("rm");
        let at = b.join("manifest.json");
        let mut manifest: Value =
            serde_json::from_slice(&std::fs::read(&at).expect("manifest")).expect("json");
        manifest["files"]
            .as_array_mut()
            .expect("files")
            .retain(|f| f["path"] != blob.as_str());
        std::fs::write(&at, serde_json::to_vec(&manifest).expect("json")).expect("write");
    });
    assert!(
        left_out.contains(&format!("blob {},", shas[0])),
        "{left_out}"
    );
    assert!(left_out.contains("not in the backup"), "{left_out}");

    // The good one still restores and verifies.
    let out = restore_verify(&good, &site.path("scratch-good"));
    assert!(out.status.success(), "{}", text(&out));

    // Damage in the live store fails the backup, naming the blob, and leaves nothing
    // that looks like a backup.
    let live = site.path(&blob);
    let mut flipped = std::fs::read(&live).expect("live blob");
    flipped[100] ^= 0x80;
    std::fs::write(&live, &flipped).expect("damage");
    let failed = |why: &str| {
        let out = site
            .cli()
            .args(["admin", "backup", "--to"])
            .arg(site.backups())
            .output()
            .expect("admin backup");
        assert!(!out.status.success(), "{why}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains(&shas[0]) && stderr.contains(why),
            "{stderr}"
        );
        assert_eq!(complete(&site.backups()), std::slice::from_ref(&good));
        assert!(partials(&site.backups()).is_empty());
    };
    failed("damaged");
    std::fs::remove_file(&live).expect("rm live blob");
    failed("missing from the blob store");
}

#[tokio::test]
async fn a_server_killed_during_its_backup_leaves_the_earlier_backup_whole() {
    let site = Site::new();
    let mut first = Server::start(site.cli(), site.path("first.log"), &[]).await;
    let token = first.token().await;
    // Enough attachment bytes (about 36 MiB) that copying and hashing them takes a while.
    for i in 0..4 {
        let files = (0..3).map(|j| png(3 << 20, i * 10 + j)).collect();
        first.letter(&token, files).await;
    }
    let earlier = site.backup();
    let earlier = PathBuf::from(earlier["path"].as_str().expect("path"));
    // One more letter after it, so the killed backup would have been different.
    first.letter(&token, vec![png(10_000, 99)]).await;
    first.kill();

    // The same files served with scheduled backups: the next is due five seconds
    // after the one just made (after the server is up, so none is missed). Watch for it
    // to start, and kill the server in the middle.
    let mut scheduled = Server::start(
        site.cli(),
        site.path("scheduled.log"),
        &[
            "--backup-dir",
            site.backups().to_str().expect("utf-8"),
            "--backup-every",
            "5s",
            "--backup-keep",
            "10",
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while partials(&site.backups()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no scheduled backup started: {}",
            scheduled.log_text()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    scheduled.kill();
    assert_eq!(
        partials(&site.backups()).len(),
        1,
        "the server was killed while its backup was being written"
    );
    assert_eq!(
        complete(&site.backups()),
        std::slice::from_ref(&earlier),
        "the interrupted backup is not one; the earlier one is still there"
    );
    let half = &partials(&site.backups())[0];
    let out = restore_verify(half, &site.path("scratch-half"));
    assert!(!out.status.success(), "a half backup never verifies");

    let out = restore_verify(&earlier, &site.path("scratch-earlier"));
    assert!(out.status.success(), "{}", text(&out));

    // The next backup succeeds, removes what the killed one left, and verifies.
    let next = site.backup();
    assert_eq!(next["leftovers_removed"], 1);
    assert!(partials(&site.backups()).is_empty());
    let next = PathBuf::from(next["path"].as_str().expect("path"));
    assert_eq!(complete(&site.backups()), [earlier, next.clone()]);
    let out = restore_verify(&next, &site.path("scratch-next"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the 13 blobs"));
}

#[tokio::test]
async fn scheduled_backups_keep_the_newest_n() {
    let site = Site::new();
    let server = Server::start(
        site.cli(),
        site.path("server.log"),
        &[
            "--backup-dir",
            site.backups().to_str().expect("utf-8"),
            "--backup-every",
            "2s",
            "--backup-keep",
            "2",
        ],
    )
    .await;
    let token = server.token().await;
    server.letter(&token, vec![png(2_000, 1)]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    // The third backup removes the first; the fourth is two seconds away.
    while !server.log_text().contains("old backup removed") {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    let kept = complete(&site.backups());
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(partials(&site.backups()).is_empty());
    for (i, backup) in kept.iter().enumerate() {
        let out = restore_verify(backup, &site.path(&format!("scratch-{i}")));
        assert!(out.status.success(), "{}", text(&out));
    }
}
