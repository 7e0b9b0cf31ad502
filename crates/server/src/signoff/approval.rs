//! The one way a feedback-form decision gets in: with a valid SM2 signature by an
//! active key of the handling unit's chief (or of a deputy holding a valid delegation),
//! over the canonical bytes of the form the server builds from the letter's current
//! version. Anything else is refused with a code saying what is wrong.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use jsjb_core::form::{self, FeedbackForm};
use jsjb_core::letter::{FormDecision, LetterId};
use jsjb_core::org::{Role, UnitId, UserId};
use jsjb_core::workflow::{Action, ActionKind, Actor as CoreActor, LetterStatus};
use jsjb_proto::{ActionRequest, Delegation, KeyState, LetterRecord, SignatureEnvelope};
use jsjb_signoff::{PublicKey, Signer};

use crate::actions::{self, Extras};
use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::idempotency;
use crate::state::AppState;
use jsjb_storage::signoff::NewSignedForm;
use jsjb_storage::{ActionCommit, ActionOutcome, Actor, StoredAnswer};

/// The largest handwriting image accepted (PNG bytes).
pub const MAX_HANDWRITING_BYTES: usize = jsjb_signoff::handwriting::MAX_BYTES;
/// How far the signing time may be from the server's clock (workstation clocks drift).
pub const SIGNED_AT_TOLERANCE_MINUTES: i64 = 10;

/// Why a signed decision is refused: the status and the stable code the desktop translates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            detail: detail.into(),
            field: None,
        }
    }

    fn unprocessable(code: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    fn invalid(field: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            field: Some(field),
            ..Refusal::new(StatusCode::BAD_REQUEST, "invalid_input", detail)
        }
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            type_uri: format!("urn:jsjb:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: Some(self.detail.clone()),
            code: self.code.to_owned(),
            current: None,
            field: self.field.map(str::to_owned),
            retry_after: None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// The names on the form, from the directory.
pub use jsjb_signoff::desk::Directory;

/// Loads the names of every unit and user.
pub async fn directory(state: &AppState) -> Result<Directory, ApiError> {
    let units = state.store.units().await?;
    let users = state.store.users().await?;
    Ok(Directory {
        units: units.into_iter().map(|u| (u.id, u.name)).collect(),
        users: users.into_iter().map(|u| (u.id, u.display_name)).collect(),
    })
}

/// In which capacity the signer signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capacity {
    /// The chief of the handling unit.
    Chief,
    /// A deputy under a delegation (代签).
    Deputy(Delegation),
}

/// Whether `user` may sign the form of a letter held by `status.unit` now.
pub async fn capacity(
    state: &AppState,
    user: UserId,
    user_unit: UnitId,
    roles: &[Role],
    letter: &LetterRecord,
    status: &LetterStatus,
    now: DateTime<Utc>,
) -> Result<Capacity, Refusal> {
    if roles.contains(&Role::Chief) && user_unit == status.unit {
        return Ok(Capacity::Chief);
    }
    let grants =
        state.store.signoff().delegations().await.map_err(|e| {
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
    let users =
        state.store.users().await.map_err(|e| {
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
    let chief_still_chief = |grant: &Delegation| {
        users.iter().any(|u| {
            u.id == grant.chief
                && u.active
                && u.unit_id == grant.unit_id
                && u.roles.contains(&Role::Chief)
        })
    };
    let mine: Vec<&Delegation> = grants
        .iter()
        .filter(|g| g.deputy == user && g.unit_id == status.unit && g.revoked_at.is_none())
        .collect();
    if let Some(grant) = mine
        .iter()
        .find(|g| g.covers(user, status.unit, letter.category, now) && chief_still_chief(g))
    {
        return Ok(Capacity::Deputy((*grant).clone()));
    }
    if !mine.is_empty() {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "delegation_not_valid",
            "your delegation (代签) from this unit's chief is not valid now or not for this category",
        ));
    }
    Err(Refusal::new(
        StatusCode::FORBIDDEN,
        "not_the_chief",
        "only the chief of the handling unit, or a deputy with a valid delegation (代签), may sign this feedback form",
    ))
}

/// The form the server expects: built from the letter as it is now, by the same
/// function the workstation uses.
#[allow(clippy::too_many_arguments)]
pub fn form_for(
    state: &AppState,
    directory: &Directory,
    letter: &LetterRecord,
    signer: UserId,
    capacity: &Capacity,
    decision: FormDecision,
    opinion: &str,
    handwriting_png: &[u8],
    signed_at: DateTime<Utc>,
) -> Result<FeedbackForm, form::FormError> {
    jsjb_signoff::desk::form_of(
        letter,
        directory,
        &state.rules,
        jsjb_signoff::desk::SignerRef {
            user: signer,
            delegation: match capacity {
                Capacity::Chief => None,
                Capacity::Deputy(grant) => Some((grant.id, grant.chief)),
            },
        },
        &jsjb_signoff::desk::Decision {
            decision,
            opinion: opinion.to_owned(),
        },
        handwriting_png,
        signed_at,
    )
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `approve_feedback_form` through `POST /api/v1/letters/{id}/actions`: verifies the
/// signature envelope, then applies the decision with the signed form in one transaction.
pub async fn post_signed_action(
    state: &AppState,
    session: &Session,
    id: i64,
    idempotency: (String, String),
    request: ActionRequest,
) -> Result<Response, ApiError> {
    // A retry gets the first answer, whatever happened to the letter since.
    if let Some((hash, answer)) = state
        .store
        .signoff()
        .stored_answer(session.user_id, idempotency.0.clone())
        .await?
    {
        return if hash == idempotency.1 {
            Ok(idempotency::answer_response(answer))
        } else {
            Err(ApiError::IdempotencyKeyReused)
        };
    }
    match verify_request(state, session, id, &request).await? {
        Err(refusal) => Ok(refusal.into_response()),
        Ok(checked) => {
            let outcome = apply(
                state,
                session.actor(Some(Role::Chief)),
                checked,
                Some(idempotency),
            )
            .await?;
            Ok(match outcome {
                ActionOutcome::Applied {
                    change_seq,
                    prev_unit,
                    letter,
                    answer,
                } => {
                    state
                        .publish_change(change_seq, &[letter.unit_id, prev_unit])
                        .await;
                    idempotency::answer_response(answer)
                }
                ActionOutcome::Refused(answer) | ActionOutcome::Replayed(answer) => {
                    idempotency::answer_response(answer)
                }
                ActionOutcome::KeyReused => return Err(ApiError::IdempotencyKeyReused),
            })
        }
    }
}

/// A decision whose signature has been checked, ready to apply.
pub struct Checked {
    letter: LetterId,
    version: u32,
    actor: CoreActor,
    action: Action,
    signed: NewSignedForm,
    handwriting_png: Vec<u8>,
}

async fn verify_request(
    state: &AppState,
    session: &Session,
    id: i64,
    request: &ActionRequest,
) -> Result<Result<Checked, Refusal>, ApiError> {
    let Action::ApproveFeedbackForm { decision, opinion } = &request.action else {
        return Err(internal("not a feedback-form decision"));
    };
    let Some(raw) = request.signature.clone() else {
        return Err(ApiError::SignatureRequired);
    };
    // As strict as the body it came in: an object with exactly the envelope's fields.
    let envelope: SignatureEnvelope = match crate::extract::from_value(&raw) {
        Ok(e) => e,
        Err(e) => {
            return Ok(Err(Refusal::invalid(
                "signature",
                format!("the signature envelope is malformed: {e}"),
            )));
        }
    };
    let now = state.time.now();
    let tree = unit_tree(state).await?;
    let Some(letter) = state
        .store
        .letter(LetterId(id))
        .await?
        .filter(|l| tree.in_scope(session.unit_id, l.unit_id))
    else {
        return Err(ApiError::NotFound(format!(
            "letter {id} does not exist in your scope"
        )));
    };
    if request.expected_version != letter.version {
        return Err(ApiError::Stale {
            version: letter.version,
            current: Box::new(letter),
        });
    }
    let status = LetterStatus::from_events(
        letter.category,
        letter.events.iter().map(|e| (e.at, &e.payload)),
    )
    .ok_or_else(|| internal(format!("letter {id} has no history")))?;
    let roles: Vec<Role> = session.roles.iter().copied().collect();
    let capacity = match capacity(
        state,
        session.user_id,
        session.unit_id,
        &roles,
        &letter,
        &status,
        now,
    )
    .await
    {
        Ok(c) => c,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let checked = check_signature(
        state,
        session.user_id,
        &letter,
        &capacity,
        *decision,
        opinion,
        &envelope,
        now,
    )
    .await?;
    let (signed, png) = match checked {
        Ok(parts) => parts,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let mut actor_roles = roles;
    if !actor_roles.contains(&Role::Chief) {
        // A deputy acts with the chief's role for this unit only (the rules then check the unit).
        actor_roles.push(Role::Chief);
    }
    Ok(Ok(Checked {
        letter: letter.id,
        version: letter.version,
        actor: CoreActor {
            user: session.user_id,
            unit: if matches!(capacity, Capacity::Deputy(_)) {
                letter.unit_id
            } else {
                session.unit_id
            },
            roles: actor_roles,
        },
        action: request.action.clone(),
        signed,
        handwriting_png: png,
    }))
}

#[allow(clippy::too_many_arguments)]
async fn check_signature(
    state: &AppState,
    signer: UserId,
    letter: &LetterRecord,
    capacity: &Capacity,
    decision: FormDecision,
    opinion: &str,
    envelope: &SignatureEnvelope,
    now: DateTime<Utc>,
) -> Result<Result<(NewSignedForm, Vec<u8>), Refusal>, ApiError> {
    // The key: registered, the signer's own, active.
    let Some(key) = state.store.signoff().key(envelope.key_id).await? else {
        return Ok(Err(Refusal::unprocessable(
            "key_unknown",
            format!("there is no signing key {}", envelope.key_id),
        )));
    };
    if key.user_id != signer {
        return Ok(Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "key_not_yours",
            "the key named is registered to someone else",
        )));
    }
    match key.state {
        KeyState::Active => {}
        KeyState::Pending => {
            return Ok(Err(Refusal::unprocessable(
                "key_not_active",
                "the key is not activated yet: an admin must activate it first",
            )));
        }
        KeyState::Revoked => {
            return Ok(Err(Refusal::unprocessable(
                "key_revoked",
                "the key was revoked: enrol a new key and have it activated",
            )));
        }
    }
    let decode = |field: &'static str, text: &str| {
        jsjb_signoff::b64::decode(text).map_err(|_| Refusal::invalid(field, "not standard base64"))
    };
    let (form_bytes, png, signature) = match (
        decode("signature.form_b64", &envelope.form_b64),
        decode(
            "signature.handwriting_png_b64",
            &envelope.handwriting_png_b64,
        ),
        decode("signature.signature_der_b64", &envelope.signature_der_b64),
    ) {
        (Ok(f), Ok(p), Ok(s)) => (f, p, s),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return Ok(Err(r)),
    };
    // Decoded whole (bytes, dimensions, pixels) as the desktop and the PDF do, so a small
    // file claiming a huge canvas or a cut-off one is refused here, not when rendered.
    let checked = png.clone();
    let decoded = tokio::task::spawn_blocking(move || jsjb_signoff::handwriting::decode(&checked))
        .await
        .map_err(|e| internal(format!("handwriting check: {e}")))?;
    if let Err(e) = decoded {
        return Ok(Err(Refusal::invalid(
            "signature.handwriting_png_b64",
            format!("the handwriting is not an acceptable PNG: {e}"),
        )));
    }
    let signed_form = match FeedbackForm::from_canonical(&form_bytes) {
        Ok(f) => f,
        Err(e) => return Ok(Err(Refusal::unprocessable("form_malformed", e.to_string()))),
    };
    let signed_at = signed_form.signed_at.time();
    if (signed_at - now).abs() > Duration::minutes(SIGNED_AT_TOLERANCE_MINUTES) {
        return Ok(Err(Refusal::unprocessable(
            "signing_time_invalid",
            format!(
                "the form's signing time is more than {SIGNED_AT_TOLERANCE_MINUTES} minutes from the server's clock; check the workstation's clock"
            ),
        )));
    }
    let directory = directory(state).await?;
    let expected = match form_for(
        state, &directory, letter, signer, capacity, decision, opinion, &png, signed_at,
    ) {
        Ok(f) => f,
        Err(form::FormError::NotAwaitingApproval(s)) => {
            return Ok(Err(Refusal::unprocessable(
                "wrong_state",
                format!(
                    "the form can only be signed while it waits for the chief; the letter is {}",
                    s.as_str()
                ),
            )));
        }
        Err(e) => return Ok(Err(Refusal::invalid("action.opinion", e.to_string()))),
    };
    if signed_form.letter.version != expected.letter.version {
        return Ok(Err(Refusal::unprocessable(
            "form_outdated",
            format!(
                "the form was signed over version {} of the letter, which is now at version {}: reload it and sign again",
                signed_form.letter.version, expected.letter.version
            ),
        )));
    }
    if signed_form.handwriting_sha256 != expected.handwriting_sha256 {
        return Ok(Err(Refusal::unprocessable(
            "handwriting_mismatch",
            "the handwriting image is not the one on the signed form",
        )));
    }
    let differences = signed_form.differences(&expected);
    if !differences.is_empty() {
        return Ok(Err(Refusal::unprocessable(
            "form_mismatch",
            format!(
                "the signed form differs from the letter's form in: {}",
                differences.join(", ")
            ),
        )));
    }
    let expected_bytes = expected.to_canonical().map_err(internal)?;
    let verified = PublicKey::from_pem(&key.public_key_pem)
        .and_then(|k| k.verify(&expected_bytes, &signature));
    if verified.is_err() {
        return Ok(Err(Refusal::unprocessable(
            "signature_invalid",
            "the SM2 signature does not verify over the form with the key named",
        )));
    }
    Ok(Ok((
        NewSignedForm {
            key_id: key.id,
            signer,
            delegation: match capacity {
                Capacity::Chief => None,
                Capacity::Deputy(grant) => Some((grant.id, grant.chief)),
            },
            decision,
            form_bytes: expected_bytes,
            signature_der: signature,
            handwriting_sha256: expected.handwriting_sha256,
            signed_at,
        },
        png,
    )))
}

/// Stores the handwriting and applies the decision with its signed form.
async fn apply(
    state: &AppState,
    storage_actor: Actor,
    checked: Checked,
    idempotency: Option<(String, String)>,
) -> Result<ActionOutcome, ApiError> {
    let blobs = std::sync::Arc::clone(&state.blobs);
    let png = checked.handwriting_png;
    tokio::task::spawn_blocking(move || blobs.put(&png))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let at = if idempotency.is_some() {
        state.time.now()
    } else {
        checked.signed.signed_at
    };
    let decide = actions::decision(
        actions::rules(state).await?,
        checked.actor,
        at,
        Some(checked.version),
        checked.action,
        Extras::default(),
    );
    let commit = ActionCommit {
        letter: checked.letter,
        actor: storage_actor,
        at,
        idempotency,
        audit_action: actions::audit_action(ActionKind::ApproveFeedbackForm),
        history_full: idempotency::history_full(),
    };
    let outcome = state
        .store
        .signoff()
        .apply_signed_action(commit, decide, checked.signed)
        .await;
    match outcome {
        Err(jsjb_storage::StorageError::Conflict {
            code: "key_not_active",
            detail,
        }) => Ok(ActionOutcome::Refused(StoredAnswer {
            status: 422,
            body: serde_json::to_string(
                &Refusal::unprocessable("key_not_active", detail).to_problem(),
            )
            .unwrap_or_default(),
        })),
        other => Ok(other?),
    }
}

/// Signs and applies a decision on the server's side, for seeding demo history: the
/// chief's key (held in memory by the seeding process) signs the form built from the
/// letter, and the result goes through the same checks as a desktop's request.
#[allow(clippy::too_many_arguments)]
pub async fn sign_and_apply(
    state: &AppState,
    storage_actor: Actor,
    chief: CoreActor,
    letter: LetterId,
    decision: FormDecision,
    opinion: &str,
    at: DateTime<Utc>,
    signer: &dyn Signer,
    key_id: i64,
    handwriting_png: Vec<u8>,
) -> Result<ActionOutcome, ApiError> {
    let Some(record) = state.store.letter(letter).await? else {
        return Err(ApiError::NotFound(format!(
            "letter {} does not exist",
            letter.0
        )));
    };
    let directory = directory(state).await?;
    let form = form_for(
        state,
        &directory,
        &record,
        chief.user,
        &Capacity::Chief,
        decision,
        opinion,
        &handwriting_png,
        at,
    )
    .map_err(|e| ApiError::invalid("form", e.to_string()))?;
    let bytes = form.to_canonical().map_err(internal)?;
    let signature = signer.sign(&bytes).map_err(internal)?;
    let envelope = SignatureEnvelope {
        key_id,
        form_b64: jsjb_signoff::b64::encode(&bytes),
        handwriting_png_b64: jsjb_signoff::b64::encode(&handwriting_png),
        signature_der_b64: jsjb_signoff::b64::encode(&signature),
    };
    let checked = check_signature(
        state,
        chief.user,
        &record,
        &Capacity::Chief,
        decision,
        opinion,
        &envelope,
        at,
    )
    .await?;
    let (signed, png) =
        checked.map_err(|r| ApiError::Internal(format!("{}: {}", r.code, r.detail)))?;
    apply(
        state,
        storage_actor,
        Checked {
            letter,
            version: record.version,
            actor: chief,
            action: Action::ApproveFeedbackForm {
                decision,
                opinion: opinion.to_owned(),
            },
            signed,
            handwriting_png: png,
        },
        None,
    )
    .await
}
