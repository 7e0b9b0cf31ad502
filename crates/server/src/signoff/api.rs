//! The sign-off over HTTP: keys, delegations (代签), and signed forms for desktops and
//! for offline verification.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use jsjb_core::letter::LetterId;
use jsjb_core::org::{Role, UnitTree};
use jsjb_proto::{
    Delegation, DelegationRequest, EndorseKeyRequest, KeyActivation, KeyState, LetterRecord,
    RegisterKeyRequest, RevokeRequest, SignedForm, SigningKey,
};
use jsjb_signoff::PublicKey;
use serde::{Deserialize, Serialize};

use crate::auth::{Session, unit_tree};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use jsjb_storage::signoff::{NewDelegation, NewKey};

/// The longest key label kept.
const MAX_LABEL: usize = 100;

fn admin_of(tree: &UnitTree, session: &Session, unit: jsjb_core::org::UnitId) -> bool {
    session.has(Role::Admin) && tree.in_scope(session.unit_id, unit)
}

/// Keys: an admin sees those of the units they administer; anyone else their own.
#[utoipa::path(get, path = "/api/v1/keys", tag = "signoff", security(("bearer" = [])),
    responses((status = 200, body = Vec<jsjb_proto::SigningKey>, description = "SigningKey[]")))]
pub async fn list_keys(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<Vec<SigningKey>>, ApiError> {
    let tree = unit_tree(&state).await?;
    let keys = state.store.signoff().keys().await?;
    Ok(ApiJson(
        keys.into_iter()
            .filter(|k| k.user_id == session.user_id || admin_of(&tree, &session, k.unit_id))
            .collect(),
    ))
}

/// A chief (or a named deputy) registers the public half of a key made on their
/// workstation. It signs nothing until an admin activates it.
#[utoipa::path(post, path = "/api/v1/keys", tag = "signoff", security(("bearer" = [])),
    request_body(content = jsjb_proto::RegisterKeyRequest, description = "RegisterKeyRequest: `{public_key_pem, label}`"),
    responses(
        (status = 201, body = jsjb_proto::SigningKey, description = "SigningKey, `pending`"),
        (status = 400, body = Problem, description = "`invalid_input`: not an SM2 SPKI PEM"),
        (status = 403, body = Problem, description = "`forbidden`: neither a chief nor a deputy"),
        (status = 409, body = Problem, description = "`key_exists`"),
    ))]
pub async fn register_key(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<RegisterKeyRequest>,
) -> Result<(StatusCode, ApiJson<SigningKey>), ApiError> {
    let deputy = state
        .store
        .signoff()
        .delegations()
        .await?
        .iter()
        .any(|d| d.deputy == session.user_id && d.revoked_at.is_none());
    if !session.has(Role::Chief) && !deputy {
        return Err(ApiError::Forbidden(
            "only a chief, or a deputy named in a delegation (代签), registers a signing key"
                .to_owned(),
        ));
    }
    let key = PublicKey::from_pem(&req.public_key_pem)
        .map_err(|e| ApiError::invalid("public_key_pem", e.to_string()))?;
    let pem = key
        .to_pem()
        .map_err(|e| ApiError::invalid("public_key_pem", e.to_string()))?;
    let fingerprint = key
        .fingerprint()
        .map_err(|e| ApiError::invalid("public_key_pem", e.to_string()))?;
    let stored = state
        .store
        .signoff()
        .register_key(
            NewKey {
                user: session.user_id,
                unit: session.unit_id,
                public_key_pem: pem,
                fingerprint,
                label: req.label.trim().chars().take(MAX_LABEL).collect(),
            },
            session.actor(None),
            state.time.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(stored)))
}

async fn key_in_scope(
    state: &AppState,
    session: &Session,
    id: i64,
) -> Result<(SigningKey, UnitTree), ApiError> {
    let tree = unit_tree(state).await?;
    let key = state
        .store
        .signoff()
        .key(id)
        .await?
        .filter(|k| k.user_id == session.user_id || admin_of(&tree, session, k.unit_id))
        .ok_or_else(|| ApiError::NotFound(format!("there is no key {id} you can see")))?;
    Ok((key, tree))
}

/// An admin approves a pending key, after comparing its fingerprint with the chief's
/// screen. Dual control: the key becomes active only when a second, independent admin
/// approves too; the answer says where it stands (`pending` with 1 of 2, or `active`).
#[utoipa::path(post, path = "/api/v1/keys/{id}/activate", tag = "signoff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key")),
    responses(
        (status = 200, body = jsjb_proto::KeyActivation, description = "KeyActivation: the key (`pending` or `active`), the approvals so far, the approvals required"),
        (status = 403, body = Problem, description = "`forbidden`: not an admin of the key's unit, or the key's owner"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`key_state`: not pending; `already_approved`; `approver_not_independent`: one of the approvers set the other's password (or the same admin set both)"),
    ))]
pub async fn activate_key(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<KeyActivation>, ApiError> {
    let (key, tree) = key_in_scope(&state, &session, id).await?;
    if !admin_of(&tree, &session, key.unit_id) {
        return Err(ApiError::Forbidden(
            "only an admin of the key's unit approves a key".to_owned(),
        ));
    }
    if key.user_id == session.user_id {
        return Err(ApiError::Forbidden(
            "nobody approves their own signing key: two other admins must".to_owned(),
        ));
    }
    let outcome = state
        .store
        .signoff()
        .approve_key(id, session.actor(Some(Role::Admin)), state.time.now())
        .await?;
    Ok(ApiJson(outcome))
}

/// The key's owner activates a new key with their previous, still active key: it signs
/// [`jsjb_proto::key_endorsement_message`] naming both keys and the new fingerprint.
/// No admin is involved, so nobody but the holder of the old key (and its PIN) can do it.
#[utoipa::path(post, path = "/api/v1/keys/{id}/endorse", tag = "signoff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The new, pending key")),
    request_body(content = jsjb_proto::EndorseKeyRequest, description = "EndorseKeyRequest: `{previous_key_id, signature_der_b64}`"),
    responses(
        (status = 200, body = jsjb_proto::KeyActivation, description = "KeyActivation, `active`"),
        (status = 403, body = Problem, description = "`forbidden`: not the key's owner"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`key_state`: not pending; `endorsement_invalid`: not the owner's active key, or the signature does not verify"),
    ))]
pub async fn endorse_key(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<EndorseKeyRequest>,
) -> Result<ApiJson<KeyActivation>, ApiError> {
    let (key, _) = key_in_scope(&state, &session, id).await?;
    if key.user_id != session.user_id {
        return Err(ApiError::Forbidden(
            "only the key's owner endorses it with their previous key".to_owned(),
        ));
    }
    let invalid = |detail: &str| ApiError::Conflict {
        code: "endorsement_invalid",
        detail: detail.to_owned(),
    };
    let previous = state
        .store
        .signoff()
        .key(req.previous_key_id)
        .await?
        .filter(|k| k.user_id == key.user_id && k.id != key.id && k.state == KeyState::Active)
        .ok_or_else(|| invalid("the endorsing key must be another active key of yours"))?;
    let signature = jsjb_signoff::b64::decode(&req.signature_der_b64)
        .map_err(|_| ApiError::invalid("signature_der_b64", "not standard base64"))?;
    let message =
        jsjb_proto::key_endorsement_message(key.user_id, previous.id, key.id, &key.fingerprint);
    PublicKey::from_pem(&previous.public_key_pem)
        .and_then(|k| k.verify(&message, &signature))
        .map_err(|_| invalid("the signature does not verify with the endorsing key"))?;
    let outcome = state
        .store
        .signoff()
        .endorse_key(
            id,
            previous.id,
            session.actor(Some(Role::Chief)),
            state.time.now(),
        )
        .await?;
    Ok(ApiJson(outcome))
}

/// An admin, or the key's owner (a lost key), revokes a key. Forms it signed before stay
/// valid. The owner is told at their next sign-in.
#[utoipa::path(post, path = "/api/v1/keys/{id}/revoke", tag = "signoff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key")),
    request_body(content = jsjb_proto::RevokeRequest, description = "RevokeRequest: `{reason}`"),
    responses((status = 200, body = jsjb_proto::SigningKey, description = "SigningKey, `revoked`"), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> Result<ApiJson<SigningKey>, ApiError> {
    key_in_scope(&state, &session, id).await?;
    let key = state
        .store
        .signoff()
        .revoke_key(
            id,
            req.reason
                .trim()
                .chars()
                .take(jsjb_core::workflow::MAX_TEXT_CHARS)
                .collect(),
            session.actor(None),
            state.time.now(),
        )
        .await?;
    Ok(ApiJson(key))
}

/// Delegations of the caller's units: granted by them, to them, or (admins) in their scope.
#[utoipa::path(get, path = "/api/v1/delegations", tag = "signoff", security(("bearer" = [])),
    responses((status = 200, body = Vec<jsjb_proto::Delegation>, description = "Delegation[]")))]
pub async fn list_delegations(
    State(state): State<AppState>,
    session: Session,
) -> Result<ApiJson<Vec<Delegation>>, ApiError> {
    let tree = unit_tree(&state).await?;
    let all = state.store.signoff().delegations().await?;
    Ok(ApiJson(
        all.into_iter()
            .filter(|d| delegation_visible(&tree, &session, d))
            .collect(),
    ))
}

/// Who sees a delegation: its chief and deputy, their unit, and the admins above it.
fn delegation_visible(tree: &UnitTree, session: &Session, d: &Delegation) -> bool {
    d.chief == session.user_id
        || d.deputy == session.user_id
        || d.unit_id == session.unit_id
        || admin_of(tree, session, d.unit_id)
}

/// The chief lets a deputy of the same unit sign feedback forms (代签) for a period,
/// for all forms or one category. Recorded in the audit log; revocable.
#[utoipa::path(post, path = "/api/v1/delegations", tag = "signoff", security(("bearer" = [])),
    request_body(content = jsjb_proto::DelegationRequest, description = "DelegationRequest: `{deputy, valid_from, valid_until, category?, note}`"),
    responses(
        (status = 201, body = jsjb_proto::Delegation, description = "Delegation"),
        (status = 400, body = Problem), (status = 403, body = Problem),
    ))]
pub async fn grant_delegation(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<DelegationRequest>,
) -> Result<(StatusCode, ApiJson<Delegation>), ApiError> {
    session.require(Role::Chief)?;
    let now = state.time.now();
    let deputy = state
        .store
        .user(req.deputy)
        .await?
        .filter(|u| u.active && u.unit_id == session.unit_id && u.id != session.user_id)
        .ok_or_else(|| {
            ApiError::invalid(
                "deputy",
                "the deputy must be another active user of your unit",
            )
        })?;
    if req.valid_until <= req.valid_from || req.valid_until <= now {
        return Err(ApiError::invalid(
            "valid_until",
            "the delegation must end after it starts, and in the future",
        ));
    }
    let grant = state
        .store
        .signoff()
        .grant_delegation(
            NewDelegation {
                unit: session.unit_id,
                chief: session.user_id,
                deputy: deputy.id,
                valid_from: req.valid_from,
                valid_until: req.valid_until,
                category: req.category,
                note: req
                    .note
                    .trim()
                    .chars()
                    .take(jsjb_core::workflow::MAX_TEXT_CHARS)
                    .collect(),
            },
            session.actor(Some(Role::Chief)),
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(grant)))
}

/// The unit's chief (or an admin) ends a delegation now.
#[utoipa::path(post, path = "/api/v1/delegations/{id}/revoke", tag = "signoff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The delegation")),
    responses((status = 200, body = jsjb_proto::Delegation, description = "Delegation"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_delegation(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<Delegation>, ApiError> {
    let tree = unit_tree(&state).await?;
    let grant = state
        .store
        .signoff()
        .delegations()
        .await?
        .into_iter()
        .find(|d| d.id == id)
        // One you may not see answers as one that does not exist (ids cannot be probed).
        .filter(|d| delegation_visible(&tree, &session, d))
        .ok_or_else(|| ApiError::NotFound(format!("there is no delegation {id} you can see")))?;
    let chief_of_unit = session.has(Role::Chief) && session.unit_id == grant.unit_id;
    if !chief_of_unit && !admin_of(&tree, &session, grant.unit_id) {
        return Err(ApiError::Forbidden(
            "only the unit's chief or an admin revokes a delegation".to_owned(),
        ));
    }
    let grant = state
        .store
        .signoff()
        .revoke_delegation(id, session.actor(None), state.time.now())
        .await?;
    Ok(ApiJson(grant))
}

#[derive(Debug, Deserialize)]
pub struct SeqQuery {
    /// The decision's event; the latest signed form when absent.
    pub seq: Option<u32>,
}

/// Everything needed to verify a signed form offline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedFormExport {
    pub letter_id: LetterId,
    #[serde(flatten)]
    pub form: SignedForm,
    /// SM3 of the form bytes, hex (`openssl dgst -sm3 form.json`).
    pub form_sm3: String,
    /// SM3 of the key's SPKI DER, hex.
    pub key_fingerprint: String,
    /// How to verify the export bundle with OpenSSL 3.
    pub openssl_command: String,
    /// The server's own check now: `signature_valid`, `content_modified`, `signature_invalid`.
    pub verdict: String,
}

async fn visible_letter(
    state: &AppState,
    session: &Session,
    id: i64,
) -> Result<LetterRecord, ApiError> {
    let tree = unit_tree(state).await?;
    state
        .store
        .letter(LetterId(id))
        .await?
        .filter(|l| tree.in_scope(session.unit_id, l.unit_id))
        .ok_or_else(|| ApiError::NotFound(format!("letter {id} does not exist in your scope")))
}

fn pick(letter: &LetterRecord, seq: Option<u32>) -> Result<SignedForm, ApiError> {
    let found = match seq {
        Some(seq) => letter.signed_forms.iter().find(|f| f.event_seq == seq),
        None => letter.signed_forms.last(),
    };
    found
        .cloned()
        .ok_or_else(|| ApiError::NotFound("no signed feedback form there".to_owned()))
}

pub fn export_of(
    letter_id: LetterId,
    form: SignedForm,
    png: Option<&[u8]>,
) -> Result<SignedFormExport, ApiError> {
    let bytes =
        jsjb_signoff::b64::decode(&form.form_b64).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sig = jsjb_signoff::b64::decode(&form.signature_der_b64)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let verdict = jsjb_signoff::verdict(
        &jsjb_signoff::SignedForm {
            form_bytes: &bytes,
            signature_der: &sig,
            public_key_pem: &form.public_key_pem,
            handwriting_png: png,
        },
        None,
    );
    let fingerprint = PublicKey::from_pem(&form.public_key_pem)
        .and_then(|k| k.fingerprint())
        .unwrap_or_default();
    Ok(SignedFormExport {
        letter_id,
        form_sm3: jsjb_signoff::sm3_hex(&bytes),
        key_fingerprint: fingerprint,
        openssl_command: jsjb_signoff::export::OPENSSL_VERIFY.to_owned(),
        verdict: verdict.code().to_owned(),
        form,
    })
}

/// A signed form with its signature and the signer's public key, for offline verification.
#[utoipa::path(get, path = "/api/v1/letters/{id}/signed-form", tag = "signoff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The letter"), ("seq" = Option<u32>, Query, description = "The decision's event; default the latest")),
    responses((status = 200, body = Object, description = "SignedFormExport"), (status = 404, body = Problem)))]
pub async fn get_signed_form(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<SeqQuery>,
) -> Result<ApiJson<SignedFormExport>, ApiError> {
    let letter = visible_letter(&state, &session, id).await?;
    let form = pick(&letter, q.seq)?;
    let png = state
        .blobs
        .get(&form.handwriting_sha256)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ApiJson(export_of(letter.id, form, png.as_deref())?))
}

fn bytes_response(bytes: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(bytes));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The handwriting image of a signed form (PNG).
#[utoipa::path(get, path = "/api/v1/letters/{id}/signed-forms/{seq}/handwriting", tag = "signoff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The letter"), ("seq" = u32, Path, description = "The decision's event")),
    responses((status = 200, content_type = "image/png", description = "PNG"), (status = 404, body = Problem)))]
pub async fn get_handwriting(
    State(state): State<AppState>,
    session: Session,
    ApiPath((id, seq)): ApiPath<(i64, u32)>,
) -> Result<Response, ApiError> {
    let letter = visible_letter(&state, &session, id).await?;
    let form = pick(&letter, Some(seq))?;
    let png = state
        .blobs
        .get(&form.handwriting_sha256)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| {
            ApiError::NotFound("the handwriting image is missing from the blob store".to_owned())
        })?;
    Ok(bytes_response(png, "image/png"))
}

/// The printable PDF of a signed form: the form, the handwriting, and a verification
/// block (digest, signature, key fingerprint, the OpenSSL command).
#[utoipa::path(get, path = "/api/v1/letters/{id}/signed-forms/{seq}/pdf", tag = "signoff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The letter"), ("seq" = u32, Path, description = "The decision's event")),
    responses(
        (status = 200, content_type = "application/pdf", description = "PDF"),
        (status = 404, body = Problem),
        (status = 503, body = Problem, description = "`pdf_font_missing`: no CJK font installed (fonts-noto-cjk)"),
    ))]
pub async fn get_signed_form_pdf(
    State(state): State<AppState>,
    session: Session,
    ApiPath((id, seq)): ApiPath<(i64, u32)>,
) -> Result<Response, ApiError> {
    let letter = visible_letter(&state, &session, id).await?;
    let form = pick(&letter, Some(seq))?;
    let png = state
        .blobs
        .get(&form.handwriting_sha256)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let export = export_of(letter.id, form, png.as_deref())?;
    let pdf = tokio::task::spawn_blocking(move || render_pdf(&export, png.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(bytes_response(pdf, "application/pdf"))
}

fn render_pdf(export: &SignedFormExport, png: Option<&[u8]>) -> Result<Vec<u8>, ApiError> {
    let font = jsjb_signoff::pdf::CjkFont::find().map_err(|e| ApiError::Conflict {
        code: "pdf_font_missing",
        detail: e.to_string(),
    })?;
    let bytes = jsjb_signoff::b64::decode(&export.form.form_b64)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let sig = jsjb_signoff::b64::decode(&export.form.signature_der_b64)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    jsjb_signoff::pdf::render(&font, &bytes, &sig, &export.form.public_key_pem, png)
        .map_err(|e| ApiError::Internal(e.to_string()))
}
