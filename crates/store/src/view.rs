//! The optimistic view, the crate's central idea: a letter as the desktop shows it is
//! the server's record with the officer's pending actions applied on top (core's
//! `decide` replays them), and the inbox columns derived from that (state, clocks,
//! colour band, sort key). Every write path — ingest from sync, the queue from the user,
//! a change of user — recomputes a letter's view through this file.

use chrono::{DateTime, Utc};
use jsjb_core::clock::{ClockKind, ClockRule, ClockState, evaluate};
use jsjb_core::letter::{ContactOutcome, LetterId, LetterState};
use jsjb_core::org::UnitId;
use jsjb_core::report::letter_facts;
use jsjb_core::workflow::{DecisionContext, EventPayload, LetterStatus, decide};
use jsjb_proto::LetterRecord;
use rusqlite::{Connection, OptionalExtension, params};

use crate::outbox_rows::{self, OutboxEntry};
use crate::{Context, StoreError, time};

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
    let entries = outbox_rows::pending_for(conn, record.id)?;
    let mut pending = Vec::with_capacity(entries.len());
    for entry in entries {
        let outcome = match ctx.tree.as_ref() {
            None => Err(StoreError::NotSignedIn.code().to_owned()),
            Some(tree) => {
                let policy = ctx.rules.policy_for(&status.clock_inputs);
                let decision = DecisionContext {
                    actor: &entry.actor,
                    tree,
                    policy: &policy,
                    calendar: ctx.rules.calendar(),
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
pub(crate) struct Derived {
    pub(crate) state: LetterState,
    pub(crate) unit: UnitId,
    pub(crate) handler: Option<i64>,
    pub(crate) version: u32,
    pub(crate) dispatched_at: Option<i64>,
    pub(crate) urgent_clock: Option<ClockKind>,
    pub(crate) next_due_at: Option<i64>,
    pub(crate) warn_at: Option<i64>,
    pub(crate) urgency_key: i64,
    /// Due times of the sign-for and contact clocks while not met (the inbox's first
    /// group: clocks that can still be saved in the next minutes).
    pub(crate) sign_for_due: Option<i64>,
    pub(crate) contact_due: Option<i64>,
    /// And of the other two clocks, for the wall board's overdue counts.
    pub(crate) feedback_due: Option<i64>,
    pub(crate) closure_due: Option<i64>,
    /// The desk that dispatched the letter to its holder (the tier above it).
    pub(crate) above_unit: Option<i64>,
    pub(crate) pending: bool,
    /// The worklists: the 盯办 officer, an undecided extension request, a return visit due.
    pub(crate) supervisor: Option<i64>,
    pub(crate) chased_at: Option<i64>,
    pub(crate) extension_pending: bool,
    pub(crate) extended: bool,
    pub(crate) visit_due: bool,
    /// What the handover owes the writer or the supervisor, so that it reads no history
    /// (issue 15 item 3): the last chase nobody of the holding unit has answered, and a
    /// promised call-back.
    pub(crate) chase_owed: Option<ChaseOwed>,
    pub(crate) callback_owed: Option<CallbackOwed>,
    /// The letter's problem tags (问题分类) as a JSON array, for the statistics' counts
    /// without parsing the whole record of every letter.
    pub(crate) problem_tags: String,
    /// The last moment the server's history can count in a statistics period (µs), or
    /// `None` while it still can (`LetterFacts::counts_until`): the statistics skip the
    /// letters no period from then on can see.
    pub(crate) counts_until: Option<i64>,
}

/// A chase (催办) nobody of the holding unit has acted on since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChaseOwed {
    pub(crate) at: i64,
    pub(crate) note: String,
}

/// The letter's last contact attempt did not reach the writer: a call-back is owed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallbackOwed {
    /// The attempt.
    pub(crate) attempted_at: i64,
    /// The call-back time promised then (约定回拨), when one was.
    pub(crate) callback_at: Option<i64>,
    pub(crate) note: String,
}

/// The letter's last contact attempt (the server's events, then what is queued here)
/// when its outcome was `unreachable`: the writer is owed a call-back.
fn promised_callback(record: &LetterRecord, view: &OptimisticView) -> Option<CallbackOwed> {
    let confirmed = record.events.iter().map(|e| &e.payload);
    let pending = view.pending.iter().filter_map(|(_, e)| e.as_ref().ok());
    match confirmed.chain(pending).rev().find_map(|e| match e {
        EventPayload::ContactRecorded {
            outcome,
            contacted_at,
            note,
            callback_at,
            ..
        } => Some((*outcome, *contacted_at, *callback_at, note)),
        _ => None,
    })? {
        (ContactOutcome::Unreachable, at, callback_at, note) => Some(CallbackOwed {
            attempted_at: time::to_db(at),
            callback_at: callback_at.map(time::to_db),
            note: note.clone(),
        }),
        (ContactOutcome::Reached, ..) => None,
    }
}

/// The last chase (催办) of the letter, when nobody of `unit` (its holder) has acted on
/// it since: no later server event by a user of the unit, and no action of the unit
/// queued here. (When the chase is answered, the supervisor sees it in the history;
/// until then the next shift must know it is owed.)
fn unanswered_chase(
    record: &LetterRecord,
    view: &OptimisticView,
    unit: UnitId,
) -> Option<ChaseOwed> {
    let last = record
        .events
        .iter()
        .rposition(|e| matches!(e.payload, EventPayload::Chased { .. }))?;
    let chase = &record.events[last];
    let EventPayload::Chased { note } = &chase.payload else {
        return None;
    };
    let answered = record.events[last + 1..]
        .iter()
        .any(|e| e.actor_unit == Some(unit))
        || view
            .pending
            .iter()
            .any(|(entry, event)| event.is_ok() && entry.actor.unit == unit);
    (!answered).then(|| ChaseOwed {
        at: time::to_db(chase.at),
        note: note.clone(),
    })
}

pub(crate) fn derive(ctx: &Context, record: &LetterRecord, view: &OptimisticView) -> Derived {
    let received_at = time::to_db(record.received_at);
    let status = &view.status;
    let inputs = &status.clock_inputs;
    let policy = ctx.rules.policy_for(inputs);
    // Which clocks are met does not depend on `now`, nor does their order by due time,
    // so reading them at receipt finds the most urgent clock for every `now`; SQL then
    // colours it at the `now` of the query from `next_due_at` and `warn_at`.
    // A closed letter is done even if a clock was never met (a thank-you letter is
    // filed without contact): nothing is left for anyone to do about it.
    let unmet: Vec<(ClockKind, DateTime<Utc>)> = if status.state == LetterState::Closed {
        Vec::new()
    } else {
        let clocks = evaluate(inputs, &policy, ctx.rules.calendar(), inputs.received_at);
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
                ClockKind::SignFor => policy.sign_for,
                ClockKind::Contact => policy.contact,
                ClockKind::FirstFeedback => policy.first_feedback,
                ClockKind::Closure => policy.closure_rule(status.category),
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
        feedback_due: due_of(ClockKind::FirstFeedback),
        closure_due: due_of(ClockKind::Closure),
        above_unit: status.dispatch_chain.last().map(|u| u.0),
        pending: !view.pending.is_empty(),
        supervisor: status.supervisor.map(|s| s.0),
        chased_at: status.last_chased_at.map(time::to_db),
        extension_pending: status.pending_extension.is_some(),
        extended: inputs.extension.is_some(),
        visit_due: status.state == LetterState::Closed && !status.return_visit_done,
        chase_owed: unanswered_chase(record, view, status.unit),
        callback_owed: promised_callback(record, view),
        problem_tags: serde_json::to_string(&record.problem_tags)
            .unwrap_or_else(|_| "[]".to_owned()),
        counts_until: counts_until(ctx, record),
    }
}

/// [`Derived::counts_until`]: core's report facts of the server's history, as the
/// statistics fold them (`stats.rs`); `None` also when the history cannot be folded, so
/// that the statistics read it and say so.
fn counts_until(ctx: &Context, record: &LetterRecord) -> Option<i64> {
    let events: Vec<(DateTime<Utc>, EventPayload)> = record
        .events
        .iter()
        .map(|e| (e.at, e.payload.clone()))
        .collect();
    let rules = &ctx.rules;
    let policy = rules.letter_policy(record.category, events.iter().map(|(at, e)| (*at, e)));
    letter_facts(record.category, &events, &policy, rules.calendar())?
        .counts_until()
        .map(time::to_db)
}

pub(crate) fn write_view(conn: &Connection, id: LetterId, d: &Derived) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE letters SET state = ?2, unit_id = ?3, handler_id = ?4, version = ?5,
                dispatched_at = ?6, urgent_clock = ?7, next_due_at = ?8, warn_at = ?9,
                urgency_key = ?10, pending = ?11, sign_for_due = ?12, contact_due = ?13,
                supervisor_id = ?14, extension_pending = ?15, extended = ?16, visit_due = ?17,
                chased_at = ?18, feedback_due = ?19, closure_due = ?20, above_unit = ?21,
                chase_owed_at = ?22, chase_note = ?23, callback_attempt_at = ?24,
                callback_at = ?25, callback_note = ?26, problem_tags = ?27,
                counts_until = ?28
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
        d.supervisor,
        d.extension_pending,
        d.extended,
        d.visit_due,
        d.chased_at,
        d.feedback_due,
        d.closure_due,
        d.above_unit,
        d.chase_owed.as_ref().map(|c| c.at),
        d.chase_owed.as_ref().map(|c| c.note.as_str()),
        d.callback_owed.as_ref().map(|c| c.attempted_at),
        d.callback_owed.as_ref().and_then(|c| c.callback_at),
        d.callback_owed.as_ref().map(|c| c.note.as_str()),
        d.problem_tags,
        d.counts_until,
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
        write_view(conn, id, &derive(ctx, &record, &view))?;
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
