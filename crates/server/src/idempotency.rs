//! Idempotent requests: the `Idempotency-Key` header (an extractor), what a key is
//! bound to besides its user (the route, the target and the canonical body), and the
//! answers stored under a key, replayed as the HTTP response they were first.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use jsjb_storage::StoredAnswer;

use crate::error::ApiError;

/// The longest idempotency key accepted (a UUID is 36 characters).
const MAX_IDEMPOTENCY_KEY: usize = 128;

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
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    optional_idempotency_key(headers)?.ok_or(ApiError::IdempotencyKeyRequired)
}

/// The `Idempotency-Key` of a route where it is optional: absent is `None`, present
/// but malformed is refused like a missing one on a route that needs it.
fn optional_idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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
    Ok(crate::digest::sha256_hex(
        format!("{target}\n{canonical}").as_bytes(),
    ))
}

/// The request's `Idempotency-Key`, required: a route that changes something takes it
/// as an argument, so a missing or malformed key is refused before the body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        idempotency_key(&parts.headers).map(IdempotencyKey)
    }
}

/// The `Idempotency-Key` of a route where it is optional (see
/// [`optional_idempotency_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalIdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalIdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        optional_idempotency_key(&parts.headers).map(OptionalIdempotencyKey)
    }
}
