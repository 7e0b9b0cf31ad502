//! Letters in SQLite: the desktop record, actions in one transaction, sync pages.

use std::collections::HashMap;

use jsjb_core::letter::{self, Category, Channel, LetterId, LetterState};
use jsjb_core::org::{UnitId, UserId};
use jsjb_core::workflow::{EventPayload, LetterStatus};
use jsjb_proto::{
    ActionResponse, AttachmentKind, AttachmentMeta, Change, EventRecord, LetterRecord, Writer,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::Db;
use crate::audit::{self, NewEntry};
use crate::{corrupt, time_col};
use jsjb_storage::MAX_EVENTS_PER_LETTER;
use jsjb_storage::time::to_db;
use jsjb_storage::{
    ActionCommit, ActionOutcome, Actor, CreatedLetter, DecideFn, IdempotencyClaim, StorageError,
    StoredAnswer, SyncBatch,
};

/// The stored form of an event payload: the serde JSON of `EventPayload`, canonical.
pub fn payload_json(event: &EventPayload) -> Result<String, StorageError> {
    let value = serde_json::to_value(event).map_err(|e| corrupt(format!("event payload: {e}")))?;
    Ok(audit::canonical_json(&value))
}

fn parse_enum<T>(
    what: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StorageError> {
    parse(text).ok_or_else(|| corrupt(format!("unknown {what} {text:?}")))
}

/// The letter as desktops see it, with its folded status. The writer is masked: the
/// real name and phone leave the server only through an explicit, logged reveal.
pub fn load_record(
    conn: &Connection,
    id: LetterId,
) -> Result<Option<(LetterRecord, LetterStatus)>, StorageError> {
    let row = conn
        .prepare_cached(
            "SELECT tracking_code, channel, category, problem_tags, subject, body, writer_name,
                    writer_phone, received_at, state, unit_id, handler_id, version
             FROM letters WHERE id = ?1",
        )
        .db()?
        .query_row([id.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, i64>(10)?,
                r.get::<_, Option<i64>>(11)?,
                r.get::<_, i64>(12)?,
            ))
        })
        .optional()
        .db()?;
    let Some((
        tracking_code,
        channel,
        category,
        tags,
        subject,
        body,
        writer_name,
        writer_phone,
        received_at,
        state,
        unit_id,
        handler_id,
        version,
    )) = row
    else {
        return Ok(None);
    };
    let category = parse_enum("category", &category, Category::parse)?;
    let events = load_events(conn, id)?;
    let status = LetterStatus::from_events(category, events.iter().map(|e| (e.at, &e.payload)))
        .ok_or_else(|| corrupt(format!("letter {} does not start with `received`", id.0)))?;
    let record = LetterRecord {
        id,
        tracking_code,
        channel: parse_enum("channel", &channel, Channel::parse)?,
        category,
        problem_tags: serde_json::from_str(&tags)
            .map_err(|e| corrupt(format!("letter {} tags: {e}", id.0)))?,
        subject,
        body,
        writer: Writer {
            name: letter::mask_name(&writer_name),
            phone: letter::mask_phone(&writer_phone),
            masked: true,
        },
        received_at: time_col(&received_at)?,
        state: parse_enum("state", &state, LetterState::parse)?,
        unit_id: UnitId(unit_id),
        handler_id: handler_id.map(UserId),
        version: u32::try_from(version).map_err(|_| corrupt("version out of range"))?,
        events,
        attachments: load_attachments(conn, id)?,
        signed_forms: crate::signed_forms::load(conn, id)?,
        writer_notices: crate::writer_notices::load(conn, id)?,
    };
    Ok(Some((record, status)))
}

fn load_events(conn: &Connection, id: LetterId) -> Result<Vec<EventRecord>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, at, actor_user_id, actor_unit_id, workstation, payload
         FROM letter_events WHERE letter_id = ?1 ORDER BY seq",
        )
        .db()?;
    let rows = stmt
        .query_map([id.0], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .db()?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, at, user, unit, workstation, payload) = row.db()?;
        events.push(EventRecord {
            seq: u32::try_from(seq).map_err(|_| corrupt("event seq out of range"))?,
            at: time_col(&at)?,
            actor_user: user.map(UserId),
            actor_unit: unit.map(UnitId),
            workstation,
            payload: serde_json::from_str(&payload)
                .map_err(|e| corrupt(format!("letter {} event {seq} payload: {e}", id.0)))?,
        });
    }
    Ok(events)
}

fn load_attachments(conn: &Connection, id: LetterId) -> Result<Vec<AttachmentMeta>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT a.sha256, a.kind, a.mime, a.size FROM letter_attachments la
         JOIN attachments a ON a.sha256 = la.sha256
         WHERE la.letter_id = ?1 ORDER BY la.position",
        )
        .db()?;
    let rows = stmt
        .query_map([id.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .db()?;
    let mut out = Vec::new();
    for row in rows {
        let (sha256, kind, mime, size) = row.db()?;
        out.push(AttachmentMeta {
            sha256,
            kind: AttachmentKind::parse(&kind)
                .ok_or_else(|| corrupt(format!("attachment kind {kind:?}")))?,
            mime,
            size: u64::try_from(size).map_err(|_| corrupt("negative attachment size"))?,
        });
    }
    Ok(out)
}

fn answer_for(record: &LetterRecord) -> Result<StoredAnswer, StorageError> {
    let body = serde_json::to_string(&ActionResponse {
        letter: record.clone(),
    })
    .map_err(|e| corrupt(format!("response: {e}")))?;
    Ok(StoredAnswer { status: 200, body })
}

fn remember(
    tx: &Connection,
    commit: &ActionCommit,
    answer: &StoredAnswer,
) -> Result<(), StorageError> {
    if let (Some((key, hash)), Some(user)) = (&commit.idempotency, commit.actor.user) {
        tx.execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![user.0, key, hash, answer.status, answer.body, to_db(commit.at)],
        )
        .db()?;
    }
    Ok(())
}

/// The letter a desk's idempotency key created before, when the key was seen with the
/// same request; a key seen with another request is refused.
pub fn replayed_letter(
    tx: &Connection,
    claim: &IdempotencyClaim,
) -> Result<Option<CreatedLetter>, StorageError> {
    let seen: Option<(String, String)> = tx
        .query_row(
            "SELECT request_hash, response_body FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
            params![claim.user.0, claim.key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .db()?;
    let Some((hash, body)) = seen else {
        return Ok(None);
    };
    if hash != claim.request_hash {
        return Err(StorageError::Conflict {
            code: "idempotency_key_reused",
            detail: "this Idempotency-Key was already used for a different request; use a fresh key per action".to_owned(),
        });
    }
    let first: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| corrupt(format!("idempotency answer: {e}")))?;
    let field = |name: &str| {
        first
            .get(name)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| corrupt(format!("idempotency answer lacks {name}")))
    };
    let id = LetterId(field("id")?);
    let unit = UnitId(field("unit_id")?);
    let (tracking_code, received_at): (String, String) = tx
        .query_row(
            "SELECT tracking_code, received_at FROM letters WHERE id = ?1",
            [id.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .db()?;
    Ok(Some(CreatedLetter {
        id,
        unit,
        change_seq: 0,
        tracking_code,
        received_at: time_col(&received_at)?,
        replayed: true,
    }))
}

/// Keeps what a desk's idempotency key created, in the creating transaction.
pub fn remember_created(
    tx: &Connection,
    claim: &IdempotencyClaim,
    id: LetterId,
    unit: UnitId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body, created_at)
         VALUES (?1, ?2, ?3, 201, ?4, ?5)",
        params![
            claim.user.0,
            claim.key,
            claim.request_hash,
            json!({ "id": id.0, "unit_id": unit.0 }).to_string(),
            to_db(at)
        ],
    )
    .db()?;
    Ok(())
}

/// Refuses (and remembers under the idempotency key) an action on a letter whose
/// history is full. Counting uses the (letter_id, seq) index and stops at the cap.
fn refuse_when_history_full(
    tx: &Connection,
    commit: &ActionCommit,
) -> Result<Option<ActionOutcome>, StorageError> {
    let events: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM letter_events WHERE letter_id = ?1 LIMIT ?2)",
        )
        .db()?
        .query_row(params![commit.letter.0, MAX_EVENTS_PER_LETTER], |r| {
            r.get(0)
        })
        .db()?;
    if events < MAX_EVENTS_PER_LETTER {
        return Ok(None);
    }
    let refusal = commit.history_full.clone();
    remember(tx, commit, &refusal)?;
    Ok(Some(ActionOutcome::Refused(refusal)))
}

pub fn apply_action(
    tx: &Connection,
    commit: ActionCommit,
    decide: DecideFn,
) -> Result<ActionOutcome, StorageError> {
    if let (Some((key, hash)), Some(user)) = (&commit.idempotency, commit.actor.user) {
        let seen: Option<(String, u16, String)> = tx
            .query_row(
                "SELECT request_hash, response_status, response_body FROM idempotency_keys
                 WHERE user_id = ?1 AND key = ?2",
                params![user.0, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .db()?;
        if let Some((seen_hash, status, body)) = seen {
            return Ok(if &seen_hash == hash {
                ActionOutcome::Replayed(StoredAnswer { status, body })
            } else {
                ActionOutcome::KeyReused
            });
        }
    }
    if let Some(refused) = refuse_when_history_full(tx, &commit)? {
        return Ok(refused);
    }
    let (record, mut status) = load_record(tx, commit.letter)?.ok_or_else(|| {
        StorageError::NotFound(format!("letter {} does not exist", commit.letter.0))
    })?;
    let event = match decide(&record, &status) {
        Ok(event) => event,
        Err(refusal) => {
            remember(tx, &commit, &refusal)?;
            return Ok(ActionOutcome::Refused(refusal));
        }
    };
    let prev_unit = status.unit;
    status.apply(commit.at, &event);
    // 重新分类 changes what the record says the letter is: the listing columns follow.
    if let EventPayload::Reclassified {
        category,
        problem_tags,
        ..
    } = &event
    {
        tx.execute(
            "UPDATE letters SET category = ?2, problem_tags = ?3 WHERE id = ?1",
            params![
                commit.letter.0,
                category.as_str(),
                serde_json::to_string(problem_tags)
                    .map_err(|e| corrupt(format!("problem tags: {e}")))?
            ],
        )
        .db()?;
    }
    let seq = i64::from(status.version);
    let at = to_db(commit.at);
    let actor = &commit.actor;
    tx.execute(
        "INSERT INTO letter_events (letter_id, seq, at, actor_user_id, actor_unit_id, actor_role, actor, workstation, kind, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            commit.letter.0,
            seq,
            at,
            actor.user.map(|u| u.0),
            actor.unit.map(|u| u.0),
            actor.role.map(|r| r.as_str()),
            actor.label,
            actor.workstation,
            event.kind(),
            payload_json(&event)?,
        ],
    )
    .db()?;
    tx.execute(
        "UPDATE letters SET state = ?2, unit_id = ?3, handler_id = ?4, version = ?5, updated_at = ?6
         WHERE id = ?1",
        params![
            commit.letter.0,
            status.state.as_str(),
            status.unit.0,
            status.handler.map(|h| h.0),
            seq,
            at
        ],
    )
    .db()?;
    tx.execute(
        "INSERT INTO changes (letter_id, unit_id, prev_unit_id, at) VALUES (?1, ?2, ?3, ?4)",
        params![commit.letter.0, status.unit.0, prev_unit.0, at],
    )
    .db()?;
    let change_seq = tx.last_insert_rowid();
    audit::append(
        tx,
        NewEntry {
            at: commit.at,
            actor,
            action: commit.audit_action,
            letter: Some(commit.letter),
            unit: Some(status.unit),
            user: None,
            payload: json!({ "seq": seq, "event": serde_json::to_value(&event).unwrap_or_default() }),
        },
    )
    .db()?;
    let (record, _) = load_record(tx, commit.letter)?
        .ok_or_else(|| corrupt("the letter vanished inside its own transaction"))?;
    let answer = answer_for(&record)?;
    remember(tx, &commit, &answer)?;
    Ok(ActionOutcome::Applied {
        change_seq,
        prev_unit,
        letter: Box::new(record),
        answer,
    })
}

fn scope_json(scope: &[UnitId]) -> String {
    serde_json::Value::from(scope.iter().map(|u| u.0).collect::<Vec<_>>()).to_string()
}

pub fn sync_page(
    conn: &Connection,
    scope: &[UnitId],
    cursor: i64,
    limit: u32,
) -> Result<SyncBatch, StorageError> {
    let scope_set = scope_json(scope);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, letter_id FROM changes
         WHERE seq > ?1
           AND (unit_id IN (SELECT value FROM json_each(?2))
                OR prev_unit_id IN (SELECT value FROM json_each(?2)))
         ORDER BY seq LIMIT ?3",
        )
        .db()?;
    let rows: Vec<(i64, i64)> = stmt
        .query_map(params![cursor, scope_set, i64::from(limit) + 1], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    let has_more = rows.len() > limit as usize;
    let page = &rows[..rows.len().min(limit as usize)];
    let next_cursor = match page.last() {
        Some((seq, _)) => *seq,
        // Nothing in scope: move the cursor past everyone else's changes too, so the
        // next request does not scan them again.
        None => conn
            .query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
                r.get::<_, i64>(0)
            })
            .db()?
            .max(cursor),
    };
    // One entry per letter, in the order of its last change in the page.
    let mut last_position: HashMap<i64, usize> = HashMap::new();
    for (i, (_, letter)) in page.iter().enumerate() {
        last_position.insert(*letter, i);
    }
    let mut letters: Vec<(usize, i64)> = last_position.into_iter().map(|(l, i)| (i, l)).collect();
    letters.sort();
    let mut changes = Vec::with_capacity(letters.len());
    for (_, letter) in letters {
        let id = LetterId(letter);
        // The letter as it is now decides: in scope → the whole letter; left → removal.
        match load_record(conn, id)? {
            Some((record, _)) if scope.contains(&record.unit_id) => changes.push(Change::Letter {
                letter: Box::new(record),
            }),
            _ => changes.push(Change::Removed { letter_id: id }),
        }
    }
    Ok(SyncBatch {
        changes,
        next_cursor,
        has_more,
    })
}

/// How many times [`latest_change_in_scope`] ran in this process: the fan-out tests
/// prove with it that a stream queries once when it opens, not once per change.
pub static SCOPE_QUERIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn latest_change_in_scope(
    conn: &Connection,
    scope: &[UnitId],
    after: i64,
) -> Result<Option<i64>, StorageError> {
    SCOPE_QUERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scope_set = scope_json(scope);
    conn.prepare_cached(
        "SELECT max(seq) FROM changes
             WHERE seq > ?1
               AND (unit_id IN (SELECT value FROM json_each(?2))
                    OR prev_unit_id IN (SELECT value FROM json_each(?2)))",
    )
    .db()?
    .query_row(params![after, scope_set], |r| r.get::<_, Option<i64>>(0))
    .db()
}

pub fn reveal_writer(
    tx: &Connection,
    letter: LetterId,
    actor: &Actor,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Writer, StorageError> {
    let (name, phone): (String, String) = tx
        .query_row(
            "SELECT writer_name, writer_phone FROM letters WHERE id = ?1",
            [letter.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .db()?
        .ok_or_else(|| StorageError::NotFound(format!("letter {} does not exist", letter.0)))?;
    let (user, unit) = match (actor.user, actor.unit) {
        (Some(user), Some(unit)) => (user, unit),
        _ => return Err(corrupt("a reveal needs a signed-in user")),
    };
    tx.execute(
        "INSERT INTO writer_reveals (letter_id, user_id, unit_id, at) VALUES (?1, ?2, ?3, ?4)",
        params![letter.0, user.0, unit.0, to_db(now)],
    )
    .db()?;
    audit::append(
        tx,
        NewEntry {
            at: now,
            actor,
            action: "letter.reveal_writer",
            letter: Some(letter),
            unit: Some(unit),
            user: None,
            payload: json!({ "fields": ["name", "phone"] }),
        },
    )
    .db()?;
    Ok(Writer {
        name,
        phone,
        masked: false,
    })
}
