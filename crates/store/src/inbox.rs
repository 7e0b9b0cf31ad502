//! What the UI asks of the cache: the inbox (filtered, sorted by urgency, paged) and a
//! letter's detail.

use chrono::{DateTime, Utc};
use jsjb_core::clock::{Band, ClockKind, LetterClocks, evaluate, running_band};
use jsjb_core::letter::{Category, Channel, LetterId, LetterState};
use jsjb_core::org::{UnitId, UserId};
use jsjb_core::workflow::{EventPayload, LetterStatus};
use jsjb_proto::LetterRecord;
use rusqlite::types::Value;
use rusqlite::{Row, params_from_iter};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::outbox_rows::{self, OutboxEntry};
use crate::{Store, StoreError, time, view};

/// The most rows one inbox page returns.
pub const MAX_PAGE: u32 = 500;

/// The inbox filters. Empty lists and `None` filter nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct InboxQuery {
    pub states: Vec<LetterState>,
    /// The colour of the row's most urgent clock at the query's `now`.
    pub bands: Vec<Band>,
    pub categories: Vec<Category>,
    pub channels: Vec<Channel>,
    pub handler: Option<UserId>,
    pub unit: Option<UnitId>,
    /// 我的盯办: letters this user was assigned to follow up as supervising officer.
    pub supervisor: Option<UserId>,
    /// 延期待审批: only letters whose extension request waits for a decision.
    pub extension_pending: bool,
    /// 已延期: only letters whose closure deadline was extended.
    pub extended: bool,
    /// 待回访: only closed letters whose return visit is not done.
    pub visit_due: bool,
    /// Words to find in the subject, body, tracking code or writer's name; every
    /// whitespace-separated word must occur.
    pub text: Option<String>,
    pub offset: u32,
    /// At most [`MAX_PAGE`].
    pub limit: u32,
}

impl Default for InboxQuery {
    fn default() -> Self {
        InboxQuery {
            states: Vec::new(),
            bands: Vec::new(),
            categories: Vec::new(),
            channels: Vec::new(),
            handler: None,
            unit: None,
            supervisor: None,
            extension_pending: false,
            extended: false,
            visit_due: false,
            text: None,
            offset: 0,
            limit: 50,
        }
    }
}

/// One inbox row, coloured at the query's `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct InboxRow {
    pub id: LetterId,
    pub tracking_code: String,
    pub channel: Channel,
    pub category: Category,
    pub subject: String,
    pub writer_name: String,
    pub received_at: DateTime<Utc>,
    /// The view's state (pending actions included).
    pub state: LetterState,
    pub unit_id: UnitId,
    pub handler_id: Option<UserId>,
    /// The view's version: what the next action must be based on.
    pub version: u32,
    /// Local actions wait to be accepted by the server.
    pub pending: bool,
    /// False while a new arrival has not been opened.
    pub seen: bool,
    pub band: Band,
    /// The most urgent running clock; `None` when none runs.
    pub urgent_clock: Option<ClockKind>,
    pub due_at: Option<DateTime<Utc>>,
    /// Seconds left on the most urgent clock (negative when overdue).
    #[ts(type = "number | null")]
    pub remaining_secs: Option<i64>,
    pub group: InboxGroup,
    /// When the supervising officer last chased the case (催办), shown as a badge.
    pub chased_at: Option<DateTime<Utc>>,
}

/// Where a row ranks in the inbox at the query's `now` (docs/design.md, "The inbox
/// order"): groups in this order, each sorted as its variant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum InboxGroup {
    /// A sign-for or contact clock still runs: saved or lost in the next minutes.
    /// By that clock's due time, soonest first (even when an earlier clock of the
    /// letter is already overdue: signing now still saves the contact clock).
    Savable,
    /// Another clock (first feedback, closure) still runs: by its due time.
    Live,
    /// Its most urgent clock is overdue and no sign-for or contact clock can be saved
    /// any more (已超期): longest overdue first.
    Overdue,
    /// No clock runs: newest first.
    Done,
}

/// How many letters are in one state under the other filters (for the state tabs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct StateCount {
    pub state: LetterState,
    #[ts(type = "number")]
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct InboxPage {
    pub rows: Vec<InboxRow>,
    /// Rows matching every filter (for paging).
    #[ts(type = "number")]
    pub total: u64,
    /// Per state, under every filter except the state filter.
    pub state_counts: Vec<StateCount>,
}

/// A pending action and what it does to the letter as the desktop shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PendingAction {
    pub entry: OutboxEntry,
    /// The event the action adds to the view.
    pub event: Option<EventPayload>,
    /// Why core refuses the action on the letter as it is now (it will likely be
    /// refused by the server too): a `RuleError` code.
    pub conflict: Option<String>,
}

/// Everything the detail pane shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct LetterDetail {
    /// The letter as the server last sent it (its events are the confirmed history).
    pub record: LetterRecord,
    /// The view: the server's events plus the pending actions.
    pub status: LetterStatus,
    /// Every clock of the view, read at `now`.
    pub clocks: LetterClocks,
    pub pending: Vec<PendingAction>,
    /// Actions the server refused, until the officer dismisses them.
    pub failed: Vec<OutboxEntry>,
    pub seen: bool,
}

/// The colour of a row's most urgent clock at `now`, by core's rule for a running clock
/// ([`running_band`]); `None` due: every clock is met.
fn band_at(next_due_at: Option<i64>, warn_at: Option<i64>, now: i64) -> (Band, Option<i64>) {
    let Some(due) = next_due_at else {
        return (Band::Done, None);
    };
    let remaining = due.saturating_sub(now).div_euclid(1_000_000);
    // A row without a warn time warns only at its due time.
    match running_band(now, due, warn_at.unwrap_or(due)) {
        Band::Overdue => (Band::Overdue, Some(remaining.min(-1))),
        band => (band, Some(remaining)),
    }
}

/// The SQL condition for a band at `?` = now: [`band_at`] as a filter, so a band filter
/// selects exactly the rows the page colours so (`band_sql_selects_what_band_at_colours`).
fn band_sql(band: Band) -> &'static str {
    match band {
        Band::Done => "next_due_at IS NULL",
        Band::Overdue => "next_due_at < ?",
        Band::Warning => "(next_due_at >= ? AND warn_at <= ?)",
        Band::Ok => "warn_at > ?",
    }
}

fn band_params(band: Band) -> usize {
    match band {
        Band::Done => 0,
        Band::Overdue | Band::Ok => 1,
        Band::Warning => 2,
    }
}

/// A `LIKE` pattern that finds `term` literally: `%`, `_` and the escape character
/// itself are escaped with `\`.
fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// An FTS5 phrase that matches `term` literally.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// A WHERE clause under construction, with its positional parameters in order.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    fn add(&mut self, clause: impl Into<String>, params: impl IntoIterator<Item = Value>) {
        self.clauses.push(clause.into());
        self.params.extend(params);
    }

    fn any_of(&mut self, column: &str, values: impl IntoIterator<Item = Value>) {
        let values: Vec<Value> = values.into_iter().collect();
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.add(format!("{column} IN ({marks})"), values);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// The text search. Trigrams can only match runs of 3+ characters: longer words
    /// go to the FTS index (one MATCH, words ANDed); 1–2-character words are matched
    /// with `LIKE` over the same text.
    fn text(&mut self, text: &str) {
        let mut phrases = Vec::new();
        for term in text.split_whitespace() {
            if term.chars().count() >= 3 {
                phrases.push(fts_phrase(term));
            } else {
                let pattern = Value::Text(like_pattern(term));
                self.add(
                    "id IN (SELECT id FROM letter_text WHERE text LIKE ? ESCAPE '\\')",
                    [pattern],
                );
            }
        }
        if !phrases.is_empty() {
            self.add(
                "id IN (SELECT rowid FROM letters_fts WHERE letters_fts MATCH ?)",
                [Value::Text(phrases.join(" "))],
            );
        }
    }
}

/// `sql` with its anonymous `?` parameters numbered from `first` on (`?2`, `?3`, …), so
/// that it can follow numbered ones. The filters' SQL has no `?` inside a literal.
fn numbered(sql: &str, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = first;
    for c in sql.chars() {
        out.push(c);
        if c == '?' {
            out.push_str(&n.to_string());
            n += 1;
        }
    }
    out
}

fn text_value(s: &str) -> Value {
    Value::Text(s.to_owned())
}

const ROW_COLUMNS: &str = "id, tracking_code, channel, category, subject, writer_name, \
    received_at, state, unit_id, handler_id, version, pending, seen, urgent_clock, \
    next_due_at, warn_at, chased_at";

/// The earliest sign-for or contact due time not yet passed at `?` = now (twice), or
/// NULL: the clock that can still be saved. A clock due exactly now still runs.
const SAVABLE_SQL: &str = "min(coalesce(CASE WHEN sign_for_due >= ?1 THEN sign_for_due END, \
    9223372036854775807), coalesce(CASE WHEN contact_due >= ?1 THEN contact_due END, \
    9223372036854775807))";

/// The group of a row (see [`InboxGroup`]), as a number in the order of the groups.
fn group_of(savable: Option<i64>, next_due_at: Option<i64>, now: i64) -> InboxGroup {
    match (savable, next_due_at) {
        (Some(_), _) => InboxGroup::Savable,
        (None, None) => InboxGroup::Done,
        (None, Some(due)) if now > due => InboxGroup::Overdue,
        (None, Some(_)) => InboxGroup::Live,
    }
}

fn parse<T>(column: &str, value: &str, f: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    f(value).ok_or_else(|| StoreError::Corrupt(format!("{column} {value:?}")))
}

fn row_at(row: &Row<'_>, now: i64) -> Result<InboxRow, StoreError> {
    let savable: Option<i64> = row.get(17)?;
    let savable = savable.filter(|s| *s != i64::MAX);
    let channel: String = row.get(2)?;
    let category: String = row.get(3)?;
    let state: String = row.get(7)?;
    let urgent: Option<String> = row.get(13)?;
    let next_due_at: Option<i64> = row.get(14)?;
    let (band, remaining_secs) = band_at(next_due_at, row.get(15)?, now);
    Ok(InboxRow {
        id: LetterId(row.get(0)?),
        tracking_code: row.get(1)?,
        channel: parse("channel", &channel, Channel::parse)?,
        category: parse("category", &category, Category::parse)?,
        subject: row.get(4)?,
        writer_name: row.get(5)?,
        received_at: time::from_db(row.get(6)?)?,
        state: parse("state", &state, LetterState::parse)?,
        unit_id: UnitId(row.get(8)?),
        handler_id: row.get::<_, Option<i64>>(9)?.map(UserId),
        version: row.get(10)?,
        pending: row.get(11)?,
        seen: row.get(12)?,
        band,
        urgent_clock: urgent
            .map(|k| {
                parse("urgent_clock", &k, |s| {
                    ClockKind::ALL.into_iter().find(|c| c.as_str() == s)
                })
            })
            .transpose()?,
        due_at: next_due_at.map(time::from_db).transpose()?,
        remaining_secs,
        group: group_of(savable, next_due_at, now),
        chased_at: row
            .get::<_, Option<i64>>(16)?
            .map(time::from_db)
            .transpose()?,
    })
}

impl Store {
    /// One page of the inbox at `now` (server time), in the order of [`InboxGroup`]:
    /// first the letters whose sign-for or contact clock can still be saved (soonest
    /// due first), then the other running clocks (soonest due first), then the overdue
    /// ones (longest overdue first), letters with no running clock last (newest
    /// first). So 30 lost cases never push a savable one below the fold. Only the
    /// columns are read: no history is folded.
    pub fn inbox(&self, query: &InboxQuery, now: DateTime<Utc>) -> Result<InboxPage, StoreError> {
        let now_db = time::to_db(now);
        let mut filter = Filter::default();
        if !query.bands.is_empty() {
            let sql: Vec<&str> = query.bands.iter().map(|b| band_sql(*b)).collect();
            let count: usize = query.bands.iter().map(|b| band_params(*b)).sum();
            filter.add(
                format!("({})", sql.join(" OR ")),
                std::iter::repeat_n(Value::Integer(now_db), count),
            );
        }
        filter.any_of(
            "category",
            query.categories.iter().map(|c| text_value(c.as_str())),
        );
        filter.any_of(
            "channel",
            query.channels.iter().map(|c| text_value(c.as_str())),
        );
        if let Some(handler) = query.handler {
            filter.add("handler_id = ?", [Value::Integer(handler.0)]);
        }
        if let Some(unit) = query.unit {
            filter.add("unit_id = ?", [Value::Integer(unit.0)]);
        }
        if let Some(supervisor) = query.supervisor {
            filter.add("supervisor_id = ?", [Value::Integer(supervisor.0)]);
        }
        if query.extension_pending {
            filter.add("extension_pending = 1", []);
        }
        if query.extended {
            filter.add("extended = 1", []);
        }
        if query.visit_due {
            filter.add("visit_due = 1", []);
        }
        if let Some(text) = query.text.as_deref() {
            filter.text(text);
        }

        // Counts per state under every filter but the state one; the total follows.
        let mut state_counts = Vec::new();
        {
            let sql = if filter.clauses.is_empty() {
                "SELECT state, count FROM letter_state_counts WHERE count > 0".to_owned()
            } else {
                format!(
                    "SELECT state, count(*) FROM letters WHERE {} GROUP BY state",
                    filter.sql()
                )
            };
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(filter.params.iter()))?;
            while let Some(row) = rows.next()? {
                let state: String = row.get(0)?;
                state_counts.push(StateCount {
                    state: parse("state", &state, LetterState::parse)?,
                    count: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                });
            }
        }
        let total = state_counts
            .iter()
            .filter(|c| query.states.is_empty() || query.states.contains(&c.state))
            .map(|c| c.count)
            .sum();

        filter.any_of("state", query.states.iter().map(|s| text_value(s.as_str())));
        // `?1` is now (the savable clock, numbered so it can be used twice); the
        // filter's own parameters follow from ?2 on.
        let mut params = vec![Value::Integer(now_db)];
        params.extend(filter.params.iter().cloned());
        let now_mark = params.len() + 1;
        params.push(Value::Integer(now_db));
        params.push(Value::Integer(i64::from(query.limit.min(MAX_PAGE))));
        params.push(Value::Integer(i64::from(query.offset)));
        let (limit_mark, offset_mark) = (now_mark + 1, now_mark + 2);
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}, {SAVABLE_SQL} AS savable FROM letters WHERE {}
             ORDER BY CASE
                 WHEN savable < 9223372036854775807 THEN 0
                 WHEN next_due_at IS NULL THEN 3
                 WHEN next_due_at < ?{now_mark} THEN 2
                 ELSE 1
             END,
             CASE WHEN savable < 9223372036854775807 THEN savable ELSE urgency_key END, id
             LIMIT ?{limit_mark} OFFSET ?{offset_mark}",
            numbered(&filter.sql(), 2)
        ))?;
        let mut rows = stmt.query(params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(row_at(row, now_db)?);
        }
        Ok(InboxPage {
            rows: out,
            total,
            state_counts,
        })
    }

    /// The detail of one letter at `now` (server time): the server's record, the view
    /// with every clock, and the local actions on it. `None` when it is not cached.
    pub fn letter_detail(
        &self,
        id: LetterId,
        now: DateTime<Utc>,
    ) -> Result<Option<LetterDetail>, StoreError> {
        let Some(record) = view::load_record(&self.conn, id)? else {
            return Ok(None);
        };
        let view = view::optimistic_view(&self.conn, &self.ctx, &record)?;
        let clocks = evaluate(
            &view.status.clock_inputs,
            &self.ctx.rules.policy_for(&view.status.clock_inputs),
            self.ctx.rules.calendar(),
            now,
        );
        let seen: bool =
            self.conn
                .query_row("SELECT seen FROM letters WHERE id = ?1", [id.0], |r| {
                    r.get(0)
                })?;
        Ok(Some(LetterDetail {
            failed: outbox_rows::failed_for(&self.conn, id)?,
            pending: view
                .pending
                .into_iter()
                .map(|(entry, outcome)| {
                    let (event, conflict) = match outcome {
                        Ok(event) => (Some(event), None),
                        Err(code) => (None, Some(code)),
                    };
                    PendingAction {
                        entry,
                        event,
                        conflict,
                    }
                })
                .collect(),
            record,
            status: view.status,
            clocks,
            seen,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("5%_\\"), "%5\\%\\_\\\\%");
        assert_eq!(fts_phrase("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn band_edges_follow_core() {
        let s = 1_000_000;
        // At exactly the due time the clock still runs.
        assert_eq!(
            band_at(Some(100 * s), Some(40 * s), 100 * s),
            (Band::Warning, Some(0))
        );
        assert_eq!(
            band_at(Some(100 * s), Some(40 * s), 100 * s + 1),
            (Band::Overdue, Some(-1))
        );
        assert_eq!(
            band_at(Some(100 * s), Some(40 * s), 40 * s),
            (Band::Warning, Some(60))
        );
        assert_eq!(
            band_at(Some(100 * s), Some(40 * s), 40 * s - 1),
            (Band::Ok, Some(60))
        );
        assert_eq!(band_at(None, None, 0), (Band::Done, None));
    }

    /// The band filter's SQL and the row's colour are two spellings of one rule: for every
    /// edge of every band, SQLite selects a row under exactly the band `band_at` gives it.
    #[test]
    fn band_sql_selects_what_band_at_colours() {
        let db = rusqlite::Connection::open_in_memory().expect("db");
        let s = 1_000_000_i64;
        let rows: [(Option<i64>, Option<i64>); 3] = [
            (Some(100 * s), Some(40 * s)),
            (Some(100 * s), Some(100 * s)),
            (None, None),
        ];
        let instants = [0, 40 * s - 1, 40 * s, 99 * s, 100 * s, 100 * s + 1, 200 * s];
        for (due, warn) in rows {
            for now in instants {
                let (colour, _) = band_at(due, warn, now);
                for band in [Band::Ok, Band::Warning, Band::Overdue, Band::Done] {
                    let sql = format!(
                        "SELECT {} FROM (SELECT ?1 AS next_due_at, ?2 AS warn_at)",
                        band_sql(band).replace('?', "?3")
                    );
                    let mut values: Vec<rusqlite::types::Value> = vec![due.into(), warn.into()];
                    if sql.contains("?3") {
                        values.push(now.into());
                    }
                    let selected: bool = db
                        .query_row(&sql, rusqlite::params_from_iter(values), |r| {
                            r.get::<_, Option<bool>>(0)
                        })
                        .expect("query")
                        .unwrap_or(false);
                    assert_eq!(
                        selected,
                        colour == band,
                        "due {due:?}, warn {warn:?}, now {now}: {band:?} (coloured {colour:?})"
                    );
                    assert_eq!(band_params(band), band_sql(band).matches('?').count());
                }
            }
        }
    }
}
