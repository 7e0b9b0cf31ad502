//! Fills a cache file with 100 000 letters through sync pages, then times the inbox and
//! the search the way the UI uses them. Prints its figures; asserts nothing.
//!
//! `cargo bench -p jsjb-store --bench inbox` (LETTERS=n to change the size).

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use jsjb_core::clock::Band;
use jsjb_core::letter::{Category, Channel, LetterState};
use jsjb_core::org::UserId;
use jsjb_proto::{Change, LetterRecord};
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

/// Letter `i`: received within the last 30 days, at one of four stages.
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
    b.build()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(index).copied().unwrap_or_default()
}

fn time(
    label: &str,
    runs: usize,
    mut f: impl FnMut() -> Result<usize, Box<dyn Error>>,
) -> Result<(), Box<dyn Error>> {
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

    let start = Instant::now();
    let mut cursor = 0;
    let ids: Vec<i64> = (1..=count).collect();
    for chunk in ids.chunks(500) {
        cursor += 1;
        let changes: Vec<Change> = chunk.iter().map(|&i| upsert(letter(i, now))).collect();
        store.apply_page(&page(cursor, now, changes))?;
    }
    let fill = start.elapsed();
    println!(
        "filled {count} letters through {cursor} sync pages in {:.2} s ({:.0} letters/s)",
        fill.as_secs_f64(),
        count as f64 / fill.as_secs_f64()
    );

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
    Ok(())
}
