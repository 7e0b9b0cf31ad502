//! Push fan-out at city scale: N desktops hold SSE streams to a real server (its own
//! process, a real port, a real SQLite file), a quarter of them in the scope of the
//! letters that arrive; prints arrival → poke at each in-scope desktop (p50/p99/max per
//! run, then min/median/max over the runs), poke → page (`GET /sync`), and the server's
//! RSS idle per stream.
//!
//! `cargo bench -p jsjb-server --bench fanout -- [desktops] [runs] [letters per run]`
//! (default 1000 3 20). On PostgreSQL (`JSJB_BENCH_POSTGRES`, support/mod.rs) with
//! `JSJB_BENCH_NODES=2`, two server processes share the database, the desktops are
//! spread over both and the letters arrive at the first: half the pokes cross nodes
//! (LISTEN/NOTIFY). 10,000 desktops need ~10,000 file descriptors in each process:
//! `ulimit -n 20000` first; the bench says so when the limit is lower.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

mod support;

use support::{
    PASSWORD, desk_letter, percentile, prepare_database, seed, serve, spawn_server,
    status_field as rss_kib, summary,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Runtime::new()?;
    if args.first().map(String::as_str) == Some("--serve") {
        let dir = PathBuf::from(args.get(1).ok_or_else(|| anyhow::anyhow!("--serve DIR"))?);
        return rt.block_on(serve(&dir));
    }
    let number = |i: usize, default: usize| -> anyhow::Result<usize> {
        Ok(match args.get(i) {
            Some(a) => a.parse()?,
            None => default,
        })
    };
    let desktops = number(0, 1000)?;
    let runs = number(1, 3)?;
    let letters = number(2, 20)?;
    rt.block_on(bench(desktops, runs, letters))
}

fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// What a desktop's stream reports.
struct Report {
    desktop: usize,
    cursor: i64,
    poked_at: Instant,
    /// When the page the poke asked for had arrived (when pages are fetched).
    page_at: Option<Instant>,
}

/// One desktop: a raw HTTP/1.1 SSE stream (cheap on the client side), reporting each
/// poke; with `page`, fetching `GET /sync` after each one as the desktop does.
async fn desktop(
    port: u16,
    desktop: usize,
    token: String,
    page: Option<reqwest::Client>,
    reports: mpsc::UnboundedSender<Report>,
) -> anyhow::Result<()> {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    socket
        .write_all(
            format!(
                "GET /api/v1/sync/stream?cursor=0 HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut buf = vec![0_u8; 2048];
    let mut carry = String::new();
    let mut cursor = 0_i64;
    loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let poked_at = Instant::now();
        carry.push_str(&String::from_utf8_lossy(&buf[..n]));
        let mut newest = None;
        while let Some(at) = carry.find("\"cursor\":") {
            let rest = &carry[at + 9..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.len() == rest.len() {
                break; // split across reads: wait for the rest
            }
            newest = digits.parse::<i64>().ok().or(newest);
            carry = rest[digits.len()..].to_owned();
        }
        if carry.len() > 256 && !carry.contains("\"cursor\"") {
            carry.clear();
        }
        let Some(seq) = newest else { continue };
        let page_at = match &page {
            Some(client) => {
                let res = client
                    .get(format!(
                        "http://127.0.0.1:{port}/api/v1/sync?cursor={cursor}&limit=500"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                res.bytes().await?;
                Some(Instant::now())
            }
            None => None,
        };
        cursor = seq;
        let _ = reports.send(Report {
            desktop,
            cursor: seq,
            poked_at,
            page_at,
        });
    }
}

async fn bench(desktops: usize, runs: usize, letters: usize) -> anyhow::Result<()> {
    let limit = open_files_limit().unwrap_or(0);
    if limit < desktops + 512 {
        anyhow::bail!(
            "{desktops} desktops need more open files than {limit}: run `ulimit -n {}` first",
            desktops * 2 + 1024
        );
    }
    let dir = tempfile::tempdir()?;
    let postgres = prepare_database(dir.path()).await?;
    let nodes: usize = std::env::var("JSJB_BENCH_NODES").map_or(Ok(1), |n| n.parse())?;
    anyhow::ensure!(
        nodes == 1 || postgres.is_some(),
        "several nodes share a PostgreSQL database: set JSJB_BENCH_POSTGRES"
    );
    println!("seeding {desktops} sessions…");
    let tokens = seed(dir.path(), desktops).await?;
    let mut servers = Vec::new();
    for _ in 0..nodes.max(1) {
        servers.push(spawn_server(dir.path())?);
    }
    let ports: Vec<u16> = servers.iter().map(|(_, port)| *port).collect();
    // Letters arrive at the first node; its process is the one measured.
    let (port, pid) = (ports[0], servers[0].0.id());
    let http = reqwest::Client::new();
    let login = |name: &str| {
        http.post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": name, "password": PASSWORD}))
            .send()
    };
    let writer: serde_json::Value = login("desk0").await?.json().await?;
    let writer = writer["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login: {writer}"))?
        .to_owned();
    // Warm the server up (pools, caches) before the baseline.
    for _ in 0..20 {
        http.get(format!("http://127.0.0.1:{port}/api/v1/sync?cursor=0"))
            .bearer_auth(&writer)
            .send()
            .await?
            .bytes()
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib(pid, "VmRSS:");

    // Poke → page is measured at up to 1,000 desktops (each fetches its page).
    let fetch_pages = desktops <= 1000;
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
    let page_client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()?;
    let mut opening = tokio::task::JoinSet::new();
    for (i, (branch, token)) in tokens.iter().enumerate() {
        let page = (fetch_pages && *branch == 0).then(|| page_client.clone());
        let (tx, token) = (tx.clone(), token.clone());
        // In-scope desktops (i % 4 == 0) are spread over the nodes too.
        let node_port = ports[(i / 4) % ports.len()];
        opening.spawn(async move { desktop(node_port, i, token, page, tx).await });
        // Desktops connect over time, not in one burst: a burst's transient memory
        // (reads on many blocking threads at once) would stay in the allocator's
        // arenas and be counted as the streams'.
        if i % 25 == 24 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(tx);
    // Wait until the server holds every stream (its RSS stops growing), then idle.
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        if open >= desktops / ports.len() || started.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    // Idle means idle: the burst of openings ran its reads on tokio's blocking threads
    // (one SQLite connection each beyond the pool's 8), which leave after 10 s unused.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let rss_idle = rss_kib(pid, "VmRSS:");
    println!("server threads: {} while idle", rss_kib(pid, "Threads:"));
    let per_stream = (rss_idle.saturating_sub(rss_before)) as f64 * 1024.0
        / (desktops / ports.len()).max(1) as f64;
    println!(
        "server RSS: {} KiB before the streams, {} KiB with {desktops} idle streams: {:.0} bytes per stream",
        rss_before, rss_idle, per_stream
    );
    // Pokes for what the desktops missed before they connected are not measured.
    while rx.try_recv().is_ok() {}

    let in_scope = tokens.iter().filter(|(b, _)| *b == 0).count();
    let (mut p50s, mut p99s, mut maxes, mut page99s) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let mut arrival = Vec::new();
        let mut commits = Vec::new();
        let mut pages = Vec::new();
        let mut stray = 0_usize;
        let mut missing = 0_usize;
        for n in 0..letters {
            let sent = Instant::now();
            let res = http
                .post(format!("http://127.0.0.1:{port}/api/v1/letters"))
                .bearer_auth(&writer)
                .json(&desk_letter(&format!("夜间施工噪音 {run}-{n}")))
                .send()
                .await?;
            anyhow::ensure!(res.status() == 201, "letter: {}", res.text().await?);
            // The commit's own time (with its fsync): part of arrival → poke, and what
            // a loaded disk stretches.
            commits.push(sent.elapsed().as_secs_f64() * 1000.0);
            let mut poked: BTreeMap<usize, i64> = BTreeMap::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while poked.len() < in_scope {
                let Ok(Some(report)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                    break;
                };
                if report.desktop % 4 != 0 {
                    stray += 1;
                    continue;
                }
                poked.insert(report.desktop, report.cursor);
                arrival.push((report.poked_at - sent).as_secs_f64() * 1000.0);
                if let Some(page_at) = report.page_at {
                    pages.push((page_at - report.poked_at).as_secs_f64() * 1000.0);
                }
            }
            missing += in_scope - poked.len();
            // Let the desktops' page fetches settle before the next letter.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        arrival.sort_by(f64::total_cmp);
        commits.sort_by(f64::total_cmp);
        pages.sort_by(f64::total_cmp);
        let (p50, p99, max) = (
            percentile(&arrival, 50.0),
            percentile(&arrival, 99.0),
            arrival.last().copied().unwrap_or(f64::NAN),
        );
        println!(
            "run {}: {letters} letters × {in_scope} desktops in scope: arrival → poke p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; poke → page p99 {:.1} ms; the letter's commit (POST answered) p50 {:.1} ms, max {:.1} ms; {missing} pokes missing, {stray} outside the scope",
            run + 1,
            percentile(&pages, 99.0),
            percentile(&commits, 50.0),
            commits.last().copied().unwrap_or(f64::NAN),
        );
        p50s.push(p50);
        p99s.push(p99);
        maxes.push(max);
        page99s.push(percentile(&pages, 99.0));
    }
    // For comparison, what a plain idle keep-alive connection costs the server (hyper's
    // buffers and the connection task, no stream): N more of them, held a few seconds.
    let before_plain = rss_kib(pid, "VmRSS:");
    // (At most 1,000, to stay within the open-files limit beside the streams.)
    let plain_count = desktops.min(1000);
    let mut plain = Vec::with_capacity(plain_count);
    for _ in 0..plain_count {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
            .await?;
        let mut buf = [0_u8; 1024];
        let _ = socket.read(&mut buf).await?;
        plain.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_plain =
        rss_kib(pid, "VmRSS:").saturating_sub(before_plain) as f64 * 1024.0 / plain_count as f64;
    drop(plain);
    println!("--- {desktops} desktops, {runs} runs (ms) ---");
    summary("arrival → poke p50", &p50s);
    summary("arrival → poke p99", &p99s);
    summary("arrival → poke max", &maxes);
    if fetch_pages {
        summary("poke → page p99", &page99s);
    }
    println!(
        "server RSS idle per stream: {per_stream:.0} bytes (a plain idle keep-alive connection: {per_plain:.0} bytes); now {} KiB, peak {} KiB",
        rss_kib(pid, "VmRSS:"),
        rss_kib(pid, "VmHWM:")
    );
    for (mut server, _) in servers {
        drop(server.stdin.take());
        let _ = server.wait();
    }
    Ok(())
}
