//! The life cycle over HTTP: every action of DOMAIN.md as one POST with an
//! `Idempotency-Key`, the letter itself, the logged reveal of the writer, and the
//! directory of colleagues. The rules come from `jsjb_core::workflow`; this module
//! only gathers what they need and turns their verdict into HTTP.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use jsjb_core::calendar::WorkCalendar;
use jsjb_core::clock::Policy;
use jsjb_core::letter::LetterId;
use jsjb_core::org::{Relation, Role, UnitTree};
use jsjb_core::workflow::{
    Action, ActionKind, Actor as CoreActor, DecisionContext, EventPayload, LetterStatus, decide,
};
use jsjb_proto::{ActionRequest, LetterRecord, UserSummary, Writer};

use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use jsjb_storage::{ActionCommit, ActionOutcome, DecideFn, StoredAnswer, UserRecord};

/// The longest idempotency key accepted (a UUID is 36 characters).
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// The audit verb of an action.
pub fn audit_action(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Dispatch => "letter.dispatch",
        ActionKind::SignFor => "letter.sign_for",
        ActionKind::RecordContact => "letter.record_contact",
        ActionKind::GiveFirstFeedback => "letter.give_first_feedback",
        ActionKind::ReturnLetter => "letter.return",
        ActionKind::RuleReturn => "letter.rule_return",
        ActionKind::RequestExtension => "letter.request_extension",
        ActionKind::DecideExtension => "letter.decide_extension",
        ActionKind::AssignSupervisor => "letter.assign_supervisor",
        ActionKind::Chase => "letter.chase",
        ActionKind::SubmitFeedbackForm => "letter.submit_feedback_form",
        ActionKind::ApproveFeedbackForm => "letter.approve_feedback_form",
        ActionKind::RecordReturnVisit => "letter.record_return_visit",
        ActionKind::LinkThanks => "letter.link_thanks",
    }
}

/// The core's view of a signed-in user.
pub fn core_actor(session: &Session) -> CoreActor {
    CoreActor {
        user: session.user_id,
        unit: session.unit_id,
        roles: session.roles.iter().copied().collect(),
    }
}

/// Facts from outside the letter that some actions are checked against, loaded before
/// the action's transaction.
#[derive(Default)]
pub struct Extras {
    /// For `assign_supervisor`: the named supervising officer.
    pub supervisor: Option<UserRecord>,
    /// For `link_thanks`: the unit holding the case thanked for.
    pub case_unit: Option<jsjb_core::org::UnitId>,
}

/// Everything the rules need, owned, so it can run inside the storage transaction.
pub struct Rules {
    pub tree: UnitTree,
    pub policy: Arc<Policy>,
    pub calendar: Arc<WorkCalendar>,
}

/// Builds the decision run inside the action's transaction: version check, the core
/// transition function, and the checks that need `extras`.
pub fn decision(
    rules: Rules,
    actor: CoreActor,
    now: DateTime<Utc>,
    expected_version: Option<u32>,
    action: Action,
    extras: Extras,
) -> DecideFn {
    Box::new(move |record: &LetterRecord, status: &LetterStatus| {
        // Scope before anything else: a letter outside the caller's scope reads as absent
        // (as `GET` answers), so no later refusal — least of all `stale_version`, which
        // carries the letter — can tell a stranger anything about it.
        if !rules.tree.in_scope(actor.unit, status.unit) {
            return Err(render(&not_in_scope(record.id)));
        }
        if let Some(expected) = expected_version
            && expected != record.version
        {
            return Err(render(&ApiError::Stale {
                version: record.version,
                current: Box::new(record.clone()),
            }));
        }
        let ctx = DecisionContext {
            actor: &actor,
            tree: &rules.tree,
            policy: &rules.policy,
            calendar: &rules.calendar,
            now,
        };
        let event = decide(&ctx, status, &action).map_err(|e| render(&ApiError::Rule(e)))?;
        check_extras(&rules.tree, &actor, status, &event, &extras).map_err(|e| render(&e))?;
        Ok(event)
    })
}

fn check_extras(
    tree: &UnitTree,
    actor: &CoreActor,
    status: &LetterStatus,
    event: &EventPayload,
    extras: &Extras,
) -> Result<(), ApiError> {
    match event {
        EventPayload::SupervisorAssigned { supervisor, .. } => {
            let Some(user) = extras.supervisor.as_ref().filter(|u| u.id == *supervisor) else {
                return Err(ApiError::invalid("supervisor", "no such user"));
            };
            if !user.active || !user.roles.contains(&Role::Supervisor) {
                return Err(ApiError::invalid(
                    "supervisor",
                    "the user named is not an active supervising officer (盯办民警)",
                ));
            }
            // A supervisor follows up cases of units below their own.
            if tree.relation(user.unit_id, status.unit) != Relation::Above {
                return Err(ApiError::invalid(
                    "supervisor",
                    "the supervising officer must belong to a unit above the handling unit",
                ));
            }
            Ok(())
        }
        EventPayload::ThanksLinked { .. } => match extras.case_unit {
            Some(unit) if tree.in_scope(actor.unit, unit) => Ok(()),
            _ => Err(ApiError::invalid(
                "case",
                "the case thanked for does not exist in your scope",
            )),
        },
        _ => Ok(()),
    }
}

/// An API error as an answer that can be stored under an idempotency key.
pub fn render(error: &ApiError) -> StoredAnswer {
    let problem = error.to_problem();
    StoredAnswer {
        status: problem.status,
        body: serde_json::to_string(&problem).unwrap_or_else(|_| "{}".to_owned()),
    }
}

/// The refusal a full history earns (see [`jsjb_storage::MAX_EVENTS_PER_LETTER`]),
/// for [`ActionCommit::history_full`]: storage keeps it but knows no problem format.
pub fn history_full() -> StoredAnswer {
    render(&ApiError::HistoryFull {
        max: jsjb_storage::MAX_EVENTS_PER_LETTER,
    })
}

/// An answer kept under an idempotency key, as the HTTP response it was first.
pub fn answer_response(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The request's `Idempotency-Key`: printable ASCII, at most 128 characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    optional_idempotency_key(headers)?.ok_or(ApiError::IdempotencyKeyRequired)
}

/// The `Idempotency-Key` of a route where it is optional: absent is `None`, present
/// but malformed is refused like a missing one on a route that needs it.
pub fn optional_idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get(jsjb_proto::IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = raw.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(ApiError::IdempotencyKeyRequired);
    }
    Ok(Some(key.to_owned()))
}

/// What an `Idempotency-Key` is bound to besides its user: the route and its target
/// (`letters/17/actions`) and the canonical body. The same key sent to another letter,
/// another route or with another body is then a different request (`idempotency_key_reused`),
/// never a replay of an answer about something else.
pub fn request_fingerprint(target: &str, body: &impl serde::Serialize) -> Result<String, ApiError> {
    let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let canonical = jsjb_storage::audit::canonical_json(&body);
    Ok(crate::blobs::BlobStore::sha256(
        format!("{target}\n{canonical}").as_bytes(),
    ))
}

/// The rules' inputs for this server.
pub async fn rules(state: &AppState) -> Result<Rules, ApiError> {
    Ok(Rules {
        tree: unit_tree(state).await?,
        policy: Arc::clone(&state.policy),
        calendar: Arc::clone(&state.calendar),
    })
}

/// Loads what `check_extras` needs for an action.
pub async fn extras_for(state: &AppState, action: &Action) -> Result<Extras, ApiError> {
    let mut extras = Extras::default();
    match action {
        Action::AssignSupervisor { supervisor, .. } => {
            extras.supervisor = state.store.user(*supervisor).await?;
        }
        Action::LinkThanks { case, .. } => {
            extras.case_unit = state.store.letter(*case).await?.map(|l| l.unit_id);
        }
        _ => {}
    }
    Ok(extras)
}

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
    headers: HeaderMap,
    ApiJson(request): ApiJson<ActionRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
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

/// The answer for a letter the caller may not see: the same as for one that does not exist.
pub fn not_in_scope(id: LetterId) -> ApiError {
    ApiError::NotFound(format!("letter {} does not exist in your scope", id.0))
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
