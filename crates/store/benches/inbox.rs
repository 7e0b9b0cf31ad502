//! Fills a cache file with 100 000 letters through sync pages, then times the inbox and
//! the search the way the UI uses them. Prints its figures; asserts nothing.
//!
//! `cargo bench -p jsjb-store --bench inbox` (LETTERS=n to change the size; FILL_ONLY=1
//! stops after the first sync, for profiling it).

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use jsjb_core::clock::{Band, ClockKind};
use jsjb_core::letter::{
    Category, Channel, ContactMethod, ContactOutcome, FormDecision, LetterState, Satisfaction,
};
use jsjb_core::org::UserId;
use jsjb_core::workflow::EventPayload;
use jsjb_proto::{Change, LetterRecord, SyncPage};
use jsjb_store::fixtures::{self, LetterBuilder, NANTOU, SHEKOU, cst, page, upsert};
use jsjb_store::{InboxQuery, Store};

const TOPICS: &[&str] = &[
    "楼道电动车充电存在火灾隐患",
    "夜间噪音扰民",
    "小区自行车被盗",
    "网络诈骗求助",
    "办理居住证咨询",
    "感谢民警帮助找回孩子",
    "路口违章停车堵塞交通",
    "邻里纠纷调解",
    "外卖骑手闯红灯",
    "户籍迁移材料咨询",
];
const NAMES: &[&str] = &["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九"];

/// Letter `i`: received within the last 30 days, at one of four stages; the last stage
/// goes on with contacts (some unreachable) and, for older letters, the whole life
/// cycle up to the return visit, so that the statistics have histories to fold.
fn letter(i: i64, now: DateTime<Utc>) -> LetterRecord {
    let received = now - TimeDelta::minutes((i * 7919) % (30 * 24 * 60));
    let topic = TOPICS[usize::try_from(i).unwrap_or(0) % TOPICS.len()];
    let mut b = LetterBuilder::received(i, received)
        .subject(topic)
        .body(&format!(
            "来信人反映：{topic}，地点在南山区某街道第{i}号附近，请尽快核实处理。"
        ))
        .writer(NAMES[usize::try_from(i).unwrap_or(0) % NAMES.len()])
        .category(Category::ALL[usize::try_from(i).unwrap_or(0) % Category::ALL.len()])
        .channel(Channel::ALL[usize::try_from(i).unwrap_or(0) % Channel::ALL.len()]);
    let stage = i % 4;
    if stage >= 1 {
        let to = if i % 2 == 0 { NANTOU } else { SHEKOU };
        b = b.dispatch_to(to, received + TimeDelta::minutes(2));
    }
    if stage >= 2 {
        b = b.sign_for(UserId(7 + i % 5), received + TimeDelta::minutes(6));
    }
    if stage == 3 {
        let outcome = if i % 3 == 0 {
            ContactOutcome::Unreachable
        } else {
            ContactOutcome::Reached
        };
        let at = received + TimeDelta::minutes(20 + i % 30);
        b = b.event(
            at,
            EventPayload::ContactRecorded {
                method: ContactMethod::Phone,
                outcome,
                contacted_at: at,
                note: "电话联系".to_owned(),
                callback_at: None,
            },
        );
        if i % 8 == 7 && received + TimeDelta::days(4) <= now {
            let day = |d: i64, h: i64| received + TimeDelta::days(d) + TimeDelta::hours(h);
            b = b
                .event(
                    day(1, 0),
                    EventPayload::FirstFeedbackGiven {
                        text: "已核实，正在处理。".to_owned(),
                    },
                )
                .event(
                    day(3, 0),
                    EventPayload::FeedbackFormSubmitted {
                        summary: "已处理".to_owned(),
                        result: "已解决".to_owned(),
                        reply: "您反映的问题已处理。".to_owned(),
                    },
                )
                .event(
                    day(3, 1),
                    EventPayload::FeedbackFormDecided {
                        decision: FormDecision::Approve,
                        opinion: "同意".to_owned(),
                    },
                )
                .event(
                    day(3, 2),
                    EventPayload::ReturnVisitRecorded {
                        resolved: Some(true),
                        satisfaction: Satisfaction::ALL
                            [usize::try_from(i).unwrap_or(0) % Satisfaction::ALL.len()],
                        note: String::new(),
                        method: None,
                    },
                );
        }
    }
    let mut record = b.build();
    record.problem_tags = vec![format!("问题{}", i % 18 + 1)];
    record
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(index).copied().unwrap_or_default()
}

/// The sync pages of a first sync of `count` letters, 500 to a page as the server sends
/// them, each but the last with more behind it (made before any clock starts: the bench
/// times storing them, not making them).
fn pages(count: i64, now: DateTime<Utc>) -> Vec<SyncPage> {
    let ids: Vec<i64> = (1..=count).collect();
    let chunks = ids.chunks(500);
    let last = chunks.len();
    chunks
        .zip(1..)
        .map(|(chunk, cursor)| {
            let changes: Vec<Change> = chunk.iter().map(|&i| upsert(letter(i, now))).collect();
            let mut page = page(cursor, now, changes);
            page.has_more = usize::try_from(cursor).is_ok_and(|c| c < last);
            page
        })
        .collect()
}

/// The cache filled through `pages`, as a first sync does; the time it took.
fn fill(store: &mut Store, pages: &[SyncPage]) -> Result<Duration, Box<dyn Error>> {
    let start = Instant::now();
    for page in pages {
        store.apply_page(page)?;
    }
    Ok(start.elapsed())
}

/// The baseline of issue 15 item 2: the same rows written with plain rusqlite and
/// nothing else — one row per letter with its listing columns and its record (JSON),
/// one row per event (JSON), a transaction per page with prepared statements, the
/// cache's durability (WAL, synchronous = FULL) — and no view, clock, index or search
/// text. What storing the letters costs before anything the desktop derives from them.
///
/// `synchronous`: `FULL` (as every other commit of the cache) or `NORMAL` (as the
/// store commits the pages of a first sync, with the WAL checkpointed once at the end).
fn raw_bulk_insert(
    path: &std::path::Path,
    pages: &[SyncPage],
    synchronous: &str,
) -> Result<Duration, Box<dyn Error>> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    if synchronous == "NORMAL" {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    conn.execute_batch(
        "CREATE TABLE letters (id INTEGER PRIMARY KEY, tracking_code TEXT NOT NULL,
             channel TEXT NOT NULL, category TEXT NOT NULL, subject TEXT NOT NULL,
             writer_name TEXT NOT NULL, received_at INTEGER NOT NULL, version INTEGER NOT NULL,
             record TEXT NOT NULL) STRICT;
         CREATE TABLE events (letter_id INTEGER NOT NULL, seq INTEGER NOT NULL,
             at INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
             PRIMARY KEY (letter_id, seq)) STRICT, WITHOUT ROWID;",
    )?;
    let start = Instant::now();
    for page in pages {
        let tx = conn.transaction()?;
        {
            let mut letter = tx.prepare_cached(
                "INSERT INTO letters VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut event = tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for change in &page.changes {
                let Change::Letter { letter: r } = change else {
                    continue;
                };
                letter.execute(rusqlite::params![
                    r.id.0,
                    r.tracking_code,
                    r.channel.as_str(),
                    r.category.as_str(),
                    r.subject,
                    r.writer.name,
                    r.received_at.timestamp_micros(),
                    r.version,
                    serde_json::to_string(r)?,
                ])?;
                for e in &r.events {
                    event.execute(rusqlite::params![
                        r.id.0,
                        e.seq,
                        e.at.timestamp_micros(),
                        e.payload.kind(),
                        serde_json::to_string(&e.payload)?,
                    ])?;
                }
            }
        }
        tx.commit()?;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(start.elapsed())
}

fn time(
    label: &str,
    runs: usize,
    mut f: impl FnMut() -> Result<usize, Box<dyn Error>>,
) -> Result<(), Box<dyn Error>> {
    // `ONLY=handover`: time only the queries whose label has that word (for profiling).
    if std::env::var("ONLY").is_ok_and(|only| !label.contains(&only)) {
        return Ok(());
    }
    let start = Instant::now();
    let rows = f()?;
    let first = start.elapsed();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed());
    }
    let p50 = percentile(&mut samples, 0.5);
    let p95 = percentile(&mut samples, 0.95);
    println!(
        "{label:<44} rows {rows:>4}  first {:>8.3} ms  p50 {:>8.3} ms  p95 {:>8.3} ms",
        first.as_secs_f64() * 1e3,
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: keep that quick.
    let full = std::env::args().any(|a| a == "--bench");
    let count: i64 = std::env::var("LETTERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 100_000 } else { 2_000 });
    let runs = if full { 200 } else { 5 };
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path().join("bench.sqlite3"))?;
    store.set_me(&fixtures::officer())?;
    let now = cst("2026-03-02 09:00");

    let pages = pages(count, now);
    let filled = fill(&mut store, &pages)?;
    println!(
        "filled {count} letters through {} sync pages in {:.2} s ({:.0} letters/s)",
        pages.len(),
        filled.as_secs_f64(),
        count as f64 / filled.as_secs_f64()
    );
    if std::env::var_os("FILL_ONLY").is_some() {
        // For profiling the first sync alone.
        return Ok(());
    }
    // `ONLY=…` times some queries alone: no raw insert, no refill for the branch desk.
    let only = std::env::var("ONLY").ok();
    if only.is_none() {
        let raw_full = raw_bulk_insert(&dir.path().join("raw-full.sqlite3"), &pages, "FULL")?;
        let raw = raw_bulk_insert(&dir.path().join("raw.sqlite3"), &pages, "NORMAL")?;
        println!(
            "raw rusqlite bulk insert of the same rows: {:.2} s as the first sync commits \
             (synchronous = NORMAL), {:.2} s with every commit synced (FULL); \
             the store's apply is {:.2}x the first, {:.2}x the second",
            raw.as_secs_f64(),
            raw_full.as_secs_f64(),
            filled.as_secs_f64() / raw.as_secs_f64(),
            filled.as_secs_f64() / raw_full.as_secs_f64()
        );
    }

    let inbox = |store: &Store, q: &InboxQuery| -> Result<usize, Box<dyn Error>> {
        Ok(store.inbox(q, now)?.rows.len())
    };
    let default = InboxQuery::default();
    time("inbox: first page, all letters", runs, || {
        inbox(&store, &default)
    })?;
    let dispatched = InboxQuery {
        states: vec![LetterState::Dispatched],
        ..InboxQuery::default()
    };
    time("inbox: state = dispatched", runs, || {
        inbox(&store, &dispatched)
    })?;
    let warning = InboxQuery {
        bands: vec![Band::Warning, Band::Overdue],
        ..InboxQuery::default()
    };
    time("inbox: band = warning or overdue", runs, || {
        inbox(&store, &warning)
    })?;
    let deep = InboxQuery {
        offset: 5_000.min(u32::try_from(count / 2).unwrap_or(0)),
        ..InboxQuery::default()
    };
    time("inbox: a page deep in the list", runs, || {
        inbox(&store, &deep)
    })?;
    for text in ["电动车", "火灾隐患 南山区", "噪音", "盗", "SZ0000123"] {
        let q = InboxQuery {
            text: Some(text.to_owned()),
            ..InboxQuery::default()
        };
        let label = format!("search {text:?} ({} chars)", text.chars().count());
        time(&label, runs, || inbox(&store, &q))?;
    }
    let first_id = jsjb_core::letter::LetterId(count / 2);
    time("letter detail (fold + clocks)", runs, || {
        Ok(usize::from(store.letter_detail(first_id, now)?.is_some()))
    })?;
    // Statistics fold every history received before the period's end: few runs.
    let stats_runs = if full { 5 } else { 1 };
    let month = (now - TimeDelta::days(30), now);
    time(
        "statistics: the last 30 days (all letters)",
        stats_runs,
        || Ok(store.statistics(month.0, month.1, now)?.units.len()),
    )?;
    let week = (now - TimeDelta::days(7), now);
    time("statistics: the last 7 days", stats_runs, || {
        Ok(store.statistics(week.0, week.1, now)?.units.len())
    })?;
    time("handover: 南头派出所", runs.min(20), || {
        Ok(store
            .handover_report(NANTOU, now, jsjb_store::HANDOVER_SOON_SECS)?
            .items
            .len())
    })?;
    if only
        .as_deref()
        .is_some_and(|o| !"wall board: escalation".contains(o))
    {
        return Ok(());
    }
    // The desks above the station (issue 12): the branch desk's wall board (counts per
    // station plus today's 三率) and the letters below it that may escalate.
    let switch = Instant::now();
    store.set_me(&fixtures::me(
        40,
        fixtures::NANSHAN,
        &[jsjb_core::org::Role::Dispatcher],
    ))?;
    println!(
        "a user of another unit signs in: the cache forgets {count} letters in {:.2} s",
        switch.elapsed().as_secs_f64()
    );
    // A user of another unit starts the cache over (set_me forgets the letters): the
    // branch desk syncs the same letters again, as its own desktop would.
    let refill = fill(&mut store, &pages)?;
    println!(
        "filled again for 南山分局's desk in {:.2} s",
        refill.as_secs_f64()
    );
    let today = jsjb_core::cst_day_start(now);
    time(
        "wall board: 南山分局, counts only",
        runs.min(20),
        || Ok(store.wall_board(None, now)?.rows.len()),
    )?;
    time(
        "wall board: 南山分局, with today's 三率",
        runs.min(20),
        || Ok(store.wall_board(Some(today), now)?.rows.len()),
    )?;
    let clocks = [ClockKind::SignFor, ClockKind::Contact];
    time("escalation candidates: 南山分局", runs.min(20), || {
        Ok(store
            .escalation_candidates(fixtures::NANSHAN, &clocks)?
            .len())
    })?;
    Ok(())
}
