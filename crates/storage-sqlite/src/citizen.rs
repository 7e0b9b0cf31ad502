//! SQL of the citizen side: duplicate detection, writers' ratings, conversation drafts
//! and delivered message ids (migration 2).

use chrono::{DateTime, Duration, Utc};
use jsjb_core::letter::{Channel, LetterId, LetterState, Satisfaction};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::Db;
use crate::audit::{self, NewEntry};
use crate::{corrupt, is_unique_violation, time_col};
use jsjb_storage::time::to_db;
use jsjb_storage::{
    Actor, AttachmentKind, AttachmentMeta, Draft, DraftMessage, DraftOutcome, Rating, StorageError,
    apply_draft_edit,
};

pub fn letters_from_sender(
    conn: &Connection,
    channel: Channel,
    sender: &str,
    limit: u32,
) -> Result<Vec<String>, StorageError> {
    let Some(key) = jsjb_storage::sender_contact_key(channel) else {
        return Ok(Vec::new());
    };
    // The key is one of two constants, never the caller's text; the statement's
    // expression is migration 16's index expression.
    let sql = format!(
        "SELECT tracking_code FROM letters
         WHERE channel = '{channel}' AND json_extract(writer_extra, '$.{key}') = ?1
         ORDER BY received_at DESC, id DESC LIMIT ?2",
        channel = channel.as_str()
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt
        .query_map(params![sender, limit], |r| r.get::<_, String>(0))
        .db()?;
    rows.map(|r| r.db()).collect()
}

pub fn recent_duplicate(
    conn: &Connection,
    phone: &str,
    body: &str,
    since: DateTime<Utc>,
) -> Result<Option<(String, DateTime<Utc>)>, StorageError> {
    // The (writer_phone, received_at) index narrows to this writer's recent letters;
    // the body is compared on those few rows only.
    let found: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT tracking_code, received_at FROM letters
             WHERE writer_phone = ?1 AND received_at >= ?2 AND body = ?3
             ORDER BY received_at DESC LIMIT 1",
        )
        .db()?
        .query_row(params![phone, to_db(since), body], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .db()?;
    found
        .map(|(code, at)| Ok((code, time_col(&at)?)))
        .transpose()
}

pub fn rate_letter(
    tx: &Connection,
    tracking_code: &str,
    rating: &Rating,
    actor: &Actor,
) -> Result<(), StorageError> {
    let found: Option<(i64, String, i64)> = tx
        .query_row(
            "SELECT id, state, unit_id FROM letters WHERE tracking_code = ?1",
            [tracking_code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .db()?;
    let Some((id, state, unit)) = found else {
        return Err(StorageError::NotFound(
            "no letter with this tracking code".to_owned(),
        ));
    };
    if LetterState::parse(&state) != Some(LetterState::Closed) {
        return Err(StorageError::Conflict {
            code: "not_closed",
            detail: "a letter can be rated once it is closed".to_owned(),
        });
    }
    let inserted = tx.execute(
        "INSERT INTO letter_ratings (letter_id, satisfaction, comment, rated_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            id,
            rating.satisfaction.as_str(),
            rating.comment,
            to_db(rating.rated_at)
        ],
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(StorageError::Conflict {
                code: "already_rated",
                detail: "this letter has been rated already".to_owned(),
            });
        }
        other => other.db()?,
    };
    audit::append(
        tx,
        NewEntry {
            at: rating.rated_at,
            actor,
            action: "letter.rate",
            letter: Some(LetterId(id)),
            unit: Some(jsjb_core::org::UnitId(unit)),
            user: None,
            payload: json!({ "satisfaction": rating.satisfaction.as_str() }),
        },
    )
    .db()?;
    Ok(())
}

pub fn rating(conn: &Connection, tracking_code: &str) -> Result<Option<Rating>, StorageError> {
    let found: Option<(String, String, String)> = conn
        .query_row(
            "SELECT r.satisfaction, r.comment, r.rated_at FROM letter_ratings r
             JOIN letters l ON l.id = r.letter_id WHERE l.tracking_code = ?1",
            [tracking_code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .db()?;
    found
        .map(|(s, comment, at)| {
            Ok(Rating {
                satisfaction: Satisfaction::parse(&s)
                    .ok_or_else(|| corrupt(format!("rating of {tracking_code} is {s:?}")))?,
                comment,
                rated_at: time_col(&at)?,
            })
        })
        .transpose()
}

fn attachments_json(list: &[AttachmentMeta]) -> String {
    serde_json::Value::Array(
        list.iter()
            .map(|a| {
                json!({"sha256": a.sha256, "mime": a.mime, "size": a.size, "kind": a.kind.as_str()})
            })
            .collect(),
    )
    .to_string()
}

fn attachments_from_json(text: &str) -> Result<Vec<AttachmentMeta>, StorageError> {
    let bad = || corrupt(format!("draft attachments {text:?}"));
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let list = value.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|a| {
            Ok(AttachmentMeta {
                sha256: a["sha256"].as_str().ok_or_else(bad)?.to_owned(),
                mime: a["mime"].as_str().ok_or_else(bad)?.to_owned(),
                size: a["size"].as_u64().ok_or_else(bad)?,
                kind: a["kind"]
                    .as_str()
                    .and_then(AttachmentKind::parse)
                    .ok_or_else(bad)?,
            })
        })
        .collect()
}

pub fn draft(
    conn: &Connection,
    channel: Channel,
    sender: &str,
) -> Result<Option<Draft>, StorageError> {
    type Row = (String, String, String, String, Option<String>, String);
    let found: Option<Row> = conn
        .query_row(
            "SELECT sender_name, started_at, updated_at, body, phone, attachments
             FROM citizen_drafts WHERE channel = ?1 AND sender = ?2",
            params![channel.as_str(), sender],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()
        .db()?;
    found
        .map(
            |(sender_name, started, updated, body, phone, attachments)| {
                Ok(Draft {
                    channel,
                    sender: sender.to_owned(),
                    sender_name,
                    started_at: time_col(&started)?,
                    updated_at: time_col(&updated)?,
                    body,
                    phone,
                    attachments: attachments_from_json(&attachments)?,
                })
            },
        )
        .transpose()
}

fn save_draft(tx: &Connection, d: &Draft) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO citizen_drafts (channel, sender, sender_name, started_at, updated_at, body, phone, attachments)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (channel, sender) DO UPDATE SET sender_name = excluded.sender_name,
             started_at = excluded.started_at, updated_at = excluded.updated_at, body = excluded.body,
             phone = excluded.phone, attachments = excluded.attachments",
        params![
            d.channel.as_str(),
            d.sender,
            d.sender_name,
            to_db(d.started_at),
            to_db(d.updated_at),
            d.body,
            d.phone,
            attachments_json(&d.attachments)
        ],
    )
    .db()?;
    Ok(())
}

fn delete_draft(tx: &Connection, channel: Channel, sender: &str) -> Result<(), StorageError> {
    tx.execute(
        "DELETE FROM citizen_drafts WHERE channel = ?1 AND sender = ?2",
        params![channel.as_str(), sender],
    )
    .db()?;
    Ok(())
}

pub fn message_seen(
    conn: &Connection,
    channel: Channel,
    msg_id: &str,
) -> Result<bool, StorageError> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM citizen_messages_seen WHERE channel = ?1 AND msg_id = ?2",
            params![channel.as_str(), msg_id],
            |r| r.get(0),
        )
        .optional()
        .db()?;
    Ok(found.is_some())
}

/// One message: the redelivery check, the draft's read-change-write and the id, all in
/// the caller's transaction (one write job), so they commit together or not at all.
pub fn apply_message(tx: &Connection, m: &DraftMessage) -> Result<DraftOutcome, StorageError> {
    if let Some(id) = &m.msg_id {
        // Redeliveries come within seconds; a day of ids is plenty and keeps the table small.
        tx.execute(
            "DELETE FROM citizen_messages_seen WHERE at < ?1",
            [to_db(m.at - Duration::days(1))],
        )
        .db()?;
        let inserted = tx
            .execute(
                "INSERT INTO citizen_messages_seen (channel, msg_id, at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
                params![m.channel.as_str(), id, to_db(m.at)],
            )
            .db()?;
        if inserted == 0 {
            return Ok(DraftOutcome::Redelivery);
        }
    }
    let before = draft(tx, m.channel, &m.sender)?;
    let was_new = before.as_ref().is_none_or(|d| d.updated_at < m.fresh_since);
    let after = match apply_draft_edit(before.clone(), m) {
        Ok(after) => after,
        // Refused by the draft's limits: the writer is told, the id stays noted.
        Err(refused) => return Ok(refused),
    };
    if after != before {
        match &after {
            Some(d) => save_draft(tx, d)?,
            None => delete_draft(tx, m.channel, &m.sender)?,
        }
    }
    Ok(DraftOutcome::Applied { was_new })
}
