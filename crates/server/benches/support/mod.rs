//! What the server's benches share: the server in its own process on a real port and
//! SQLite file (so that its RSS and CPU are its own), and the figures' arithmetic.
//!
//! With `JSJB_BENCH_POSTGRES` set to a PostgreSQL URL whose user may create databases
//! (`cargo xtask postgres` prints one), the server runs on a fresh PostgreSQL database
//! instead of the file (`prepare_database`).

// Each bench uses part of this.
#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::sync::Arc;

use jsjb_core::org::{Role, Tier};
use jsjb_server::Config;
use jsjb_server::admin::{self, CreateUnitRequest, CreateUserRequest};
use jsjb_storage::{Actor, LoginAttempt, NewSession};

pub const PASSWORD: &str = "bench-password-1";

/// The benches' server configuration: a real file, a cheap password hash (the benches
/// time what follows a sign-in, not argon2).
pub fn config(dir: &Path) -> Config {
    let mut config = match std::fs::read_to_string(dir.join(POSTGRES_URL_FILE)) {
        Ok(url) => {
            let mut config = Config::new(url.trim().into(), dir.join("blobs"));
            config.audit_key = Some(dir.join("audit-key.pem"));
            config
        }
        Err(_) => Config::new(dir.join("jsjb.sqlite3"), dir.join("blobs")),
    };
    config.argon2_memory_kib = 256;
    // The benches time intake, pushes and pages; the notices to writers a letter calls
    // for are sent off the request path and measured by none of them.
    config.citizen.notice_poll_secs = 0;
    config
}

/// Where [`prepare_database`] leaves the database's URL for the server process.
const POSTGRES_URL_FILE: &str = "postgres-url";

/// The variable naming the PostgreSQL server to bench on.
pub const POSTGRES_ENV: &str = "JSJB_BENCH_POSTGRES";

/// With [`POSTGRES_ENV`] set: a fresh database `jsjb_bench_<pid>` on that server, whose
/// URL [`config`] then uses (here and in the server process). Returns the URL, or
/// `None` for SQLite.
pub async fn prepare_database(dir: &Path) -> anyhow::Result<Option<String>> {
    let Ok(admin) = std::env::var(POSTGRES_ENV) else {
        return Ok(None);
    };
    let name = format!("jsjb_bench_{}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let (base, _) = admin
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("{POSTGRES_ENV}: a URL ending in /database"))?;
    let url = format!("{base}/{name}");
    std::fs::write(dir.join(POSTGRES_URL_FILE), &url)?;
    println!("on PostgreSQL: {base}/{name}");
    Ok(Some(url))
}

/// Letters stored, read from the database itself (the server is gone: what is there is
/// what was committed).
pub async fn stored_letters(dir: &Path, postgres: Option<&str>) -> anyhow::Result<i64> {
    Ok(match postgres {
        Some(url) => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client
                .query_one("SELECT count(*) FROM letters", &[])
                .await?
                .get(0)
        }
        None => rusqlite::Connection::open(dir.join("jsjb.sqlite3"))?.query_row(
            "SELECT count(*) FROM letters",
            [],
            |r| r.get(0),
        )?,
    })
}

/// The bench binary run as `--serve DIR`: the server on `dir`, printing its port; it
/// stops when the bench closes our stdin (or dies).
pub async fn serve(dir: &Path) -> anyhow::Result<()> {
    let state = open(dir).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
        let _ = tx.send(());
    });
    jsjb_server::serve(listener, state, async {
        let _ = rx.await;
    })
    .await?;
    Ok(())
}

/// The server's state on the benches' database.
pub async fn open(dir: &Path) -> anyhow::Result<jsjb_server::AppState> {
    Ok(jsjb_server::open_async(config(dir), Arc::new(jsjb_server::time::SystemTime)).await?)
}

/// Starts this bench binary as the server on `dir`: the child and its port. Dropping the
/// child's stdin stops it.
pub fn spawn_server(dir: &Path) -> anyhow::Result<(Child, u16)> {
    let mut server = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let out = server
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line)?;
    Ok((server, line.trim().parse()?))
}

/// A desk's typed-in letter (`POST /api/v1/letters`) as the benches send it.
pub fn desk_letter(subject: &str) -> serde_json::Value {
    serde_json::json!({
        "category": "help",
        "problem_tags": ["噪音扰民"],
        "subject": subject,
        "body": "每晚十一点后仍有施工噪音，影响休息，请处理。地点在南山区某街道附近。",
        "writer_name": "张三丰",
        "writer_phone": "13812345678",
    })
}

/// A field of `/proc/{pid}/status` in KiB (or a count), 0 when unreadable.
pub fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The `p`th percentile of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One figure over the runs: min / median / max.
pub fn summary(label: &str, per_run: &[f64]) {
    let mut v = per_run.to_vec();
    v.sort_by(f64::total_cmp);
    println!(
        "{label:<34} min {:>8.1}  median {:>8.1}  max {:>8.1}",
        v.first().copied().unwrap_or(f64::NAN),
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

/// A city (4 branches × 8 stations, a desk user `desk{b}` per branch with [`PASSWORD`])
/// and `sessions` signed-in sessions, written before the server starts: session `i` is
/// branch `i % 4`'s desk; each is returned with its branch and bearer token.
pub async fn seed(dir: &Path, sessions: usize) -> anyhow::Result<Vec<(usize, String)>> {
    let state = open(dir).await?;
    let (store, time) = (state.store.as_ref(), state.time.as_ref());
    let unit = |parent: Option<i64>, tier, name: &str| CreateUnitRequest {
        parent_id: parent,
        tier,
        name: name.to_owned(),
    };
    let city = admin::create_unit(
        store,
        time,
        unit(None, Tier::City, "深圳市公安局"),
        Actor::cli(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut users = Vec::new();
    for b in 0..4 {
        let branch = admin::create_unit(
            store,
            time,
            unit(Some(city.id), Tier::Branch, &format!("分局{b}")),
            Actor::cli(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for s in 0..8 {
            admin::create_unit(
                store,
                time,
                unit(Some(branch.id), Tier::Station, &format!("派出所{b}-{s}")),
                Actor::cli(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        let user = admin::create_user(
            store,
            &state.config,
            time,
            CreateUserRequest {
                unit_id: branch.id,
                username: format!("desk{b}"),
                display_name: format!("分局{b}值班"),
                roles: vec![Role::Dispatcher],
                password: PASSWORD.to_owned(),
            },
            Actor::cli(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        users.push(user.id);
    }
    let now = state.time.now();
    let mut tokens = Vec::with_capacity(sessions);
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..sessions {
        let token = format!("bench-token-{i:08}");
        let user = jsjb_core::org::UserId(users[i % 4]);
        let store = Arc::clone(&state.store);
        let session = NewSession {
            token_hash: jsjb_server::auth::token_hash(&token),
            user_id: user,
            created_at: now,
            expires_at: now + chrono::Duration::hours(12),
            ip: "127.0.0.1".to_owned(),
            workstation: None,
        };
        let attempt = LoginAttempt {
            username: format!("desk{}", i % 4),
            user: Some(user),
            ip: "127.0.0.1".to_owned(),
            ip_bucket: "127.0.0.1".to_owned(),
            at: now,
        };
        writes.spawn(async move { store.record_login_success(attempt, session).await });
        tokens.push((i % 4, token));
        // Many at once: the writer commits them in groups.
        while writes.len() >= 256 {
            if let Some(done) = writes.join_next().await {
                done??;
            }
        }
    }
    while let Some(done) = writes.join_next().await {
        done??;
    }
    Ok(tokens)
}
