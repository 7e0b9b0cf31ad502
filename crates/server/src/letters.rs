//! The life cycle over HTTP: every action of DOMAIN.md as one POST with an
//! `Idempotency-Key`, the letter itself, the logged reveal of the writer, and the
//! directory of colleagues. The rules come from `jsjb_core::workflow`; this module
//! only gathers what they need and turns their verdict into HTTP.

use axum::extract::State;
use axum::response::Response;
use jsjb_core::letter::LetterId;
use jsjb_core::org::{Role, UnitTree};
use jsjb_core::workflow::{ActionKind, LetterStatus};
use jsjb_proto::{ActionRequest, LetterRecord, UserSummary, Writer};
use jsjb_storage::{ActionCommit, ActionOutcome};

use crate::actions::{audit_action, core_actor, decision, extras_for, not_in_scope, rules};
use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::idempotency::{IdempotencyKey, answer_response, history_full, request_fingerprint};
use crate::state::AppState;

/// Takes an action on a letter.
///
/// The body is an `ActionRequest` (jsjb-proto): the letter version the user saw and the
/// action, tagged by `action` (`sign_for`, `dispatch`, `record_contact`, …, as in
/// DOMAIN.md). The same `Idempotency-Key` replays the first answer and changes nothing.
#[utoipa::path(post, path = "/api/v1/letters/{id}/actions", tag = "letters",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "The letter"),
        ("Idempotency-Key" = String, Header, description = "A fresh UUID per action; reuse it only to retry"),
    ),
    request_body(content = jsjb_proto::ActionRequest, description = "ActionRequest: `{expected_version, action: {action: \"sign_for\" | …, …}}`"),
    responses(
        (status = 200, body = jsjb_proto::ActionResponse, description = "ActionResponse: the letter as it is now"),
        (status = 403, body = Problem, description = "`out_of_scope` (a letter you see but may not act on: a unit below), `role_not_allowed`, `not_assigned_supervisor`"),
        (status = 404, body = Problem, description = "`not_found`: no such letter in your scope (checked before anything else)"),
        (status = 409, body = Problem, description = "`stale_version`, with `current`: the letter now (only for a letter in your scope)"),
        (status = 422, body = Problem, description = "`wrong_state`, `invalid_input`, `deadline_passed`, `signature_required`, … (a rule's code)"),
    ))]
pub async fn post_action(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(request): ApiJson<ActionRequest>,
) -> Result<Response, ApiError> {
    let request_hash = request_fingerprint(&format!("letters/{id}/actions"), &request)?;
    let kind = request.action.kind();
    // The chief's decision is accepted only with a verified signature (src/signoff/).
    if kind == ActionKind::ApproveFeedbackForm {
        return crate::signoff::post_signed_action(
            &state,
            &session,
            id,
            (key, request_hash),
            request,
        )
        .await;
    }
    let now = state.time.now();
    let decide = decision(
        rules(&state).await?,
        core_actor(&session),
        now,
        Some(request.expected_version),
        request.action.clone(),
        extras_for(&state, &request.action).await?,
    );
    let commit = ActionCommit {
        letter: LetterId(id),
        actor: session.actor(None),
        at: now,
        idempotency: Some((key, request_hash)),
        audit_action: audit_action(kind),
        history_full: history_full(),
    };
    match state.store.apply_action(commit, decide).await? {
        ActionOutcome::Applied {
            change_seq,
            prev_unit,
            letter,
            answer,
        } => {
            state
                .publish_change(change_seq, &[letter.unit_id, prev_unit])
                .await;
            Ok(answer_response(answer))
        }
        ActionOutcome::Refused(answer) | ActionOutcome::Replayed(answer) => {
            Ok(answer_response(answer))
        }
        ActionOutcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
    }
}

/// A letter is visible to its unit and every unit above it.
fn visible(tree: &UnitTree, session: &Session, letter: &LetterRecord) -> bool {
    tree.in_scope(session.unit_id, letter.unit_id)
}

/// One letter, as desktops cache it (the writer masked).
#[utoipa::path(get, path = "/api/v1/letters/{id}", tag = "letters",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The letter")),
    responses(
        (status = 200, body = jsjb_proto::LetterRecord, description = "LetterRecord"),
        (status = 404, body = Problem, description = "`not_found`: no such letter in your scope"),
    ))]
pub async fn get_letter(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<LetterRecord>, ApiError> {
    let tree = unit_tree(&state).await?;
    match state.store.letter(LetterId(id)).await? {
        Some(letter) if visible(&tree, &session, &letter) => Ok(ApiJson(letter)),
        // Out of scope reads as absent: a sibling's letters are not even acknowledged.
        _ => Err(not_in_scope(LetterId(id))),
    }
}

/// Shows the writer's real name and phone to the handling unit and the desks that
/// routed the letter. Every reveal is recorded (who, when) in the audit log.
#[utoipa::path(post, path = "/api/v1/letters/{id}/reveal-writer", tag = "letters",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The letter")),
    responses(
        (status = 200, body = jsjb_proto::Writer, description = "Writer: `{name, phone, masked: false}`"),
        (status = 403, body = Problem, description = "`reveal_not_allowed`"),
        (status = 404, body = Problem),
    ))]
pub async fn reveal_writer(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<Writer>, ApiError> {
    let tree = unit_tree(&state).await?;
    let letter = state
        .store
        .letter(LetterId(id))
        .await?
        .filter(|l| visible(&tree, &session, l))
        .ok_or_else(|| not_in_scope(LetterId(id)))?;
    let status = LetterStatus::from_events(
        letter.category,
        letter.events.iter().map(|e| (e.at, &e.payload)),
    )
    .ok_or_else(|| ApiError::Internal(format!("letter {id} has no history")))?;
    if !may_reveal(&session, &status) {
        return Err(ApiError::RevealNotAllowed);
    }
    let writer = state
        .store
        .reveal_writer(LetterId(id), session.actor(None), state.time.now())
        .await?;
    Ok(ApiJson(writer))
}

/// The handling unit's officers and chief, and the desks on the letter's dispatch path.
pub fn may_reveal(session: &Session, status: &LetterStatus) -> bool {
    let handling = session.unit_id == status.unit
        && (session.has(Role::Officer)
            || session.has(Role::Chief)
            || session.has(Role::Dispatcher));
    let routing_desk =
        session.has(Role::Dispatcher) && status.dispatch_chain.contains(&session.unit_id);
    handling || routing_desk
}

/// Every active colleague: for naming handlers and choosing supervisors.
#[utoipa::path(get, path = "/api/v1/directory", tag = "letters",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<jsjb_proto::UserSummary>, description = "UserSummary[]")))]
pub async fn directory(
    State(state): State<AppState>,
    _session: Session,
) -> Result<ApiJson<Vec<UserSummary>>, ApiError> {
    let users = state.store.users().await?;
    Ok(ApiJson(
        users
            .into_iter()
            .filter(|u| u.active)
            .map(|u| UserSummary {
                id: u.id,
                display_name: u.display_name,
                unit_id: u.unit_id,
                roles: u.roles.into_iter().collect(),
            })
            .collect(),
    ))
}
