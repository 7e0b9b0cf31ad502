//! Shift handover acknowledgements in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{HandoverAck, HandoverCounts};
use jsjb_storage::handovers::{HandoverOutcome, HandoverStore, NewHandover};
use jsjb_storage::time::{from_db, to_db};
use jsjb_storage::{Actor, StorageError};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::Db;
use crate::SqliteStore;
use crate::audit::{self, NewEntry};

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

const ACK_COLUMNS: &str = "h.id, h.unit_id, h.user_id, u.display_name, h.shift, h.acknowledged_at,
     h.recorded_at, h.note, h.counts, h.letter_ids, h.workstation, h.idempotency_key,
     h.checked_ids, h.handed_over_by, o.display_name";

fn ack_from_row(r: &rusqlite::Row<'_>) -> Result<HandoverAck, StorageError> {
    let time = |i: usize| -> Result<DateTime<Utc>, StorageError> {
        let text: String = r.get(i).db()?;
        from_db(&text).map_err(|e| corrupt(format!("bad timestamp {text:?}: {e}")))
    };
    let counts: String = r.get(8).db()?;
    let letters: String = r.get(9).db()?;
    let checked: String = r.get(12).db()?;
    let ids = |text: &str, what: &str| {
        serde_json::from_str::<Vec<LetterId>>(text)
            .map_err(|e| corrupt(format!("handover {what}: {e}")))
    };
    Ok(HandoverAck {
        id: r.get(0).db()?,
        unit_id: UnitId(r.get(1).db()?),
        user_id: UserId(r.get(2).db()?),
        user_name: r.get(3).db()?,
        shift: r.get(4).db()?,
        acknowledged_at: time(5)?,
        recorded_at: time(6)?,
        note: r.get(7).db()?,
        counts: serde_json::from_str::<HandoverCounts>(&counts)
            .map_err(|e| corrupt(format!("handover counts: {e}")))?,
        letter_ids: ids(&letters, "letters")?,
        checked_ids: ids(&checked, "ticks")?,
        handed_over_by: r.get::<_, Option<i64>>(13).db()?.map(UserId),
        handed_over_by_name: r.get(14).db()?,
        workstation: r.get(10).db()?,
        idempotency_key: r.get(11).db()?,
    })
}

fn load_where(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<HandoverAck>, StorageError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ACK_COLUMNS} FROM handover_acks h JOIN users u ON u.id = h.user_id
         LEFT JOIN users o ON o.id = h.handed_over_by WHERE {filter}"
        ))
        .db()?;
    let mut rows = stmt.query(args).db()?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().db()? {
        out.push(ack_from_row(row)?);
    }
    Ok(out)
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| corrupt(e.to_string()))
}

#[async_trait]
impl HandoverStore for SqliteStore {
    async fn record_handover(
        &self,
        new: NewHandover,
        actor: Actor,
    ) -> Result<HandoverOutcome, StorageError> {
        self.write(move |tx| {
            let seen: Option<(i64, String)> = tx
                .prepare_cached(
                    "SELECT id, request_hash FROM handover_acks
                     WHERE user_id = ?1 AND idempotency_key = ?2",
                )
                .db()?
                .query_row(params![new.user.0, new.idempotency_key], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .db()?;
            if let Some((id, hash)) = seen {
                if hash != new.request_hash {
                    return Ok(HandoverOutcome::KeyReused);
                }
                let first = load_where(tx, "h.id = ?1", [id])?
                    .pop()
                    .ok_or_else(|| corrupt("handover vanished"))?;
                return Ok(HandoverOutcome::Replayed(first));
            }
            let request = &new.request;
            tx.prepare_cached(
                "INSERT INTO handover_acks (unit_id, user_id, shift, acknowledged_at, recorded_at,
                     note, counts, letter_ids, workstation, idempotency_key, request_hash,
                     checked_ids, handed_over_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .db()?
            .execute(params![
                request.unit_id.0,
                new.user.0,
                request.shift,
                to_db(request.acknowledged_at),
                to_db(new.recorded_at),
                request.note,
                json_text(&request.counts)?,
                json_text(&request.letter_ids)?,
                actor.workstation,
                new.idempotency_key,
                new.request_hash,
                json_text(&request.checked_ids)?,
                request.handed_over_by.map(|u| u.0),
            ])
            .db()?;
            let id = tx.last_insert_rowid();
            audit::append(
                tx,
                NewEntry {
                    at: new.recorded_at,
                    actor: &actor,
                    action: "handover.acknowledge",
                    letter: None,
                    unit: Some(request.unit_id),
                    user: Some(new.user),
                    payload: json!({
                        "handover_id": id,
                        "shift": request.shift,
                        "acknowledged_at": request.acknowledged_at,
                        "counts": request.counts,
                        "letter_ids": request.letter_ids,
                        "checked_ids": request.checked_ids,
                        "handed_over_by": request.handed_over_by,
                        "note": request.note,
                    }),
                },
            )
            .db()?;
            let stored = load_where(tx, "h.id = ?1", [id])?
                .pop()
                .ok_or_else(|| corrupt("handover vanished"))?;
            Ok(HandoverOutcome::Recorded(stored))
        })
        .await
    }

    async fn handovers(&self, unit: UnitId, limit: u32) -> Result<Vec<HandoverAck>, StorageError> {
        self.read(move |conn| {
            load_where(
                conn,
                "h.unit_id = ?1 ORDER BY h.acknowledged_at DESC, h.id DESC LIMIT ?2",
                params![unit.0, limit],
            )
        })
        .await
    }
}
