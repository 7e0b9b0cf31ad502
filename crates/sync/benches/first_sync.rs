//! A city desk's first sign-in, end to end (issue 15 item 2): N letters on a real server
//! (a real port, a real SQLite file), and the real sync engine filling a fresh desktop
//! cache through `GET /sync` until it has caught up. Prints, per run, the time to the
//! first page stored (when the inbox can show something), the whole first sync, and for
//! comparison the same pages only fetched and decoded, and only stored; then min /
//! median / max over the runs. The engine fetches the next page while it stores the
//! current one, so the whole should come near the slower of the two parts, not their sum.
//!
//! `cargo bench -p jsjb-sync --bench first_sync -- [letters] [runs]` (default 100000 3).
//! Seeding goes through the real intake route, 32 at a time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jsjb_proto::MAX_SYNC_PAGE;
use jsjb_store::Store;
use jsjb_sync::SyncEvent;
use support::{Api, Desk, ServerProc, seed};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let full = std::env::args().any(|a| a == "--bench");
    let letters: usize = args
        .first()
        .map_or(Ok(if full { 100_000 } else { 300 }), |a| a.parse())?;
    let runs: usize = args
        .get(1)
        .map_or(Ok(if full { 3 } else { 1 }), |a| a.parse())?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench(letters, runs))
}

fn summary(label: &str, per_run: &[f64]) {
    let mut v = per_run.to_vec();
    v.sort_by(f64::total_cmp);
    println!(
        "{label:<32} min {:>7.2} s  median {:>7.2} s  max {:>7.2} s",
        v.first().copied().unwrap_or(f64::NAN),
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

/// `letters` letters typed in by the city desk, 32 at a time.
async fn fill_server(desk: &Arc<Api>, letters: usize) -> BenchResult<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (desk, next) = (Arc::clone(desk), Arc::clone(&next));
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= letters {
                    return;
                }
                desk.intake(n).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    Ok(())
}

async fn bench(letters: usize, runs: usize) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    seed(dir.path()).await;
    let server = ServerProc::start(dir.path(), 0);
    let base = server.url();
    let desk = Arc::new(Api::login(&base, "city.desk").await);
    let started = Instant::now();
    fill_server(&desk, letters).await?;
    println!(
        "seeded {letters} letters through the intake route in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (mut first_pages, mut wholes, mut fetches, mut stores) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        // The real engine into a fresh cache, as at a new workstation.
        let mut station = Desk::sign_in(
            &base,
            "city.desk",
            dir.path().join(format!("cache-{run}.sqlite3")),
        )
        .await;
        station.config.page_limit = MAX_SYNC_PAGE;
        let started = Instant::now();
        station.start().await;
        let mut first_page = None;
        loop {
            let events = station.drain_events();
            if first_page.is_none()
                && events
                    .iter()
                    .any(|e| matches!(e, SyncEvent::LettersChanged { .. }))
            {
                first_page = Some(started.elapsed());
            }
            let cached = station.store.call(|s| s.letter_count()).await??;
            if usize::try_from(cached).is_ok_and(|c| c >= letters) {
                break;
            }
            // A sync that stalls (the engine failing page after page) is a failed run,
            // not a bench that waits forever.
            if started.elapsed() > Duration::from_secs(600) {
                let status = station.handle().status();
                return Err(format!(
                    "the first sync stalled at {cached} of {letters} letters: {:?}",
                    status.last_error_code
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let whole = started.elapsed();
        station.stop().await;

        // The same pages fetched and decoded only, then stored only.
        let started = Instant::now();
        let mut pages = Vec::new();
        let mut cursor = 0;
        loop {
            let page = desk.sync(cursor, MAX_SYNC_PAGE).await;
            cursor = page.next_cursor;
            let more = page.has_more;
            pages.push(page);
            if !more {
                break;
            }
        }
        let fetch = started.elapsed();
        let me = station
            .store
            .call(|s| s.me().cloned())
            .await?
            .ok_or("the desk is signed in")?;
        let mut store = Store::open(dir.path().join(format!("store-only-{run}.sqlite3")))?;
        store.set_me(&me)?;
        let started = Instant::now();
        for page in &pages {
            store.apply_page(page)?;
        }
        let stored = started.elapsed();
        let first = first_page.unwrap_or(whole);
        println!(
            "run {}: first page stored after {:.2} s; whole first sync {:.2} s; fetch + decode alone {:.2} s, store alone {:.2} s (sum {:.2} s)",
            run + 1,
            first.as_secs_f64(),
            whole.as_secs_f64(),
            fetch.as_secs_f64(),
            stored.as_secs_f64(),
            (fetch + stored).as_secs_f64()
        );
        first_pages.push(first.as_secs_f64());
        wholes.push(whole.as_secs_f64());
        fetches.push(fetch.as_secs_f64());
        stores.push(stored.as_secs_f64());
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "--- {letters} letters, {runs} runs; load average {}",
        load.trim()
    );
    summary("first page stored", &first_pages);
    summary("whole first sync (engine)", &wholes);
    summary("fetch + decode alone", &fetches);
    summary("store alone", &stores);
    drop(server);
    Ok(())
}
