//! Report queries over a year of a city's letters: generates the letters once into a
//! real SQLite file (a city bureau, 16 branches, 96 stations; the histories of
//! `tests/support/letters.rs`), serves it on a real port and times `GET /api/v1/reports`
//! over HTTP — a year and a month for the city, a year for a branch, the CSV and XLSX
//! exports — printing min/median/max of the runs. Also the one-off catch-up after the
//! bulk load (every letter folded into its facts) and an incremental refresh.
//!
//! `cargo bench -p jsjb-server --bench reports -- [letters] [runs]` (default 200000 5).
//! The data stays in `target/bench-data/` and is reused by the next run; `--rebuild`
//! makes it anew.

#[path = "../tests/support/letters.rs"]
mod generate;

use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use generate::{Branch, Org, Rng, Station};
use jsjb_core::org::{Role, Tier};
use jsjb_server::Config;
use jsjb_server::admin::{self, CreateUnitRequest, CreateUserRequest};
use jsjb_storage::Actor;

const PASSWORD: &str = "bench-password-1";

fn config(dir: &Path) -> Config {
    let mut config = Config::new(dir.join("jsjb.sqlite3"), dir.join("blobs"));
    config.argon2_memory_kib = 256;
    config
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rebuild = args.iter().any(|a| a == "--rebuild");
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let letters = numbers.first().copied().unwrap_or(200_000);
    let runs = numbers.get(1).copied().unwrap_or(5).max(1);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/bench-data")
        .join(format!("reports-{letters}"));
    if rebuild && dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    tokio::runtime::Runtime::new()?.block_on(bench(&dir, letters, runs))
}

/// The org; its station ids and officer ids (officers exist only in the histories).
async fn seed(state: &jsjb_server::AppState) -> anyhow::Result<Org> {
    let (store, time) = (state.store.as_ref(), state.time.as_ref());
    let unit = |parent: Option<i64>, tier, name: String| CreateUnitRequest {
        parent_id: parent,
        tier,
        name,
    };
    let err = |e: jsjb_server::ApiError| anyhow::anyhow!("{e:?}");
    let city = admin::create_unit(
        store,
        time,
        unit(None, Tier::City, "深圳市公安局".into()),
        Actor::cli(),
    )
    .await
    .map_err(err)?;
    let mut branches = Vec::new();
    let mut officer = 1_000_000;
    for b in 0..16 {
        let branch = admin::create_unit(
            store,
            time,
            unit(Some(city.id), Tier::Branch, format!("分局{b:02}")),
            Actor::cli(),
        )
        .await
        .map_err(err)?;
        let mut stations = Vec::new();
        for s in 0..6 {
            let station = admin::create_unit(
                store,
                time,
                unit(Some(branch.id), Tier::Station, format!("派出所{b:02}-{s}")),
                Actor::cli(),
            )
            .await
            .map_err(err)?;
            stations.push(Station {
                id: station.id,
                officers: (0..8)
                    .map(|_| {
                        officer += 1;
                        officer
                    })
                    .collect(),
            });
        }
        branches.push(Branch {
            id: branch.id,
            stations,
        });
    }
    admin::create_user(
        store,
        &state.config,
        time,
        CreateUserRequest {
            unit_id: city.id,
            username: "desk".into(),
            display_name: "市局值班".into(),
            roles: vec![Role::Dispatcher],
            password: PASSWORD.into(),
        },
        Actor::cli(),
    )
    .await
    .map_err(err)?;
    Ok(Org {
        city: city.id,
        branches,
    })
}

/// Generates the letters (once), in transactions of 20,000.
async fn generate(dir: &Path, letters: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let state = jsjb_server::open(config(dir))?;
    let org = seed(&state).await?;
    let now = Utc::now();
    let mut rng = Rng::new(2026);
    let plans = generate::plans(
        &mut rng,
        &org,
        letters,
        now - Duration::days(365),
        Duration::days(365),
        now,
    );
    drop(state);
    let mut conn = rusqlite::Connection::open(dir.join("jsjb.sqlite3"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let started = Instant::now();
    for (i, chunk) in plans.chunks(20_000).enumerate() {
        generate::insert(&mut conn, &org, chunk, 1 + (i * 20_000) as u64)?;
    }
    let events: i64 = conn.query_row("SELECT count(*) FROM letter_events", [], |r| r.get(0))?;
    println!(
        "generated {letters} letters ({events} events) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::fs::write(dir.join("complete"), "")?;
    Ok(())
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn get(&self, path: &str) -> anyhow::Result<(StdDuration, usize)> {
        let started = Instant::now();
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = res.status();
        let body = res.bytes().await?;
        let took = started.elapsed();
        anyhow::ensure!(
            status == 200,
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok((took, body.len()))
    }
}

fn q(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn timed(client: &Client, name: &str, path: &str, runs: usize) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let (took, bytes) = client.get(path).await?;
        times.push(took);
        size = bytes;
    }
    times.sort();
    println!(
        "{name:<28} min {:>7.1} ms   median {:>7.1} ms   max {:>7.1} ms   ({} runs, {} KiB)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        runs,
        size / 1024
    );
    Ok(())
}

async fn bench(dir: &Path, letters: usize, runs: usize) -> anyhow::Result<()> {
    if !dir.join("complete").exists() {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        generate(dir, letters).await?;
    } else {
        println!("reusing the {letters} letters in {}", dir.display());
    }
    let state = jsjb_server::open(config(dir))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = state.clone();
    let server = tokio::spawn(async move {
        jsjb_server::serve(listener, serving, async {
            let _ = stopped.await;
        })
        .await
    });
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "desk", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login: {login}"))?
        .to_owned();
    let client = Client { http, base, token };
    let branch = login["me"]["units"]
        .as_array()
        .and_then(|units| units.iter().find(|u| u["tier"] == "branch"))
        .and_then(|u| u["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("no branch"))?;

    let now = Utc::now();
    let year = format!(
        "from={}&to={}",
        q(now - Duration::days(365)),
        q(now + Duration::days(1))
    );
    let month = format!(
        "from={}&to={}",
        q(now - Duration::days(30)),
        q(now + Duration::days(1))
    );

    // The catch-up: after a bulk load (or an upgrade) every letter is folded once.
    let (took, _) = client.get(&format!("/api/v1/reports?{month}")).await?;
    println!(
        "{:<28} {:>7.1} ms   (once: every changed letter folded into its facts)",
        "first report (catch-up)",
        ms(took)
    );

    timed(
        &client,
        "year, city",
        &format!("/api/v1/reports?{year}"),
        runs,
    )
    .await?;
    timed(
        &client,
        "month, city",
        &format!("/api/v1/reports?{month}"),
        runs,
    )
    .await?;
    timed(
        &client,
        "year, one branch",
        &format!("/api/v1/reports?{year}&unit={branch}"),
        runs,
    )
    .await?;
    timed(
        &client,
        "year, CSV export",
        &format!("/api/v1/reports/export?{year}&format=csv"),
        runs,
    )
    .await?;
    timed(
        &client,
        "year, XLSX export",
        &format!("/api/v1/reports/export?{year}&format=xlsx"),
        runs,
    )
    .await?;

    // A busy hour: 1,000 letters changed since the last report (a change row each, as
    // every action appends), then the report refolds just those.
    let mut conn = rusqlite::Connection::open(dir.join("jsjb.sqlite3"))?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at)
         SELECT id, unit_id, NULL, updated_at FROM letters ORDER BY id DESC LIMIT 1000",
        [],
    )?;
    tx.commit()?;
    let (took, _) = client.get(&format!("/api/v1/reports?{year}")).await?;
    println!(
        "{:<28} {:>7.1} ms   (1,000 letters refolded, then the year's report)",
        "year, after 1,000 changes",
        ms(took)
    );

    let _ = stop.send(());
    server.await??;
    Ok(())
}
