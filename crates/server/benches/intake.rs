//! Durable writes (issue 15 item 5): desks typing in letters (`POST /api/v1/letters`,
//! each with its own Idempotency-Key, as the app sends them) against a real server in
//! its own process on a real port and SQLite file. A letter counts when its `201` is
//! back, which the server sends only after the commit is on disk. Prints letters/s and
//! the answer's p50/p99 for each number of concurrent clients, per run, then min /
//! median / max over the runs.
//!
//! `cargo bench -p jsjb-server --bench intake -- [runs] [letters per level] [clients,…]`
//! (`JSJB_BENCH_POSTGRES=postgres://…` to run it on PostgreSQL, support/mod.rs)
//! (default 3 2000 1,32,128; one client sends a quarter of the letters). The clients run
//! on the same 2 cores as the server: the figures are the pair's, as on a one-box
//! deployment.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use support::{
    desk_letter, percentile, prepare_database, seed, serve, spawn_server, stored_letters, summary,
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
    let runs: usize = args.first().map_or(Ok(3), |a| a.parse())?;
    let letters: usize = args.get(1).map_or(Ok(2000), |a| a.parse())?;
    let levels: Vec<usize> = match args.get(2) {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 32, 128],
    };
    rt.block_on(bench(runs, letters, &levels))
}

/// One level of one run: `letters` letters sent by `clients` concurrent clients, each
/// with its own session. Letters/s over the whole level, and each answer's time (ms).
async fn level(
    port: u16,
    tokens: &[String],
    clients: usize,
    letters: usize,
    tag: &str,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens.iter().take(clients) {
        let (http, next, token) = (http.clone(), Arc::clone(&next), token.clone());
        let tag = tag.to_owned();
        tasks.spawn(async move {
            let mut times = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= letters {
                    return anyhow::Ok(times);
                }
                let sent = Instant::now();
                let res = http
                    .post(format!("http://127.0.0.1:{port}/api/v1/letters"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("bench-{tag}-{n}"))
                    .json(&desk_letter(&format!("夜间施工噪音 {tag}-{n}")))
                    .send()
                    .await?;
                anyhow::ensure!(res.status() == 201, "letter: {}", res.text().await?);
                res.bytes().await?;
                times.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
        });
    }
    let mut times = Vec::with_capacity(letters);
    while let Some(done) = tasks.join_next().await {
        times.extend(done??);
    }
    let rate = letters as f64 / started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    Ok((rate, times))
}

async fn bench(runs: usize, letters: usize, levels: &[usize]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let postgres = prepare_database(dir.path()).await?;
    let most = levels.iter().copied().max().unwrap_or(1);
    // Branch 0's desks only: every letter lands at the same unit, the busiest case.
    let tokens: Vec<String> = seed(dir.path(), most * 4)
        .await?
        .into_iter()
        .filter(|(branch, _)| *branch == 0)
        .map(|(_, token)| token)
        .collect();
    let (mut server, port) = spawn_server(dir.path())?;
    // Warm up: the pools, the caches, the first pages of the file.
    level(port, &tokens, 8, 200, "warm").await?;
    let mut answered = 200;
    let mut figures: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = vec![Default::default(); levels.len()];
    for run in 0..runs {
        for (i, &clients) in levels.iter().enumerate() {
            let count = if clients == 1 { letters / 4 } else { letters };
            let (rate, times) =
                level(port, &tokens, clients, count, &format!("{run}-{clients}")).await?;
            let (p50, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
            println!(
                "run {}: {clients:>4} clients, {count} letters: {rate:>7.0} letters/s, answer p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms",
                run + 1,
                times.last().copied().unwrap_or(f64::NAN)
            );
            answered += count;
            figures[i].0.push(rate);
            figures[i].1.push(p50);
            figures[i].2.push(p99);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("--- {runs} runs; load average {}", load.trim());
    for (&clients, (rates, p50s, p99s)) in levels.iter().zip(&figures) {
        summary(&format!("{clients} clients: letters/s"), rates);
        summary(&format!("{clients} clients: answer p50 ms"), p50s);
        summary(&format!("{clients} clients: answer p99 ms"), p99s);
    }
    drop(server.stdin.take());
    let _ = server.wait();
    // Every letter answered `201` is in the database (the server is gone: what is there
    // is what was committed).
    let stored = stored_letters(dir.path(), postgres.as_deref()).await?;
    anyhow::ensure!(
        usize::try_from(stored).is_ok_and(|s| s == answered),
        "{answered} letters answered 201, {stored} in the file"
    );
    println!("{stored} letters answered and in the file");
    Ok(())
}
