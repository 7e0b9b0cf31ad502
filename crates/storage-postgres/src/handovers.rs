//! Shift handover acknowledgements in PostgreSQL (the SQLite backend's `handovers.rs`).

use crate::cached::Cached;
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use jsjb_core::letter::LetterId;
use jsjb_core::org::{UnitId, UserId};
use jsjb_proto::{HandoverAck, HandoverCounts};
use jsjb_storage::handovers::{HandoverOutcome, HandoverStore, NewHandover};
use jsjb_storage::{Actor, StorageError};
use serde_json::json;
use tokio_postgres::types::ToSql;

use crate::audit::{self, NewEntry};
use crate::{Db, PgStore, corrupt};

const ACK_COLUMNS: &str = "h.id, h.unit_id, h.user_id, u.display_name, h.shift, h.acknowledged_at,
     h.recorded_at, h.note, h.counts, h.letter_ids, h.workstation, h.idempotency_key,
     h.checked_ids, h.handed_over_by, o.display_name";

fn ack_from_row(r: &tokio_postgres::Row) -> Result<HandoverAck, StorageError> {
    let ids = |i: usize, what: &str| {
        serde_json::from_str::<Vec<LetterId>>(r.get(i))
            .map_err(|e| corrupt(format!("handover {what}: {e}")))
    };
    Ok(HandoverAck {
        id: r.get(0),
        unit_id: UnitId(r.get(1)),
        user_id: UserId(r.get(2)),
        user_name: r.get(3),
        shift: r.get(4),
        acknowledged_at: r.get(5),
        recorded_at: r.get(6),
        note: r.get(7),
        counts: serde_json::from_str::<HandoverCounts>(r.get(8))
            .map_err(|e| corrupt(format!("handover counts: {e}")))?,
        letter_ids: ids(9, "letters")?,
        checked_ids: ids(12, "ticks")?,
        handed_over_by: r.get::<_, Option<i64>>(13).map(UserId),
        handed_over_by_name: r.get(14),
        workstation: r.get(10),
        idempotency_key: r.get(11),
    })
}

async fn load_where(
    c: &impl GenericClient,
    filter: &str,
    args: &[&(dyn ToSql + Sync)],
) -> Result<Vec<HandoverAck>, StorageError> {
    let rows = c
        .query_c(
            &format!(
                "SELECT {ACK_COLUMNS} FROM handover_acks h JOIN users u ON u.id = h.user_id
                 LEFT JOIN users o ON o.id = h.handed_over_by WHERE {filter}"
            ),
            args,
        )
        .await
        .db()?;
    rows.iter().map(ack_from_row).collect()
}

async fn load_one(c: &impl GenericClient, id: i64) -> Result<HandoverAck, StorageError> {
    load_where(c, "h.id = $1", &[&id])
        .await?
        .pop()
        .ok_or_else(|| corrupt("handover vanished"))
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| corrupt(e.to_string()))
}

#[async_trait]
impl HandoverStore for PgStore {
    async fn record_handover(
        &self,
        new: NewHandover,
        actor: Actor,
    ) -> Result<HandoverOutcome, StorageError> {
        let mut client = self.writer().await?;
        let tx = crate::begin_write(&mut client).await?;
        // Under the write lock, so a retry racing the first post waits and then sees it.
        let seen = tx
            .query_opt_c(
                "SELECT id, request_hash FROM handover_acks
                 WHERE user_id = $1 AND idempotency_key = $2",
                &[&new.user.0, &new.idempotency_key],
            )
            .await
            .db()?;
        if let Some(row) = seen {
            let (id, hash): (i64, &str) = (row.get(0), row.get(1));
            if hash != new.request_hash {
                return Ok(HandoverOutcome::KeyReused);
            }
            return Ok(HandoverOutcome::Replayed(load_one(&tx, id).await?));
        }
        let request = &new.request;
        let id: i64 = tx
            .query_one_c(
                "INSERT INTO handover_acks (unit_id, user_id, shift, acknowledged_at, recorded_at,
                     note, counts, letter_ids, workstation, idempotency_key, request_hash,
                     checked_ids, handed_over_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING id",
                &[
                    &request.unit_id.0,
                    &new.user.0,
                    &request.shift,
                    &request.acknowledged_at,
                    &new.recorded_at,
                    &request.note,
                    &json_text(&request.counts)?,
                    &json_text(&request.letter_ids)?,
                    &actor.workstation,
                    &new.idempotency_key,
                    &new.request_hash,
                    &json_text(&request.checked_ids)?,
                    &request.handed_over_by.map(|u| u.0),
                ],
            )
            .await
            .db()?
            .get(0);
        audit::append(
            &tx,
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
        .await?;
        let stored = load_one(&tx, id).await?;
        self.commit(tx).await?;
        Ok(HandoverOutcome::Recorded(stored))
    }

    async fn handovers(&self, unit: UnitId, limit: u32) -> Result<Vec<HandoverAck>, StorageError> {
        let client = self.client().await?;
        load_where(
            &client,
            "h.unit_id = $1 ORDER BY h.acknowledged_at DESC, h.id DESC LIMIT $2",
            &[&unit.0, &i64::from(limit)],
        )
        .await
    }
}
