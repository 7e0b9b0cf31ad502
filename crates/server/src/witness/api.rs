//! The signed audit head, served to every desktop (which pins the server's audit key).

use axum::extract::State;

use crate::auth::Session;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeadQuery {
    /// The `seq` of the head the desktop keeps: its entry's hash comes back in `known`.
    #[param(nullable = false, minimum = 0)]
    pub known_seq: Option<i64>,
}

/// The audit chain's head signed by the server's audit key, with the public key (which
/// desktops pin) and, when asked, the hash of the entry at `known_seq`. Any signed-in
/// user: every desktop witnesses the chain, whatever its unit. Hashes and a count are
/// all it shows; no entry's content.
#[utoipa::path(get, path = "/api/v1/audit/head", tag = "sync", security(("bearer" = [])),
    params(HeadQuery),
    responses((status = 200, body = jsjb_proto::AuditHeadAnswer), (status = 400, body = Problem),
        (status = 401, body = Problem)))]
pub async fn get_head(
    State(state): State<AppState>,
    _session: Session,
    ApiQuery(query): ApiQuery<HeadQuery>,
) -> Result<ApiJson<jsjb_proto::AuditHeadAnswer>, ApiError> {
    if query.known_seq.is_some_and(|s| s < 0) {
        return Err(ApiError::invalid(
            "known_seq",
            "an entry number is never negative",
        ));
    }
    let (tip, known) = state.store.audit_tip(query.known_seq).await?;
    let head = state
        .witness
        .head(&tip, state.time.now())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ApiJson(jsjb_proto::AuditHeadAnswer { head, known }))
}
