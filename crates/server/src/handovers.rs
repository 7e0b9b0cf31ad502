//! Shift handover acknowledgements (交接班): the incoming duty officer (or desk
//! dispatcher) records having taken over the unit's open letters. Append-only and
//! audit-logged; a desktop's retry under the same `Idempotency-Key` is a no-op.
//!
//! - `POST /api/v1/handovers`: for the caller's own unit, by an officer, dispatcher or
//!   chief of it; it may name the outgoing officer (交班人, a colleague of the unit) and
//!   the listed letters ticked.
//! - `GET /api/v1/handovers?unit=&limit=`: the newest first, for a unit in the caller's
//!   scope (their own or one below).

use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_proto::{HandoverAck, HandoverAckRequest};
use serde::Deserialize;

use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::IdempotencyKey;
use crate::state::AppState;
use jsjb_storage::handovers::{HandoverOutcome, NewHandover};

const MAX_SHIFT: usize = 64;
const MAX_NOTE: usize = 2_000;
const MAX_LETTERS: usize = 5_000;
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 200;
/// An acknowledgement dated further ahead of the server's clock is a wrong clock.
const MAX_AHEAD: TimeDelta = TimeDelta::hours(1);

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
    if request.checked_ids.len() > MAX_LETTERS {
        return Err(ApiError::invalid(
            "checked_ids",
            format!("at most {MAX_LETTERS} letters"),
        ));
    }
    // A tick is on a line of the handover: only a listed letter can be ticked.
    if let Some(stray) = request
        .checked_ids
        .iter()
        .find(|id| !request.letter_ids.contains(id))
    {
        return Err(ApiError::invalid(
            "checked_ids",
            format!("letter {} was ticked but not listed in letter_ids", stray.0),
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

/// 交班人: the outgoing officer is someone else of the caller's own unit. One answer
/// for a stranger and for a user who does not exist: the body names no one.
async fn check_outgoing(
    state: &AppState,
    session: &Session,
    outgoing: UserId,
) -> Result<(), ApiError> {
    if outgoing == session.user_id {
        return Err(ApiError::invalid(
            "handed_over_by",
            "the outgoing officer is someone other than you",
        ));
    }
    match state.store.user(outgoing).await? {
        Some(user) if user.unit_id == session.unit_id => Ok(()),
        _ => Err(ApiError::invalid(
            "handed_over_by",
            "the outgoing officer must be a colleague of your unit",
        )),
    }
}

/// Records that the caller took over their unit's shift.
///
/// The body is a `HandoverAckRequest` (jsjb-proto). The same `Idempotency-Key` returns
/// the first record and changes nothing.
#[utoipa::path(post, path = "/api/v1/handovers", tag = "letters",
    security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "A fresh UUID per acknowledgement; reuse it only to retry")),
    request_body(content = jsjb_proto::HandoverAckRequest, description = "HandoverAckRequest: `{unit_id, shift, acknowledged_at, note, counts: {not_signed_for, not_contacted, chased, overdue, about_to_breach, promised_callback}, letter_ids, checked_ids?, handed_over_by?}`; `checked_ids` ⊆ `letter_ids`; `handed_over_by` a colleague of the same unit, not the caller"),
    responses(
        (status = 200, body = jsjb_proto::HandoverAck, description = "HandoverAck: the record"),
        (status = 400, body = Problem, description = "`invalid_input` (a field, e.g. `handed_over_by` not a colleague, `checked_ids` not listed), `idempotency_key_required`"),
        (status = 403, body = Problem, description = "`forbidden`: not your unit, or not a duty role"),
        (status = 422, body = Problem, description = "`idempotency_key_reused`"),
    ))]
pub async fn post_handover(
    State(state): State<AppState>,
    session: Session,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(request): ApiJson<HandoverAckRequest>,
) -> Result<ApiJson<HandoverAck>, ApiError> {
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
    if let Some(outgoing) = request.handed_over_by {
        check_outgoing(&state, &session, outgoing).await?;
    }
    let request_hash = crate::digest::sha256_hex(
        jsjb_storage::audit::canonical_json(
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
