//! Every failure the API reports, as RFC 9457 problem details with a stable `code`.
//!
//! A code exists for each case a client reacts to differently (the desktop translates
//! the code; it never shows `detail` to an officer). `detail` is for the person
//! reading logs or calling the API by hand: it says what to do about it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use jsjb_storage::StorageError;

/// An RFC 9457 problem document (`application/problem+json`): the wire type the
/// desktop reads, so there is one `Problem` for both sides.
pub use jsjb_proto::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field of the request fails validation.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("the request body is not valid JSON for this endpoint: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    MalformedMultipart(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedAttachment(String),
    #[error("{0}")]
    TooManyAttachments(String),
    #[error("sign in first: send `Authorization: Bearer <token>`")]
    Unauthenticated,
    #[error("the session has expired; sign in again")]
    SessionExpired,
    #[error("user name or password is wrong")]
    InvalidCredentials,
    #[error(
        "the account is locked after too many failed logins; try again in {retry_after_secs} s or ask an admin to reset the password"
    )]
    AccountLocked { retry_after_secs: u64 },
    #[error("too many failed logins from this address; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A conflict with the current data; `code` says which (e.g. `username_taken`).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// The life-cycle rules refuse the action (from `jsjb_core::workflow::decide`).
    #[error("{0}")]
    Rule(jsjb_core::workflow::RuleError),
    /// The letter has the most events a letter may have; it takes no more actions.
    #[error(
        "this letter's history is full ({max} events, the most a letter may have); it accepts no further actions"
    )]
    HistoryFull { max: i64 },
    /// The request was not finished in time (a slow or stalled client, or a slow handler).
    #[error("the request took too long; send it again")]
    RequestTimeout,
    /// The server cannot take writes (its database writer has stopped or is stuck).
    #[error("{0}")]
    Unhealthy(String),
    /// The action was based on an older version of the letter; `current` is the letter now.
    #[error(
        "the letter changed since you loaded it (it is at version {version}); reload it and decide again"
    )]
    Stale {
        version: u32,
        current: Box<jsjb_proto::LetterRecord>,
    },
    #[error("the chief's approval must carry a valid electronic signature over the feedback form")]
    SignatureRequired,
    #[error(
        "an action needs an `Idempotency-Key` header (a fresh UUID per action, reused only to retry it)"
    )]
    IdempotencyKeyRequired,
    #[error(
        "this Idempotency-Key was already used for a different request; use a fresh key per action"
    )]
    IdempotencyKeyReused,
    #[error(
        "only the handling unit and the desks that routed this letter may see the writer's name and phone"
    )]
    RevealNotAllowed,
    /// A citizen endpoint's per-address or per-phone rate limit (src/citizen/limits.rs).
    #[error("too many requests; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The citizen endpoints are at their concurrency limit; the desks' are not affected.
    #[error("the citizen service is busy; try again in a few seconds")]
    Busy,
    /// The password-checking queue is full (a flood of logins); see `auth::PasswordPool`.
    #[error("too many sign-ins are being checked at once; try again in a few seconds")]
    LoginsBusy,
    #[error("no route for this method and path")]
    NoRoute,
    #[error("this path does not accept the method used")]
    MethodNotAllowed,
    /// Anything the client cannot fix. The cause is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Invalid { .. } | MalformedJson(_) | MalformedMultipart(_) => StatusCode::BAD_REQUEST,
            UnsupportedAttachment(_) | TooManyAttachments(_) => StatusCode::UNPROCESSABLE_ENTITY,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Unauthenticated | SessionExpired | InvalidCredentials => StatusCode::UNAUTHORIZED,
            AccountLocked { .. } | TooManyAttempts { .. } | RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Busy | LoginsBusy => StatusCode::SERVICE_UNAVAILABLE,
            Forbidden(_) | RevealNotAllowed => StatusCode::FORBIDDEN,
            NotFound(_) | NoRoute => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict { .. } | Stale { .. } => StatusCode::CONFLICT,
            Rule(rule) => match rule {
                jsjb_core::workflow::RuleError::OutOfScope
                | jsjb_core::workflow::RuleError::RoleNotAllowed(_)
                | jsjb_core::workflow::RuleError::NotAssignedSupervisor => StatusCode::FORBIDDEN,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            SignatureRequired | IdempotencyKeyReused | HistoryFull { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Unhealthy(_) => StatusCode::SERVICE_UNAVAILABLE,
            IdempotencyKeyRequired => StatusCode::BAD_REQUEST,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Invalid { .. } => "invalid_input",
            MalformedJson(_) => "malformed_json",
            MalformedMultipart(_) => "malformed_multipart",
            UnsupportedMediaType(_) => "unsupported_media_type",
            PayloadTooLarge(_) => "payload_too_large",
            UnsupportedAttachment(_) => "unsupported_attachment",
            TooManyAttachments(_) => "too_many_attachments",
            Unauthenticated => "unauthenticated",
            SessionExpired => "session_expired",
            InvalidCredentials => "invalid_credentials",
            AccountLocked { .. } => "account_locked",
            TooManyAttempts { .. } => "too_many_attempts",
            RateLimited { .. } => "rate_limited",
            Busy | LoginsBusy => "busy",
            Forbidden(_) => "forbidden",
            RevealNotAllowed => "reveal_not_allowed",
            NotFound(_) => "not_found",
            NoRoute => "no_route",
            MethodNotAllowed => "method_not_allowed",
            Conflict { code, .. } => code,
            Rule(rule) => rule.code(),
            Stale { .. } => "stale_version",
            HistoryFull { .. } => "letter_history_full",
            RequestTimeout => "request_timeout",
            Unhealthy(_) => "unhealthy",
            SignatureRequired => "signature_required",
            IdempotencyKeyRequired => "idempotency_key_required",
            IdempotencyKeyReused => "idempotency_key_reused",
            Internal(_) => "internal",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let code = self.code();
        let detail = match self {
            // The cause of an internal error may name files or SQL; keep it in the log.
            ApiError::Internal(_) => {
                "the server failed to handle the request; it has been logged — try again, and report it if it persists"
                    .to_owned()
            }
            other => other.to_string(),
        };
        let (field, retry_after) = match self {
            ApiError::Invalid { field, .. } => (field.clone(), None),
            ApiError::AccountLocked { retry_after_secs }
            | ApiError::TooManyAttempts { retry_after_secs }
            | ApiError::RateLimited { retry_after_secs } => (None, Some(*retry_after_secs)),
            ApiError::Rule(jsjb_core::workflow::RuleError::Invalid { field, .. }) => {
                (Some((*field).to_owned()), None)
            }
            ApiError::Busy | ApiError::LoginsBusy => (None, Some(2)),
            _ => (None, None),
        };
        let current = match self {
            ApiError::Stale { current, .. } => Some(current.clone()),
            _ => None,
        };
        Problem {
            type_uri: format!("urn:jsjb:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: Some(detail),
            code: code.to_owned(),
            current,
            field,
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let problem = self.to_problem();
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = problem.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => ApiError::NotFound(what),
            StorageError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            StorageError::Invalid { field, message } => ApiError::Invalid {
                field: Some(field.to_owned()),
                message,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Turns a panic inside a handler into a problem document instead of a dropped
/// connection. Handlers must not panic; this is the net under them.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("a handler panicked".to_owned()).into_response()
}

pub async fn no_route() -> ApiError {
    ApiError::NoRoute
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
