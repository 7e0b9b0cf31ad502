//! Report facts in SQLite: one row per fact of `jsjb_core::report::LetterFacts` in
//! `report_facts` (migration 13), refreshed from the change log, and the GROUP BY
//! queries a report is assembled from.
//!
//! Refresh: the changes after `report_progress.change_seq` are taken in order, a batch
//! at a time, each one job on the writer (so it reads every change committed before
//! it): the batch's letters are read, folded (core's `letter_facts`), their rows
//! replaced, and the mark moved past the batch, all in one transaction. A letter that
//! changes meanwhile has a newer change and is refolded by a later batch; one refolded
//! twice gets the same rows — so refreshes may overlap or be cut short (a timed-out
//! request, a restart) without harm, and each batch done stays done.
//!
//! Times in the table are Unix microseconds (the precision `time::to_db` keeps), so a
//! period is an integer range on the `(kind, at)` index; whether a fact counts at `now`
//! is core's `Outcome::counted` over its two stored values.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use jsjb_core::letter::Category;
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::report::{Outcome, Rate, letter_facts};
use jsjb_core::rules::Rules;
use jsjb_core::workflow::EventPayload;
use jsjb_storage::StorageError;
use jsjb_storage::report_facts::{
    DEADLINE, FactRow, PROBLEM, RECEIVED, RESOLUTION, RESPONSE, VISIT, kind_rate, micros,
    rate_kind, rows,
};
use jsjb_storage::reports::{
    DayRow, HeldRow, RateRow, ReceivedRow, ReportAggregates, ReportQuery, ReportStore,
};
use jsjb_storage::time::from_db;
use rusqlite::{Connection, params};

use crate::{Db, SqliteStore};

/// Changes taken per writer job: small enough that the writer is never held for long.
const BATCH: usize = 1000;

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

fn parse_tier(text: &str) -> Result<Tier, StorageError> {
    Tier::ALL
        .into_iter()
        .find(|t| t.as_str() == text)
        .ok_or_else(|| corrupt(format!("unknown tier {text:?}")))
}

fn parse_category(text: &str) -> Result<Category, StorageError> {
    Category::parse(text).ok_or_else(|| corrupt(format!("unknown category {text:?}")))
}

/// A letter's facts as rows, from its stored history.
struct Folded {
    letter: i64,
    category: Category,
    rows: Vec<FactRow>,
}

/// Reads and folds `letters`.
fn fold_letters(
    conn: &Connection,
    letters: &[i64],
    rules: &Rules,
) -> Result<Vec<Folded>, StorageError> {
    let mut tiers = std::collections::HashMap::new();
    {
        let mut stmt = conn.prepare_cached("SELECT id, tier FROM units").db()?;
        let mut q = stmt.query([]).db()?;
        while let Some(r) = q.next().db()? {
            let tier: String = r.get(1).db()?;
            tiers.insert(UnitId(r.get(0).db()?), parse_tier(&tier)?);
        }
    }
    let tier_of = |u: UnitId| tiers.get(&u).copied().unwrap_or(Tier::Station);
    let mut letter_stmt = conn
        .prepare_cached("SELECT category, problem_tags FROM letters WHERE id = ?1")
        .db()?;
    let mut event_stmt = conn
        .prepare_cached("SELECT at, payload FROM letter_events WHERE letter_id = ?1 ORDER BY seq")
        .db()?;
    let mut out = Vec::with_capacity(letters.len());
    for &id in letters {
        let (category, tags): (String, String) = letter_stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .db()?;
        let category = parse_category(&category)?;
        let tags: Vec<String> =
            serde_json::from_str(&tags).map_err(|e| corrupt(format!("letter {id} tags: {e}")))?;
        let mut events: Vec<(DateTime<Utc>, EventPayload)> = Vec::new();
        let mut q = event_stmt.query([id]).db()?;
        while let Some(r) = q.next().db()? {
            let at: String = r.get(0).db()?;
            let payload: String = r.get(1).db()?;
            events.push((
                from_db(&at).map_err(|e| corrupt(format!("letter {id} event time: {e}")))?,
                serde_json::from_str(&payload)
                    .map_err(|e| corrupt(format!("letter {id} event payload: {e}")))?,
            ));
        }
        let policy = rules.letter_policy(category, events.iter().map(|(at, e)| (*at, e)));
        let facts = letter_facts(category, &events, &policy, rules.calendar())
            .ok_or_else(|| corrupt(format!("letter {id} does not start with `received`")))?;
        out.push(Folded {
            letter: id,
            category: facts.category,
            rows: rows(&facts, &tags, tier_of),
        });
    }
    Ok(out)
}

/// Replaces the folded letters' rows (on the writer).
fn store_rows(conn: &Connection, folded: &[Folded]) -> Result<(), StorageError> {
    let mut delete = conn
        .prepare_cached("DELETE FROM report_facts WHERE letter_id = ?1")
        .db()?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO report_facts (letter_id, kind, at, unit_id, tier, user_id, category,
                                       counts_after, met, until, tag)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .db()?;
    for letter in folded {
        delete.execute([letter.letter]).db()?;
        for row in &letter.rows {
            insert
                .execute(params![
                    letter.letter,
                    row.kind,
                    row.at,
                    row.unit.0,
                    row.tier.as_str(),
                    row.user.map(|u| u.0),
                    letter.category.as_str(),
                    row.counts_after,
                    row.met,
                    row.until,
                    row.tag,
                ])
                .db()?;
        }
    }
    Ok(())
}

/// A text column read in place (no copy).
fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, StorageError> {
    r.get_ref(i)
        .db()?
        .as_str()
        .map_err(|e| corrupt(format!("column {i}: {e}")))
}

/// A rate's facts by kind, unit, officer and category.
type RateKey = (i16, i64, Option<i64>, Category);

/// The sums of the facts pass, by key: (counted, met) for the rates and days.
#[derive(Default)]
struct FactSums {
    rates: HashMap<RateKey, (u32, u32)>,
    days: HashMap<(i16, i64), (u32, u32)>,
    overdue: HashMap<(Option<i64>, Tier), u32>,
    received: HashMap<(Category, i64), u32>,
    problems: HashMap<(String, i64), u32>,
}

/// Time held by unit (and, with `None`, by tier): seconds and the letters.
type HeldSums = HashMap<(Option<i64>, Tier), (i64, HashSet<i64>)>;

/// One pass over the period's facts (the `(kind, at)` index), summed in memory: the
/// counting is core's (`Outcome::counted`), and a hash map is far cheaper than the
/// sorts a GROUP BY per figure would cost. The holdings are another pass
/// ([`held_pass`]): they may start before the period.
fn facts_pass(conn: &Connection, q: &ReportQuery) -> Result<FactSums, StorageError> {
    let scope: HashSet<i64> = q.scope.iter().map(|u| u.0).collect();
    let (from, to) = (micros(q.from), micros(q.to));
    let mut sums = FactSums::default();
    let FactSums {
        rates,
        days,
        overdue,
        received,
        problems,
    } = &mut sums;
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, at, unit_id, user_id, category, counts_after, met, tier, tag
             FROM report_facts
             WHERE kind IN (1, 2, 3, 4, 6, 7) AND at >= ?1 AND at < ?2",
        )
        .db()?;
    let mut rows = stmt.query(params![from, to]).db()?;
    // Days are counted by their index since the epoch (CST) until the end.
    let day_index = |at: i64| (at / 1_000_000 + 28_800).div_euclid(86_400);
    while let Some(r) = rows.next().db()? {
        let unit: i64 = r.get(2).db()?;
        if !scope.contains(&unit) {
            continue;
        }
        let kind: i16 = r.get(0).db()?;
        let at: i64 = r.get(1).db()?;
        match kind {
            RESPONSE | RESOLUTION | VISIT => {
                let counts_after: i64 = r.get(5).db()?;
                let met: bool = r.get(6).db()?;
                let Some(met) = Outcome::counted(counts_after, met, q.now) else {
                    continue;
                };
                let category = parse_category(text(r, 4)?)?;
                let officer: Option<i64> = r.get(3).db()?;
                let entry = rates.entry((kind, unit, officer, category)).or_default();
                entry.0 += 1;
                entry.1 += u32::from(met);
                let entry = days.entry((kind, day_index(at))).or_default();
                entry.0 += 1;
                entry.1 += u32::from(met);
            }
            DEADLINE => {
                let counts_after: i64 = r.get(5).db()?;
                let met: bool = r.get(6).db()?;
                if Outcome::counted(counts_after, met, q.now) == Some(false) {
                    let tier = parse_tier(text(r, 7)?)?;
                    *overdue.entry((Some(unit), tier)).or_default() += 1;
                    *overdue.entry((None, tier)).or_default() += 1;
                }
            }
            RECEIVED => {
                let category = parse_category(text(r, 4)?)?;
                *received.entry((category, unit)).or_default() += 1;
                days.entry((RECEIVED, day_index(at))).or_default().0 += 1;
            }
            PROBLEM => {
                let tag: String = r.get::<_, Option<String>>(8).db()?.unwrap_or_default();
                *problems.entry((tag, unit)).or_default() += 1;
            }
            _ => {}
        }
    }
    Ok(sums)
}

/// Time held: each holding clipped to `[from, min(to, now))`; letters counted once per
/// unit and once per tier.
fn held_pass(conn: &Connection, q: &ReportQuery) -> Result<HeldSums, StorageError> {
    let scope: HashSet<i64> = q.scope.iter().map(|u| u.0).collect();
    let (from, to, now) = (micros(q.from), micros(q.to), micros(q.now));
    let end = to.min(now);
    let mut held = HeldSums::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT letter_id, at, until, unit_id, tier FROM report_facts
             WHERE kind = 5 AND at < ?1 AND (until IS NULL OR until > ?2)",
        )
        .db()?;
    let mut rows = stmt.query(params![end, from]).db()?;
    while let Some(r) = rows.next().db()? {
        let unit: i64 = r.get(3).db()?;
        if !scope.contains(&unit) {
            continue;
        }
        let start: i64 = r.get::<_, i64>(1).db()?.max(from);
        let stop = r.get::<_, Option<i64>>(2).db()?.unwrap_or(now).min(end);
        if stop <= start {
            continue;
        }
        let letter: i64 = r.get(0).db()?;
        let tier = parse_tier(text(r, 4)?)?;
        for key in [(Some(unit), tier), (None, tier)] {
            let entry = held.entry(key).or_default();
            entry.0 += stop - start;
            entry.1.insert(letter);
        }
    }
    Ok(held)
}

/// The two passes' sums as the seam's rows, sorted (hash order is arbitrary).
fn combine(sums: FactSums, held: HeldSums) -> Result<ReportAggregates, StorageError> {
    let FactSums {
        rates,
        days,
        overdue,
        received,
        problems,
    } = sums;
    let mut out = ReportAggregates::default();
    for ((kind, unit, officer, category), (counted, met)) in rates {
        if let Some(rate) = kind_rate(kind) {
            out.rates.push(RateRow {
                rate,
                unit: UnitId(unit),
                officer: officer.map(UserId),
                category,
                counted,
                met,
            });
        }
    }
    for ((kind, day), (counted, met)) in days {
        out.days.push(DayRow {
            rate: kind_rate(kind),
            day: day_from_index(day)?,
            counted,
            met,
        });
    }
    let keys: std::collections::BTreeSet<(Option<i64>, Tier)> =
        overdue.keys().chain(held.keys()).copied().collect();
    for key in keys {
        let (held_secs, letters) = held.get(&key).map_or((0, 0), |(secs, letters)| {
            (
                *secs / 1_000_000,
                u32::try_from(letters.len()).unwrap_or(u32::MAX),
            )
        });
        out.held.push(HeldRow {
            unit: key.0.map(UnitId),
            tier: key.1,
            overdue: overdue.get(&key).copied().unwrap_or_default(),
            held_secs,
            letters_held: letters,
        });
    }
    for ((key, area), count) in received {
        out.received.push(ReceivedRow {
            key,
            area: UnitId(area),
            count,
        });
    }
    for ((key, area), count) in problems {
        out.problems.push(ReceivedRow {
            key,
            area: UnitId(area),
            count,
        });
    }
    // Hash order is arbitrary: sort, so that the same data gives the same answer.
    out.rates
        .sort_by_key(|r| (r.rate, r.unit, r.officer, r.category));
    out.days.sort_by_key(|d| (d.rate, d.day));
    out.received.sort_by_key(|r| (r.key, r.area));
    out.problems
        .sort_by(|a, b| (&a.key, a.area).cmp(&(&b.key, b.area)));
    Ok(out)
}

fn day_from_index(index: i64) -> Result<NaiveDate, StorageError> {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(index)))
        .ok_or_else(|| corrupt(format!("day {index} out of range")))
}

/// Refolds the letters of the next changes after the progress mark, at most `BATCH`
/// changes, and moves the mark past them — one transaction, so the mark never passes a
/// letter whose rows are not in. Returns how many letters were refolded (0: up to date).
fn refresh_batch(conn: &Connection, rules: &Rules) -> Result<usize, StorageError> {
    let done: i64 = conn
        .query_row(
            "SELECT change_seq FROM report_progress WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .db()?;
    let mut stmt = conn
        .prepare_cached("SELECT seq, letter_id FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .db()?;
    let mut letters = std::collections::BTreeSet::new();
    let mut last = done;
    let mut rows = stmt.query(params![done, BATCH as i64]).db()?;
    while let Some(r) = rows.next().db()? {
        last = r.get(0).db()?;
        letters.insert(r.get::<_, i64>(1).db()?);
    }
    if last == done {
        return Ok(0);
    }
    let letters: Vec<i64> = letters.into_iter().collect();
    let folded = fold_letters(conn, &letters, rules)?;
    store_rows(conn, &folded)?;
    conn.execute(
        "UPDATE report_progress SET change_seq = ?1 WHERE id = 1",
        [last],
    )
    .db()?;
    Ok(letters.len().max(1))
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn refresh_report_facts(&self, rules: Arc<Rules>) -> Result<u64, StorageError> {
        let mut total = 0u64;
        loop {
            let rules = Arc::clone(&rules);
            // One batch per writer job: other writes go between two batches, and a
            // batch reads every change committed before it.
            let n = self.write(move |conn| refresh_batch(conn, &rules)).await?;
            if n == 0 {
                return Ok(total);
            }
            total = total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    async fn report_aggregates(
        &self,
        query: ReportQuery,
    ) -> Result<ReportAggregates, StorageError> {
        // The two passes on two reader connections at once. Each is its own snapshot:
        // a refresh committed between them may show in one pass only, which moves a
        // figure by what changed in that instant and nothing else.
        let held_query = query.clone();
        let (facts, held) = tokio::try_join!(
            self.read(move |conn| facts_pass(conn, &query)),
            self.read(move |conn| held_pass(conn, &held_query)),
        )?;
        combine(facts, held)
    }
}

/// The rate's `report_facts.kind` (for tests that read the table).
pub fn kind_of(rate: Rate) -> i64 {
    i64::from(rate_kind(rate))
}
