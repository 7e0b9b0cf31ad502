//! The citizen side in PostgreSQL: duplicate detection, writers' ratings, conversation
//! drafts and delivered message ids (the SQLite backend's `citizen.rs`).

use crate::cached::Cached;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::GenericClient;
use jsjb_core::letter::{Channel, LetterId, LetterState, Satisfaction};
use jsjb_core::org::UnitId;
use jsjb_storage::{
    Actor, AttachmentKind, AttachmentMeta, Draft, DraftMessage, DraftOutcome, Rating, StorageError,
    apply_draft_edit,
};
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::{Db, PgStore, corrupt};

pub(crate) async fn letters_from_sender(
    store: &PgStore,
    channel: Channel,
    sender: &str,
    limit: u32,
) -> Result<Vec<String>, StorageError> {
    let Some(key) = jsjb_storage::sender_contact_key(channel) else {
        return Ok(Vec::new());
    };
    let client = store.client().await?;
    // The key is one of two constants, never the caller's text; the statement's
    // expression is migration V5's index expression.
    let sql = format!(
        "SELECT tracking_code FROM letters
         WHERE channel = '{channel}' AND ((writer_extra::jsonb) ->> '{key}') = $1
         ORDER BY received_at DESC, id DESC LIMIT $2",
        channel = channel.as_str()
    );
    let rows = client
        .query_c(&sql, &[&sender, &i64::from(limit)])
        .await
        .db()?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(crate) async fn recent_duplicate(
    store: &PgStore,
    phone: &str,
    body: &str,
    since: DateTime<Utc>,
) -> Result<Option<(String, DateTime<Utc>)>, StorageError> {
    let client = store.client().await?;
    // The (writer_phone, received_at) index narrows to this writer's recent letters;
    // the body is compared on those few rows only.
    let found = client
        .query_opt_c(
            "SELECT tracking_code, received_at FROM letters
             WHERE writer_phone = $1 AND received_at >= $2 AND body = $3
             ORDER BY received_at DESC LIMIT 1",
            &[&phone, &since, &body],
        )
        .await
        .db()?;
    Ok(found.map(|r| (r.get(0), r.get(1))))
}

pub(crate) async fn rate_letter(
    store: &PgStore,
    tracking_code: &str,
    rating: Rating,
    actor: Actor,
) -> Result<(), StorageError> {
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    let found = tx
        .query_opt_c(
            "SELECT id, state, unit_id FROM letters WHERE tracking_code = $1",
            &[&tracking_code],
        )
        .await
        .db()?;
    let Some(row) = found else {
        return Err(StorageError::NotFound(
            "no letter with this tracking code".to_owned(),
        ));
    };
    let (id, state, unit): (i64, &str, i64) = (row.get(0), row.get(1), row.get(2));
    if LetterState::parse(state) != Some(LetterState::Closed) {
        return Err(StorageError::Conflict {
            code: "not_closed",
            detail: "a letter can be rated once it is closed".to_owned(),
        });
    }
    // ON CONFLICT rather than catching the key violation: in PostgreSQL a failed
    // statement would abort the whole transaction.
    let inserted = tx
        .execute_c(
            "INSERT INTO letter_ratings (letter_id, satisfaction, comment, rated_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (letter_id) DO NOTHING",
            &[
                &id,
                &rating.satisfaction.as_str(),
                &rating.comment,
                &rating.rated_at,
            ],
        )
        .await
        .db()?;
    if inserted == 0 {
        return Err(StorageError::Conflict {
            code: "already_rated",
            detail: "this letter has been rated already".to_owned(),
        });
    }
    audit::append(
        &tx,
        NewEntry {
            at: rating.rated_at,
            actor: &actor,
            action: "letter.rate",
            letter: Some(LetterId(id)),
            unit: Some(UnitId(unit)),
            user: None,
            payload: json!({ "satisfaction": rating.satisfaction.as_str() }),
        },
    )
    .await?;
    store.commit(tx).await
}

pub(crate) async fn rating(
    store: &PgStore,
    tracking_code: &str,
) -> Result<Option<Rating>, StorageError> {
    let client = store.client().await?;
    let found = client
        .query_opt_c(
            "SELECT r.satisfaction, r.comment, r.rated_at FROM letter_ratings r
             JOIN letters l ON l.id = r.letter_id WHERE l.tracking_code = $1",
            &[&tracking_code],
        )
        .await
        .db()?;
    found
        .map(|r| {
            let s: &str = r.get(0);
            Ok(Rating {
                satisfaction: Satisfaction::parse(s)
                    .ok_or_else(|| corrupt(format!("rating of {tracking_code} is {s:?}")))?,
                comment: r.get(1),
                rated_at: r.get(2),
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

async fn load_draft(
    c: &impl GenericClient,
    channel: Channel,
    sender: &str,
) -> Result<Option<Draft>, StorageError> {
    let found = c
        .query_opt_c(
            "SELECT sender_name, started_at, updated_at, body, phone, attachments
             FROM citizen_drafts WHERE channel = $1 AND sender = $2",
            &[&channel.as_str(), &sender],
        )
        .await
        .db()?;
    found
        .map(|r| {
            Ok(Draft {
                channel,
                sender: sender.to_owned(),
                sender_name: r.get(0),
                started_at: r.get(1),
                updated_at: r.get(2),
                body: r.get(3),
                phone: r.get(4),
                attachments: attachments_from_json(r.get(5))?,
            })
        })
        .transpose()
}

async fn save_draft(tx: &impl GenericClient, d: &Draft) -> Result<(), StorageError> {
    tx.execute_c(
        "INSERT INTO citizen_drafts (channel, sender, sender_name, started_at, updated_at, body, phone, attachments)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (channel, sender) DO UPDATE SET sender_name = excluded.sender_name,
             started_at = excluded.started_at, updated_at = excluded.updated_at, body = excluded.body,
             phone = excluded.phone, attachments = excluded.attachments",
        &[
            &d.channel.as_str(),
            &d.sender,
            &d.sender_name,
            &d.started_at,
            &d.updated_at,
            &d.body,
            &d.phone,
            &attachments_json(&d.attachments),
        ],
    )
    .await
    .db()?;
    Ok(())
}

async fn delete_draft(
    tx: &impl GenericClient,
    channel: Channel,
    sender: &str,
) -> Result<(), StorageError> {
    tx.execute_c(
        "DELETE FROM citizen_drafts WHERE channel = $1 AND sender = $2",
        &[&channel.as_str(), &sender],
    )
    .await
    .db()?;
    Ok(())
}

pub(crate) async fn draft(
    store: &PgStore,
    channel: Channel,
    sender: &str,
) -> Result<Option<Draft>, StorageError> {
    load_draft(&store.client().await?, channel, sender).await
}

pub(crate) async fn message_seen(
    store: &PgStore,
    channel: Channel,
    msg_id: &str,
) -> Result<bool, StorageError> {
    let client = store.client().await?;
    let found = client
        .query_opt_c(
            "SELECT 1 FROM citizen_messages_seen WHERE channel = $1 AND msg_id = $2",
            &[&channel.as_str(), &msg_id],
        )
        .await
        .db()?;
    Ok(found.is_some())
}

/// One message: the redelivery check, the draft's read-change-write and the id, all in
/// one write transaction, so they commit together or not at all (and, under the write
/// lock, no other message to the same draft reads it in between).
pub(crate) async fn apply_message(
    store: &PgStore,
    m: DraftMessage,
) -> Result<DraftOutcome, StorageError> {
    let mut client = store.writer().await?;
    let tx = crate::begin_write(&mut client).await?;
    let outcome = apply_in(&tx, &m).await?;
    store.commit(tx).await?;
    Ok(outcome)
}

async fn apply_in(tx: &impl GenericClient, m: &DraftMessage) -> Result<DraftOutcome, StorageError> {
    if let Some(id) = &m.msg_id {
        // Redeliveries come within seconds; a day of ids is plenty and keeps the table small.
        tx.execute_c(
            "DELETE FROM citizen_messages_seen WHERE at < $1",
            &[&(m.at - Duration::days(1))],
        )
        .await
        .db()?;
        let inserted = tx
            .execute_c(
                "INSERT INTO citizen_messages_seen (channel, msg_id, at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&m.channel.as_str(), id, &m.at],
            )
            .await
            .db()?;
        if inserted == 0 {
            return Ok(DraftOutcome::Redelivery);
        }
    }
    let before = load_draft(tx, m.channel, &m.sender).await?;
    let was_new = before.as_ref().is_none_or(|d| d.updated_at < m.fresh_since);
    let after = match apply_draft_edit(before.clone(), m) {
        Ok(after) => after,
        // Refused by the draft's limits: the writer is told, the id stays noted.
        Err(refused) => return Ok(refused),
    };
    if after != before {
        match &after {
            Some(d) => save_draft(tx, d).await?,
            None => delete_draft(tx, m.channel, &m.sender).await?,
        }
    }
    Ok(DraftOutcome::Applied { was_new })
}
