//! Report facts in PostgreSQL: one row per fact of `jsjb_core::report::LetterFacts` in
//! `report_facts`, refreshed from the change log, and the passes a report is summed
//! from — the SQLite backend's `reports.rs`, same kinds, rows and sums.
//!
//! Refresh: the changes after `report_progress.change_seq` are taken in order, a batch
//! at a time. A batch is read and folded in one REPEATABLE READ snapshot (the mark, the
//! changes, the letters and their events all agree; the changes it sees are a prefix of
//! the log, see the crate doc), without the write lock, so writers are not held up by the
//! folding. Then, under the write lock, the mark is moved from the value the snapshot
//! read to the batch's last change — only if it is still that value — and the batch's
//! rows are replaced, in one transaction. If another refresh moved the mark meanwhile,
//! the batch is dropped and read again from the new mark. Correct because:
//! - a change committed after the snapshot has a higher number than every change the
//!   snapshot saw, so it lies after the new mark and a later batch refolds its letter;
//! - the mark only grows and every committed batch moves it, so an unchanged mark means
//!   no batch committed since the snapshot, and no newer rows are overwritten by older.
//!
//! A letter refolded twice gets the same rows, so refreshes may overlap (on one node or
//! several) or be cut short without harm, and each batch done stays done.
//!
//! Times in the table are Unix microseconds, so a period is an integer range on the
//! `(kind, at)` index; whether a fact counts at `now` is core's `Outcome::counted` over
//! its two stored values.

use crate::cached::Cached;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use jsjb_core::letter::Category;
use jsjb_core::org::{Tier, UnitId, UserId};
use jsjb_core::report::{Outcome, letter_facts};
use jsjb_core::rules::Rules;
use jsjb_core::workflow::EventPayload;
use jsjb_storage::StorageError;
use jsjb_storage::reports::{
    DayRow, HeldRow, RateRow, ReceivedRow, ReportAggregates, ReportQuery, ReportStore,
};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::{Db, PgStore, begin_read, begin_write, corrupt, load_units, parse_tier};
use jsjb_storage::report_facts::{
    DEADLINE, FactRow, PROBLEM, RECEIVED, RESOLUTION, RESPONSE, VISIT, kind_rate, micros, rows,
};

/// Changes taken per batch: small enough that the write lock is never held for long.
const BATCH: i64 = 1000;

/// Rows fetched at a time by the report passes: a year of a city's facts is not held
/// in memory at once, only the sums.
const FETCH: i32 = 10_000;

/// Column `i` of `r`: a NULL where a value is due, or a wrong type, is corrupt data,
/// not a panic (`Row::get` would panic).
fn col<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> Result<T, StorageError> {
    r.try_get(i)
        .map_err(|e| corrupt(format!("report_facts column {i}: {e}")))
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

/// Reads and folds `letters` (in the caller's snapshot: two statements, one for the
/// letters and one for all their events, rather than two per letter).
async fn fold_letters(
    tx: &impl GenericClient,
    letters: &[i64],
    rules: &Rules,
) -> Result<Vec<Folded>, StorageError> {
    let tiers: HashMap<UnitId, Tier> = load_units(tx)
        .await?
        .into_iter()
        .map(|u| (u.id, u.tier))
        .collect();
    let tier_of = |u: UnitId| tiers.get(&u).copied().unwrap_or(Tier::Station);
    let mut heads: HashMap<i64, (Category, Vec<String>)> = HashMap::with_capacity(letters.len());
    for r in tx
        .query_c(
            "SELECT id, category, problem_tags FROM letters WHERE id = ANY($1)",
            &[&letters],
        )
        .await
        .db()?
    {
        let id: i64 = r.get(0);
        let category = parse_category(r.get(1))?;
        let tags: Vec<String> = serde_json::from_str(r.get(2))
            .map_err(|e| corrupt(format!("letter {id} tags: {e}")))?;
        heads.insert(id, (category, tags));
    }
    let mut histories: HashMap<i64, Vec<(DateTime<Utc>, EventPayload)>> =
        HashMap::with_capacity(letters.len());
    for r in tx
        .query_c(
            "SELECT letter_id, at, payload FROM letter_events WHERE letter_id = ANY($1)
             ORDER BY letter_id, seq",
            &[&letters],
        )
        .await
        .db()?
    {
        let id: i64 = r.get(0);
        let payload: EventPayload = serde_json::from_str(r.get(2))
            .map_err(|e| corrupt(format!("letter {id} event payload: {e}")))?;
        histories.entry(id).or_default().push((r.get(1), payload));
    }
    let mut out = Vec::with_capacity(letters.len());
    for &id in letters {
        let (category, tags) = heads
            .remove(&id)
            .ok_or_else(|| corrupt(format!("a change names letter {id}, which is not stored")))?;
        let events = histories.remove(&id).unwrap_or_default();
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

/// Replaces the folded letters' rows (under the write lock): one DELETE and one
/// INSERT over arrays, whatever the batch's size.
async fn store_rows(tx: &Transaction<'_>, folded: &[Folded]) -> Result<(), StorageError> {
    let letters: Vec<i64> = folded.iter().map(|f| f.letter).collect();
    tx.execute_c(
        "DELETE FROM report_facts WHERE letter_id = ANY($1)",
        &[&letters],
    )
    .await
    .db()?;
    let n: usize = folded.iter().map(|f| f.rows.len()).sum();
    let mut letter_id = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    let mut unit = Vec::with_capacity(n);
    let mut tier = Vec::with_capacity(n);
    let mut user: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut category = Vec::with_capacity(n);
    let mut counts_after: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut met: Vec<Option<bool>> = Vec::with_capacity(n);
    let mut until: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut tag: Vec<Option<&str>> = Vec::with_capacity(n);
    for letter in folded {
        for row in &letter.rows {
            letter_id.push(letter.letter);
            kind.push(row.kind);
            at.push(row.at);
            unit.push(row.unit.0);
            tier.push(row.tier.as_str());
            user.push(row.user.map(|u| u.0));
            category.push(letter.category.as_str());
            counts_after.push(row.counts_after);
            met.push(row.met);
            until.push(row.until);
            tag.push(row.tag.as_deref());
        }
    }
    if n == 0 {
        return Ok(());
    }
    tx.execute_c(
        "INSERT INTO report_facts (letter_id, kind, at, unit_id, tier, user_id, category,
                                   counts_after, met, until, tag)
         SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[],
                              $5::text[], $6::bigint[], $7::text[], $8::bigint[],
                              $9::boolean[], $10::bigint[], $11::text[])",
        &[
            &letter_id,
            &kind,
            &at,
            &unit,
            &tier,
            &user,
            &category,
            &counts_after,
            &met,
            &until,
            &tag,
        ],
    )
    .await
    .db()?;
    Ok(())
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

/// Time held by unit (and, with `None`, by tier): microseconds and the letters.
type HeldSums = HashMap<(Option<i64>, Tier), (i64, HashSet<i64>)>;

/// Runs `sql` with `params` in `tx` through a portal, [`FETCH`] rows at a time, handing
/// each row to `each`.
async fn each_row(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    mut each: impl FnMut(&Row) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let stmt = tx.prepare_cached(sql).await.db()?;
    let portal = tx.bind(&stmt, params).await.db()?;
    loop {
        let rows = tx.query_portal(&portal, FETCH).await.db()?;
        for r in &rows {
            each(r)?;
        }
        // A short chunk is the last one.
        if rows.len() < usize::try_from(FETCH).unwrap_or(usize::MAX) {
            return Ok(());
        }
    }
}

/// One pass over the period's facts in scope (the `(kind, at)` index), summed in
/// memory: the counting is core's (`Outcome::counted`), and a hash map is far cheaper
/// than the sorts a GROUP BY per figure would cost. The holdings are another pass
/// ([`held_pass`]): they may start before the period.
async fn facts_pass(tx: &Transaction<'_>, q: &ReportQuery) -> Result<FactSums, StorageError> {
    let scope: Vec<i64> = q.scope.iter().map(|u| u.0).collect();
    let (from, to) = (micros(q.from), micros(q.to));
    let mut sums = FactSums::default();
    let FactSums {
        rates,
        days,
        overdue,
        received,
        problems,
    } = &mut sums;
    // Days are counted by their index since the epoch (CST) until the end.
    let day_index = |at: i64| (at / 1_000_000 + 28_800).div_euclid(86_400);
    each_row(
        tx,
        "SELECT kind, at, unit_id, user_id, category, counts_after, met, tier, tag
         FROM report_facts
         WHERE kind IN (1, 2, 3, 4, 6, 7) AND at >= $1 AND at < $2 AND unit_id = ANY($3)",
        &[&from, &to, &scope],
        |r| {
            let kind: i16 = col(r, 0)?;
            let at: i64 = col(r, 1)?;
            let unit: i64 = col(r, 2)?;
            match kind {
                RESPONSE | RESOLUTION | VISIT => {
                    let Some(met) = Outcome::counted(col(r, 5)?, col(r, 6)?, q.now) else {
                        return Ok(());
                    };
                    let category = parse_category(col(r, 4)?)?;
                    let officer: Option<i64> = col(r, 3)?;
                    let entry = rates.entry((kind, unit, officer, category)).or_default();
                    entry.0 += 1;
                    entry.1 += u32::from(met);
                    let entry = days.entry((kind, day_index(at))).or_default();
                    entry.0 += 1;
                    entry.1 += u32::from(met);
                }
                // Overdue: late at `now`.
                DEADLINE if Outcome::counted(col(r, 5)?, col(r, 6)?, q.now) == Some(false) => {
                    let tier = parse_tier(col(r, 7)?)?;
                    *overdue.entry((Some(unit), tier)).or_default() += 1;
                    *overdue.entry((None, tier)).or_default() += 1;
                }
                RECEIVED => {
                    let category = parse_category(col(r, 4)?)?;
                    *received.entry((category, unit)).or_default() += 1;
                    days.entry((RECEIVED, day_index(at))).or_default().0 += 1;
                }
                PROBLEM => {
                    let tag: String = col::<Option<String>>(r, 8)?.unwrap_or_default();
                    *problems.entry((tag, unit)).or_default() += 1;
                }
                _ => {}
            }
            Ok(())
        },
    )
    .await?;
    Ok(sums)
}

/// Time held: each holding in scope clipped to `[from, min(to, now))`; letters counted
/// once per unit and once per tier.
async fn held_pass(tx: &Transaction<'_>, q: &ReportQuery) -> Result<HeldSums, StorageError> {
    let scope: Vec<i64> = q.scope.iter().map(|u| u.0).collect();
    let (from, to, now) = (micros(q.from), micros(q.to), micros(q.now));
    let end = to.min(now);
    let mut held = HeldSums::new();
    each_row(
        tx,
        "SELECT letter_id, at, until, unit_id, tier FROM report_facts
         WHERE kind = 5 AND at < $1 AND (until IS NULL OR until > $2) AND unit_id = ANY($3)",
        &[&end, &from, &scope],
        |r| {
            let unit: i64 = col(r, 3)?;
            let start = col::<i64>(r, 1)?.max(from);
            let stop = col::<Option<i64>>(r, 2)?.unwrap_or(now).min(end);
            if stop <= start {
                return Ok(());
            }
            let letter: i64 = col(r, 0)?;
            let tier = parse_tier(col(r, 4)?)?;
            for key in [(Some(unit), tier), (None, tier)] {
                let entry = held.entry(key).or_default();
                entry.0 += stop - start;
                entry.1.insert(letter);
            }
            Ok(())
        },
    )
    .await?;
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
    let keys: BTreeSet<(Option<i64>, Tier)> = overdue.keys().chain(held.keys()).copied().collect();
    for key in keys {
        let (held_secs, letters) = held.get(&key).map_or((0, 0), |(micros, letters)| {
            (
                *micros / 1_000_000,
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

/// What one batch did.
enum Batch {
    /// No change after the mark: the facts are up to date.
    UpToDate,
    /// Another refresh moved the mark first: read again from it.
    Overtaken,
    /// This many letters refolded and the mark moved past their changes.
    Done(usize),
}

/// Refolds the letters of the next changes after the progress mark, at most [`BATCH`]
/// changes, and moves the mark past them (see the module doc).
async fn refresh_batch(store: &PgStore, rules: &Rules) -> Result<Batch, StorageError> {
    let mut client = store.client().await?;
    let (done, last, folded) = {
        let tx = begin_read(&mut client).await?;
        let done: i64 = tx
            .query_one_c("SELECT change_seq FROM report_progress WHERE id = 1", &[])
            .await
            .db()?
            .get(0);
        let mut letters = BTreeSet::new();
        let mut last = done;
        for r in tx
            .query_c(
                "SELECT seq, letter_id FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&done, &BATCH],
            )
            .await
            .db()?
        {
            last = r.get(0);
            letters.insert(r.get::<_, i64>(1));
        }
        if last == done {
            tx.commit().await.db()?;
            return Ok(Batch::UpToDate);
        }
        let letters: Vec<i64> = letters.into_iter().collect();
        let folded = fold_letters(&tx, &letters, rules).await?;
        tx.commit().await.db()?;
        (done, last, folded)
    };
    drop(client);
    let mut client = store.writer().await?;
    let tx = begin_write(&mut client).await?;
    let moved = tx
        .execute_c(
            "UPDATE report_progress SET change_seq = $1 WHERE id = 1 AND change_seq = $2",
            &[&last, &done],
        )
        .await
        .db()?;
    if moved == 0 {
        tx.rollback().await.db()?;
        return Ok(Batch::Overtaken);
    }
    store_rows(&tx, &folded).await?;
    store.commit(tx).await?;
    Ok(Batch::Done(folded.len().max(1)))
}

#[async_trait]
impl ReportStore for PgStore {
    async fn refresh_report_facts(&self, rules: Arc<Rules>) -> Result<u64, StorageError> {
        let mut total = 0u64;
        loop {
            match refresh_batch(self, &rules).await? {
                Batch::UpToDate => return Ok(total),
                Batch::Overtaken => {}
                Batch::Done(n) => {
                    total = total.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
                }
            }
        }
    }

    async fn report_aggregates(
        &self,
        query: ReportQuery,
    ) -> Result<ReportAggregates, StorageError> {
        // Both passes in one snapshot (so a refresh committing meanwhile shows in both or
        // neither), pipelined on the one connection.
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let (facts, held) = tokio::try_join!(facts_pass(&tx, &query), held_pass(&tx, &query))?;
        tx.commit().await.db()?;
        combine(facts, held)
    }
}
