//! Letters as the server sends them, and the view derived from them (see the crate docs).

use chrono::{DateTime, Utc};
use jsjb_core::clock::{ClockKind, ClockRule, ClockState, evaluate};
use jsjb_core::letter::{LetterId, LetterState};
use jsjb_core::org::UnitId;
use jsjb_core::workflow::{DecisionContext, EventPayload, LetterStatus, decide};
use jsjb_proto::{Change, LetterRecord, SyncPage};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use ts_rs::TS;

use crate::outbox::{self, OutboxEntry};
use crate::{Context, Store, StoreError, sync_state, time};

/// What one sync page did to the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct ApplyOutcome {
    /// Letters inserted or replaced.
    pub upserted: usize,
    /// Letters forgotten because they left the scope.
    pub removed: usize,
    /// Letters skipped because the cache already holds a newer version (the answer to
    /// one of our own actions can overtake the page that carries the same change).
    pub skipped_stale: usize,
    /// Letters now waiting for the user's unit to sign for them that were not before
    /// (new, or dispatched again): the arrival alarm rings for these.
    pub newly_dispatched_to_unit: Vec<LetterId>,
}

/// What the store does about arrivals when it writes a server letter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    /// The user's unit: a letter newly dispatched to it is an arrival.
    pub my_unit: Option<UnitId>,
    /// Whether a letter new to the cache stays highlighted until opened. Off for the
    /// first sync, which would otherwise highlight the whole history.
    pub highlight_new: bool,
}

impl Arrival {
    /// For the answers to our own actions: nothing there is an arrival.
    pub fn quiet() -> Arrival {
        Arrival {
            my_unit: None,
            highlight_new: false,
        }
    }
}

/// The sort key of letters with no running clock: above every due time (the latest
/// `DateTime` is about 8.2e18 µs), newest received first.
fn done_key(received_at: i64) -> i64 {
    i64::MAX.saturating_sub(received_at.max(0))
}

/// The letter as the desktop shows it: the server's events plus pending actions.
pub(crate) struct OptimisticView {
    pub status: LetterStatus,
    /// Each pending entry with the event it adds to the view, or why core now refuses it.
    pub pending: Vec<(OutboxEntry, Result<EventPayload, String>)>,
}

/// The server's status of a letter: the fold of its events.
pub(crate) fn server_status(record: &LetterRecord) -> Result<LetterStatus, StoreError> {
    LetterStatus::from_events(
        record.category,
        record.events.iter().map(|e| (e.at, &e.payload)),
    )
    .ok_or(StoreError::InvalidRecord(record.id))
}

/// Folds the letter's pending outbox entries on top of the server's status, each as the
/// event core's `decide` makes of it under the actor and time it was taken with.
pub(crate) fn optimistic_view(
    conn: &Connection,
    ctx: &Context,
    record: &LetterRecord,
) -> Result<OptimisticView, StoreError> {
    let mut status = server_status(record)?;
    let entries = outbox::pending_for(conn, record.id)?;
    let mut pending = Vec::with_capacity(entries.len());
    for entry in entries {
        let outcome = match ctx.tree.as_ref() {
            None => Err(StoreError::NotSignedIn.code().to_owned()),
            Some(tree) => {
                let decision = DecisionContext {
                    actor: &entry.actor,
                    tree,
                    policy: &ctx.policy,
                    calendar: &ctx.calendar,
                    now: entry.created_at,
                };
                decide(&decision, &status, &entry.action).map_err(|e| e.code().to_owned())
            }
        };
        if let Ok(event) = &outcome {
            status.apply(entry.created_at, event);
        }
        pending.push((entry, outcome));
    }
    Ok(OptimisticView { status, pending })
}

/// The listing columns of a letter, derived from its view.
struct Derived {
    state: LetterState,
    unit: UnitId,
    handler: Option<i64>,
    version: u32,
    dispatched_at: Option<i64>,
    urgent_clock: Option<ClockKind>,
    next_due_at: Option<i64>,
    warn_at: Option<i64>,
    urgency_key: i64,
    /// Due times of the sign-for and contact clocks while not met (the inbox's first
    /// group: clocks that can still be saved in the next minutes).
    sign_for_due: Option<i64>,
    contact_due: Option<i64>,
    pending: bool,
}

fn derive(ctx: &Context, view: &OptimisticView, received_at: i64) -> Derived {
    let status = &view.status;
    let inputs = &status.clock_inputs;
    // Which clocks are met does not depend on `now`, nor does their order by due time,
    // so reading them at receipt finds the most urgent clock for every `now`; SQL then
    // colours it at the `now` of the query from `next_due_at` and `warn_at`.
    // A closed letter is done even if a clock was never met (a thank-you letter is
    // filed without contact): nothing is left for anyone to do about it.
    let unmet: Vec<(ClockKind, DateTime<Utc>)> = if status.state == LetterState::Closed {
        Vec::new()
    } else {
        let clocks = evaluate(inputs, &ctx.policy, &ctx.calendar, inputs.received_at);
        clocks
            .readings()
            .filter(|r| matches!(r.state, ClockState::Running | ClockState::Breached))
            .map(|r| (r.kind, r.due_at))
            .collect()
    };
    let urgent = unmet
        .iter()
        .copied()
        .min_by_key(|(kind, due)| (*due, *kind));
    let due_of = |kind: ClockKind| {
        unmet
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, due)| time::to_db(*due))
    };
    let (urgent_clock, next_due_at, warn_at) = match urgent {
        None => (None, None, None),
        Some((kind, due)) => {
            let rule: ClockRule = match kind {
                ClockKind::SignFor => ctx.policy.sign_for,
                ClockKind::Contact => ctx.policy.contact,
                ClockKind::FirstFeedback => ctx.policy.first_feedback,
                ClockKind::Closure => ctx.policy.closure_rule(status.category),
            };
            let due = time::to_db(due);
            let warn = due.saturating_sub(rule.warn_before_secs.saturating_mul(1_000_000));
            (Some(kind), Some(due), Some(warn))
        }
    };
    Derived {
        state: status.state,
        unit: status.unit,
        handler: status.handler.map(|h| h.0),
        version: status.version,
        dispatched_at: inputs
            .dispatches
            .last()
            .map(|d| time::to_db(d.dispatched_at)),
        urgent_clock,
        next_due_at,
        warn_at,
        urgency_key: next_due_at.unwrap_or_else(|| done_key(received_at)),
        sign_for_due: due_of(ClockKind::SignFor),
        contact_due: due_of(ClockKind::Contact),
        pending: !view.pending.is_empty(),
    }
}

fn write_view(conn: &Connection, id: LetterId, d: &Derived) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE letters SET state = ?2, unit_id = ?3, handler_id = ?4, version = ?5,
                dispatched_at = ?6, urgent_clock = ?7, next_due_at = ?8, warn_at = ?9,
                urgency_key = ?10, pending = ?11, sign_for_due = ?12, contact_due = ?13
         WHERE id = ?1",
    )?
    .execute(params![
        id.0,
        d.state.as_str(),
        d.unit.0,
        d.handler,
        d.version,
        d.dispatched_at,
        d.urgent_clock.map(ClockKind::as_str),
        d.next_due_at,
        d.warn_at,
        d.urgency_key,
        d.pending,
        d.sign_for_due,
        d.contact_due,
    ])?;
    Ok(())
}

pub(crate) fn load_record(
    conn: &Connection,
    id: LetterId,
) -> Result<Option<LetterRecord>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT record FROM letter_records WHERE id = ?1")?
        .query_row([id.0], |r| r.get(0))
        .optional()?;
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// Recomputes the view of one letter (after its outbox changed). A letter not in the
/// cache has no view: nothing to do.
pub(crate) fn refresh_view(
    conn: &Connection,
    ctx: &Context,
    id: LetterId,
) -> Result<(), StoreError> {
    if let Some(record) = load_record(conn, id)? {
        let view = optimistic_view(conn, ctx, &record)?;
        write_view(
            conn,
            id,
            &derive(ctx, &view, time::to_db(record.received_at)),
        )?;
    }
    Ok(())
}

fn refresh_where(conn: &Connection, ctx: &Context, filter: &str) -> Result<(), StoreError> {
    let ids: Vec<i64> = conn
        .prepare(&format!("SELECT id FROM letters WHERE {filter}"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        refresh_view(conn, ctx, LetterId(id))?;
    }
    Ok(())
}

pub(crate) fn refresh_all_views(conn: &Connection, ctx: &Context) -> Result<(), StoreError> {
    refresh_where(conn, ctx, "1")
}

pub(crate) fn refresh_pending_views(conn: &Connection, ctx: &Context) -> Result<(), StoreError> {
    refresh_where(
        conn,
        ctx,
        "id IN (SELECT letter_id FROM outbox WHERE status = 'pending')",
    )
}

/// What storing one server letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    Written {
        newly_dispatched: bool,
    },
    /// The cache holds a newer version already.
    Stale,
}

/// Stores a letter as the server sent it (record, events, attachments, search text)
/// and its view, unless the cache already holds a newer version.
pub(crate) fn store_server_letter(
    conn: &Connection,
    ctx: &Context,
    record: &LetterRecord,
    arrival: Arrival,
) -> Result<Stored, StoreError> {
    let previous: Option<(u32, String, i64, Option<i64>, bool)> = conn
        .prepare_cached(
            "SELECT server_version, state, unit_id, dispatched_at, seen FROM letters WHERE id = ?1",
        )?
        .query_row([record.id.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    if let Some((server_version, ..)) = &previous
        && *server_version > record.version
    {
        return Ok(Stored::Stale);
    }
    let view = optimistic_view(conn, ctx, record)?;
    let received_at = time::to_db(record.received_at);
    let derived = derive(ctx, &view, received_at);
    let awaits_us = |state: &str, unit: i64| {
        state == LetterState::Dispatched.as_str() && arrival.my_unit.is_some_and(|u| u.0 == unit)
    };
    let awaits_us_now = awaits_us(derived.state.as_str(), derived.unit.0);
    let newly_dispatched = awaits_us_now
        && previous
            .as_ref()
            .is_none_or(|(_, state, unit, dispatched_at, _)| {
                !awaits_us(state, *unit) || *dispatched_at != derived.dispatched_at
            });
    let seen = match &previous {
        _ if newly_dispatched => false,
        Some((.., seen)) => *seen,
        None => !arrival.highlight_new,
    };

    conn.prepare_cached(
        "INSERT INTO letters (id, tracking_code, channel, category, subject, writer_name,
                              received_at, server_version, state, unit_id, handler_id,
                              version, dispatched_at, urgent_clock, next_due_at, warn_at,
                              urgency_key, pending, seen, sign_for_due, contact_due)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21)
         ON CONFLICT (id) DO UPDATE SET
             tracking_code = excluded.tracking_code, channel = excluded.channel,
             category = excluded.category, subject = excluded.subject,
             writer_name = excluded.writer_name, received_at = excluded.received_at,
             server_version = excluded.server_version,
             state = excluded.state, unit_id = excluded.unit_id,
             handler_id = excluded.handler_id, version = excluded.version,
             dispatched_at = excluded.dispatched_at, urgent_clock = excluded.urgent_clock,
             next_due_at = excluded.next_due_at, warn_at = excluded.warn_at,
             urgency_key = excluded.urgency_key, pending = excluded.pending,
             seen = excluded.seen, sign_for_due = excluded.sign_for_due,
             contact_due = excluded.contact_due",
    )?
    .execute(params![
        record.id.0,
        record.tracking_code,
        record.channel.as_str(),
        record.category.as_str(),
        record.subject,
        record.writer.name,
        received_at,
        record.version,
        derived.state.as_str(),
        derived.unit.0,
        derived.handler,
        derived.version,
        derived.dispatched_at,
        derived.urgent_clock.map(ClockKind::as_str),
        derived.next_due_at,
        derived.warn_at,
        derived.urgency_key,
        derived.pending,
        seen,
        derived.sign_for_due,
        derived.contact_due,
    ])?;

    conn.prepare_cached(
        "INSERT INTO letter_records (id, record) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record",
    )?
    .execute(params![record.id.0, serde_json::to_string(record)?])?;

    // The children are replaced whole: a record is the server's complete word on them.
    conn.prepare_cached("DELETE FROM events WHERE letter_id = ?1")?
        .execute([record.id.0])?;
    let mut insert_event = conn.prepare_cached(
        "INSERT INTO events (letter_id, seq, at, actor_user, actor_unit, workstation, kind, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in &record.events {
        insert_event.execute(params![
            record.id.0,
            e.seq,
            time::to_db(e.at),
            e.actor_user.map(|u| u.0),
            e.actor_unit.map(|u| u.0),
            e.workstation,
            e.payload.kind(),
            serde_json::to_string(&e.payload)?,
        ])?;
    }
    conn.prepare_cached("DELETE FROM attachments WHERE letter_id = ?1")?
        .execute([record.id.0])?;
    let mut insert_attachment = conn.prepare_cached(
        "INSERT INTO attachments (letter_id, position, sha256, kind, mime, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (position, a) in record.attachments.iter().enumerate() {
        insert_attachment.execute(params![
            record.id.0,
            i64::try_from(position).unwrap_or(i64::MAX),
            a.sha256,
            serde_json::to_value(a.kind)?.as_str().unwrap_or_default(),
            a.mime,
            i64::try_from(a.size).unwrap_or(i64::MAX),
        ])?;
    }
    let text = format!(
        "{}\n{}\n{}\n{}",
        record.tracking_code, record.subject, record.body, record.writer.name
    );
    forget_text(conn, record.id)?;
    conn.prepare_cached("INSERT INTO letter_text (id, text) VALUES (?1, ?2)")?
        .execute(params![record.id.0, text])?;
    conn.prepare_cached("INSERT INTO letters_fts (rowid, text) VALUES (?1, ?2)")?
        .execute(params![record.id.0, text])?;
    Ok(Stored::Written { newly_dispatched })
}

/// Removes a letter's searchable text and its index entries. An external-content FTS
/// table forgets a row only when told the exact text it indexed.
fn forget_text(conn: &Connection, id: LetterId) -> Result<(), StoreError> {
    let old: Option<String> = conn
        .prepare_cached("DELETE FROM letter_text WHERE id = ?1 RETURNING text")?
        .query_row([id.0], |r| r.get(0))
        .optional()?;
    if let Some(old) = old {
        conn.prepare_cached(
            "INSERT INTO letters_fts (letters_fts, rowid, text) VALUES ('delete', ?1, ?2)",
        )?
        .execute(params![id.0, old])?;
    }
    Ok(())
}

/// Forgets a letter that left the scope: its row, events, attachment metadata, search
/// text and cached bytes no other letter uses; its pending actions fail as out of scope.
pub(crate) fn remove_letter(conn: &Connection, id: LetterId) -> Result<bool, StoreError> {
    outbox::fail_out_of_scope(conn, id)?;
    let shas: Vec<String> = conn
        .prepare_cached("SELECT sha256 FROM attachments WHERE letter_id = ?1")?
        .query_map([id.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let deleted = conn
        .prepare_cached("DELETE FROM letters WHERE id = ?1")?
        .execute([id.0])?;
    forget_text(conn, id)?;
    let mut drop_blob = conn.prepare_cached(
        "DELETE FROM attachment_blobs WHERE sha256 = ?1
           AND NOT EXISTS (SELECT 1 FROM attachments WHERE sha256 = ?1)",
    )?;
    for sha in shas {
        drop_blob.execute([sha])?;
    }
    Ok(deleted > 0)
}

impl Store {
    /// Applies one sync page in one transaction, the cursor included: if anything in
    /// the page fails (or the app dies), nothing of it is kept and the next sync asks
    /// for the same page again.
    pub fn apply_page(&mut self, page: &SyncPage) -> Result<ApplyOutcome, StoreError> {
        let tx = self.conn.transaction()?;
        let arrival = Arrival {
            my_unit: self.ctx.me.as_ref().map(|m| m.unit_id),
            highlight_new: sync_state::cursor(&tx)? != 0,
        };
        let mut outcome = ApplyOutcome::default();
        for change in &page.changes {
            match change {
                Change::Letter { letter } => {
                    match store_server_letter(&tx, &self.ctx, letter, arrival)? {
                        Stored::Written { newly_dispatched } => {
                            outcome.upserted += 1;
                            if newly_dispatched
                                && !outcome.newly_dispatched_to_unit.contains(&letter.id)
                            {
                                outcome.newly_dispatched_to_unit.push(letter.id);
                            }
                        }
                        Stored::Stale => outcome.skipped_stale += 1,
                    }
                }
                Change::Removed { letter_id } => {
                    if remove_letter(&tx, *letter_id)? {
                        outcome.removed += 1;
                    }
                    outcome
                        .newly_dispatched_to_unit
                        .retain(|id| id != letter_id);
                }
            }
        }
        tx.prepare_cached("UPDATE sync_state SET cursor = ?1, last_synced_at = ?2 WHERE id = 1")?
            .execute(params![page.next_cursor, time::to_db(page.server_time)])?;
        tx.commit()?;
        Ok(outcome)
    }

    /// The letter exactly as the server last sent it.
    pub fn letter(&self, id: LetterId) -> Result<Option<LetterRecord>, StoreError> {
        load_record(&self.conn, id)
    }

    /// The officer opened the letter: it is no longer highlighted as new.
    pub fn mark_seen(&mut self, id: LetterId) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE letters SET seen = 1 WHERE id = ?1", [id.0])?;
        Ok(())
    }

    /// How many letters the cache holds.
    pub fn letter_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM letters", [], |r| r.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
