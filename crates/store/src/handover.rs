//! The shift handover (交接班): what the outgoing shift leaves open in the unit, and
//! the acknowledgements of it — this workstation's own, queued until the server has
//! them, and the unit's recent ones as the server lists them.
//!
//! The lists read the letters as the desktop shows them (the server's events plus the
//! actions still in the outbox: a contact recorded offline is a contact), with core's
//! clocks at the server time `now`.

use chrono::{DateTime, Utc};
use jsjb_core::clock::{Band, ClockKind};
use jsjb_core::letter::{LetterId, LetterState};
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{HandoverAck, HandoverAckRequest};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::inbox::band_at;
use crate::{Store, StoreError, text_col, time};

/// "About to breach" by default: a running clock due within this many seconds (or
/// already inside its warn window).
pub const HANDOVER_SOON_SECS: i64 = 2 * 3600;

/// Why a letter is on the handover, in the order the screen shows the lists. A letter
/// can be on several lists (not contacted, overdue and a promised call-back at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum HandoverItemKind {
    /// Dispatched to the unit and not signed for yet (待签收): the sign-for clock runs.
    NotSignedFor,
    /// Signed for by the unit (it has a handler) and the writer not reached yet: the
    /// contact clock is unmet.
    NotContacted,
    /// Chased (催办) by the supervising officer, and nobody of the unit has acted on the
    /// letter since (no later event by a user of the unit, nothing queued here).
    /// `event_at` is the chase, `note` its note.
    Chased,
    /// Its most urgent unmet clock is breached (已超期). One item per letter: that clock.
    Overdue,
    /// Its most urgent unmet clock runs, not breached, and is inside its warn window or
    /// due within the "soon" window (2 h by default). One item per letter: that clock.
    AboutToBreach,
    /// A promised call-back: the last contact attempt recorded on the letter had the
    /// outcome `unreachable` (so no later attempt reached the writer). `due_at` is the
    /// call-back time promised then (约定回拨), `None` when none was set; `event_at` is
    /// the attempt, `note` its note.
    PromisedCallback,
}

impl HandoverItemKind {
    /// Every list, in the order the report sorts them and the screen shows them (the UI
    /// reads it from the generated `limits.ts`).
    pub const ALL: [HandoverItemKind; 6] = [
        HandoverItemKind::NotSignedFor,
        HandoverItemKind::NotContacted,
        HandoverItemKind::Chased,
        HandoverItemKind::Overdue,
        HandoverItemKind::AboutToBreach,
        HandoverItemKind::PromisedCallback,
    ];
}

/// One line of the handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HandoverItem {
    pub kind: HandoverItemKind,
    pub letter_id: LetterId,
    pub tracking_code: String,
    pub subject: String,
    /// The clock concerned (`sign_for` for `not_signed_for`, `contact` for
    /// `not_contacted`); `None` for a chase and a call-back.
    pub clock: Option<ClockKind>,
    /// The clock's deadline, or the promised call-back time.
    pub due_at: Option<DateTime<Utc>>,
    /// When the event that put the letter on the list happened: the chase, the
    /// unreachable attempt. `None` for the clock lists.
    pub event_at: Option<DateTime<Utc>>,
    pub note: String,
}

/// An acknowledgement as the handover screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HandoverAckView {
    /// 接班人: the officer who acknowledged.
    pub user_id: UserId,
    pub user_name: String,
    /// 交班人: the outgoing officer named, when one was.
    pub handed_over_by: Option<UserId>,
    pub handed_over_by_name: Option<String>,
    /// How many letters the handover listed, and how many of them were ticked.
    pub listed: u32,
    pub checked: u32,
    pub shift: String,
    pub acknowledged_at: DateTime<Utc>,
    pub note: String,
    /// `pending`: queued on this workstation, not yet on the server; `failed`: the
    /// server refused it (`last_error` says why); `recorded`: on the server.
    pub status: HandoverAckStatus,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum HandoverAckStatus {
    Pending,
    Failed,
    Recorded,
}

impl HandoverAckStatus {
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(HandoverAckStatus::Pending),
            "failed" => Ok(HandoverAckStatus::Failed),
            "recorded" => Ok(HandoverAckStatus::Recorded),
            other => Err(StoreError::Corrupt(format!(
                "handover ack status {other:?}"
            ))),
        }
    }
}

/// The answer to `handover` (docs/ipc.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct HandoverReport {
    /// Sorted by kind, then due time, then letter.
    pub items: Vec<HandoverItem>,
    #[serde(rename = "serverNow")]
    pub server_now: DateTime<Utc>,
    /// The newest acknowledgement of the unit (recorded or still queued here).
    pub last_acknowledged_at: Option<DateTime<Utc>>,
    pub last_acknowledged_by: Option<String>,
    /// The unit's recent acknowledgements, newest first.
    pub acknowledgements: Vec<HandoverAckView>,
}

/// Within a list: the earliest deadline first, those without one after them (by when
/// they happened), then by letter.
fn sort_items(items: &mut [HandoverItem]) {
    items.sort_by(|a, b| {
        let key = |i: &HandoverItem| {
            (
                i.kind,
                i.due_at.is_none(),
                i.due_at,
                i.event_at,
                i.letter_id.0,
            )
        };
        key(a).cmp(&key(b))
    });
}

/// How many acknowledgements the report lists.
const RECENT_ACKS: u32 = 20;

impl Store {
    /// The handover lists of `unit` (the letters it holds now, not closed) at `now`,
    /// with "about to breach" meaning due within `soon_secs`.
    ///
    /// Speed (issue 15 item 3): one pass over the unit's open rows, reading the listing
    /// columns the view derived at write time (the clocks' due times, what is owed) and
    /// no history; the clocks are read at `now` with the inbox's own rule (`band_at`).
    /// The pass is a scan of the table in rowid order (`NOT INDEXED`), not the unit
    /// index: a unit holding 25,000 open letters cost 25,000 random lookups through the
    /// index (44 ms at 100,000 letters) against 26 ms for the scan, and a scan is bounded
    /// by the cache's size whatever the unit holds (docs/performance.md).
    pub fn handover_items(
        &self,
        unit: UnitId,
        now: DateTime<Utc>,
        soon_secs: i64,
    ) -> Result<Vec<HandoverItem>, StoreError> {
        let now_db = time::to_db(now);
        let at = |v: Option<i64>| v.map(time::from_db).transpose();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, tracking_code, subject, state, handler_id, sign_for_due, contact_due,
                    urgent_clock, next_due_at, warn_at, chase_owed_at, chase_note,
                    callback_attempt_at, callback_at, callback_note
             FROM letters NOT INDEXED WHERE unit_id = ?1 AND state != 'closed'",
        )?;
        let mut rows = stmt.query([unit.0])?;
        let mut items = Vec::new();
        while let Some(row) = rows.next()? {
            let letter_id = LetterId(row.get(0)?);
            let tracking_code: String = row.get(1)?;
            let subject: String = row.get(2)?;
            let state = text_col(row, 3)?;
            let state = LetterState::parse(state)
                .ok_or_else(|| StoreError::Corrupt(format!("letter state {state:?}")))?;
            let mut item = |kind, clock, due_at, event_at, note: String| {
                items.push(HandoverItem {
                    kind,
                    letter_id,
                    tracking_code: tracking_code.clone(),
                    subject: subject.clone(),
                    clock,
                    due_at,
                    event_at,
                    note,
                });
            };
            let sign_for_due: Option<i64> = row.get(5)?;
            if state == LetterState::Dispatched && sign_for_due.is_some() {
                let due = at(sign_for_due)?;
                item(
                    HandoverItemKind::NotSignedFor,
                    Some(ClockKind::SignFor),
                    due,
                    None,
                    String::new(),
                );
            }
            let handler: Option<i64> = row.get(4)?;
            let contact_due: Option<i64> = row.get(6)?;
            if handler.is_some() && contact_due.is_some() {
                let due = at(contact_due)?;
                item(
                    HandoverItemKind::NotContacted,
                    Some(ClockKind::Contact),
                    due,
                    None,
                    String::new(),
                );
            }
            let chase_owed_at: Option<i64> = row.get(10)?;
            if chase_owed_at.is_some() {
                let note: Option<String> = row.get(11)?;
                let chased = at(chase_owed_at)?;
                item(
                    HandoverItemKind::Chased,
                    None,
                    None,
                    chased,
                    note.unwrap_or_default(),
                );
            }
            let urgent: Option<String> = row.get(7)?;
            let next_due_at: Option<i64> = row.get(8)?;
            if let (Some(urgent), Some(due)) = (urgent, next_due_at) {
                let clock = ClockKind::ALL
                    .into_iter()
                    .find(|c| c.as_str() == urgent)
                    .ok_or_else(|| StoreError::Corrupt(format!("clock {urgent:?}")))?;
                let (band, remaining) = band_at(Some(due), row.get(9)?, now_db);
                let kind = match band {
                    Band::Overdue => Some(HandoverItemKind::Overdue),
                    Band::Warning => Some(HandoverItemKind::AboutToBreach),
                    _ if remaining.is_some_and(|r| r <= soon_secs) => {
                        Some(HandoverItemKind::AboutToBreach)
                    }
                    _ => None,
                };
                if let Some(kind) = kind {
                    item(
                        kind,
                        Some(clock),
                        Some(time::from_db(due)?),
                        None,
                        String::new(),
                    );
                }
            }
            let callback_attempt_at: Option<i64> = row.get(12)?;
            if callback_attempt_at.is_some() {
                let (attempted, promised) = (at(callback_attempt_at)?, at(row.get(13)?)?);
                let note: Option<String> = row.get(14)?;
                item(
                    HandoverItemKind::PromisedCallback,
                    None,
                    promised,
                    attempted,
                    note.unwrap_or_default(),
                );
            }
        }
        sort_items(&mut items);
        Ok(items)
    }

    /// [`Store::handover_items`] by folding each open letter's history at `now`, as it
    /// was computed before the columns: the reference the tests hold the columns to.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn handover_items_folded(
        &self,
        unit: UnitId,
        now: DateTime<Utc>,
        soon_secs: i64,
    ) -> Result<Vec<HandoverItem>, StoreError> {
        let ids: Vec<i64> = self
            .conn
            .prepare_cached("SELECT id FROM letters WHERE unit_id = ?1 ORDER BY id")?
            .query_map([unit.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut items = Vec::new();
        for id in ids {
            let Some(record) = crate::view::load_record(&self.conn, LetterId(id))? else {
                continue;
            };
            let view = crate::view::optimistic_view(&self.conn, &self.ctx, &record)?;
            let status = &view.status;
            if status.state == LetterState::Closed || status.unit != unit {
                continue;
            }
            let clocks = status.clocks(
                &self.ctx.rules.policy_for(&status.clock_inputs),
                self.ctx.rules.calendar(),
                now,
            );
            let derived = crate::view::derive(&self.ctx, &record, &view);
            let item = |kind, clock, due_at, event_at, note: &str| HandoverItem {
                kind,
                letter_id: record.id,
                tracking_code: record.tracking_code.clone(),
                subject: record.subject.clone(),
                clock,
                due_at,
                event_at,
                note: note.to_owned(),
            };
            if status.state == LetterState::Dispatched
                && let Some(sign_for) = &clocks.sign_for
                && sign_for.met_at.is_none()
            {
                items.push(item(
                    HandoverItemKind::NotSignedFor,
                    Some(ClockKind::SignFor),
                    Some(sign_for.due_at),
                    None,
                    "",
                ));
            }
            if status.handler.is_some() && clocks.contact.met_at.is_none() {
                items.push(item(
                    HandoverItemKind::NotContacted,
                    Some(ClockKind::Contact),
                    Some(clocks.contact.due_at),
                    None,
                    "",
                ));
            }
            if let Some(chase) = &derived.chase_owed {
                let at = time::from_db(chase.at)?;
                items.push(item(
                    HandoverItemKind::Chased,
                    None,
                    None,
                    Some(at),
                    &chase.note,
                ));
            }
            if let Some(reading) = clocks.most_urgent_reading() {
                let kind = match reading.state {
                    jsjb_core::clock::ClockState::Breached => Some(HandoverItemKind::Overdue),
                    jsjb_core::clock::ClockState::Running
                        if reading.band != Band::Ok || reading.remaining_secs <= soon_secs =>
                    {
                        Some(HandoverItemKind::AboutToBreach)
                    }
                    _ => None,
                };
                if let Some(kind) = kind {
                    items.push(item(
                        kind,
                        Some(reading.kind),
                        Some(reading.due_at),
                        None,
                        "",
                    ));
                }
            }
            if let Some(owed) = &derived.callback_owed {
                let attempted = time::from_db(owed.attempted_at)?;
                let promised = owed.callback_at.map(time::from_db).transpose()?;
                items.push(item(
                    HandoverItemKind::PromisedCallback,
                    None,
                    promised,
                    Some(attempted),
                    &owed.note,
                ));
            }
        }
        sort_items(&mut items);
        Ok(items)
    }

    /// The whole handover screen of `unit` at `now`.
    pub fn handover_report(
        &self,
        unit: UnitId,
        now: DateTime<Utc>,
        soon_secs: i64,
    ) -> Result<HandoverReport, StoreError> {
        let items = self.handover_items(unit, now, soon_secs)?;
        let acknowledgements = self.handover_acks(unit, RECENT_ACKS)?;
        let last = acknowledgements
            .iter()
            .find(|a| a.status != HandoverAckStatus::Failed);
        Ok(HandoverReport {
            items,
            server_now: now,
            last_acknowledged_at: last.map(|a| a.acknowledged_at),
            last_acknowledged_by: last.map(|a| a.user_name.clone()),
            acknowledgements,
        })
    }

    /// The unit's newest acknowledgements, newest first.
    pub fn handover_acks(
        &self,
        unit: UnitId,
        limit: u32,
    ) -> Result<Vec<HandoverAckView>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT user_id, user_name, acknowledged_at, request, status, last_error,
                    handed_over_by_name
             FROM handover_acks WHERE unit_id = ?1
             ORDER BY acknowledged_at DESC, idempotency_key LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![unit.0, limit])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let request: HandoverAckRequest = serde_json::from_str(text_col(row, 3)?)?;
            let count = |ids: &[LetterId]| u32::try_from(ids.len()).unwrap_or(u32::MAX);
            out.push(HandoverAckView {
                user_id: UserId(row.get(0)?),
                user_name: row.get(1)?,
                handed_over_by: request.handed_over_by,
                handed_over_by_name: row.get(6)?,
                listed: count(&request.letter_ids),
                checked: count(&request.checked_ids),
                shift: request.shift,
                acknowledged_at: time::from_db(row.get(2)?)?,
                note: request.note,
                status: HandoverAckStatus::parse(text_col(row, 4)?)?,
                last_error: row.get(5)?,
            });
        }
        Ok(out)
    }

    /// Queues this user's acknowledgement until the server has it, under a fresh
    /// idempotency key (returned). Durable at once: `synchronous=FULL`. The outgoing
    /// officer's name is the cached directory's (the server's answer replaces it).
    pub fn queue_handover_ack(
        &mut self,
        user: UserId,
        user_name: &str,
        request: &HandoverAckRequest,
    ) -> Result<String, StoreError> {
        let key = uuid::Uuid::new_v4().to_string();
        let handed_over_by_name = match request.handed_over_by {
            None => None,
            Some(id) => self
                .directory()?
                .into_iter()
                .find(|u| u.id == id)
                .map(|u| u.display_name),
        };
        self.conn
            .prepare_cached(
                "INSERT INTO handover_acks (idempotency_key, unit_id, user_id, user_name,
                                            acknowledged_at, request, status,
                                            handed_over_by_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            )?
            .execute(params![
                key,
                request.unit_id.0,
                user.0,
                user_name,
                time::to_db(request.acknowledged_at),
                serde_json::to_string(request)?,
                handed_over_by_name,
            ])?;
        Ok(key)
    }

    /// The acknowledgements still to send, oldest first: (key, request).
    pub fn pending_handover_acks(&self) -> Result<Vec<(String, HandoverAckRequest)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT idempotency_key, request FROM handover_acks
             WHERE status = 'pending' ORDER BY acknowledged_at, idempotency_key",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push((row.get(0)?, serde_json::from_str(text_col(row, 1)?)?));
        }
        Ok(out)
    }

    /// A send failed and will be retried (`refused: false`, the server could not be
    /// reached), or the server refused it for good (`refused: true`).
    pub fn handover_ack_failed(
        &mut self,
        key: &str,
        error: &str,
        refused: bool,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE handover_acks
                 SET attempts = attempts + 1, last_error = ?2,
                     status = CASE WHEN ?3 THEN 'failed' ELSE status END
                 WHERE idempotency_key = ?1 AND status = 'pending'",
            )?
            .execute(params![key, error, refused])?;
        Ok(())
    }

    /// Stores acknowledgements as the server recorded them (the answer to our own post,
    /// or the unit's list): a queued copy under the same key becomes `recorded`.
    pub fn record_handover_acks(&mut self, acks: &[HandoverAck]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO handover_acks (idempotency_key, server_id, unit_id, user_id,
                                            user_name, acknowledged_at, request, status,
                                            handed_over_by_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'recorded', ?8)
                 ON CONFLICT (idempotency_key) DO UPDATE SET
                     server_id = excluded.server_id, user_name = excluded.user_name,
                     request = excluded.request,
                     handed_over_by_name = excluded.handed_over_by_name,
                     status = 'recorded', last_error = NULL",
            )?;
            for ack in acks {
                let request = HandoverAckRequest {
                    unit_id: ack.unit_id,
                    shift: ack.shift.clone(),
                    acknowledged_at: ack.acknowledged_at,
                    note: ack.note.clone(),
                    counts: ack.counts,
                    letter_ids: ack.letter_ids.clone(),
                    checked_ids: ack.checked_ids.clone(),
                    handed_over_by: ack.handed_over_by,
                };
                // Keys are fresh UUIDs, so the server's (user, key) is unique by key alone;
                // our own queued copy carries the same key and is replaced.
                upsert.execute(params![
                    ack.idempotency_key,
                    ack.id,
                    ack.unit_id.0,
                    ack.user_id.0,
                    ack.user_name,
                    time::to_db(ack.acknowledged_at),
                    serde_json::to_string(&request)?,
                    ack.handed_over_by_name,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
