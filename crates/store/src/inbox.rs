//! What the UI asks of the cache: the inbox (filtered, sorted by urgency, paged) and a
//! letter's detail.

mod index;
mod query;
mod rank;

use chrono::{DateTime, Utc};
use jsjb_core::clock::{Band, ClockKind, LetterClocks, evaluate};
use jsjb_core::letter::{Category, Channel, LetterId, LetterState};
use jsjb_core::org::{UnitId, UserId};
use jsjb_core::workflow::{EventPayload, LetterStatus};
use jsjb_proto::LetterRecord;
use rusqlite::Row;
use serde::Serialize;
use ts_rs::TS;

pub(crate) use index::InboxIndex;
pub use query::{InboxQuery, MAX_PAGE};
pub use rank::InboxGroup;
pub(crate) use rank::band_at;
use rank::{group_of, savable_due};

use crate::outbox_rows::{self, OutboxEntry};
use crate::{Store, StoreError, search, time, view};

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

const ROW_COLUMNS: &str = "id, tracking_code, channel, category, subject, writer_name, \
    received_at, state, unit_id, handler_id, version, pending, seen, urgent_clock, \
    next_due_at, warn_at, chased_at, sign_for_due, contact_due";

fn parse<T>(column: &str, value: &str, f: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    f(value).ok_or_else(|| StoreError::Corrupt(format!("{column} {value:?}")))
}

fn row_at(row: &Row<'_>, now: i64) -> Result<InboxRow, StoreError> {
    let savable = savable_due(row.get(17)?, row.get(18)?, now);
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
        let among = query
            .text
            .as_deref()
            .map(|text| search::matching(&self.conn, text))
            .transpose()?
            .flatten();
        let selection = {
            let mut index = self.inbox_index.borrow_mut();
            index.catch_up(&self.conn)?;
            index.select(query, now_db, among.as_deref())
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM letters WHERE id = ?1"))?;
        let mut rows = Vec::with_capacity(selection.ids.len());
        for id in selection.ids {
            let mut found = stmt.query([id])?;
            if let Some(row) = found.next()? {
                rows.push(row_at(row, now_db)?);
            }
        }
        Ok(InboxPage {
            rows,
            total: selection.total,
            state_counts: selection
                .state_counts
                .into_iter()
                .map(|(state, count)| StateCount { state, count })
                .collect(),
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
