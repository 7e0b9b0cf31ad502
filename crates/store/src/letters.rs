//! Ingest from sync: letters as the server sends them, stored with their view
//! (`view.rs`), and letters that left the scope forgotten.

use jsjb_core::clock::ClockKind;
use jsjb_core::letter::{LetterId, LetterState};
use jsjb_core::org::UnitId;
use jsjb_proto::{Change, LetterRecord, SyncPage};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use ts_rs::TS;

use crate::forget;
use crate::outbox_rows;
use crate::search;
use crate::view::{self, derive};
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
    /// Letters our unit holds that the supervising officer chased (催办) since the cache
    /// last saw them: announced at the handling unit.
    pub newly_chased: Vec<LetterId>,
    /// Feedback forms newly waiting for the user, the chief of the unit (待签批).
    pub newly_to_sign: Vec<LetterId>,
}

/// What the store does about arrivals when it writes a server letter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    /// The user's unit: a letter newly dispatched to it is an arrival.
    pub my_unit: Option<UnitId>,
    /// Whether a letter new to the cache stays highlighted until opened. Off for the
    /// first sync, which would otherwise highlight the whole history.
    pub highlight_new: bool,
    /// The user signs their unit's feedback forms (a chief): a form newly waiting is news.
    pub signs_forms: bool,
}

impl Arrival {
    /// For the answers to our own actions: nothing there is an arrival.
    pub fn quiet() -> Arrival {
        Arrival {
            my_unit: None,
            highlight_new: false,
            signs_forms: false,
        }
    }
}

/// What storing one server letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    Written {
        newly_dispatched: bool,
        newly_chased: bool,
        newly_to_sign: bool,
    },
    /// The cache holds a newer version already.
    Stale,
}

/// What the cache held of a letter before a server version replaces it.
struct CachedRow {
    server_version: u32,
    state: String,
    unit: i64,
    dispatched_at: Option<i64>,
    seen: bool,
    chased_at: Option<i64>,
}

/// Stores a letter as the server sent it (record, events, attachments, search text)
/// and its view, unless the cache already holds a newer version.
pub(crate) fn store_server_letter(
    conn: &Connection,
    ctx: &Context,
    record: &LetterRecord,
    arrival: Arrival,
) -> Result<Stored, StoreError> {
    let previous: Option<CachedRow> = conn
        .prepare_cached(
            "SELECT server_version, state, unit_id, dispatched_at, seen, chased_at
             FROM letters WHERE id = ?1",
        )?
        .query_row([record.id.0], |r| {
            Ok(CachedRow {
                server_version: r.get(0)?,
                state: r.get(1)?,
                unit: r.get(2)?,
                dispatched_at: r.get(3)?,
                seen: r.get(4)?,
                chased_at: r.get(5)?,
            })
        })
        .optional()?;
    if let Some(cached) = &previous
        && cached.server_version > record.version
    {
        return Ok(Stored::Stale);
    }
    let view = view::optimistic_view(conn, ctx, record)?;
    let received_at = time::to_db(record.received_at);
    let derived = derive(ctx, record, &view);
    let awaits_us = |state: &str, unit: i64| {
        state == LetterState::Dispatched.as_str() && arrival.my_unit.is_some_and(|u| u.0 == unit)
    };
    let awaits_us_now = awaits_us(derived.state.as_str(), derived.unit.0);
    let newly_dispatched = awaits_us_now
        && previous.as_ref().is_none_or(|cached| {
            !awaits_us(&cached.state, cached.unit) || cached.dispatched_at != derived.dispatched_at
        });
    // A chase (催办) of a letter our unit holds, newer than the one the cache knew: the
    // row is highlighted until opened and the desktop announces it. The first sync
    // announces nothing (it would announce the whole history).
    let newly_chased = arrival.highlight_new
        && derived.chased_at.is_some()
        && arrival.my_unit.is_some_and(|u| u == derived.unit)
        && derived.state != LetterState::Closed
        && previous
            .as_ref()
            .is_none_or(|cached| cached.chased_at != derived.chased_at);
    // A feedback form newly waiting for the chief of our unit (待签批).
    let newly_to_sign = arrival.highlight_new
        && arrival.signs_forms
        && derived.state == LetterState::AwaitingApproval
        && arrival.my_unit.is_some_and(|u| u == derived.unit)
        && previous
            .as_ref()
            .is_none_or(|cached| cached.state != LetterState::AwaitingApproval.as_str());
    let seen = match &previous {
        _ if newly_dispatched || newly_chased || newly_to_sign => false,
        Some(cached) => cached.seen,
        None => !arrival.highlight_new,
    };

    conn.prepare_cached(
        "INSERT INTO letters (id, tracking_code, channel, category, subject, writer_name,
                              received_at, server_version, state, unit_id, handler_id,
                              version, dispatched_at, urgent_clock, next_due_at, warn_at,
                              urgency_key, pending, seen, sign_for_due, contact_due,
                              supervisor_id, extension_pending, extended, visit_due,
                              chased_at, feedback_due, closure_due, above_unit,
                              chase_owed_at, chase_note, callback_attempt_at, callback_at,
                              callback_note, problem_tags, counts_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32,
                 ?33, ?34, ?35, ?36)
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
             contact_due = excluded.contact_due, supervisor_id = excluded.supervisor_id,
             extension_pending = excluded.extension_pending, extended = excluded.extended,
             visit_due = excluded.visit_due, chased_at = excluded.chased_at,
             feedback_due = excluded.feedback_due, closure_due = excluded.closure_due,
             above_unit = excluded.above_unit, chase_owed_at = excluded.chase_owed_at,
             chase_note = excluded.chase_note,
             callback_attempt_at = excluded.callback_attempt_at,
             callback_at = excluded.callback_at, callback_note = excluded.callback_note,
             problem_tags = excluded.problem_tags, counts_until = excluded.counts_until",
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
        derived.supervisor,
        derived.extension_pending,
        derived.extended,
        derived.visit_due,
        derived.chased_at,
        derived.feedback_due,
        derived.closure_due,
        derived.above_unit,
        derived.chase_owed.as_ref().map(|c| c.at),
        derived.chase_owed.as_ref().map(|c| c.note.as_str()),
        derived.callback_owed.as_ref().map(|c| c.attempted_at),
        derived.callback_owed.as_ref().and_then(|c| c.callback_at),
        derived.callback_owed.as_ref().map(|c| c.note.as_str()),
        derived.problem_tags,
        derived.counts_until,
    ])?;

    conn.prepare_cached(
        "INSERT INTO letter_records (id, record) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record",
    )?
    .execute(params![record.id.0, serde_json::to_string(record)?])?;

    // The children are replaced whole: a record is the server's complete word on them.
    // A letter new to the cache has none (they cascade from its row, and its search text
    // goes with it in `forget::delete_letter`): the first sync skips the deletes.
    let cached_before = previous.is_some();
    if cached_before {
        conn.prepare_cached("DELETE FROM events WHERE letter_id = ?1")?
            .execute([record.id.0])?;
        conn.prepare_cached("DELETE FROM attachments WHERE letter_id = ?1")?
            .execute([record.id.0])?;
    }
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
    let text = search::letter_text(
        &record.tracking_code,
        &record.subject,
        &record.body,
        &record.writer.name,
    );
    search::index_letter(conn, record.id, &text, cached_before)?;
    Ok(Stored::Written {
        newly_dispatched,
        newly_chased,
        newly_to_sign,
    })
}

/// Forgets a letter that left the scope: its row, events, attachment metadata, search
/// text and cached bytes no other letter uses; its pending actions fail as out of scope.
pub(crate) fn remove_letter(conn: &Connection, id: LetterId) -> Result<bool, StoreError> {
    outbox_rows::fail_out_of_scope(conn, id)?;
    forget::delete_letter(conn, id)
}

/// While a first-sync page is applied: commits that do not wait for the disk, and no
/// automatic WAL checkpoint.
fn relax_commits(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", FIRST_SYNC_WAL_PAGES)?;
    Ok(())
}

/// The first sync checkpoints the WAL only past this many pages (256 MiB of 4 KiB
/// pages), instead of every 1,000: few checkpoints, and a WAL that stays bounded — with
/// none at all, a city desk's 100,000 letters grew it to 2 GB beside a 1 GB cache
/// (every commit appends its pages again), which a workstation's disk must not need.
const FIRST_SYNC_WAL_PAGES: i64 = 65_536;

/// What `Store::open` keeps for every other commit.
fn restore_commits(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", crate::SYNCHRONOUS)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    Ok(())
}

/// SQLite's default.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 1000;

impl Store {
    /// Applies one sync page in one transaction, the cursor included: if anything in
    /// the page fails (or the app dies), nothing of it is kept and the next sync asks
    /// for the same page again.
    ///
    /// Pages of the first sync (the cache has never caught up) are committed without
    /// waiting for the disk (`synchronous = NORMAL`, the WAL checkpointed only every
    /// [`FIRST_SYNC_WAL_PAGES`] and when caught up): they are the server's, and a power cut can only roll back whole pages,
    /// cursor included, which the next sync fetches again. Every other commit, an
    /// officer's action above all, stays `FULL` (issue 15 item 2: see
    /// docs/performance.md for what this saves).
    pub fn apply_page(&mut self, page: &SyncPage) -> Result<ApplyOutcome, StoreError> {
        if sync_state::caught_up(&self.conn)? {
            return self.apply_page_in_tx(page);
        }
        relax_commits(&self.conn)?;
        let applied = self.apply_page_in_tx(page);
        // Restored on the error path too: nothing else is ever committed this way.
        let restored = restore_commits(&self.conn);
        let outcome = applied?;
        restored?;
        if !page.has_more {
            // Caught up: the WAL the first sync grew goes into the file now, once.
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(outcome)
    }

    fn apply_page_in_tx(&mut self, page: &SyncPage) -> Result<ApplyOutcome, StoreError> {
        let tx = self.conn.transaction()?;
        let arrival = Arrival {
            my_unit: self.ctx.me.as_ref().map(|m| m.unit_id),
            // Every page of the first sync is history, not news.
            highlight_new: sync_state::caught_up(&tx)?,
            signs_forms: self
                .ctx
                .me
                .as_ref()
                .is_some_and(|m| m.roles.contains(&jsjb_core::org::Role::Chief)),
        };
        let mut outcome = ApplyOutcome::default();
        for change in &page.changes {
            match change {
                Change::Letter { letter } => {
                    match store_server_letter(&tx, &self.ctx, letter, arrival)? {
                        Stored::Written {
                            newly_dispatched,
                            newly_chased,
                            newly_to_sign,
                        } => {
                            outcome.upserted += 1;
                            if newly_to_sign && !outcome.newly_to_sign.contains(&letter.id) {
                                outcome.newly_to_sign.push(letter.id);
                            }
                            if newly_chased && !outcome.newly_chased.contains(&letter.id) {
                                outcome.newly_chased.push(letter.id);
                            }
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
                    outcome.newly_chased.retain(|id| id != letter_id);
                    outcome.newly_to_sign.retain(|id| id != letter_id);
                }
            }
        }
        tx.prepare_cached(
            "UPDATE sync_state SET cursor = ?1, last_synced_at = ?2, caught_up = caught_up OR ?3
             WHERE id = 1",
        )?
        .execute(params![
            page.next_cursor,
            time::to_db(page.server_time),
            !page.has_more
        ])?;
        tx.commit()?;
        Ok(outcome)
    }

    /// The letter exactly as the server last sent it.
    pub fn letter(&self, id: LetterId) -> Result<Option<LetterRecord>, StoreError> {
        view::load_record(&self.conn, id)
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
