//! Shift handover acknowledgements (交接班): the incoming duty officer (or desk
//! dispatcher) records having taken over the unit's open letters. Append-only and
//! audit-logged; a desktop's retry under the same `Idempotency-Key` is a no-op.
//!
//! - `POST /api/v1/handovers`: for the caller's own unit, by an officer, dispatcher or
//!   chief of it.
//! - `GET /api/v1/handovers?unit=&limit=`: the newest first, for a unit in the caller's
//!   scope (their own or one below).

use async_trait::async_trait;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, TimeDelta, Utc};
use jsjb_core::letter::LetterId;
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_proto::{HandoverAck, HandoverAckRequest, HandoverCounts};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, NewEntry};
use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::storage::sqlite::SqliteStore;
use crate::storage::{Actor, StorageError};
use crate::time::{from_db, to_db};

const MAX_SHIFT: usize = 64;
const MAX_NOTE: usize = 2_000;
const MAX_LETTERS: usize = 5_000;
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 200;
/// An acknowledgement dated further ahead of the server's clock is a wrong clock.
const MAX_AHEAD: TimeDelta = TimeDelta::hours(1);

/// A validated acknowledgement to store.
#[derive(Debug, Clone)]
pub struct NewHandover {
    pub request: HandoverAckRequest,
    pub user: UserId,
    pub recorded_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub request_hash: String,
}

#[derive(Debug, Clone)]
pub enum HandoverOutcome {
    Recorded(HandoverAck),
    /// The key was used before for the same request: the first record.
    Replayed(HandoverAck),
    /// The key was used before for a different request.
    KeyReused,
}

#[async_trait]
pub trait HandoverStore: Send + Sync {
    /// Stores the acknowledgement and its audit entry in one transaction.
    async fn record_handover(
        &self,
        new: NewHandover,
        actor: Actor,
    ) -> Result<HandoverOutcome, StorageError>;
    /// The unit's acknowledgements, newest first.
    async fn handovers(&self, unit: UnitId, limit: u32) -> Result<Vec<HandoverAck>, StorageError>;
}

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

const ACK_COLUMNS: &str = "h.id, h.unit_id, h.user_id, u.display_name, h.shift, h.acknowledged_at,
     h.recorded_at, h.note, h.counts, h.letter_ids, h.workstation, h.idempotency_key";

fn ack_from_row(r: &rusqlite::Row<'_>) -> Result<HandoverAck, StorageError> {
    let time = |i: usize| -> Result<DateTime<Utc>, StorageError> {
        let text: String = r.get(i)?;
        from_db(&text).map_err(|e| corrupt(format!("bad timestamp {text:?}: {e}")))
    };
    let counts: String = r.get(8)?;
    let letters: String = r.get(9)?;
    Ok(HandoverAck {
        id: r.get(0)?,
        unit_id: UnitId(r.get(1)?),
        user_id: UserId(r.get(2)?),
        user_name: r.get(3)?,
        shift: r.get(4)?,
        acknowledged_at: time(5)?,
        recorded_at: time(6)?,
        note: r.get(7)?,
        counts: serde_json::from_str::<HandoverCounts>(&counts)
            .map_err(|e| corrupt(format!("handover counts: {e}")))?,
        letter_ids: serde_json::from_str::<Vec<LetterId>>(&letters)
            .map_err(|e| corrupt(format!("handover letters: {e}")))?,
        workstation: r.get(10)?,
        idempotency_key: r.get(11)?,
    })
}

fn load_where(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<HandoverAck>, StorageError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ACK_COLUMNS} FROM handover_acks h JOIN users u ON u.id = h.user_id WHERE {filter}"
    ))?;
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
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
                )?
                .query_row(params![new.user.0, new.idempotency_key], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
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
                     note, counts, letter_ids, workstation, idempotency_key, request_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
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
            ])?;
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
                        "note": request.note,
                    }),
                },
            )?;
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

fn validate(request: &HandoverAckRequest, now: DateTime<Utc>) -> Result<(), ApiError> {
    if request.shift.chars().count() > MAX_SHIFT {
        return Err(ApiError::invalid(
            "shift",
            format!("at most {MAX_SHIFT} characters"),
        ));
    }
    if request.note.chars().count() > MAX_NOTE {
        return Err(ApiError::invalid(
            "note",
            format!("at most {MAX_NOTE} characters"),
        ));
    }
    if request.letter_ids.len() > MAX_LETTERS {
        return Err(ApiError::invalid(
            "letter_ids",
            format!("at most {MAX_LETTERS} letters"),
        ));
    }
    if request.acknowledged_at > now + MAX_AHEAD {
        return Err(ApiError::invalid(
            "acknowledged_at",
            "lies in the future: check the workstation's clock",
        ));
    }
    Ok(())
}

/// Records that the caller took over their unit's shift.
///
/// The body is a `HandoverAckRequest` (jsjb-proto). The same `Idempotency-Key` returns
/// the first record and changes nothing.
#[utoipa::path(post, path = "/api/v1/handovers", tag = "letters",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "A fresh UUID per acknowledgement; reuse it only to retry")),
    request_body(content = jsjb_proto::HandoverAckRequest, description = "HandoverAckRequest: `{unit_id, shift, acknowledged_at, note, counts: {not_contacted, about_to_breach, promised_callback}, letter_ids}`"),
    responses(
        (status = 200, body = jsjb_proto::HandoverAck, description = "HandoverAck: the record"),
        (status = 400, body = Problem, description = "`invalid_input`, `idempotency_key_required`"),
        (status = 403, body = Problem, description = "`forbidden`: not your unit, or not a duty role"),
        (status = 422, body = Problem, description = "`idempotency_key_reused`"),
    ))]
pub async fn post_handover(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ApiJson(request): ApiJson<HandoverAckRequest>,
) -> Result<ApiJson<HandoverAck>, ApiError> {
    let key = crate::letters::idempotency_key(&headers)?;
    if ![Role::Officer, Role::Dispatcher, Role::Chief]
        .iter()
        .any(|r| session.has(*r))
    {
        return Err(ApiError::Forbidden(
            "a handover is acknowledged by an officer, dispatcher or chief of the unit".to_owned(),
        ));
    }
    if request.unit_id != session.unit_id {
        return Err(ApiError::Forbidden(
            "you can acknowledge the handover of your own unit only".to_owned(),
        ));
    }
    let now = state.time.now();
    validate(&request, now)?;
    let request_hash = crate::blobs::BlobStore::sha256(
        crate::audit::canonical_json(
            &serde_json::to_value(&request).map_err(|e| ApiError::Internal(e.to_string()))?,
        )
        .as_bytes(),
    );
    let new = NewHandover {
        request,
        user: session.user_id,
        recorded_at: now,
        idempotency_key: key,
        request_hash,
    };
    match state
        .store
        .handovers()
        .record_handover(new, session.actor(None))
        .await?
    {
        HandoverOutcome::Recorded(ack) | HandoverOutcome::Replayed(ack) => Ok(ApiJson(ack)),
        HandoverOutcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
    }
}

#[derive(Debug, Deserialize)]
pub struct HandoverQuery {
    /// The caller's own unit when absent.
    pub unit: Option<i64>,
    pub limit: Option<u32>,
}

/// The handover acknowledgements of a unit in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/handovers", tag = "letters",
    security(("bearer" = [])),
    params(
        ("unit" = Option<i64>, Query, description = "The unit (default: yours)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "At most this many (default 20, max 200)"),
    ),
    responses(
        (status = 200, body = Vec<jsjb_proto::HandoverAck>, description = "HandoverAck[]"),
        (status = 403, body = Problem, description = "`forbidden`: the unit is outside your scope"),
    ))]
pub async fn list_handovers(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<HandoverQuery>,
) -> Result<ApiJson<Vec<HandoverAck>>, ApiError> {
    let unit = query.unit.map_or(session.unit_id, UnitId);
    let tree = unit_tree(&state).await?;
    if !tree.in_scope(session.unit_id, unit) {
        return Err(ApiError::Forbidden(format!(
            "unit {} is outside your scope",
            unit.0
        )));
    }
    // Refused rather than clamped: the document states 1–200, and a value it forbids
    // is not silently read as another.
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("ask for 1 to {MAX_LIMIT} handovers"),
        ));
    }
    Ok(ApiJson(
        state.store.handovers().handovers(unit, limit).await?,
    ))
}
